"""Core bounds with the manual clock: stalled streams, paused streams, prefetch cap."""

from __future__ import annotations

from fila.server.broker import Broker, BrokerSettings
from fila.server.stats import snapshot, top_keys_of
from server.test_broker import HOOK, Harness


def _queued(h: Harness, cid: int) -> list[str]:
    """The shell puts every delivery of this stream in its outbox (nothing taken yet)."""
    for msg_id in h.delivered[cid]:
        h.broker.queued(cid, msg_id)
    return list(h.delivered[cid])


def test_expired_unsent_leases_do_not_give_credit_back() -> None:
    h = Harness()
    h.apply(h.broker.create_queue("q", visibility_timeout_ms=1000))
    for _ in range(10):
        h.enqueue("q")
    cid = h.consumer("q", prefetch=2)
    outbox = _queued(h, cid)
    assert len(outbox) == 2
    for _ in range(5):  # five visibility timeouts with nobody reading
        h.advance(1.0)
    # Before: each expiry returned its credit and leased a new copy into the outbox.
    assert len(h.delivered[cid]) == 2
    assert h.broker.queue_counts("q")[1] == 0  # nothing leased to the stalled stream
    # It reads again: the stale entries are skipped and each gives its credit back.
    current, effects = h.broker.take(cid, outbox[0])
    assert not current
    h.apply(effects)
    assert len(h.delivered[cid]) == 3
    fresh = h.delivered[cid][2]
    h.broker.queued(cid, fresh)
    h.apply(h.broker.take(cid, outbox[1])[1])
    assert len(h.delivered[cid]) == 4
    assert h.broker.take(cid, fresh)[0]  # a current lease: sent
    assert h.broker.queue_counts("q")[1] == 2


def test_taken_entries_are_current_and_their_expiry_returns_credit() -> None:
    h = Harness()
    h.apply(h.broker.create_queue("q", visibility_timeout_ms=1000))
    for _ in range(4):
        h.enqueue("q")
    cid = h.consumer("q", prefetch=1)
    first = _queued(h, cid)[0]
    current, effects = h.broker.take(cid, first)
    assert current and not effects.deliveries
    h.advance(1.0)  # sent, then expired: credit back, the next one goes out
    assert len(h.delivered[cid]) == 2


def test_settled_unsent_entry_frees_its_credit_at_once_and_is_skipped() -> None:
    h = Harness()
    h.create_queue("q")
    for _ in range(3):
        h.enqueue("q")
    cid = h.consumer("q", prefetch=1)
    msg = _queued(h, cid)[0]
    h.apply(h.broker.ack("q", msg))  # e.g. acked from an earlier copy
    assert len(h.delivered[cid]) == 2  # an ack (unlike an expiry) frees the credit now
    current, effects = h.broker.take(cid, msg)
    h.apply(effects)
    assert not current and len(h.delivered[cid]) == 2  # skipped, no second credit


def test_paused_stream_gets_nothing_until_resumed() -> None:
    h = Harness()
    h.apply(h.broker.create_queue("q"))
    cid = h.consumer("q", prefetch=10)
    h.apply(h.broker.pause(cid, True))
    for _ in range(3):
        h.enqueue("q")
    assert h.delivered[cid] == []
    h.apply(h.broker.pause(cid, False))
    assert len(h.delivered[cid]) == 3


def test_close_returns_unsent_leases_without_an_attempt() -> None:
    h = Harness()
    h.apply(h.broker.create_queue("q"))
    msg = h.enqueue("q")
    cid = h.consumer("q", prefetch=1)
    _queued(h, cid)
    h.apply(h.broker.remove_consumer(cid))  # the shell forgot to list it: the core knows
    assert h.broker.stats_view("q").msgs[msg].attempts == 0
    assert h.broker.queue_counts("q")[:2] == (1, 0)


def test_prefetch_and_default_are_capped() -> None:
    h = Harness()
    h.broker = Broker(h.store, h.clock, BrokerSettings(max_prefetch=3, default_prefetch=256))
    h.apply(h.broker.create_queue("q"))
    for _ in range(10):
        h.enqueue("q")
    assert len(h.delivered[h.consumer("q", prefetch=2**32 - 1)]) == 3
    assert len(h.delivered[h.consumer("q")]) == 3


def test_stats_reads_do_not_prune_and_the_periodic_prune_does() -> None:
    h = Harness()
    h.apply(h.broker.set_config("throttle.lim", "100,100"))
    h.create_queue("q", on_enqueue=HOOK)
    gone = h.enqueue("q", {"tenant": "gone", "throttle": "once"})
    h.enqueue("q", {"tenant": "waiting"})
    h.enqueue("q", {"tenant": "limited", "throttle": "lim"}, delay_ms=3_600_000)
    cid = h.consumer("q", prefetch=1)
    assert h.delivered[cid] == [gone]
    h.apply(h.broker.ack("q", gone))
    h.clock.advance(61)
    q = h.broker.stats_view("q")
    before = dict(q.keys)
    for _ in range(3):
        top_keys_of(q, 10)
        snapshot(h.broker)
    assert q.keys == before  # reads change nothing (before: top_keys deleted "gone")
    assert "gone" in h.broker._interned and "once" in h.broker._interned
    dropped = h.broker.prune()
    assert set(q.keys) == {"waiting", "limited"}  # pending and delayed keys stay
    assert dropped == 3  # the key stats, and the interned "gone" and "once"
    assert "gone" not in h.broker._interned and "once" not in h.broker._interned
    assert {"waiting", "limited", "lim"} <= set(h.broker._interned)


def test_recently_active_keys_survive_a_prune() -> None:
    h = Harness()
    h.create_queue("q", on_enqueue=HOOK)
    msg = h.enqueue("q", {"tenant": "recent"})
    cid = h.consumer("q")
    h.apply(h.broker.ack("q", h.delivered[cid][0]))
    assert msg == h.delivered[cid][0]
    h.clock.advance(59)
    h.broker.prune()
    assert "recent" in h.broker.stats_view("q").keys
    h.clock.advance(2)
    h.broker.prune()
    assert "recent" not in h.broker.stats_view("q").keys
