"""PurgeQueue in the core: ready and delayed messages go, leased ones stay; the oldest
pending message's age in the stats."""

from __future__ import annotations

import pytest

from fila.errors import QueueNotFoundError
from fila.server import keys
from fila.server.stats import snapshot
from server.test_broker import HOOK, Harness


def _purge(h: Harness, queue: str, chunk: int = 1000) -> int:
    """The engine's loop: candidates once, then chunk by chunk, each batch durable."""
    ids = h.broker.purge_candidates(queue)
    total = 0
    for start in range(0, len(ids), chunk):
        n, effects = h.broker.purge_ids(queue, ids[start:start + chunk])
        h.apply(effects)
        total += n
    return total


def _stored(h: Harness, queue: str) -> int:
    return sum(1 for _ in h.store.scan(keys.msg_prefix(queue)))


def test_purge_removes_ready_and_delayed_and_keeps_leased() -> None:
    h = Harness()
    h.create_queue("q", on_enqueue=HOOK)
    ready = [h.enqueue("q", {"tenant": t}) for t in ("a", "a", "b")]
    h.enqueue("q", delay_ms=60_000)
    cid = h.consumer("q", prefetch=1)
    leased = h.delivered[cid][0]
    assert leased in ready

    assert _purge(h, "q", chunk=1) == 3  # two ready + one delayed; chunking changes nothing
    assert h.broker.queue_counts("q")[:2] == (1, 1)  # only the leased message remains
    assert _stored(h, "q") == 1
    assert h.broker.stats_view("q").counters["purged"] == 3
    # The lease settles as usual, and nothing purged is ever delivered.
    h.apply(h.broker.ack("q", leased))
    h.advance(120)
    assert h.delivered[cid] == [leased]
    assert _stored(h, "q") == 0


def test_a_purge_stays_after_a_restart_and_the_lease_survives_it() -> None:
    h = Harness()
    h.create_queue("q", visibility_timeout_ms=5000)
    for _ in range(4):
        h.enqueue("q")
    cid = h.consumer("q", prefetch=1)
    leased = h.delivered[cid][0]
    assert _purge(h, "q") == 3
    assert h.restart() == 1  # only the leased message was stored
    h.delivered.clear()
    cid = h.consumer("q")
    h.advance(5.1)  # the recovered lease expires: the message comes back
    assert h.delivered[cid] == [leased]


def test_messages_leased_or_settled_after_the_count_are_skipped() -> None:
    h = Harness()
    h.create_queue("q")
    first, second = h.enqueue("q"), h.enqueue("q")
    ids = h.broker.purge_candidates("q")
    assert ids == [first, second]
    cid = h.consumer("q", prefetch=1)  # leases `first` between counting and removing
    assert h.delivered[cid] == [first]
    n, effects = h.broker.purge_ids("q", ids)
    h.apply(effects)
    assert n == 1
    assert h.broker.queue_counts("q")[:2] == (1, 1)


def test_purge_of_a_dead_letter_queue_and_of_a_missing_queue() -> None:
    h = Harness()
    h.create_queue("q", on_failure='function on_failure(msg) return { action = "dlq" } end')
    for _ in range(2):
        h.enqueue("q")
    cid = h.consumer("q")
    for msg in list(h.delivered[cid]):
        h.nack("q", msg, "boom")
    assert h.broker.queue_counts("q.dlq")[0] == 2
    assert _purge(h, "q.dlq") == 2
    assert h.broker.queue_counts("q.dlq")[0] == 0 and _stored(h, "q.dlq") == 0
    with pytest.raises(QueueNotFoundError):
        h.broker.purge_candidates("nope")


def test_oldest_pending_age_follows_the_longest_waiting_ready_message() -> None:
    h = Harness()
    h.create_queue("q", on_enqueue=HOOK)
    assert snapshot(h.broker, "q").queues[0].oldest_pending_age_ms == 0
    h.enqueue("q", {"tenant": "a"})
    h.clock.advance(2.0)
    h.enqueue("q", {"tenant": "b"})
    h.clock.advance(1.0)
    assert snapshot(h.broker, "q").queues[0].oldest_pending_age_ms == 3000
    cid = h.consumer("q", prefetch=1)  # takes the older one (key a's turn first)
    assert len(h.delivered[cid]) == 1
    assert snapshot(h.broker, "q").queues[0].oldest_pending_age_ms == 1000
    h.enqueue("q", delay_ms=60_000)  # delayed messages are not waiting yet
    assert snapshot(h.broker, "q").queues[0].oldest_pending_age_ms == 1000
