"""Shared fixtures: a real ``fila-server`` process, started the way SDK harnesses do.

No arguments, ``fila.toml`` in a temporary working directory, ``FILA_DATA_DIR``
set; ready when ``ListQueues`` answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e.certs import Pki, make_pki
from e2e.server_process import ServerProcess


@pytest.fixture()
def make_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def make(sections: dict[str, dict[str, Any]] | None = None, *, start: bool = True,
             env: dict[str, str] | None = None,
             ready_tls: tuple[bytes, bytes | None, bytes | None] | None = None
             ) -> ServerProcess:
        workdir = tmp_path / f"server{len(started)}"
        workdir.mkdir()
        server = ServerProcess(workdir, sections, env, ready_tls)
        started.append(server)
        return server.start() if start else server

    yield make
    for server in started:
        server.kill()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Test certificates (CA, server, client, and a second CA's client), made once."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def fila_server(make_server: Callable[..., ServerProcess]) -> ServerProcess:
    return make_server()
