"""The Store contract, checked against both implementations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fila.server.rocks import RocksStore
from fila.server.store import MemoryStore, Store, WriteBatch


@pytest.fixture(params=["memory", "rocks"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store = MemoryStore() if request.param == "memory" else RocksStore(tmp_path / "db")
    yield s
    s.close()


def put(store: Store, *pairs: tuple[bytes, bytes]) -> None:
    batch = WriteBatch()
    for k, v in pairs:
        batch.put(k, v)
    store.write(batch)


def test_implements_protocol(store: Store) -> None:
    assert isinstance(store, Store)


def test_put_get_delete(store: Store) -> None:
    assert store.get(b"q/a") is None
    put(store, (b"q/a", b"{}"))
    assert store.get(b"q/a") == b"{}"
    put(store, (b"q/a", b"{1}"))
    assert store.get(b"q/a") == b"{1}"
    batch = WriteBatch()
    batch.delete(b"q/a")
    batch.delete(b"q/never-existed")  # deleting a missing key is fine
    store.write(batch)
    assert store.get(b"q/a") is None


def test_values_are_raw_bytes(store: Store) -> None:
    payload = bytes(range(256)) * 4 + b"\x00"
    put(store, (b"p/q\x00id", payload), (b"p/q\x00empty", b""))
    assert store.get(b"p/q\x00id") == payload
    assert store.get(b"p/q\x00empty") == b""


def test_scan_is_byte_ordered_and_bounded_by_prefix(store: Store) -> None:
    keys = [
        b"m/q\x00b",
        b"m/q\x00a",
        b"m/q\x00\xff",
        b"m/q\x00a\x00",
        b"m/qq\x00a",
        b"m/p\x00z",
        b"n/",
        b"m/q",
    ]
    put(store, *[(k, k.upper()) for k in keys])
    got = list(store.scan(b"m/q\x00"))
    assert got == [
        (k, k.upper()) for k in [b"m/q\x00a", b"m/q\x00a\x00", b"m/q\x00b", b"m/q\x00\xff"]
    ]
    assert [k for k, _ in store.scan(b"m/")] == sorted(k for k in keys if k.startswith(b"m/"))
    assert [k for k, _ in store.scan(b"")] == sorted(keys)
    assert list(store.scan(b"x/")) == []


def test_scan_prefix_ending_in_ff(store: Store) -> None:
    put(store, (b"a\xff", b"1"), (b"a\xff\xff", b"2"), (b"b", b"3"), (b"a\xfe", b"4"))
    assert [k for k, _ in store.scan(b"a\xff")] == [b"a\xff", b"a\xff\xff"]
    assert [k for k, _ in store.scan(b"\xff")] == []


def test_scan_from_start(store: Store) -> None:
    put(store, *[(b"m/q\x00%03d" % i, b"v") for i in range(10)])
    keys = [k for k, _ in store.scan(b"m/q\x00", start=b"m/q\x00005")]
    assert keys == [b"m/q\x00%03d" % i for i in range(5, 10)]  # inclusive
    between = [k for k, _ in store.scan(b"m/q\x00", start=b"m/q\x000055")]
    assert between == [b"m/q\x00%03d" % i for i in range(6, 10)]
    assert list(store.scan(b"m/q\x00", start=b"m/q\x01")) == []
    # a start before the prefix means "from the beginning of the prefix"
    assert len(list(store.scan(b"m/q\x00", start=b"a"))) == 10


def test_scan_many_keys_crosses_internal_chunks(store: Store) -> None:
    n = 2000
    put(store, *[(b"m/q\x00%06d" % i, b"%d" % i) for i in range(n)], (b"m/r", b"after"))
    got = list(store.scan(b"m/q\x00"))
    assert [k for k, _ in got] == [b"m/q\x00%06d" % i for i in range(n)]
    assert got[1234][1] == b"1234"


def test_batch_is_applied_in_order(store: Store) -> None:
    batch = WriteBatch()
    batch.put(b"k", b"1")
    batch.delete(b"k")
    batch.put(b"j", b"1")
    batch.put(b"j", b"2")
    other = WriteBatch()
    other.put(b"k", b"3")
    batch.extend(other)
    assert len(batch) == 5
    store.write(batch)
    assert store.get(b"k") == b"3"
    assert store.get(b"j") == b"2"


def test_write_without_sync(store: Store) -> None:
    batch = WriteBatch()
    batch.put(b"k", b"v")
    store.write(batch, sync=False)
    assert store.get(b"k") == b"v"


def test_memory_store_wal_and_size() -> None:
    s = MemoryStore()
    assert s.wal_synced() is None
    assert s.size_bytes() == 0


def test_rocks_persists_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db"
    s = RocksStore(path)
    put(s, (b"q/a", b"cfg"), (b"p/a\x001", b"payload"), (b"gone", b"x"))
    batch = WriteBatch()
    batch.delete(b"gone")
    s.write(batch)
    s.close()
    s.close()  # idempotent
    s = RocksStore(path)
    try:
        assert s.get(b"q/a") == b"cfg"
        assert s.get(b"p/a\x001") == b"payload"
        assert s.get(b"gone") is None
        assert s.size_bytes() > 0
    finally:
        s.close()


def test_rocks_counts_synced_writes(tmp_path: Path) -> None:
    s = RocksStore(tmp_path / "db")
    try:
        before = s.wal_synced()
        assert before is not None
        for i in range(3):
            put(s, (b"k%d" % i, b"v"))
        synced = s.wal_synced()
        assert synced is not None and synced - before == 3
        batch = WriteBatch()
        batch.put(b"unsynced", b"v")
        s.write(batch, sync=False)
        assert s.wal_synced() == synced
    finally:
        s.close()
