"""Reads see staged writes until their batch settles."""

from __future__ import annotations

from fila.server.overlay import OverlayStore
from fila.server.store import MemoryStore, WriteBatch


def batch(*ops: tuple[bytes, bytes | None]) -> WriteBatch:
    b = WriteBatch()
    for key, value in ops:
        if value is None:
            b.delete(key)
        else:
            b.put(key, value)
    return b


def test_get_and_scan_see_staged_puts_and_deletes() -> None:
    base = MemoryStore()
    base.write(batch((b"m/a", b"1"), (b"m/b", b"2"), (b"m/d", b"4")))
    store = OverlayStore(base)
    staged = batch((b"m/c", b"3"), (b"m/b", None), (b"m/a", b"1'"))
    ticket = store.stage(staged)
    assert store.get(b"m/c") == b"3" and store.get(b"m/b") is None
    assert list(store.scan(b"m/")) == [(b"m/a", b"1'"), (b"m/c", b"3"), (b"m/d", b"4")]
    assert list(store.scan(b"m/", b"m/b")) == [(b"m/c", b"3"), (b"m/d", b"4")]
    base.write(staged)
    store.settle(ticket, staged)
    assert store.staged == 0
    assert list(store.scan(b"m/")) == [(b"m/a", b"1'"), (b"m/c", b"3"), (b"m/d", b"4")]


def test_a_later_batch_on_the_same_key_survives_an_earlier_settle() -> None:
    store = OverlayStore(MemoryStore())
    first, second = batch((b"k", b"old")), batch((b"k", b"new"))
    t1 = store.stage(first)
    store.stage(second)
    store.settle(t1, first)
    assert store.get(b"k") == b"new"


def test_failed_batch_is_forgotten() -> None:
    store = OverlayStore(MemoryStore())
    failed = batch((b"k", b"v"))
    store.settle(store.stage(failed), failed)
    assert store.get(b"k") is None
