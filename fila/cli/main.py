"""Entry point of the `fila` script.

Importing this module is cheap: ``fila enqueue`` and ``fila version`` run through
the fast path (fila/cli/fast.py) without Typer; every other command builds the
Typer tree (fila/cli/app.py). Textual loads only for ``fila tui``, Rich only to
print a table or help on a terminal, the admin stubs only for admin commands —
tests/cli/test_cli_startup.py checks each.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer

    app: typer.Typer


def __getattr__(name: str) -> Any:
    # `from fila.cli.main import app` (tests, plugins) still works, built on demand.
    if name == "app":
        from fila.cli.app import app

        return app
    raise AttributeError(name)


def _run_typer(argv: list[str]) -> None:
    import typer

    from fila.cli.app import app, hoist_global_options

    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    root.main(args=hoist_global_options(root, argv), prog_name="fila")


def main() -> None:
    """Entry point of the `fila` script."""
    argv = sys.argv[1:]
    try:
        from fila.cli import fast

        # FILA_NO_FAST_PATH=1: everything through Typer (tests compare the two ways in).
        if os.environ.get("FILA_NO_FAST_PATH") or not fast.run(argv):
            _run_typer(argv)
    except BrokenPipeError:
        # `fila queue list | head -1`: the reader left; exit quietly, not with a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug, not a broker error: those exit in handle_errors
        if os.environ.get("FILA_DEBUG"):
            raise
        sys.stderr.write(
            f"Error: internal error: {type(e).__name__}: {e} (set FILA_DEBUG=1 for details)\n"
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
