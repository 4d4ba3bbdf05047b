"""The message record's hand-written JSON: exactly json.dumps's bytes, and it round-trips.

Records written by earlier versions (json.dumps) and by this one must read back alike, so
the encoder is held to json.dumps's exact output for any text a client can send.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from fila.server.model import StoredMessage

# Headers arrive as protobuf strings: valid UTF-8, so never a lone surrogate.
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def reference(m: StoredMessage) -> bytes:
    doc: dict[str, object] = {"h": m.headers, "k": m.fairness_key, "w": m.weight,
                              "a": m.attempts, "e": m.enqueued_at_ms, "s": m.seq}
    if m.throttle_keys:
        doc["t"] = list(m.throttle_keys)
    if m.deliver_after_ms:
        doc["d"] = m.deliver_after_ms
    if m.last_error:
        doc["r"] = m.last_error
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


records = st.builds(
    StoredMessage,
    headers=st.dictionaries(text, text, max_size=5),
    fairness_key=text,
    weight=st.integers(1, 2**32 - 1),
    throttle_keys=st.lists(text, max_size=3).map(tuple),
    attempts=st.integers(0, 10**6),
    enqueued_at_ms=st.integers(0, 2**48),
    seq=st.integers(0, 2**63),
    deliver_after_ms=st.integers(0, 2**48),
    last_error=text,
)


@given(records)
def test_encoding_is_byte_for_byte_json_dumps(m: StoredMessage) -> None:
    assert m.encode() == reference(m)


@given(records)
def test_a_record_reads_back_as_written(m: StoredMessage) -> None:
    assert StoredMessage.decode(m.encode()) == m


def test_quotes_backslashes_and_control_characters_are_escaped() -> None:
    m = StoredMessage({'a"b': "c\\d\n\x00", "ü": "💥"}, 'k"', 1, ("t\t",), 0, 1, 2,
                      last_error="line\r\n")
    assert StoredMessage.decode(m.encode()) == m
    assert m.encode() == reference(m)
