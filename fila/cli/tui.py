"""`fila tui`: the live dashboard (fila/tui), against a broker address."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fila.cli.base import State

__all__ = ["register", "root_state", "tui"]


def tui(
    ctx: typer.Context,
    addr: Annotated[
        str | None,
        typer.Option(
            "--addr",
            envvar="FILA_ADDR",
            show_envvar=True,
            help="Broker address (host:port or http://host:port). "
            "Defaults to the global --addr, http://localhost:5555.",
        ),
    ] = None,
    read_only: Annotated[
        bool, typer.Option("--read-only", help="Hide every action that changes the broker.")
    ] = False,
    interval_ms: Annotated[
        int, typer.Option("--interval-ms", min=100, help="Stats refresh interval.")
    ] = 1000,
    top_keys: Annotated[
        int, typer.Option("--top-keys", min=1, help="Busiest keys per queue to show.")
    ] = 100,
    attention_wait: Annotated[
        float,
        typer.Option(
            "--attention-wait",
            min=0,
            metavar="SECONDS",
            help="Mark a queue whose oldest ready message waited longer than this (0: never).",
        ),
    ] = 60,
) -> None:
    """Live dashboard: who is waiting, and why. Edit hooks, limits and redrive DLQs."""
    from fila.cli.base import check_addr, open_client

    target = addr or _root_addr(ctx)
    check_addr(target)  # a malformed address is a usage error: one line, exit 2
    # Imported here so `fila --help` (and a mistyped address) does not load Textual and grpc.
    from fila.tui.app import build_app

    # The app owns the client from here: it closes it on exit to end the stats stream.
    # TLS files and the API key: the global options (--tls-ca ... --api-key) or env.
    client = open_client(root_state(ctx, target))
    try:
        build_app(
            client,
            addr=target,
            read_only=read_only,
            interval_ms=interval_ms,
            top_keys=top_keys,
            attention_wait_ms=int(attention_wait * 1000),
        ).run()
    finally:
        client.close()


def root_state(ctx: typer.Context, addr: str) -> State:
    """The root options (security ones included) with ``addr`` as the address."""
    from fila.cli.base import State

    try:
        from fila.cli.common import state

        return dataclasses.replace(state(ctx), addr=addr)
    except ImportError:  # the CLI core is optional for this command
        return State(addr=addr)


def _root_addr(ctx: typer.Context) -> str:
    try:
        from fila.cli.common import state

        return state(ctx).addr
    except ImportError:  # the CLI core is optional for this command
        return "http://localhost:5555"


def register(app: typer.Typer) -> None:
    """Add `fila tui` to the root CLI (called by fila/cli/main.py)."""
    from fila.cli.common import FilaCommand

    app.command("tui", cls=FilaCommand)(tui)
