"""The `fila` command: one sub-app per noun, assembled here as a table of contents."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from fila.cli import common, config, hook, message, queue, redrive, version

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


def _register_optional(name: str) -> None:
    """Add `fila <name>` from fila/cli/<name>.py when that module exists.

    `fila tui` and `fila demo` land separately; either module may be absent.
    The module offers ``register(app)``, or a Typer ``app``, or a function
    called ``<name>``.
    """
    try:
        module = importlib.import_module(f"fila.cli.{name}")
    except ModuleNotFoundError as e:
        if e.name != f"fila.cli.{name}":
            raise  # the module exists but is broken: show it, don't hide it
        return
    register = getattr(module, "register", None)
    sub = getattr(module, "app", None)
    command = getattr(module, name, None)
    if callable(register):
        register(app)
    elif isinstance(sub, typer.Typer):
        app.add_typer(sub, name=name)
    elif callable(command):
        app.command(name)(command)


_register_optional("tui")
_register_optional("demo")


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
