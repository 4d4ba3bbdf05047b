"""`fila hook test`: run a Lua hook on a sample message on the broker, change nothing."""

from __future__ import annotations

from typing import Annotated

import typer

from fila.cli.common import CliError, FilaCommand, JsonOpt, load_source, parse_headers, session

app = typer.Typer(help="Try Lua hooks before applying them.", no_args_is_help=True)

HOOKS = ("on_enqueue", "on_failure")


def pick_hook(script: str, hook: str | None) -> str:
    """Which hook a script file is tested as: --hook, else the one it defines."""
    if hook is not None:
        if hook not in HOOKS:
            raise CliError(f"unknown hook {hook!r}: use on_enqueue or on_failure")
        return hook
    if "on_failure" in script and "on_enqueue" not in script:
        return "on_failure"
    return "on_enqueue"


@app.command(cls=FilaCommand)
def test(
    ctx: typer.Context,
    script: Annotated[
        str | None,
        typer.Option("--script", "-s", metavar="FILE", help="Lua file to test ('@' optional)."),
    ] = None,
    on_enqueue: Annotated[
        str | None,
        typer.Option("--on-enqueue", metavar="SRC", help="Test this on_enqueue (inline or @file)."),
    ] = None,
    on_failure: Annotated[
        str | None,
        typer.Option("--on-failure", metavar="SRC", help="Test this on_failure (inline or @file)."),
    ] = None,
    hook: Annotated[
        str | None,
        typer.Option("--hook", help="With --script: on_enqueue or on_failure (default: guessed)."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("--header", "-H", metavar="K=V", help="Sample header (repeatable)."),
    ] = None,
    payload_size: Annotated[int, typer.Option("--payload-size", min=0)] = 0,
    queue: Annotated[str, typer.Option("--queue", help="msg.queue seen by the hook.")] = "",
    attempts: Annotated[
        int, typer.Option("--attempts", min=0, help="on_failure: msg.attempts.")
    ] = 1,
    error: Annotated[str, typer.Option("--error", help="on_failure: msg.error.")] = "",
    message_id: Annotated[str, typer.Option("--message-id", help="on_failure: msg.id.")] = "",
    json_out: JsonOpt = False,
) -> None:
    """Run a hook on a sample message and print what it returns."""
    with session(ctx, json_out) as (client, out):
        given = [o for o in (script, on_enqueue, on_failure) if o is not None]
        if len(given) != 1:
            raise CliError("give exactly one of --script, --on-enqueue, --on-failure")
        if script is not None:
            source = load_source(script if script.startswith("@") else "@" + script) or ""
            which = pick_hook(source, hook)
        elif on_enqueue is not None:
            source, which = load_source(on_enqueue) or "", "on_enqueue"
        else:
            source, which = load_source(on_failure) or "", "on_failure"
        result = client.test_hook(
            which,
            source,
            headers=parse_headers(header),
            payload_size=payload_size,
            queue=queue,
            attempts=attempts,
            error=error,
            message_id=message_id,
        )
        if out.json:
            out.emit_json(
                {
                    "hook": which,
                    "error": result.error,
                    "fairness_key": result.fairness_key,
                    "weight": result.weight,
                    "throttle_keys": list(result.throttle_keys),
                    "delay_ms": result.delay_ms,
                    "action": result.action,
                    "raw": result.raw,
                }
            )
        elif not result.error:
            out.line(f"Hook: {which}", style="bold")
            if which == "on_enqueue":
                out.line(f"  fairness_key:  {result.fairness_key}")
                out.line(f"  weight:        {result.weight}")
                out.line(f"  throttle_keys: {', '.join(result.throttle_keys) or '(none)'}")
            else:
                out.line(f"  action:        {result.action}")
            out.line(f"  delay_ms:      {result.delay_ms}")
            if result.raw:
                out.line(f"  returned:      {result.raw}")
        if result.error:
            if out.json:
                # The JSON above already carries the error; stdout stays parseable.
                raise SystemExit(1)
            raise CliError(f"hook failed: {result.error}")
