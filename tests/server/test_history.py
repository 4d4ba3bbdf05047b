"""The stats history ring, driven by the core with a manual clock: exact seconds, no sleeps."""

from __future__ import annotations

import time

import pytest

from fila.server.history import KEY_SERIES, QUEUE_SERIES, RANK_EVERY_S, History

from .test_broker import HOOK, Harness


@pytest.fixture()
def h() -> Harness:
    return Harness()


def tick(h: Harness, hist: History, seconds: int = 1) -> None:
    h.advance(seconds)
    assert hist.sample()


def test_rates_depth_and_wait_per_second(h: Harness) -> None:
    h.create_queue("q", on_enqueue=HOOK)
    hist = History(h.broker, size=60, top_keys=3)
    assert hist.queue_series("q") is None  # not sampled yet
    hist.sample()
    assert hist.queue_series("q") is None  # never used: not tracked, no memory
    for _ in range(10):
        h.enqueue("q", {"tenant": "a"})
    tick(h, hist)
    cid = h.consumer("q", prefetch=4)
    h.advance(0.5)
    for msg_id in list(h.delivered[cid])[:3]:
        h.apply(h.broker.ack("q", msg_id))
    tick(h, hist)
    series = hist.queue_series("q")
    assert series is not None
    assert series.start_s == h.clock.wall // 1000 - 1
    cols = series.columns
    assert set(cols) == set(QUEUE_SERIES)
    # First second: the queue's first activity, 10 enqueued; then 3 of them acked.
    assert cols["depth"] == [10.0, 7.0]
    # Second second: 7 delivered (4 + 3 as acks freed credit), 3 acked.
    assert cols["deliver_rate"][1] == 7.0
    assert cols["ack_rate"][1] == 3.0
    assert cols["enqueue_rate"] == [10.0, 0.0]
    # Waited ~1.5 s before delivery: the wait p95 is in milliseconds.
    assert 1000.0 <= cols["wait_p95_ms"][1] <= 1600.0
    keys = hist.key_series("q")
    assert list(keys) == ["a"]
    assert set(keys["a"].columns) == set(KEY_SERIES)
    assert keys["a"].columns["pending"][-1] == 3.0
    assert keys["a"].columns["deliver_rate"][-1] == 7.0


def test_throttle_hits_are_counted_per_queue_and_key(h: Harness) -> None:
    h.apply(h.broker.set_config("throttle.slow", "1,1"))
    h.create_queue("q", on_enqueue=HOOK)
    hist = History(h.broker, size=60, top_keys=3)
    for _ in range(5):
        h.enqueue("q", {"tenant": "s", "throttle": "slow"})
    hist.sample()
    h.consumer("q", prefetch=100)  # one passes, the next is refused
    tick(h, hist)
    series = hist.queue_series("q")
    assert series is not None and series.columns["throttle_hit_rate"][-1] >= 1.0
    assert hist.key_series("q")["s"].columns["throttle_hit_rate"][-1] >= 1.0


def test_ring_wraps_after_its_size_and_memory_stays_fixed(h: Harness) -> None:
    h.create_queue("q", on_enqueue=HOOK)
    hist = History(h.broker, size=900, top_keys=2)
    h.enqueue("q", {"tenant": "a"})
    hist.sample()
    before = hist.memory_bytes()
    assert before == (7 + 4) * 900 * 4  # one queue, one key: 25.2 KB + 14.4 KB
    for i in range(1, 1000):  # past 15 minutes: the oldest seconds are overwritten
        if i % 100 == 0:
            h.enqueue("q", {"tenant": "a"})
        tick(h, hist)
    series = hist.queue_series("q")
    assert series is not None and len(series) == 900
    assert series.start_s == h.clock.wall // 1000 - 899
    assert hist.memory_bytes() == before
    # The enqueues of seconds 100, 200, ... landed in their own second, oldest first.
    rates = series.columns["enqueue_rate"]
    hits = [series.start_s + i for i, r in enumerate(rates) if r]
    assert len(hits) == 9 and all((s - hits[0]) % 100 == 0 for s in hits)
    last_minute = hist.queue_series("q", seconds=60)
    assert last_minute is not None and len(last_minute) == 60
    assert last_minute.columns["depth"] == series.columns["depth"][-60:]


