"""`fila config ...`: runtime configuration (throttles, concurrency caps, values for Lua)."""

from __future__ import annotations

from typing import Annotated

import typer

from fila.cli.common import FilaCommand, JsonOpt, session

app = typer.Typer(help="Set, get, unset and list runtime configuration.", no_args_is_help=True)

KeyArg = Annotated[str, typer.Argument(help="Config key, e.g. throttle.tenant:acme.")]


@app.command("set", cls=FilaCommand)
def set_(
    ctx: typer.Context,
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="Value ('' deletes the key, as `unset` does).")],
    json_out: JsonOpt = False,
) -> None:
    """Set a runtime config value (takes effect at once)."""
    with session(ctx, json_out) as (client, out):
        client.set_config(key, value)
        out.done(f'Set "{key}" = "{value}"', {"key": key, "value": value})


@app.command(cls=FilaCommand)
def get(ctx: typer.Context, key: KeyArg, json_out: JsonOpt = False) -> None:
    """Print one runtime config value."""
    with session(ctx, json_out) as (client, out):
        value = client.get_config(key)
        if out.json:
            out.emit_json({"key": key, "value": value})
        else:
            out.line(f"{key}: {value if value is not None else '(not set)'}")


@app.command("unset", cls=FilaCommand)
def unset(ctx: typer.Context, key: KeyArg, json_out: JsonOpt = False) -> None:
    """Delete a runtime config value (a throttle or cap stops applying at once)."""
    with session(ctx, json_out) as (client, out):
        client.set_config(key, "")  # an empty value deletes the key on the wire
        out.done(f'Deleted "{key}"', {"key": key, "deleted": True})


@app.command("list", cls=FilaCommand)
def list_(
    ctx: typer.Context,
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """List runtime config entries, in key order."""
    with session(ctx, json_out) as (client, out):
        entries = client.list_config(prefix)
        if out.json:
            out.emit_json([{"key": k, "value": v} for k, v in entries])
        elif not entries:
            out.line(
                f'No config entries matching prefix "{prefix}".'
                if prefix
                else "No config entries found."
            )
        else:
            out.table(["KEY", "VALUE"], [[k, v] for k, v in entries])
