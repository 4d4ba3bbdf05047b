"""The engine on a full disk: degraded with backoff, never a spin; recovery in place.

The promise: docs/security.md, "Storage faults".

A fault-injecting store fails every write while ``full`` is set and counts the
attempts the writer thread makes: that count, over a window, is what a spin
would blow up (before the fix: a failed lease write re-dispatched and wrote
again at once, thousands of times a second).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from fila.errors import OverloadedError
from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.effects import Delivered
from fila.server.engine import Consumer, Engine, SystemClock
from fila.server.health import StorageHealth
from fila.server.overlay import OverlayStore
from fila.server.store import MemoryStore, WriteBatch

DEADLINE = 10.0
# Attempts allowed in a one-second window while degraded: the probe backoff
# (50, 100, 200, 400, 800 ms ...) makes at most ~5; a spin makes thousands.
MAX_ATTEMPTS_PER_SECOND = 10


class FullStore(MemoryStore):
    """A MemoryStore that fails every write like a full disk while ``full`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.attempts = 0  # writes tried (writer thread only)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self.attempts += 1
        if self.full:
            raise OverloadedError("storage full: IO error: No space left on device (injected)")
        super().write(batch, sync=sync)


def make(health: StorageHealth | None = None) -> tuple[Engine, FullStore, GroupCommitter]:
    store = FullStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    committer = GroupCommitter(store)
    return Engine(broker, committer, overlay, health=health), store, committer


async def wait_until(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)  # polling a condition, bounded by the deadline


async def attempts_in_one_second(store: FullStore) -> int:
    start = store.attempts
    await asyncio.sleep(1.0)  # a measurement window, not synchronisation
    return store.attempts - start


async def receive(consumer: Consumer, n: int) -> list[Delivered]:
    got: list[Delivered] = []
    for _ in range(n):
        item = await asyncio.wait_for(consumer.outbox.get(), DEADLINE)
        assert item is not None
        got.append(item)
    return got


async def test_failed_lease_writes_back_off_and_deliver_after_recovery(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    engine, store, committer = make()
    changes: list[bool] = []
    engine.health.add_listener(changes.append)
    await engine.create_queue("q", "", "", 0)
    ids = [await engine.enqueue("q", {}, b"p%d" % i, 0) for i in range(20)]

    store.full = True
    consumer = await engine.open_consumer("q", 5)  # dispatch leases 5: the write fails
    await wait_until(lambda: engine.health.degraded, "the degraded state")
    assert await attempts_in_one_second(store) <= MAX_ATTEMPTS_PER_SECOND
    assert consumer.outbox.empty()  # nothing is sent whose lease is not durable

    # client writes fail with the store's text, never OK
    with pytest.raises(OverloadedError, match=r"^storage full: .*No space left"):
        await engine.enqueue("q", {}, b"refused", 0)
    assert engine.health.degraded
    assert len(engine.broker.stats_view("q").msgs) == 20

    store.full = False  # space returns: the next probe lands
    got = []
    for _ in range(4):
        batch = await receive(consumer, 5)
        got.extend(batch)
        for message in batch:
            await engine.ack("q", message.id)
    assert sorted(m.id for m in got) == sorted(ids)
    assert not engine.health.degraded
    assert changes == [True, False]
    await engine.enqueue("q", {}, b"after", 0)  # client writes work again

    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines  # one line per state change, none per failure
    assert lines[0].startswith("storage degraded: storage full")
    assert lines[1].startswith("storage recovered")
    await engine.close()
    await committer.close()


async def test_failed_expiry_requeues_back_off_and_redeliver_after_recovery() -> None:
    engine, store, committer = make()
    await engine.create_queue("q", "", "", 1000)
    ids = {await engine.enqueue("q", {}, b"p", 0) for _ in range(3)}
    consumer = await engine.open_consumer("q", 10)
    assert {m.id for m in await receive(consumer, 3)} == ids

    store.full = True  # the leases expire after 1 s: the requeue write fails
    await wait_until(lambda: engine.health.degraded, "the degraded state")
    assert await attempts_in_one_second(store) <= MAX_ATTEMPTS_PER_SECOND
    assert consumer.outbox.empty()

    store.full = False
    again = await receive(consumer, 3)
    assert {m.id for m in again} == ids
    assert all(m.attempts == 1 for m in again)  # one expiry each, counted once
    assert not engine.health.degraded
    await engine.close()
    await committer.close()


async def test_backoff_grows_while_the_disk_stays_full() -> None:
    engine, store, committer = make(StorageHealth(first_delay=0.01, max_delay=0.08))
    await engine.create_queue("q", "", "", 0)
    await engine.enqueue("q", {}, b"p", 0)
    store.full = True
    consumer = await engine.open_consumer("q", 1)
    await wait_until(lambda: engine.health.degraded, "the degraded state")
    # capped at 80 ms: about 12 probes a second, never more
    per_second = await attempts_in_one_second(store)
    assert 3 <= per_second <= 16, per_second
    store.full = False
    await receive(consumer, 1)
    await engine.close()
    await committer.close()


async def test_a_transient_write_failure_recovers_with_the_next_write() -> None:
    engine, store, committer = make()
    await engine.create_queue("q", "", "", 0)
    store.full = True
    with pytest.raises(OverloadedError):
        await engine.enqueue("q", {}, b"p", 0)
    assert engine.health.degraded
    store.full = False
    await engine.enqueue("q", {}, b"p", 0)  # a client write that lands ends the episode
    assert not engine.health.degraded
    await engine.close()
    await committer.close()


async def test_close_while_degraded_stops_probing() -> None:
    engine, store, committer = make()
    await engine.create_queue("q", "", "", 0)
    await engine.enqueue("q", {}, b"p", 0)
    store.full = True
    await engine.open_consumer("q", 1)
    await wait_until(lambda: engine.health.degraded, "the degraded state")
    await engine.close()
    await committer.close()
    attempts = store.attempts
    await asyncio.sleep(0.3)  # a window in which a live probe would have fired
    assert store.attempts == attempts


async def test_purge_of_a_deleted_queue_waits_for_storage_quietly(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    engine, store, committer = make()
    await engine.create_queue("q", "", "", 0)
    for _ in range(5):
        await engine.enqueue("q", {}, b"p", 0)
    await engine.delete_queue("q")
    store.full = True  # the purge task has not run yet: its first chunk fails
    await wait_until(lambda: engine.health.degraded, "the degraded state")
    assert await attempts_in_one_second(store) <= MAX_ATTEMPTS_PER_SECOND
    store.full = False
    await wait_until(lambda: not list(store.scan(b"m/q\x00")) and not list(store.scan(b"p/q\x00")),
                     "the purge to finish")
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines  # degraded, recovered: nothing per failed chunk
    await engine.close()
    await committer.close()