def test_a_late_timer_fills_the_missed_seconds(h: Harness) -> None:
    h.create_queue("q")
    hist = History(h.broker, size=60)
    h.enqueue("q")
    hist.sample()
    for _ in range(6):
        h.enqueue("q")
    h.advance(3)  # the sampler ran 3 s late
    assert hist.sample()
    assert not hist.sample()  # same second: nothing written twice
    series = hist.queue_series("q")
    assert series is not None
    assert series.columns["enqueue_rate"] == [1.0, 2.0, 2.0, 2.0]
    assert series.columns["depth"] == [1.0, 7.0, 7.0, 7.0]


def test_top_keys_churn_keeps_at_most_n_keys(h: Harness) -> None:
    h.create_queue("q", on_enqueue=HOOK)
    hist = History(h.broker, size=30, top_keys=3)
    for rnd in range(10):  # every ranking (5 s) a new busiest set of keys
        for k in range(3):
            for _ in range(5 + rnd):
                h.enqueue("q", {"tenant": f"r{rnd}k{k}"})
        tick(h, hist, RANK_EVERY_S)
        assert len(hist.key_series("q")) <= 3
    assert set(hist.key_series("q")) == {"r9k0", "r9k1", "r9k2"}
    assert hist.memory_bytes() == (7 + 3 * 4) * 30 * 4
    # A newcomer's series starts when it was first tracked (the seconds that sample covers).
    assert len(hist.key_series("q")["r9k0"]) == RANK_EVERY_S


def test_deleted_queue_is_forgotten_and_a_new_one_starts_fresh(h: Harness) -> None:
    h.create_queue("q")
    hist = History(h.broker, size=30)
    h.enqueue("q")
    hist.sample()
    h.apply(h.broker.delete_queue("q"))
    tick(h, hist)
    assert hist.queue_series("q") is None and hist.memory_bytes() == 0
    h.create_queue("q")
    h.enqueue("q")
    tick(h, hist)
    series = hist.queue_series("q")
    assert series is not None and series.columns["depth"] == [1.0]


def test_sampler_cost_with_many_queues_and_keys(h: Harness) -> None:
    """1,000 queues and 100,000 keys: one sample must stay well under a second of CPU."""
    broker = h.broker
    for i in range(1000):
        h.create_queue(f"q{i}")
    for i in range(1000):  # 100 keys per queue, straight into the live stats
        q = broker.stats_view(f"q{i}")
        q.counters["enqueued"] = 1
        for k in range(100):
            ks = q.key_stats(f"k{k}")
            ks.pending = k
    hist = History(broker, size=900, top_keys=5)
    hist.sample()
    costs = []
    for _ in range(3):
        for i in range(0, 1000, 7):
            broker.stats_view(f"q{i}").counters["enqueued"] += 3
        h.clock.advance(1)
        start = time.perf_counter()
        hist.sample()
        costs.append(time.perf_counter() - start)
    assert min(costs) < 0.5, costs
    assert hist.memory_bytes() == 1000 * (7 + 5 * 4) * 900 * 4


def test_a_key_still_in_the_top_is_not_evicted_for_a_newcomer(h: Harness) -> None:
    h.create_queue("q", on_enqueue=HOOK)
    hist = History(h.broker, size=30, top_keys=2)
    for key, n in (("a", 9), ("b", 8)):
        for _ in range(n):
            h.enqueue("q", {"tenant": key})
    hist.sample()
    assert set(hist.key_series("q")) == {"a", "b"}
    for _ in range(20):  # "c" overtakes "b"; "a" stays the busiest
        h.enqueue("q", {"tenant": "c"})
    tick(h, hist, RANK_EVERY_S)
    assert set(hist.key_series("q")) == {"a", "c"}
    assert len(hist.key_series("q")["a"]) == 1 + RANK_EVERY_S  # its history kept
