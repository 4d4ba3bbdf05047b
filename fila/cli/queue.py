"""`fila queue ...`: create, delete, list, inspect and update queues."""

from __future__ import annotations

from typing import Annotated

import typer

from fila.cli.common import (
    CliError,
    FilaCommand,
    JsonOpt,
    YesOpt,
    confirm,
    load_source,
    session,
)

app = typer.Typer(help="Create, list, inspect, change and delete queues.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Queue name.", show_default=False)]
OnEnqueueOpt = Annotated[
    str | None,
    typer.Option("--on-enqueue", metavar="SRC", help="on_enqueue Lua hook: inline, or @file.lua."),
]
OnFailureOpt = Annotated[
    str | None,
    typer.Option("--on-failure", metavar="SRC", help="on_failure Lua hook: inline, or @file.lua."),
]
VisibilityOpt = Annotated[
    int | None,
    typer.Option(
        "--visibility-timeout", metavar="MS", min=0, help="Lease duration in ms (default 30000)."
    ),
]


@app.command(cls=FilaCommand)
def create(
    ctx: typer.Context,
    name: NameArg,
    on_enqueue: OnEnqueueOpt = None,
    on_failure: OnFailureOpt = None,
    visibility_timeout: VisibilityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a queue (its NAME.dlq dead-letter queue comes with it)."""
    with session(ctx, json_out) as (client, out):
        client.create_queue(
            name,
            on_enqueue=load_source(on_enqueue) or "",
            on_failure=load_source(on_failure) or "",
            visibility_timeout_ms=visibility_timeout or 0,
        )
        out.done(f'Created queue "{name}"', {"created": name})


@app.command(cls=FilaCommand)
def delete(
    ctx: typer.Context, name: NameArg, yes: YesOpt = False, json_out: JsonOpt = False
) -> None:
    """Delete a queue, its .dlq and all their messages."""
    with session(ctx, json_out) as (client, out):
        also = "" if name.endswith(".dlq") else f' and "{name}.dlq"'
        confirm(ctx, f'Delete queue "{name}"{also} with all their messages?', yes=yes)
        client.delete_queue(name)
        out.done(f'Deleted queue "{name}"', {"deleted": name})


@app.command(cls=FilaCommand)
def purge(
    ctx: typer.Context, name: NameArg, yes: YesOpt = False, json_out: JsonOpt = False
) -> None:
    """Remove a queue's ready and delayed messages; leased ones stay with their consumers."""
    with session(ctx, json_out) as (client, out):
        confirm(ctx, f'Purge the ready and delayed messages of "{name}"?', yes=yes)
        purged = client.purge_queue(name)
        noun = "message" if purged == 1 else "messages"
        out.done(f'Purged {purged} {noun} from "{name}"', {"queue": name, "purged": purged})


@app.command("list", cls=FilaCommand)
def list_(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List queues with depth, in-flight and consumer counts."""
    with session(ctx, json_out) as (client, out):
        queues = client.list_queues()
        if out.json:
            out.emit_json(
                [
                    {
                        "name": q.name,
                        "depth": q.depth,
                        "in_flight": q.in_flight,
                        "active_consumers": q.active_consumers,
                    }
                    for q in queues
                ]
            )
            return
        if not queues:
            out.line("No queues found.")
            return
        rows = [[q.name, str(q.depth), str(q.in_flight), str(q.active_consumers)] for q in queues]
        out.table(["NAME", "DEPTH", "IN_FLIGHT", "CONSUMERS"], rows, right=(1, 2, 3))


@app.command(cls=FilaCommand)
def inspect(ctx: typer.Context, name: NameArg, json_out: JsonOpt = False) -> None:
    """Show a queue's stats and its per-key and per-throttle breakdown."""
    with session(ctx, json_out) as (client, out):
        stats = client.get_stats(name)
        if out.json:
            out.emit_json(
                {
                    "name": name,
                    "depth": stats.depth,
                    "in_flight": stats.in_flight,
                    "active_fairness_keys": stats.active_fairness_keys,
                    "active_consumers": stats.active_consumers,
                    "quantum": stats.quantum,
                    "hook_breaker_open": bool(stats.snapshot and stats.snapshot.hook_breaker_open),
                    "hook_error": stats.snapshot.hook_error if stats.snapshot else "",
                    "per_key": [
                        {"key": k, "pending": p, "deficit": d, "weight": w}
                        for k, p, d, w in stats.per_key
                    ],
                    "per_throttle": [
                        {"key": k, "tokens": t, "rate_per_second": r, "burst": b}
                        for k, t, r, b in stats.per_throttle
                    ],
                }
            )
            return
        out.line(f"Queue: {name}", style="bold")
        for label, value in (
            ("Depth:", stats.depth),
            ("In-flight:", stats.in_flight),
            ("Active fairness keys:", stats.active_fairness_keys),
            ("Active consumers:", stats.active_consumers),
            ("Quantum:", stats.quantum),
        ):
            out.line(f"  {label:<22}{value}")
        snap = stats.snapshot
        if snap is not None and (snap.hook_breaker_open or snap.hook_error):
            state = "breaker open" if snap.hook_breaker_open else "failing"
            reason = f" ({snap.hook_error})" if snap.hook_error else ""
            out.line(f"  {'Hooks:':<22}{state}{reason}", style="yellow")
        if stats.per_key:
            out.line()
            rows = [[k, str(p), str(d), str(w)] for k, p, d, w in stats.per_key]
            out.table(["KEY", "PENDING", "DEFICIT", "WEIGHT"], rows, right=(1, 2, 3), indent="  ")
        if stats.per_throttle:
            out.line()
            rows = [[k, f"{t:.1f}", f"{r:.1f}", f"{b:.1f}"] for k, t, r, b in stats.per_throttle]
            out.table(["KEY", "TOKENS", "RATE/S", "BURST"], rows, right=(1, 2, 3), indent="  ")


@app.command(cls=FilaCommand)
def update(
    ctx: typer.Context,
    name: NameArg,
    on_enqueue: OnEnqueueOpt = None,
    on_failure: OnFailureOpt = None,
    visibility_timeout: VisibilityOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Change a queue's hooks or visibility timeout in place ('' removes a hook)."""
    with session(ctx, json_out) as (client, out):
        if on_enqueue is None and on_failure is None and visibility_timeout is None:
            raise CliError(
                "nothing to change: give --on-enqueue, --on-failure or --visibility-timeout"
            )
        details = client.update_queue(
            name,
            on_enqueue=load_source(on_enqueue),
            on_failure=load_source(on_failure),
            visibility_timeout_ms=visibility_timeout,
        )
        out.done(
            f'Updated queue "{name}"',
            {
                "updated": name,
                "on_enqueue_script": details.on_enqueue_script,
                "on_failure_script": details.on_failure_script,
                "visibility_timeout_ms": details.visibility_timeout_ms,
            },
        )
