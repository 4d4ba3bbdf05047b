"""The fresh-message cache: a first delivery takes what the enqueue made, within bounds."""

from __future__ import annotations

from fila.server.fresh import FreshMessages
from fila.server.model import StoredMessage


def _stored(n: int) -> StoredMessage:
    return StoredMessage({"n": str(n)}, "k", 1, (), 0, 1, n)


def test_take_returns_the_entry_once() -> None:
    fresh = FreshMessages()
    fresh.add("a", "q", _stored(1), b"payload")
    assert fresh.take("a", "q") == (_stored(1), b"payload")
    assert fresh.take("a", "q") is None
    assert len(fresh) == 0
    assert fresh.payload_bytes == 0


def test_an_entry_of_another_queue_is_not_used_and_is_dropped() -> None:
    fresh = FreshMessages()
    fresh.add("a", "q", _stored(1), b"x")
    assert fresh.take("a", "other") is None
    assert len(fresh) == 0


def test_oldest_entries_fall_out_past_the_entry_bound() -> None:
    fresh = FreshMessages(max_entries=3, max_bytes=1 << 20)
    for n in range(5):
        fresh.add(str(n), "q", _stored(n), b"x")
    assert len(fresh) == 3
    assert fresh.take("0", "q") is None
    assert fresh.take("1", "q") is None
    assert fresh.take("4", "q") == (_stored(4), b"x")


def test_payload_bytes_are_bounded_and_a_huge_payload_is_not_kept() -> None:
    fresh = FreshMessages(max_entries=100, max_bytes=1600)
    fresh.add("big", "q", _stored(0), b"x" * 101)  # over max_bytes // 16: never cached
    assert len(fresh) == 0
    for n in range(20):
        fresh.add(str(n), "q", _stored(n), b"x" * 100)
    assert fresh.payload_bytes <= 1600
    assert len(fresh) == 16
    assert fresh.take("19", "q") is not None
