"""Log formats: the text line keeps its shape, JSON lines carry the same facts as fields."""

from __future__ import annotations

import json
import logging

import pytest

from fila.server.logfmt import JsonFormatter, TextFormatter, audit, fields


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            import sys
            exc_info = sys.exc_info()
    rec = logging.LogRecord("fila.engine", logging.ERROR, __file__, 1, msg, args, exc_info)
    rec.__dict__.update(fields(**extra))
    return rec


def test_text_is_the_classic_line_plus_fields() -> None:
    plain = TextFormatter().format(record("deleted queue %s", "q"))
    assert plain.endswith(" ERROR fila.engine: deleted queue q")
    line = TextFormatter().format(record("cannot read %s", "m1", queue="orders",
                                         message_id="m1", detail="a b"))
    assert line.endswith(' ERROR fila.engine: cannot read m1 queue=orders message_id=m1 '
                         'detail="a b"')


def test_json_is_one_object_per_line_with_fields() -> None:
    out = json.loads(JsonFormatter().format(record("cannot read %s", "m1", queue="orders",
                                                   message_id="m1", count=3, key="")))
    assert out["level"] == "ERROR" and out["logger"] == "fila.engine"
    assert out["msg"] == "cannot read m1"
    assert (out["queue"], out["message_id"], out["count"]) == ("orders", "m1", 3)
    assert "key" not in out  # empty fields are left out
    assert out["ts"].endswith("Z") and out["ts"][10] == "T"


def test_json_keeps_a_traceback_on_its_one_line() -> None:
    text = JsonFormatter().format(record("failed", exc=True))
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exc"]


def test_audit_names_what_and_who(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="fila.audit"):
        audit("create queue", "ipv4:127.0.0.1:5000", queue="orders")
    (rec,) = caplog.records
    out = json.loads(JsonFormatter().format(rec))
    assert out["msg"] == "create queue orders"
    assert (out["action"], out["queue"], out["peer"]) == ("create queue", "orders",
                                                           "ipv4:127.0.0.1:5000")
