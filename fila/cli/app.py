"""The Typer command tree of `fila`: one sub-app per noun, assembled as a table of contents.

Imported only when the fast path (fila/cli/fast.py) does not take a command.
"""

from __future__ import annotations

import typer

from fila.cli import (
    auth,
    backup,
    cluster,
    common,
    config,
    demo,
    hook,
    message,
    queue,
    redrive,
    tui,
    version,
)
from fila.cli.common import FilaCommand

app = typer.Typer(
    name="fila",
    help="Fila: a message broker with fair scheduling and per-key throttling.",
    no_args_is_help=True,
    add_completion=False,
    # Errors are handled in base.handle_errors and main(); no rich tracebacks with locals.
    pretty_exceptions_enable=False,
)
app.callback()(common.root_callback)

app.add_typer(queue.app, name="queue")  # create | delete | list | inspect | update
app.add_typer(config.app, name="config")  # set | get | unset | list
app.command("redrive", cls=FilaCommand)(redrive.redrive)
app.command("enqueue", cls=FilaCommand)(message.enqueue)
app.command("consume", cls=FilaCommand)(message.consume)
app.command("peek", cls=FilaCommand)(message.peek)
app.add_typer(message.app, name="message")  # delete
app.add_typer(hook.app, name="hook")  # test
app.add_typer(auth.app, name="auth")  # key create | list | revoke, acl set | get
app.command("version", cls=FilaCommand)(version.version)
app.command("backup", cls=FilaCommand)(backup.backup)
app.add_typer(cluster.app, name="cluster")  # status


tui.register(app)  # tui
demo.register(app)  # demo

# Options of the root that may also be written after the command (`fila queue list --addr X`).
GLOBAL_OPTIONS: dict[str, bool] = {"--addr": True, "--json": False, "--yes": False, "-y": False,
                                   "--api-key": True, "--tls-ca": True, "--tls-cert": True,
                                   "--tls-key": True}


def hoist_global_options(root: typer.core.TyperGroup, args: list[str]) -> list[str]:
    """Move global options written after the command in front of it.

    An option the command defines itself (``--json`` of ``queue list``, ``--addr`` of
    ``tui``) stays where it is; only ones the command would reject move.
    """
    front: list[str] = []
    rest: list[str] = []
    node: object = root
    in_command = False
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            rest.extend(args[i:])
            break
        name, eq, _ = token.partition("=")
        commands = getattr(node, "commands", None)
        if isinstance(commands, dict) and token in commands:
            node = commands[token]
            in_command = True
            rest.append(token)
        elif in_command and name in GLOBAL_OPTIONS and not _defines(node, name):
            takes_value = GLOBAL_OPTIONS[name] and not eq
            front.extend(args[i : i + 2] if takes_value else [token])
            i += 1 if takes_value else 0
        else:
            rest.append(token)
            if not in_command and name in GLOBAL_OPTIONS and GLOBAL_OPTIONS[name] and not eq:
                # the value of a root option written before the command
                i += 1
                rest.extend(args[i : i + 1])
        i += 1
    return front + rest


def _defines(command: object, option: str) -> bool:
    params = getattr(command, "params", [])
    return any(option in (*p.opts, *p.secondary_opts) for p in params)
