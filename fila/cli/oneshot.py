"""The bodies of `fila enqueue` and `fila version`, free of Typer.

Both the Typer commands (fila/cli/message.py, fila/cli/version.py) and the fast
path (fila/cli/fast.py) call these, so the two ways in cannot drift apart.
"""

from __future__ import annotations

import sys
from pathlib import Path

from fila import __version__
from fila.cli.base import CliError, Output, State, connected, describe_error, open_client
from fila.errors import FilaError

# A version check should not hang a shell prompt for the default 10 s.
VERSION_TIMEOUT_S = 3.0


def read_payload(payload: str | None, file: Path | None) -> bytes:
    if payload is not None and file is not None:
        raise CliError("give either PAYLOAD or --file, not both")
    if file is not None:
        try:
            return file.expanduser().read_bytes()
        except OSError as e:
            raise CliError(f"cannot read {file}: {e.strerror or e}") from None
    if payload == "-":
        return sys.stdin.buffer.read()
    if payload is None:
        raise CliError("no payload: give PAYLOAD, --file F, or - to read stdin")
    return payload.encode("utf-8")


def run_enqueue(
    st: State,
    queue: str,
    payload: str | None,
    *,
    file: Path | None = None,
    headers: list[str] | None = None,
    delay_ms: int = 0,
    json_out: bool = False,
) -> None:
    """`fila enqueue`: send one message, print its id."""
    from fila.cli.base import parse_headers

    with connected(st, json_out) as (client, out):
        parsed = parse_headers(headers)
        body = read_payload(payload, file)
        message_id = client.enqueue(queue, parsed, body, delay_ms=delay_ms)
        if out.json:
            out.emit_json({"id": message_id, "queue": queue})
        else:
            out.line(message_id)


def run_version(st: State, *, json_out: bool = False) -> None:
    """`fila version`: this client's version and, when reachable, the broker's."""
    out = Output(json_out or st.json)
    server: str | None = None
    problem = ""
    client = open_client(st, timeout=VERSION_TIMEOUT_S)
    try:
        with client:
            server = client.server_info().version
    except FilaError as e:
        problem = describe_error(e, st.addr)
    if out.json:
        out.emit_json({"client": __version__, "server": server, "addr": st.addr})
        return
    out.line(f"Client: {__version__}")
    out.line(f"Server: {server}" if server is not None else f"Server: unreachable ({problem})")
