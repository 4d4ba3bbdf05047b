"""The message inspector's view model: what one message shows and how it is exported.

Pure (no Textual, no clock): times are formatted in the zone the settings carry, ages are
measured against the newest snapshot's time, and the screen only paints what this returns.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Literal

from fila.tui.fmt import DASH, fmt_count, fmt_duration_ms, hex_dump
from fila.types import ListedMessage

__all__ = [
    "MAX_SHOWN_BYTES",
    "PayloadView",
    "detail_rows",
    "export_json",
    "message_export",
    "render_payload",
]

# The inspector shows at most this much of a payload (4 MiB payloads exist; a terminal
# page of pretty JSON or hex is what an operator reads). Copy as JSON exports all of it.
MAX_SHOWN_BYTES = 64 * 1024

PayloadKind = Literal["json", "text", "hex"]


@dataclass(frozen=True, slots=True)
class PayloadView:
    kind: PayloadKind
    text: str  # pretty JSON, the decoded text, or a hex dump
    title: str  # e.g. "payload  1 234 bytes, JSON"


def _decode_text(data: bytes) -> str | None:
    """The payload as text when it is UTF-8 a terminal can show (no control bytes)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(ch.isprintable() or ch in "\n\r\t" for ch in text):
        return text
    return None


def render_payload(
    payload: bytes, *, as_hex: bool = False, max_bytes: int = MAX_SHOWN_BYTES
) -> PayloadView:
    """Pick how to show a payload: pretty JSON (an object or array), text, else hex.

    ``as_hex`` forces hex (the operator's `x`). A payload longer than ``max_bytes`` shows
    its start, as text or hex: half a JSON document does not parse, so it is never JSON.
    """
    size = f"{fmt_count(len(payload))} bytes"
    cut = len(payload) > max_bytes
    body = payload[:max_bytes]
    more = f" (first {fmt_count(max_bytes)} shown)" if cut else ""
    text = None if as_hex else _decode_text(body)
    if text is None and cut and not as_hex:
        # The cut may split a UTF-8 sequence: retry without the partial last character.
        for back in (1, 2, 3):
            text = _decode_text(body[:-back])
            if text is not None:
                break
    if text is None:
        return PayloadView("hex", hex_dump(body), f"payload  {size}, hex{more}")
    if not cut:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict | list):
            pretty = json.dumps(doc, indent=2, ensure_ascii=False)
            return PayloadView("json", pretty, f"payload  {size}, JSON")
    return PayloadView("text", text, f"payload  {size}, text{more}")


def fmt_when(epoch_ms: int, tz: tzinfo, now_ms: int | None) -> str:
    """Date and time in the operator's zone, with how long ago when the time is known."""
    if not epoch_ms:
        return DASH
    stamp = datetime.fromtimestamp(epoch_ms / 1000, tz).strftime("%Y-%m-%d %H:%M:%S")
    if now_ms is None:
        return stamp
    delta = now_ms - epoch_ms
    span = fmt_duration_ms(abs(delta)).replace(" ms", "ms")
    return f"{stamp}  ({span} ago)" if delta >= 0 else f"{stamp}  (in {span})"


def detail_rows(listed: ListedMessage, tz: tzinfo, now_ms: int | None) -> list[tuple[str, str]]:
    """(label, value) rows of the inspector's header block, in reading order."""
    m = listed.message
    rows = [
        ("id", m.id),
        ("queue", m.queue),
        ("state", listed.state),
        ("fairness key", m.fairness_key or DASH),
        ("weight", str(m.weight)),
        ("throttle keys", ", ".join(m.throttle_keys) if m.throttle_keys else DASH),
        ("attempts", str(m.attempt_count)),
        ("enqueued", fmt_when(m.enqueued_at_ms, tz, now_ms)),
        ("leased", fmt_when(m.leased_at_ms, tz, now_ms)),
    ]
    if listed.deliver_after_ms:
        rows.append(("deliver after", fmt_when(listed.deliver_after_ms, tz, now_ms)))
    return rows


def message_export(listed: ListedMessage) -> dict[str, object]:
    """The message as `fila peek --json` prints it: one shape for scripts and the clipboard."""
    m = listed.message
    return {
        "id": m.id,
        "queue": m.queue,
        "fairness_key": m.fairness_key,
        "attempt_count": m.attempt_count,
        "weight": m.weight,
        "throttle_keys": list(m.throttle_keys),
        "headers": dict(m.headers),
        "payload": _decode_text(m.payload),
        "payload_base64": base64.b64encode(m.payload).decode("ascii"),
        "last_error": m.last_error,
        "enqueued_at_ms": m.enqueued_at_ms,
        "leased_at_ms": m.leased_at_ms,
        "state": listed.state,
        "deliver_after_ms": listed.deliver_after_ms,
    }


def export_json(listed: ListedMessage) -> str:
    return json.dumps(message_export(listed), indent=2, ensure_ascii=False)
