"""Server log lines: text for a terminal, JSON lines for a log pipeline, and the audit trail.

``[log] format = "json"`` writes one JSON object per line with ``ts`` (UTC, ISO 8601 with
milliseconds), ``level``, ``logger`` and ``msg`` (the same text the text format shows),
plus the event's fields when it has them: ``queue``, ``message_id``, ``key``, ``caller``,
``peer``, ``action`` (see ``FIELDS``). Callers attach fields with ``extra=fields(queue=...)``; the
text format appends them as ``key=value`` so both formats carry the same facts.

Admin changes (create, update and delete a queue, set config, redrive) are logged by
:func:`audit` on the ``fila.audit`` logger: what, on what, and who (the client's address;
and, when auth is on, the API key's name and id). "When" is the line's timestamp.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["FIELDS", "JsonFormatter", "TextFormatter", "audit", "fields", "setup"]

# The structured fields a record may carry (set through ``extra``), in output order.
FIELDS = ("action", "queue", "message_id", "key", "caller", "caller_key_id", "peer", "count",
          "detail")
# LogRecord attributes live in the record's __dict__ too: the fields go under a prefix so
# a field named like one of them ("msg", "name") could never clobber it.
_PREFIX = "fila_"

audit_log = logging.getLogger("fila.audit")


def fields(**values: Any) -> dict[str, Any]:
    """``extra=`` for a log call: the given fields (names from ``FIELDS``), empty ones dropped."""
    return {_PREFIX + k: v for k, v in values.items() if v not in (None, "")}


def _record_fields(record: logging.LogRecord) -> list[tuple[str, Any]]:
    attrs = record.__dict__
    return [(name, attrs[_PREFIX + name]) for name in FIELDS if _PREFIX + name in attrs]


class TextFormatter(logging.Formatter):
    """The classic line, ``time LEVEL logger: message``, then any fields as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = _record_fields(record)
        if not extra:
            return line
        # Fields go on the first line: a traceback (if any) follows the message.
        first, nl, rest = line.partition("\n")
        pairs = " ".join(f"{k}={json.dumps(v) if _needs_quotes(v) else v}" for k, v in extra)
        return f"{first} {pairs}{nl}{rest}"


def _needs_quotes(value: Any) -> bool:
    text = str(value)
    return not text or any(c.isspace() or c in '"=' for c in text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback goes in ``exc`` (still one line)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, value in _record_fields(record):
            out[name] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def _iso_utc(created: float) -> str:
    seconds = int(created)
    millis = int((created - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def setup(fmt: str = "text", level: str = "INFO") -> None:
    """Send the process's log records to stderr in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def audit(action: str, peer: str, *, queue: str = "", key: str = "", caller: str = "",
          caller_key_id: str = "", count: int | None = None, detail: str = "") -> None:
    """One audit line for an admin change that took effect. ``caller``: the API key's name
    (auth on); ``peer``: the client's address."""
    what = f"{action} {queue or key}".strip()
    audit_log.info("%s", what, extra=fields(action=action, queue=queue, key=key, caller=caller,
                                             caller_key_id=caller_key_id, peer=peer,
                                             count=count, detail=detail))
