"""What every `fila` command shares: global options, the client session, output, errors.

Output has two faces. On a terminal: Rich tables and colour. Piped: plain,
stable text (aligned columns, no colour, no wrapping) because scripts grep and
awk it; the exact strings are in semantics.md "CLI output". ``--json`` gives
machine output for every read command.

Errors have one door: :func:`handle_errors` turns a :class:`FilaError` (or a
:class:`CliError` from argument handling) into ``Error: ...`` on stderr and
exit code 1 — never a traceback.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from fila.errors import FilaError, OverloadedError, UnavailableError

if TYPE_CHECKING:
    from fila.client import Client

__all__ = [
    "DEFAULT_ADDR",
    "AddrOpt",
    "CliError",
    "JsonOpt",
    "Output",
    "State",
    "YesOpt",
    "confirm",
    "describe_error",
    "fail",
    "format_payload",
    "handle_errors",
    "load_source",
    "message_record",
    "parse_headers",
    "payload_text",
    "plain_table",
    "plural",
    "root_callback",
    "session",
    "state",
]

DEFAULT_ADDR = "http://localhost:5555"

AddrOpt = Annotated[
    str,
    typer.Option(
        "--addr",
        envvar="FILA_ADDR",
        help="Broker address (host:port or http://host:port).",
        show_envvar=True,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@dataclass
class State:
    """The root options, kept on the root context for every sub-command."""

    addr: str = DEFAULT_ADDR
    json: bool = False
    yes: bool = False


def root_callback(
    ctx: typer.Context,
    addr: AddrOpt = DEFAULT_ADDR,
    json_out: JsonOpt = False,
    yes: YesOpt = False,
) -> None:
    """Fila: a message broker with fair scheduling and per-key throttling."""
    ctx.obj = State(addr=addr, json=json_out, yes=yes)


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, State) else State()


class CliError(Exception):
    """A problem with what the user typed or gave us (bad header, unreadable file)."""


# ---- errors -------------------------------------------------------------------


def describe_error(error: FilaError) -> str:
    """The text after ``Error: `` for a broker error (semantics.md "CLI output")."""
    if isinstance(error, OverloadedError):
        return "broker overloaded, try again"
    if isinstance(error, UnavailableError):
        from fila.client import CONNECT_FAILURE_PREFIX

        if error.message.startswith(CONNECT_FAILURE_PREFIX):
            return error.message
        return "broker unavailable (connection lost or server down)"
    return error.message or f"request failed ({error.code_name})"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``Error: message`` to stderr; return the Exit to raise."""
    typer.secho("Error:", fg="red", bold=True, err=True, nl=False)
    typer.echo(f" {message}", err=True)
    return typer.Exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """The one place broker and input errors become ``Error: ...`` and exit 1."""
    try:
        yield
    except FilaError as e:
        raise fail(describe_error(e)) from None
    except CliError as e:
        raise fail(str(e)) from None


@contextmanager
def session(ctx: typer.Context, json_out: bool = False) -> Iterator[tuple[Client, Output]]:
    """A connected client and the output for one command, inside the error handler.

    The client module is imported here, not at the top, so that ``fila --help``
    does not pay for loading grpc.
    """
    from fila.client import Client

    st = state(ctx)
    out = Output(json_out or st.json)
    with handle_errors(), Client(st.addr) as client:
        yield client, out


# ---- confirmation ---------------------------------------------------------------


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


def confirm(ctx: typer.Context, question: str, *, yes: bool = False) -> None:
    """Ask before a destructive step, only when a person is at a terminal.

    Scripts (stdin not a TTY) and ``--yes`` proceed without asking.
    """
    if yes or state(ctx).yes or not _stdin_is_terminal():
        return
    if not typer.confirm(question, default=False):
        typer.echo("Aborted.", err=True)
        raise typer.Exit(1)


# ---- input helpers (pure) -------------------------------------------------------


