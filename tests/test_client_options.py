"""Client TLS and API-key options, checked as the published fila-python SDK checks them."""

from __future__ import annotations

import pytest

from fila import AsyncClient
from fila._client_common import _auth_metadata, _tls_options
from fila.client import Client


def test_client_cert_needs_tls() -> None:
    with pytest.raises(ValueError, match="require ca_cert or tls=True"):
        Client("localhost:1", client_cert=b"c", client_key=b"k")
    with pytest.raises(ValueError, match="go together"):
        _tls_options(True, None, b"c", None)


def test_options_shape() -> None:
    assert _tls_options(False, None, None, None) is None
    opts = _tls_options(False, b"ca", None, None)  # a CA implies TLS
    assert opts is not None and opts.ca_cert == b"ca"
    assert _auth_metadata("k") == (("authorization", "Bearer k"),)
    assert _auth_metadata(None) == () and _auth_metadata("") == ()


async def test_async_client_takes_the_same_options() -> None:
    c = AsyncClient("localhost:1", tls=True, api_key="k")
    await c.close()
