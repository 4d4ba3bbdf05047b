"""The message inspector's pure view model: payload rendering, detail rows, JSON export."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, timedelta, timezone

from fila.tui.message_view import (
    detail_rows,
    export_json,
    fmt_when,
    message_export,
    render_payload,
)
from fila.types import ConsumeMessage, ListedMessage

from .fakes import T0

MSG = ListedMessage(
    ConsumeMessage(
        id="01890000-0000-7000-8000-000000000007",
        headers={"tenant": "acme", "trace": "abc"},
        payload=b'{"order": 7, "items": ["a", "\xc3\xa9"]}',
        fairness_key="tenant:acme",
        attempt_count=4,
        queue="orders.dlq",
        weight=3,
        throttle_keys=("provider:stripe", "region:eu"),
        last_error="card declined\nretry later",
        enqueued_at_ms=T0 - 90_000,
        leased_at_ms=0,
    ),
    state="ready",
)


def test_a_json_object_or_array_is_pretty_printed() -> None:
    view = render_payload(MSG.message.payload)
    assert view.kind == "json"
    assert view.text == '{\n  "order": 7,\n  "items": [\n    "a",\n    "é"\n  ]\n}'
    assert view.title == "payload  34 bytes, JSON"
    assert render_payload(b"[1, 2]").kind == "json"


def test_json_scalars_and_other_text_show_as_text() -> None:
    for payload in (b"42", b'"quoted"', b"true", b"hello world", b"{not json"):
        view = render_payload(payload)
        assert (view.kind, view.text) == ("text", payload.decode())
    assert render_payload("line 1\nünïcode\tok".encode()).kind == "text"


def test_binary_and_control_bytes_show_as_hex_and_x_forces_hex() -> None:
    view = render_payload(bytes([0, 1, 2, 255]))
    assert view.kind == "hex"
    assert view.text == "000000  00 01 02 ff" + " " * 36 + "  |....|"
    assert render_payload(b"bell\x07").kind == "hex"  # valid UTF-8, but not printable
    forced = render_payload(b'{"a": 1}', as_hex=True)
    assert (forced.kind, forced.title) == ("hex", "payload  8 bytes, hex")


def test_a_long_payload_shows_its_start_and_is_never_half_json() -> None:
    doc = json.dumps({"k": "x" * 200}).encode()
    view = render_payload(doc, max_bytes=50)
    assert view.kind == "text" and view.text == doc[:50].decode()
    assert view.title == f"payload  {len(doc)} bytes, text (first 50 shown)"
    # A cut through a two-byte character still reads as text, without the broken half.
    accents = "é".encode() * 30
    cut = render_payload(accents, max_bytes=51)
    assert cut.kind == "text" and cut.text == "é" * 25
    assert render_payload(bytes(range(256)) * 2, max_bytes=16).text.count("\n") == 0


def test_detail_rows_in_reading_order_with_times_in_the_settings_zone() -> None:
    rows = dict(detail_rows(MSG, UTC, T0))
    assert list(rows) == [
        "id",
        "queue",
        "state",
        "fairness key",
        "weight",
        "throttle keys",
        "attempts",
        "enqueued",
        "leased",
    ]
    assert rows["throttle keys"] == "provider:stripe, region:eu"
    assert rows["weight"] == "3" and rows["attempts"] == "4"
    assert rows["enqueued"] == "2026-01-01 11:58:30  (1m30s ago)"
    assert rows["leased"] == "—"
    cet = timezone(timedelta(hours=1))
    assert dict(detail_rows(MSG, cet, None))["enqueued"] == "2026-01-01 12:58:30"


def test_a_delayed_message_says_when_it_is_due() -> None:
    delayed = replace(MSG, state="delayed", deliver_after_ms=T0 + 5_000)
    rows = dict(detail_rows(delayed, UTC, T0))
    assert rows["deliver after"] == "2026-01-01 12:00:05  (in 5.0 s)"
    bare = replace(MSG, message=replace(MSG.message, fairness_key="", throttle_keys=()))
    assert dict(detail_rows(bare, UTC, T0))["throttle keys"] == "—"


def test_fmt_when_without_a_time() -> None:
    assert fmt_when(0, UTC, T0) == "—"


def test_export_is_the_peek_json_shape_with_the_whole_payload() -> None:
    record = message_export(MSG)
    assert record == {
        "id": MSG.message.id,
        "queue": "orders.dlq",
        "fairness_key": "tenant:acme",
        "attempt_count": 4,
        "weight": 3,
        "throttle_keys": ["provider:stripe", "region:eu"],
        "headers": {"tenant": "acme", "trace": "abc"},
        "payload": MSG.message.payload.decode(),
        "payload_base64": base64.b64encode(MSG.message.payload).decode(),
        "last_error": "card declined\nretry later",
        "enqueued_at_ms": T0 - 90_000,
        "leased_at_ms": 0,
        "state": "ready",
        "deliver_after_ms": 0,
    }
    assert json.loads(export_json(MSG)) == record
    binary = replace(MSG, message=replace(MSG.message, payload=b"\xff\x00"))
    assert message_export(binary)["payload"] is None


def test_export_matches_what_fila_peek_json_prints() -> None:
    from fila.cli.base import message_record

    expected = message_record(MSG.message, state="ready", deliver_after_ms=0)
    assert message_export(MSG) == expected
