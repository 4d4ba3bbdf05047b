"""`fila redrive <dlq>`: move dead-lettered messages back to their queue."""

from __future__ import annotations

from typing import Annotated

import typer

from fila.cli.common import JsonOpt, YesOpt, confirm, plural, session


def redrive(
    ctx: typer.Context,
    dlq: Annotated[str, typer.Argument(help="Dead-letter queue, e.g. orders.dlq.")],
    count: Annotated[
        int, typer.Option("--count", "-n", min=0, help="Most messages to move (0 = all).")
    ] = 0,
    key: Annotated[
        str, typer.Option("--key", "-k", help="Only messages of this fairness key.")
    ] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would move; move nothing.")
    ] = False,
    message: Annotated[
        str,
        typer.Option("--message", "-m", metavar="ID", help="Only this message (by id)."),
    ] = "",
    yes: YesOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Move messages from a dead-letter queue back to its parent queue (attempts reset)."""
    with session(ctx, json_out) as (client, out):
        if count == 0 and not dry_run and not message:
            confirm(ctx, f'Redrive ALL messages from "{dlq}"?', yes=yes)
        moved = client.redrive(dlq, count, fairness_key=key, dry_run=dry_run, message_id=message)
        if dry_run:
            text = f'Dry run: {plural(moved, "message")} would move from "{dlq}"'
        else:
            text = f'Redrive complete: {plural(moved, "message")} moved from "{dlq}"'
        out.done(text, {"dlq": dlq, "redriven": moved, "dry_run": dry_run})
