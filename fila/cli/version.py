"""`fila version`: this client's version and, when reachable, the broker's."""

from __future__ import annotations

import typer

from fila.cli.common import JsonOpt, state
from fila.cli.oneshot import run_version


def version(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """Print the client version and the server version (if the broker answers)."""
    run_version(state(ctx), json_out=json_out)
