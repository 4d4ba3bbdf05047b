"""The Typer glue every `fila` command shares: global options, the session, confirmation.

What does not need Typer (state, errors, output, input helpers) lives in
:mod:`fila.cli.base` and is re-exported here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fila.cli.base import (
    DEFAULT_ADDR,
    CliError,
    Output,
    State,
    connected,
    describe_error,
    fail,
    format_payload,
    handle_errors,
    load_source,
    message_record,
    parse_headers,
    payload_text,
    plain_table,
    plural,
)

if TYPE_CHECKING:
    from fila.client import Client

__all__ = [
    "DEFAULT_ADDR",
    "AddrOpt",
    "CliError",
    "JsonOpt",
    "Output",
    "State",
    "YesOpt",
    "confirm",
    "describe_error",
    "fail",
    "format_payload",
    "handle_errors",
    "load_source",
    "message_record",
    "parse_headers",
    "payload_text",
    "plain_table",
    "plural",
    "root_callback",
    "session",
    "state",
]

AddrOpt = Annotated[
    str,
    typer.Option(
        "--addr",
        envvar="FILA_ADDR",
        help="Broker address (host:port or http://host:port). Also accepted after the command.",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", envvar="FILA_API_KEY", show_envvar=True,
                 help="API key, sent as 'authorization: Bearer <key>' (when auth is on)."),
]
TlsCaOpt = Annotated[
    str | None,
    typer.Option("--tls-ca", envvar="FILA_TLS_CA", show_envvar=True, metavar="FILE",
                 help="PEM CA certificate that signed the broker's certificate (turns TLS on)."),
]
TlsCertOpt = Annotated[
    str | None,
    typer.Option("--tls-cert", envvar="FILA_TLS_CERT", show_envvar=True, metavar="FILE",
                 help="PEM client certificate, for a broker that requires mTLS."),
]
TlsKeyOpt = Annotated[
    str | None,
    typer.Option("--tls-key", envvar="FILA_TLS_KEY", show_envvar=True, metavar="FILE",
                 help="PEM private key of --tls-cert."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def root_callback(
    ctx: typer.Context,
    addr: AddrOpt = DEFAULT_ADDR,
    json_out: JsonOpt = False,
    yes: YesOpt = False,
    api_key: ApiKeyOpt = None,
    tls_ca: TlsCaOpt = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
) -> None:
    """Fila: a message broker with fair scheduling and per-key throttling."""
    ctx.obj = State(addr=addr, json=json_out, yes=yes, api_key=api_key, tls_ca=tls_ca,
                    tls_cert=tls_cert, tls_key=tls_key)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


@contextmanager
def session(ctx: typer.Context, json_out: bool = False) -> Iterator[tuple[Client, Output]]:
    """A connected client and the output for one command, inside the error handler.

    The client module is imported only here, so ``fila --help`` does not load grpc.
    """
    with connected(state(ctx), json_out) as pair:
        yield pair


# ---- confirmation ---------------------------------------------------------------


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(ctx: typer.Context, question: str, *, yes: bool = False) -> None:
    """Ask before a destructive step, only when a person is at a terminal.

    Scripts (stdin not a TTY) and ``--yes`` proceed without asking.
    """
    if yes or state(ctx).yes or not _stdin_is_terminal():
        return
    if not typer.confirm(question, default=False):
        typer.echo("Aborted.", err=True)
        raise typer.Exit(1)


class FilaCommand(typer.core.TyperCommand):
    """A command whose usage line names arguments the Unix way: ``QUEUE``, ``[PAYLOAD]``.

    Typer writes required arguments as ``{queue}``, which reads like a set literal.
    """

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [_unix_metavar(piece) for piece in super().collect_usage_pieces(ctx)]


def _unix_metavar(piece: str) -> str:
    if piece.startswith("{") and piece.endswith("}"):
        return piece[1:-1].upper()
    if piece.startswith("[") and piece.endswith("]") and piece != "[OPTIONS]":
        return f"[{piece[1:-1].upper()}]"
    return piece
