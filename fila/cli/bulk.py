"""`fila enqueue QUEUE --jsonl FILE`: many messages from JSON lines, sent in EnqueueBatch RPCs.

One JSON object per line:

    {"payload": "text", "headers": {"tenant": "acme"}, "delay_ms": 0}
    {"payload_base64": "AAEC"}

``payload`` is text (sent as UTF-8); ``payload_base64`` carries bytes and wins when both
are there, so the lines ``fila consume --json`` prints can be fed back as they are (its
other keys are ignored, like any unknown key). ``--header`` / ``--delay`` given on the
command line apply to every line; a line's own ``headers`` / ``delay_ms`` take precedence.
Blank lines are skipped.

A line that is not such an object, or that the broker refuses, fails alone: one
``Error: line N: ...`` on stderr, the others are sent, and the exit code is 1. An RPC that
fails as a whole (the broker went away) stops the command after the summary.
"""

from __future__ import annotations

import base64
import binascii
import json
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from fila.cli.base import CliError, Output, State, connected, describe_error, fail, plural
from fila.errors import FilaError
from fila.types import EnqueueItem

__all__ = ["DEFAULT_BATCH", "LineError", "parse_line", "run_bulk_enqueue"]

DEFAULT_BATCH = 500


class LineError(ValueError):
    """A line that does not describe a message; the text says why."""


@dataclass(frozen=True)
class Defaults:
    """What the command line sets for every line."""

    headers: dict[str, str]
    delay_ms: int


def parse_line(text: str, queue: str, defaults: Defaults) -> EnqueueItem:
    """The message one JSON line describes (raises LineError)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise LineError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise LineError("not a JSON object")
    b64 = obj.get("payload_base64")
    text_payload = obj.get("payload")
    if b64 is not None:
        if not isinstance(b64, str):
            raise LineError('"payload_base64" must be a string')
        try:
            payload = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise LineError('"payload_base64" is not valid base64') from None
    elif isinstance(text_payload, str):
        payload = text_payload.encode("utf-8")
    elif text_payload is None:
        raise LineError('no "payload" (text) or "payload_base64"')
    else:
        raise LineError('"payload" must be a string (use "payload_base64" for bytes)')
    headers = dict(defaults.headers)
    line_headers = obj.get("headers", {})
    if not isinstance(line_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in line_headers.items()
    ):
        raise LineError('"headers" must be an object of strings')
    headers.update(line_headers)
    delay = obj.get("delay_ms", defaults.delay_ms)
    if isinstance(delay, bool) or not isinstance(delay, int) or delay < 0:
        raise LineError('"delay_ms" must be a whole number >= 0')
    return EnqueueItem(queue, payload, headers, delay)


def _lines(stream: IO[bytes]) -> Iterator[tuple[int, str | LineError]]:
    """(line number, text or why it cannot be read), blank lines skipped."""
    for n, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield n, LineError("not UTF-8 text")
            continue
        if text.strip():
            yield n, text


def _open(source: str) -> tuple[IO[bytes], int | None]:
    """The byte stream of ``source`` ('-' = stdin) and its line count when known."""
    if source == "-":
        return sys.stdin.buffer, None
    path = Path(source).expanduser()
    try:
        with path.open("rb") as f:  # one quick pass, so the bar knows its end
            total = sum(1 for raw in f if raw.strip())
        return path.open("rb"), total
    except OSError as e:
        raise CliError(f"cannot read {source}: {e.strerror or e}") from None


class _Progress:
    """A Rich bar on stderr when a person watches it; nothing otherwise."""

    def __init__(self, show: bool, total: int | None, queue: str) -> None:
        self._bar: Any = None
        self._task: Any = None
        if show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                TextColumn(f"enqueue to {queue}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(file=sys.stderr), transient=True,
            )
            self._task = self._bar.add_task("enqueue", total=total)

    def context(self) -> AbstractContextManager[Any]:
        return self._bar if self._bar is not None else nullcontext()

    def note(self, text: str) -> None:
        """A line on stderr; above the bar while it is shown, so neither garbles the other."""
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False, soft_wrap=True)
        else:
            sys.stderr.write(text + "\n")

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def run_bulk_enqueue(
    st: State,
    queue: str,
    source: str,
    *,
    headers: dict[str, str],
    delay_ms: int = 0,
    batch_size: int = DEFAULT_BATCH,
    json_out: bool = False,
) -> None:
    """Send every line of ``source`` to ``queue``, ``batch_size`` per RPC."""
    defaults = Defaults(headers, delay_ms)
    with connected(st, json_out) as (client, out):
        stream, total = _open(source)
        progress = _Progress(_isatty(sys.stderr) and not out.json, total, queue)
        ids: list[str] = []
        failed: list[tuple[int, str]] = []
        stopped = ""

        def problem(line: int, text: str) -> None:
            failed.append((line, text))
            progress.note(f"Error: line {line}: {text}")

        def send(batch: list[tuple[int, EnqueueItem]]) -> None:
            results = client.enqueue_many([item for _, item in batch])
            for (line, _), result in zip(batch, results, strict=True):
                if isinstance(result, str):
                    ids.append(result)
                else:
                    problem(line, describe_error(result, st.addr))
            progress.advance(len(batch))

        with stream, progress.context():
            batch: list[tuple[int, EnqueueItem]] = []
            try:
                for line, text in _lines(stream):
                    if isinstance(text, LineError):
                        problem(line, str(text))
                        progress.advance(1)
                        continue
                    try:
                        batch.append((line, parse_line(text, queue, defaults)))
                    except LineError as e:
                        problem(line, str(e))
                        progress.advance(1)
                    if len(batch) >= batch_size:
                        send(batch)
                        batch = []
                if batch:
                    send(batch)
            except FilaError as e:  # the whole RPC failed: stop, after saying how far we got
                first, last = batch[0][0], batch[-1][0]
                stopped = (f"{describe_error(e, st.addr)} (lines {first}-{last} not "
                           "enqueued; stopped there)")
        _report(out, queue, ids, failed, stopped)


def _report(out: Output, queue: str, ids: list[str], failed: list[tuple[int, str]],
            stopped: str) -> None:
    if out.json:
        out.emit_json({
            "queue": queue,
            "enqueued": len(ids),
            "ids": ids,
            "failed": [{"line": line, "error": text} for line, text in failed],
        })
    else:
        out.line(f'Enqueued {plural(len(ids), "message")} to "{queue}"', style="green")
    if stopped:
        raise fail(stopped)
    if failed:
        lines = len(ids) + len(failed)
        raise fail(f"{len(failed)} of {plural(lines, 'line')} failed")
