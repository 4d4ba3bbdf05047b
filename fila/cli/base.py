"""The typer-free core of every `fila` command: state, errors, output, input helpers.

Kept apart from :mod:`fila.cli.common` (the Typer glue) so the one-shot fast path
(:mod:`fila.cli.fast`) runs ``fila enqueue`` and ``fila version`` without importing
Typer at all; see docs/benchmarks.md "CLI start-up".

Output has two faces. On a terminal: Rich tables and colour. Piped: plain,
stable text (aligned columns, no colour, no wrapping) because scripts grep and
awk it; the exact strings are in docs/cli.md, "Output, exit codes and errors".
``--json`` gives
machine output for every read command.

Errors have one door: :func:`handle_errors` turns a :class:`FilaError` (or a
:class:`CliError` from argument handling) into ``Error: ...`` on stderr and
exit code 1 — never a traceback. A broker address that cannot be parsed is a
usage error: exit code 2, like any other bad argument.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fila.errors import (
    FilaError,
    InvalidArgumentError,
    OverloadedError,
    UnauthenticatedError,
    UnavailableError,
)

if TYPE_CHECKING:
    from fila.client import Client

DEFAULT_ADDR = "http://localhost:5555"
USAGE_EXIT = 2  # what Click uses for a usage error


@dataclass
class State:
    """The root options, kept on the root context for every sub-command."""

    addr: str = DEFAULT_ADDR
    json: bool = False
    yes: bool = False
    # Security options; None falls back to FILA_API_KEY / FILA_TLS_CA / _CERT / _KEY.
    api_key: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None


def env_addr() -> str:
    """``FILA_ADDR`` when set and not empty, else the default address."""
    return os.environ.get("FILA_ADDR") or DEFAULT_ADDR


class CliError(Exception):
    """A problem with what the user typed or gave us (bad header, unreadable file)."""


# ---- errors -------------------------------------------------------------------

# gRPC's TLS failures, in the details of an UNAVAILABLE status.
_TLS_TO_PLAINTEXT = ("wrong_version_number", "tsi_protocol_failure", "ssl_error", "handshake")
# A TLS server hangs up on a plaintext HTTP/2 preface: all the client sees is this.
_PLAINTEXT_TO_TLS = "socket closed"


def describe_error(error: FilaError, addr: str = "") -> str:
    """The text after ``Error: `` for a broker error (table in docs/cli.md, "Output ...")."""
    if isinstance(error, OverloadedError):
        return "broker overloaded, try again"
    if isinstance(error, UnavailableError):
        tls_hint = _tls_mismatch(error.message, addr)
        if tls_hint:
            return tls_hint
        from fila.client import CONNECT_FAILURE_PREFIX

        if error.message.startswith(CONNECT_FAILURE_PREFIX):
            return error.message
        return "broker unavailable (connection lost or server down)"
    if isinstance(error, UnauthenticatedError):
        return f"{error.message} (pass --api-key or set FILA_API_KEY)"
    return error.message or f"request failed ({error.code_name})"


def _tls_mismatch(details: str, addr: str) -> str:
    """One sentence for a TLS/plaintext mismatch, else ""."""
    lowered = details.lower()
    given = addr.strip()
    if given.startswith("https://"):
        if any(marker in lowered for marker in _TLS_TO_PLAINTEXT):
            plain = "http://" + given[len("https://") :]
            return (
                f"cannot connect to broker at {given}: the server does not speak TLS "
                f"(use {plain})"
            )
    elif _PLAINTEXT_TO_TLS in lowered and "failed to connect" in lowered:
        bare = given.removeprefix("http://")
        return (
            f"cannot connect to broker at {given}: the server closed the connection at once; "
            f"if it expects TLS, use https://{bare}"
        )
    return ""


def fail(message: str, code: int = 1) -> SystemExit:
    """Print ``Error: message`` to stderr; return the exit to raise."""
    head = "\x1b[1;31mError:\x1b[0m" if _isatty(sys.stderr) else "Error:"
    sys.stderr.write(f"{head} {message}\n")
    sys.stderr.flush()
    return SystemExit(code)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextmanager
def handle_errors(addr: str = "") -> Iterator[None]:
    """The one place broker and input errors become ``Error: ...`` and exit 1."""
    try:
        yield
    except FilaError as e:
        raise fail(describe_error(e, addr)) from None
    except CliError as e:
        raise fail(str(e)) from None


def check_addr(addr: str) -> None:
    """Exit 2 with one line when ``addr`` is not a broker address (a usage error)."""
    from fila.addr import parse_addr

    try:
        parse_addr(addr)
    except InvalidArgumentError as e:
        raise fail(e.message, USAGE_EXIT) from None


def _pem(path: str | None, option: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as e:
        raise fail(f"cannot read {option} {path}: {e.strerror or e}") from None


def open_client(st: State, *, timeout: float | None = 10.0) -> Client:
    """A client for ``st.addr`` with the TLS files and API key of ``st`` (or the
    environment); exit 2 first when the address is malformed, 1 when a file is unreadable."""
    check_addr(st.addr)
    from fila.client import Client

    env = os.environ
    ca = _pem(st.tls_ca or env.get("FILA_TLS_CA"), "--tls-ca")
    cert = _pem(st.tls_cert or env.get("FILA_TLS_CERT"), "--tls-cert")
    key = _pem(st.tls_key or env.get("FILA_TLS_KEY"), "--tls-key")
    if (cert is None) != (key is None):
        raise fail("--tls-cert and --tls-key go together (a client certificate and its key)",
                   USAGE_EXIT)
    return Client(st.addr, timeout=timeout, ca_cert=ca, client_cert=cert, client_key=key,
                  tls=cert is not None, api_key=st.api_key or env.get("FILA_API_KEY") or None)


@contextmanager
def connected(st: State, json_out: bool = False) -> Iterator[tuple[Client, Output]]:
    """A connected client and the output for one command, inside the error handler."""
    client = open_client(st)
    out = Output(json_out or st.json)
    with handle_errors(st.addr), client:
        yield client, out


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
