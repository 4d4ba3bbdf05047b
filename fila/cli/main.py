"""The `fila` command: one sub-app per noun, assembled here as a table of contents."""

from __future__ import annotations

import os
import sys

import typer

from fila.cli import common, config, demo, hook, message, queue, redrive, tui, version

app = typer.Typer(
    name="fila",
    help="Fila: a message broker with fair scheduling and per-key throttling.",
    no_args_is_help=True,
    add_completion=False,
    # Errors are handled in common.handle_errors and main(); no rich tracebacks with locals.
    pretty_exceptions_enable=False,
)
app.callback()(common.root_callback)

app.add_typer(queue.app, name="queue")  # create | delete | list | inspect | update
app.add_typer(config.app, name="config")  # set | get | list
app.command("redrive")(redrive.redrive)
app.command("enqueue")(message.enqueue)
app.command("consume")(message.consume)
app.command("peek")(message.peek)
app.add_typer(hook.app, name="hook")  # test
app.command("version")(version.version)


tui.register(app)  # tui
demo.register(app)  # demo


def main() -> None:
    """Entry point of the `fila` script."""
    try:
        app(prog_name="fila")
    except BrokenPipeError:
        # `fila queue list | head -1`: the reader left; exit quietly, not with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:  # a bug, not a broker error: those exit in handle_errors
        if os.environ.get("FILA_DEBUG"):
            raise
        typer.echo(
            f"Error: internal error: {type(e).__name__}: {e} (set FILA_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
