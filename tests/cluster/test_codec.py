"""Log entry encoding (pure): what the owner appends is exactly what a replica applies."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fila.cluster.codec import DecodeError, decode_ops, encode_ops, encoded_size
from fila.cluster.names import lease_key, stream_name, stream_subject

ops_strategy = st.lists(
    st.tuples(st.binary(max_size=300), st.none() | st.binary(max_size=2000)), max_size=40
)


@given(ops_strategy)
def test_round_trip_keeps_every_op_in_order(ops: list[tuple[bytes, bytes | None]]) -> None:
    data = encode_ops(ops)
    assert decode_ops(data) == ops
    assert encoded_size(ops) == len(data)


@given(ops_strategy.filter(bool), st.data())
def test_any_damage_is_refused_not_misread(
    ops: list[tuple[bytes, bytes | None]], data: st.DataObject
) -> None:
    encoded = bytearray(encode_ops(ops))
    index = data.draw(st.integers(0, len(encoded) - 1))
    encoded[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(DecodeError):
        decode_ops(bytes(encoded))


@given(ops_strategy, st.data())
def test_truncation_is_refused(ops: list[tuple[bytes, bytes | None]], data: st.DataObject) -> None:
    encoded = encode_ops(ops)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(DecodeError):
        decode_ops(encoded[:cut])


def _with_crc(body: bytes) -> bytes:
    return body + zlib.crc32(body).to_bytes(4, "big")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x02\x00", "version 2"),
        (b"\x01\x01\x07\x00", "unknown op kind"),
        (b"\x01\x00\x00", "trailing bytes"),
        (b"\x01\xff\xff\xff\xff\x0f", "impossible op count"),
        (b"\x01\x01\x00\x05ab", "truncated"),
    ],
)
def test_malformed_entries_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_ops(_with_crc(body))


def test_empty_group_is_a_valid_entry() -> None:
    assert decode_ops(encode_ops([])) == []


@given(st.text(min_size=1, max_size=260))
def test_nats_names_are_valid_and_distinct_per_queue(queue: str) -> None:
    name = stream_name(queue)
    assert name.startswith("FILA_Q_") and len(name) <= 64
    assert all(c.isascii() and (c.isalnum() or c in "_-") for c in name)
    subject = stream_subject(queue)
    assert subject.count(".") == 2 and all(c.isalnum() or c == "." for c in subject)
    assert lease_key(queue).startswith("q.")
    assert stream_name(queue + "x") != name and stream_subject(queue + "x") != subject
