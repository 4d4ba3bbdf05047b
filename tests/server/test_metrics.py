"""The metrics layer: the collector reads the core's counters, the shell records durations."""

from __future__ import annotations

import asyncio
import threading

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.engine import Engine, SystemClock
from fila.server.hookguard import EnqueueDecision
from fila.server.metrics import TOP_KEYS, CoreCollector, Metrics, StorageSource, read_core
from fila.server.overlay import OverlayStore
from fila.server.store import MemoryStore


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def make() -> tuple[Engine, GroupCommitter, Metrics]:
    store = MemoryStore()
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    metrics = Metrics()
    committer = GroupCommitter(store, observe=metrics.commit)
    engine = Engine(broker, committer, overlay, metrics=metrics)
    storage = StorageSource(lambda: (0, committer.groups_written, committer.batches_written,
                                     True), lambda: committer.groups_failed, lambda: False)
    metrics.registry.register(CoreCollector(broker, asyncio.get_running_loop(), storage))
    return engine, committer, metrics


async def test_counters_gauges_and_histograms_follow_the_lifecycle() -> None:
    engine, committer, metrics = await make()
    await engine.create_queue("q", "", "", 0)
    for _ in range(3):
        await engine.enqueue("q", {}, b"x", 0)
    consumer = await engine.open_consumer("q", 2)
    got = [await consumer.outbox.get() for _ in range(2)]
    for m in got:
        assert m is not None
        engine.take(consumer, m)
    await committer.flush()

    s = samples(generate_latest(metrics.registry))  # on the loop: read directly
    q = (("queue", "q"),)
    assert s[("fila_messages_enqueued_total", q)] == 3
    assert s[("fila_messages_delivered_total", q)] == 2
    assert s[("fila_queue_depth", q)] == 3
    assert s[("fila_queue_in_flight", q)] == 2
    assert s[("fila_queue_pending", q)] == 1
    assert s[("fila_queue_consumers", q)] == 1
    assert s[("fila_delivery_wait_seconds_count", q)] == 2
    assert s[("fila_commit_seconds_count", ())] >= 1
    assert s[("fila_commit_groups_total", ())] == s[("fila_commit_seconds_count", ())]
    assert s[("fila_key_pending", (("key", "default"), ("queue", "q")))] == 1
    assert s[("fila_key_messages_delivered_total", (("key", "default"), ("queue", "q")))] == 2
    assert got[0] is not None
    await engine.ack("q", got[0].id)
    s = samples(generate_latest(metrics.registry))
    assert s[("fila_messages_acked_total", q)] == 1
    await engine.close_consumer(consumer)
    await engine.delete_queue("q")
    s = samples(generate_latest(metrics.registry))
    assert ("fila_messages_enqueued_total", q) not in s
    assert ("fila_delivery_wait_seconds_count", q) not in s  # forgotten with its queue
    await committer.close()


async def test_a_scrape_from_another_thread_reads_on_the_loop() -> None:
    engine, committer, metrics = await make()
    await engine.create_queue("q", "", "", 0)
    await engine.enqueue("q", {}, b"x", 0)
    result: list[bytes] = []
    # prometheus-client serves /metrics from its own thread: the collector must hand the
    # reading to the loop, which therefore has to keep running while the thread waits.
    thread = threading.Thread(target=lambda: result.append(generate_latest(metrics.registry)))
    thread.start()
    await asyncio.to_thread(thread.join, 10)
    assert samples(result[0])[("fila_messages_enqueued_total", (("queue", "q"),))] == 1
    await committer.close()


def test_per_key_series_are_bounded_to_the_busiest_keys() -> None:
    broker = Broker(MemoryStore(), SystemClock(), BrokerSettings())
    for effects in (broker.create_queue("q", "", "", 0, None),):
        for apply in effects.on_commit:
            apply()
    for i in range(TOP_KEYS * 3):
        for _ in range(1 + (i % 5)):
            prepared = broker.prepare_enqueue("q", {}, b"", 0,
                                              EnqueueDecision(fairness_key=f"k{i}"))
            broker.apply_enqueue(prepared)
    families = {f.name: f for f in read_core(broker)}
    keys = families["fila_key_pending"].samples
    assert len(keys) == TOP_KEYS
    # 60 keys of 1..5 pending: the 12 with 5 and eight of the 12 with 4 are the busiest 20
    assert sorted(s.value for s in keys) == [4] * 8 + [5] * 12


async def test_rpc_and_hook_observations_are_labelled() -> None:
    metrics = Metrics()
    metrics.rpc("Enqueue", "OK", 0.001)
    metrics.rpc("Enqueue", "NOT_FOUND", 0.002)
    metrics.hook("q", "on_enqueue", 0.0003)
    s = samples(generate_latest(metrics.registry))
    assert s[("fila_rpc_duration_seconds_count", (("code", "OK"), ("method", "Enqueue")))] == 1
    assert s[("fila_rpc_duration_seconds_count",
              (("code", "NOT_FOUND"), ("method", "Enqueue")))] == 1
    assert s[("fila_hook_duration_seconds_count", (("hook", "on_enqueue"), ("queue", "q")))] == 1
