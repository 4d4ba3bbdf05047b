"""The async shell under storage failures: memory never runs ahead of the store."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fila.errors import OverloadedError, StorageError
from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.engine import Engine, SystemClock
from fila.server.overlay import OverlayStore
from fila.server.store import MemoryStore, WriteBatch


class FlakyStore(MemoryStore):
    """Fails the next N writes, or holds writes until released."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = 0
        self.gate = threading.Event()
        self.gate.set()

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self.gate.wait(10)
        if self.fail:
            self.fail -= 1
            raise StorageError("storage write failed: injected")
        super().write(batch, sync=sync)


async def make(max_pending: int = 10_000) -> tuple[Engine, FlakyStore, GroupCommitter]:
    store = FlakyStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    committer = GroupCommitter(store, max_pending=max_pending)
    engine = Engine(broker, committer, overlay)
    return engine, store, committer


async def settle(engine: Engine, committer: GroupCommitter) -> None:
    for _ in range(3):  # undo/resync effects are applied in the background
        await asyncio.sleep(0)
        await committer.flush()


async def test_failed_create_leaves_no_queue_behind() -> None:
    engine, store, committer = await make()
    store.fail = 1
    with pytest.raises(StorageError):
        await engine.create_queue("q", "", "", 0)
    await settle(engine, committer)
    assert engine.broker.queue_names() == []
    await engine.create_queue("q", "", "", 0)  # a retry works (not ALREADY_EXISTS)
    assert engine.broker.queue_names() == ["q", "q.dlq"]
    await committer.close()


async def test_failed_delete_restores_the_queue_and_its_messages() -> None:
    engine, store, committer = await make()
    await engine.create_queue("q", "", "", 0)
    ids = {await engine.enqueue("q", {"h": "v"}, b"p", 0) for _ in range(3)}
    store.fail = 1
    with pytest.raises(StorageError):
        await engine.delete_queue("q")
    await settle(engine, committer)
    assert "q" in engine.broker.queue_names()
    assert set(engine.broker.stats_view("q").msgs) == ids
    consumer = await engine.open_consumer("q", 10)
    got = {(await asyncio.wait_for(consumer.outbox.get(), 5)).id for _ in ids}  # type: ignore[union-attr]
    assert got == ids
    await committer.close()


async def test_failed_config_write_restores_the_old_value() -> None:
    engine, store, committer = await make()
    await engine.set_config("throttle.k", "5,5")
    store.fail = 1
    with pytest.raises(StorageError):
        await engine.set_config("throttle.k", "1,1")
    await settle(engine, committer)
    assert engine.broker.get_config("throttle.k") == "5,5"
    assert engine.broker.limits.throttle_state("k", 0.0) is not None
    await committer.close()


async def test_overload_is_refused_before_memory_changes() -> None:
    engine, store, committer = await make(max_pending=3)
    await engine.create_queue("q", "", "", 0)
    msg_id = await engine.enqueue("q", {}, b"p", 0)
    consumer = await engine.open_consumer("q", 1)
    await asyncio.wait_for(consumer.outbox.get(), 5)
    store.gate.clear()  # the disk stalls; writes pile up
    stuck = [asyncio.ensure_future(engine.enqueue("q", {}, b"x", 0)) for _ in range(3)]
    # Admission counts a call as two batches: two enqueues fill the 3 slots, the third is refused.
    await wait_until(lambda: committer.pending >= 2, "the writes to pile up")
    with pytest.raises(OverloadedError):
        await engine.ack("q", msg_id)
    rec = engine.broker.stats_view("q").msgs[msg_id]
    assert rec.state.name == "LEASED"  # the refused ack changed nothing
    store.gate.set()
    await asyncio.gather(*stuck, return_exceptions=True)
    await engine.ack("q", msg_id)  # and the retry works
    await committer.close()


async def test_cancelled_enqueue_still_becomes_visible() -> None:
    engine, store, committer = await make()
    await engine.create_queue("q", "", "", 0)
    store.gate.clear()
    task = asyncio.ensure_future(engine.enqueue("q", {}, b"late", 0))
    await wait_until(lambda: committer.pending >= 1, "the write to be submitted")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    store.gate.set()
    await settle(engine, committer)
    assert len(engine.broker.stats_view("q").msgs) == 1
    await committer.close()


async def wait_until(predicate: object, what: str) -> None:
    for _ in range(500):  # polling a condition, bounded
        if predicate():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_admin_changes_are_invisible_until_durable() -> None:
    engine, store, committer = await make()
    await engine.create_queue("old", "", "", 0)
    await engine.set_config("k", "before")
    store.gate.clear()  # the disk stalls: nothing below is durable yet
    pending = [
        asyncio.ensure_future(engine.create_queue("q", "", "", 0)),
        asyncio.ensure_future(engine.set_config("k", "after")),
        asyncio.ensure_future(engine.update_queue("old", None, None, 5000)),
        asyncio.ensure_future(engine.delete_queue("old.dlq")),
    ]
    await wait_until(lambda: committer.pending >= 4, "the writes to queue up")
    broker = engine.broker
    assert "q" not in broker.queue_names()
    assert broker.get_config("k") == "before"
    assert broker.queue_config("old").visibility_timeout_ms != 5000
    assert "old.dlq" in broker.queue_names()
    store.gate.set()
    await asyncio.gather(*pending)
    await settle(engine, committer)
    assert "q" in broker.queue_names() and "old.dlq" not in broker.queue_names()
    assert broker.get_config("k") == "after"
    assert broker.queue_config("old").visibility_timeout_ms == 5000
    await committer.close()


async def test_a_queue_created_again_after_delete_starts_empty() -> None:
    engine, store, committer = await make()
    await engine.create_queue("q", "", "", 0)
    for _ in range(25):
        await engine.enqueue("q", {}, b"old", 0)
    await engine.delete_queue("q")
    await engine.create_queue("q", "", "", 0)  # waits for the old records to go
    await settle(engine, committer)
    assert engine.broker.queue_counts("q") == (0, 0, 0)
    assert [k for k, _ in store.scan(b"p/")] == []
    await committer.close()
