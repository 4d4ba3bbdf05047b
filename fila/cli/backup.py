"""`fila backup <dest>`: the broker writes a consistent checkpoint of its data while it runs."""

from __future__ import annotations

from typing import Annotated

import typer

from fila.cli.common import JsonOpt, session


def backup(
    ctx: typer.Context,
    dest: Annotated[str, typer.Argument(
        help="New directory ON THE SERVER'S MACHINE (absolute path; its parent must exist).")],
    json_out: JsonOpt = False,
) -> None:
    """Back up a running broker (restore with `fila-server restore DEST`, server stopped)."""
    with session(ctx, json_out) as (client, out):
        info = client.backup(dest)
        out.done(f"Backup written to {info.path} ({info.bytes / (1 << 20):.1f} MiB in "
                 f"{info.elapsed_ms / 1000:.1f} s)",
                 {"path": info.path, "bytes": info.bytes, "elapsed_ms": info.elapsed_ms})
