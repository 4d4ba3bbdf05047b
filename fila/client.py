"""Clients for a Fila broker: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

The hot path (enqueue, consume, ack, nack) keeps the published ``fila-python``
0.2.0 SDK's shape, so code written for that SDK runs unchanged; the admin
methods serve the CLI and the TUI. Protobuf stays inside the client modules:
callers get the plain records of :mod:`fila.types`, and every gRPC failure
leaves as a :class:`fila.errors.FilaError` subclass (the one client-side
mapping boundary, ``_map_error`` in :mod:`fila._client_common`).

    with Client("localhost:5555") as client:
        client.enqueue("orders", {"tenant": "acme"}, b"hello")
        for msg in client.consume("orders"):
            client.ack("orders", msg.id)

The client is written once: ``AsyncClient`` in ``fila/_async_client.py`` is the
source, ``Client`` in ``fila/_sync_client.py`` is generated from it by
``python scripts/gen_sync_client.py`` (tests/test_generated_code.py checks it is
fresh). What both share lives in ``fila/_client_common.py``.
"""

from __future__ import annotations

from fila._acker import AsyncAcker, BlockingAcker
from fila._async_client import AsyncClient
from fila._client_common import CONNECT_FAILURE_PREFIX, AsyncStream
from fila._sync_client import Client
from fila.addr import parse_addr

__all__ = [
    "CONNECT_FAILURE_PREFIX",
    "AsyncAcker",
    "AsyncClient",
    "AsyncStream",
    "BlockingAcker",
    "Client",
    "parse_addr",
]
