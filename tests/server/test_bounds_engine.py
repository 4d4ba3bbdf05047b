"""The engine's per-stream outbox stays bounded in bytes."""

from __future__ import annotations

import asyncio

import pytest

from fila.server import engine as engine_module
from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.engine import Engine, SystemClock
from fila.server.overlay import OverlayStore
from fila.server.store import MemoryStore


async def test_outbox_holds_at_most_its_byte_limit_and_refills_as_the_stream_reads() -> None:
    store = MemoryStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings(max_outbox_bytes=250))
    committer = GroupCommitter(store)
    engine = Engine(broker, committer, overlay)
    await engine.create_queue("q", "", "", 0)
    ids = [await engine.enqueue("q", {}, bytes([i]) * 100, 0) for i in range(8)]
    consumer = await engine.open_consumer("q", 6)

    async def outbox_filled() -> None:
        while consumer.outbox.qsize() < 3:
            await asyncio.sleep(0)  # yield to the lease commit and the send task

    await asyncio.wait_for(outbox_filled(), 5)
    # 3 x 100 bytes is over 250: the other 3 leases wait unread, and nothing more is leased.
    assert consumer.outbox.qsize() == 3 and len(consumer.deferred) == 3
    assert consumer.paused and broker.queue_counts("q")[1] == 6
    got = []
    for _ in range(8):
        message = await asyncio.wait_for(consumer.outbox.get(), 5)
        assert message is not None and engine.take(consumer, message)
        assert consumer.unsent_bytes <= 250 + 100
        got.append(message.id)
        await engine.ack("q", message.id)
    assert got == ids
    assert not consumer.deferred and not consumer.paused
    await engine.close_consumer(consumer)
    await committer.close()


async def test_redrive_moves_in_committed_chunks_and_lets_the_loop_run_between(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "REDRIVE_CHUNK", 10)
    store = MemoryStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    committer = GroupCommitter(store)
    engine = Engine(broker, committer, overlay)
    await engine.create_queue("q", "", "", 0)
    for _ in range(25):
        await engine.enqueue("q.dlq", {}, b"dead", 0)
    assert await engine.redrive("q.dlq", 0, "", True) == 25  # dry run: nothing moves
    seen: set[int] = set()
    done = False

    async def watch() -> None:
        while not done:
            seen.add(broker.queue_counts("q.dlq")[0])
            await asyncio.sleep(0)  # yield: runs whenever redrive lets the loop go

    watcher = asyncio.ensure_future(watch())
    await asyncio.sleep(0)
    moved = await engine.redrive("q.dlq", 0, "", False)
    done = True
    await watcher
    assert moved == 25
    assert {15, 5} <= seen  # the loop ran between chunks (before: 25, then 0)
    assert broker.queue_counts("q")[0] == 25 and broker.queue_counts("q.dlq")[0] == 0
    assert await engine.redrive("q.dlq", 3, "", False) == 0
    await committer.close()


async def test_engine_prunes_periodically_until_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PRUNE_INTERVAL_S", 0.01)
    store = MemoryStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    committer = GroupCommitter(store)
    engine = Engine(broker, committer, overlay)
    calls = asyncio.Queue[None]()
    real_prune = broker.prune

    def prune(idle_s: float = 60.0) -> int:
        calls.put_nowait(None)
        return real_prune(idle_s)

    monkeypatch.setattr(broker, "prune", prune)
    engine.start()
    for _ in range(2):  # it runs, and runs again
        await asyncio.wait_for(calls.get(), 5)
    await engine.close()
    await committer.close()
