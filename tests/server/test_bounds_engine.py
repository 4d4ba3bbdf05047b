"""The engine's per-stream outbox stays bounded in bytes."""

from __future__ import annotations

import asyncio

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