def parse_headers(items: Sequence[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` -> dict; the value may contain ``=``; later keys win."""
    headers: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CliError(f"invalid header {item!r}: expected KEY=VALUE")
        headers[key] = value
    return headers


def load_source(value: str | None) -> str | None:
    """Inline Lua, or ``@path/to/file.lua`` read from disk; None stays None."""
    if value is None or not value.startswith("@"):
        return value
    path = Path(value[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot read {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise CliError(f"cannot read {path}: not UTF-8 text") from None


def payload_text(payload: bytes) -> str | None:
    """The payload as text when it is printable UTF-8, else None."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(not ch.isprintable() and ch not in "\t\n\r" for ch in text):
        return None
    return text


def format_payload(payload: bytes) -> str:
    """One-line rendering: the text (line breaks shown as \\n), or ``base64:...`` for binary."""
    text = payload_text(payload)
    if text is not None:
        return text.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return "base64:" + base64.b64encode(payload).decode("ascii")


def message_record(msg: Any, **extra: object) -> dict[str, object]:
    """A ConsumeMessage as a JSON-ready dict (payload as text when possible, always base64)."""
    record: dict[str, object] = {
        "id": msg.id,
        "queue": msg.queue,
        "fairness_key": msg.fairness_key,
        "attempt_count": msg.attempt_count,
        "weight": msg.weight,
        "throttle_keys": list(msg.throttle_keys),
        "headers": dict(msg.headers),
        "payload": payload_text(msg.payload),
        "payload_base64": base64.b64encode(msg.payload).decode("ascii"),
        "last_error": msg.last_error,
        "enqueued_at_ms": msg.enqueued_at_ms,
        "leased_at_ms": msg.leased_at_ms,
    }
    record.update(extra)
    return record


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def plain_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[int] = (),
    indent: str = "",
) -> list[str]:
    """Aligned columns separated by two spaces; numbers (``right``) right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def fmt(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return (indent + "  ".join(parts)).rstrip()

    return [fmt(headers)] + [fmt(row) for row in rows]


# ---- output ---------------------------------------------------------------------


class Output:
    """Where a command writes: Rich on a terminal, plain text when piped, or JSON."""

    def __init__(self, as_json: bool = False) -> None:
        self.json = as_json
        self.terminal = sys.stdout.isatty()

    def _console(self) -> Any:
        from rich.console import Console

        return Console(file=sys.stdout, soft_wrap=True, highlight=False)

    def line(self, text: str = "", *, style: str | None = None) -> None:
        if self.terminal and style:
            self._console().print(text, style=style, markup=False)
        else:
            sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def emit_json(self, data: object, *, compact: bool = False) -> None:
        if compact:
            sys.stdout.write(json.dumps(data, separators=(",", ":")) + "\n")
        else:
            sys.stdout.write(json.dumps(data, indent=2) + "\n")
        sys.stdout.flush()

    def done(self, text: str, data: object) -> None:
        """Report a finished write: the documented sentence, or ``data`` as JSON."""
        if self.json:
            self.emit_json(data)
        else:
            self.line(text, style="green")

    def table(
        self,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        right: Sequence[int] = (),
        indent: str = "",
        fold: Sequence[int] = (),
    ) -> None:
        if not self.terminal:
            for text in plain_table(headers, rows, right=right, indent=indent):
                sys.stdout.write(text + "\n")
            sys.stdout.flush()
            return
        from rich import box
        from rich.padding import Padding
        from rich.table import Table

        table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
        foldable = {len(headers) - 1, *fold}
        for i, header in enumerate(headers):
            # Ids and keys must stay whole (people copy them); free text (the last column
            # and any in ``fold``) wraps instead, so no column drops off a narrow terminal.
            widest = max([len(header), *(len(row[i]) for row in rows)])
            table.add_column(
                header,
                justify="right" if i in right else "left",
                no_wrap=i not in foldable,
                min_width=None if i in foldable else widest,
                overflow="fold" if i in foldable else "ellipsis",
            )
        for row in rows:
            table.add_row(*row)
        self._console().print(Padding(table, (0, 0, 0, len(indent))))
