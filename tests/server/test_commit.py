"""Group commit: durability ordering, fsync sharing, failures, overload."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from fila.errors import OverloadedError, StorageError, UnavailableError
from fila.server.commit import GroupCommitter
from fila.server.rocks import RocksStore
from fila.server.store import MemoryStore, WriteBatch

DEADLINE = 10.0


def one_put(key: bytes, value: bytes = b"v") -> WriteBatch:
    batch = WriteBatch()
    batch.put(key, value)
    return batch


class RecordingStore(MemoryStore):
    """A MemoryStore whose writes can be held open, failed, and are logged."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, int]] = []  # ("start"|"end", write number)
        self.syncs: list[bool] = []
        self.gate = threading.Event()
        self.gate.set()
        self.write_started = threading.Event()
        self.fail_writes: dict[int, Exception] = {}  # write number -> error to raise
        self._writes = 0

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        n = self._writes
        self._writes += 1
        self.events.append(("start", n))
        self.syncs.append(sync)
        self.write_started.set()
        assert self.gate.wait(DEADLINE)
        try:
            if n in self.fail_writes:
                raise self.fail_writes.pop(n)
            super().write(batch, sync=sync)
        finally:
            self.events.append(("end", n))


async def wait_for_thread_event(event: threading.Event) -> None:
    assert await asyncio.to_thread(event.wait, DEADLINE), "writer did not start a write in time"


async def test_futures_resolve_only_after_their_write_returned() -> None:
    store = RecordingStore()
    store.gate.clear()
    committer = GroupCommitter(store)
    first = committer.submit(one_put(b"a"))
    await wait_for_thread_event(store.write_started)  # writer is inside write #0, held
    rest = [committer.submit(one_put(b"k%d" % i)) for i in range(20)]
    resolved: list[tuple[str, int]] = []
    for i, fut in enumerate([first, *rest]):
        fut.add_done_callback(lambda _f, i=i: resolved.append(("resolved", i)))
        # snapshot what the store had finished when each future resolved
        fut.add_done_callback(
            lambda _f: resolved.append(("ends", len([e for e in store.events if e[0] == "end"])))
        )
    for _ in range(5):
        await asyncio.sleep(0)  # let the loop run any (wrong) early callbacks
    assert not first.done() and not any(f.done() for f in rest)
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(first, *rest), DEADLINE)
    # first was in write #0, the rest in later writes: every resolution saw its write end
    ends_at_resolution = [n for tag, n in resolved if tag == "ends"]
    assert ends_at_resolution[0] >= 1
    assert all(n >= 2 for n in ends_at_resolution[1:])
    assert store.syncs and all(store.syncs)
    assert store.get(b"k19") == b"v"
    await committer.close()


async def test_concurrent_submits_share_fsyncs(tmp_path: Path) -> None:
    store = RocksStore(tmp_path / "db")
    committer = GroupCommitter(store)
    try:
        before = store.wal_synced()
        assert before is not None

        async def producer(i: int) -> None:
            await committer.submit(one_put(b"m/q\x00%04d" % i, b"payload"))

        await asyncio.wait_for(asyncio.gather(*(producer(i) for i in range(200))), DEADLINE)
        after = store.wal_synced()
        assert after is not None
        syncs = after - before
        # every group was fsynced, and the 200 batches shared few fsyncs
        assert syncs == committer.groups_written
        assert 1 <= syncs <= 50
        assert committer.batches_written == 200
        assert len(list(store.scan(b"m/q\x00"))) == 200
    finally:
        await committer.close()
        store.close()


async def test_failing_group_gets_the_error_and_later_writes_succeed() -> None:
    store = RecordingStore()
    store.gate.clear()
    committer = GroupCommitter(store)
    blocker = committer.submit(one_put(b"before"))
    await wait_for_thread_event(store.write_started)  # write #0 is held open
    futures = [committer.submit(one_put(b"f%d" % i)) for i in range(10)]
    store.fail_writes[1] = OverloadedError("storage full: No space left on device")
    store.gate.set()  # the ten queued batches become write #1, which fails
    await asyncio.wait_for(blocker, DEADLINE)
    results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), DEADLINE)
    assert all(isinstance(r, OverloadedError) for r in results), results
    assert all("storage full" in str(r) for r in results)
    assert len({id(r) for r in results}) == 10  # each waiter owns its exception
    assert all(store.get(b"f%d" % i) is None for i in range(10))
    assert committer.groups_failed == 1

    await asyncio.wait_for(committer.submit(one_put(b"after")), DEADLINE)
    assert store.get(b"after") == b"v"
    assert store.get(b"before") == b"v"
    await committer.close()


async def test_unexpected_exception_from_store_becomes_storage_error() -> None:
    store = RecordingStore()
    store.fail_writes[0] = OSError("disk on fire")
    committer = GroupCommitter(store)
    with pytest.raises(StorageError, match="disk on fire"):
        await asyncio.wait_for(committer.submit(one_put(b"x")), DEADLINE)
    await asyncio.wait_for(committer.submit(one_put(b"y")), DEADLINE)
    await committer.close()


async def test_overload_rejects_immediately_then_recovers() -> None:
    store = RecordingStore()
    store.gate.clear()
    committer = GroupCommitter(store, max_pending=5)
    accepted = [committer.submit(one_put(b"a%d" % i)) for i in range(5)]
    with pytest.raises(OverloadedError):
        committer.submit(one_put(b"rejected"))
    assert committer.pending == 5
    store.gate.set()
    await asyncio.wait_for(asyncio.gather(*accepted), DEADLINE)
    assert store.get(b"rejected") is None
    await asyncio.wait_for(committer.submit(one_put(b"later")), DEADLINE)
    assert committer.pending == 0
    await committer.close()


async def test_close_drains_queue_and_rejects_new_work() -> None:
    store = RecordingStore()
    store.gate.clear()
    committer = GroupCommitter(store)
    futures = [committer.submit(one_put(b"d%d" % i)) for i in range(50)]
    await wait_for_thread_event(store.write_started)
    closing = asyncio.ensure_future(committer.close())
    await asyncio.sleep(0)
    with pytest.raises(UnavailableError):
        committer.submit(one_put(b"too-late"))
    store.gate.set()
    await asyncio.wait_for(closing, DEADLINE)
    assert all(f.done() and f.exception() is None for f in futures)
    assert all(store.get(b"d%d" % i) == b"v" for i in range(50))


async def test_flush_waits_for_earlier_batches() -> None:
    store = RecordingStore()
    committer = GroupCommitter(store)
    futures = [committer.submit(one_put(b"x%d" % i)) for i in range(30)]
    await asyncio.wait_for(committer.flush(), DEADLINE)
    assert all(f.done() for f in futures)
    await committer.close()


async def test_sync_false_mode_does_not_request_fsync() -> None:
    store = RecordingStore()
    committer = GroupCommitter(store, sync=False)
    await asyncio.wait_for(committer.submit(one_put(b"k")), DEADLINE)
    assert store.syncs == [False]
    await committer.close()


async def test_cancelled_waiter_does_not_break_the_group() -> None:
    store = RecordingStore()
    store.gate.clear()
    committer = GroupCommitter(store)
    a = committer.submit(one_put(b"a"))
    b = committer.submit(one_put(b"b"))
    a.cancel()
    store.gate.set()
    await asyncio.wait_for(b, DEADLINE)
    assert store.get(b"a") == b"v"  # cancelling the wait does not cancel the write
    await committer.close()
