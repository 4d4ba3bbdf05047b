"""`fila version`: this client's version and, when reachable, the broker's."""

from __future__ import annotations

import typer

from fila import __version__
from fila.cli.common import JsonOpt, Output, describe_error, state
from fila.errors import FilaError

# A version check should not hang a shell prompt for the default 10 s.
_TIMEOUT_S = 3.0


def version(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the client version and the server version (if the broker answers)."""
    from fila.client import Client

    st = state(ctx)
    out = Output(json_out or st.json)
    server: str | None = None
    problem = ""
    try:
        with Client(st.addr, timeout=_TIMEOUT_S) as client:
            server = client.server_info().version
    except FilaError as e:
        problem = describe_error(e)
    if out.json:
        out.emit_json({"client": __version__, "server": server, "addr": st.addr})
        return
    out.line(f"Client: {__version__}")
    out.line(f"Server: {server}" if server is not None else f"Server: unreachable ({problem})")
