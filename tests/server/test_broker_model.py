"""Model-based stateful test of the core.

Hypothesis drives random enqueues, consumers, acks, nacks, clock jumps and
crash-restarts against the real Broker (in-memory store, manual clock) and
checks it against a tiny reference model: the set of enqueued, not yet acked (or
deleted, or purged) messages. Properties: nothing acked is lost or comes back, nothing appears
from nowhere, a message never has two live leases, every lease expires on time.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fila.errors import FailedPreconditionError
from fila.server.model import State

from .test_broker import HOOK, Harness

LONG = bool(os.environ.get("FILA_LONG_TESTS"))


class BrokerModel(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.h = Harness()
        self.h.create_queue("q", on_enqueue=HOOK, visibility_timeout_ms=1000)
        self.live: set[str] = set()  # enqueued and not acked: the model
        self.order: list[str] = []  # every id in enqueue order (ids from one ms sort randomly)
        self.acked: set[str] = set()
        self.seen_deliveries = 0
        self.consumers: list[int] = []

    # -- helpers --------------------------------------------------------------

    def leased_ids(self) -> list[str]:
        msgs = self.h.broker.stats_view("q").msgs
        # Enqueue order, not id order: ids made in one millisecond sort randomly, and a
        # draw must pick the same message when Hypothesis replays an example.
        return [m for m in self.order if m in msgs and msgs[m].state == State.LEASED]

    # -- rules ----------------------------------------------------------------

    @rule(tenant=st.sampled_from(["a", "b", "c"]), delay=st.sampled_from([0, 0, 0, 500, 3000]))
    def enqueue(self, tenant: str, delay: int) -> None:
        msg_id = self.h.enqueue("q", {"tenant": tenant}, delay_ms=delay)
        self.live.add(msg_id)
        self.order.append(msg_id)

    @rule(prefetch=st.integers(1, 3))
    def connect(self, prefetch: int) -> None:
        self.consumers.append(self.h.consumer("q", prefetch))

    @precondition(lambda self: self.consumers)
    @rule(data=st.data())
    def disconnect(self, data: st.DataObject) -> None:
        cid = data.draw(st.sampled_from(self.consumers))
        self.consumers.remove(cid)
        self.h.apply(self.h.broker.remove_consumer(cid))

    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        leased = self.leased_ids()
        if not leased:
            return
        msg_id = data.draw(st.sampled_from(leased))
        self.h.apply(self.h.broker.ack("q", msg_id))
        self.live.discard(msg_id)
        self.acked.add(msg_id)

    @rule(data=st.data())
    def nack(self, data: st.DataObject) -> None:
        leased = self.leased_ids()
        if leased:
            self.h.nack("q", data.draw(st.sampled_from(leased)), "e")

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        # DeleteMessage: a leased message is refused and untouched; any other is gone for
        # good, like an acked one (it must never be delivered again).
        held = self.h.broker.stats_view("q").msgs
        ids = [m for m in self.order if m in held]  # a stable order, so examples replay
        if not ids:
            return
        msg_id = data.draw(st.sampled_from(ids))
        if msg_id in self.leased_ids():
            with pytest.raises(FailedPreconditionError):
                self.h.broker.delete_message("q", msg_id)
            return
        self.h.apply(self.h.broker.delete_message("q", msg_id)[1])
        self.live.discard(msg_id)
        self.acked.add(msg_id)

    @rule(chunk=st.sampled_from([1, 2, 1000]))
    def purge(self, chunk: int) -> None:
        # PurgeQueue, chunk by chunk as the engine runs it: every ready or delayed message
        # is gone for good; the leased ones stay (and are still acked, nacked or expire).
        leased = set(self.leased_ids())
        ids = self.h.broker.purge_candidates("q")
        assert not set(ids) & leased
        for start in range(0, len(ids), chunk):
            self.h.apply(self.h.broker.purge_ids("q", ids[start:start + chunk])[1])
        assert set(self.h.broker.stats_view("q").msgs) == leased
        self.acked.update(self.live - leased)
        self.live &= leased

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 2.5]))
    def advance_clock(self, seconds: float) -> None:
        self.h.advance(seconds)

    @rule(jump_ms=st.sampled_from([-3_600_000, -5_000, 5_000, 3_600_000]))
    def wall_clock_jump(self, jump_ms: int) -> None:
        # Timers run on the monotonic clock: a wall jump must not expire leases.
        now = self.h.clock.monotonic()
        timers = self.h.broker._timers
        running = {m for m in self.leased_ids()
                   if (timers.deadline(("lease", "q", m)) or now) > now}
        self.h.clock.wall += jump_ms
        self.h.apply(self.h.broker.tick())
        assert running <= set(self.leased_ids())

    @rule()
    def crash_restart(self) -> None:
        # Every effect was committed synchronously, so the store holds all of it.
        self.h.restart()
        self.consumers.clear()

    # -- properties -----------------------------------------------------------

    @invariant()
    def nothing_lost_nothing_invented(self) -> None:
        assert set(self.h.broker.stats_view("q").msgs) == self.live

    @invariant()
    def acked_never_comes_back(self) -> None:
        fresh = self.h.log[self.seen_deliveries:]
        self.seen_deliveries = len(self.h.log)
        assert not set(fresh) & self.acked

    @invariant()
    def key_counters_match_the_scheduler(self) -> None:
        q = self.h.broker.stats_view("q")
        for key, ks in q.keys.items():
            assert ks.pending == q.sched.pending(key), key

    @invariant()
    def at_most_one_live_lease(self) -> None:
        owners: dict[str, int] = {}
        for cid, consumer in self.h.broker._consumers.items():
            for msg_id in consumer.leases:
                assert msg_id not in owners, f"{msg_id} leased to {owners[msg_id]} and {cid}"
                owners[msg_id] = cid

    @invariant()
    def leases_expire_on_time(self) -> None:
        # No lease outlives its visibility timeout (1 s) plus nothing: the timer heap
        # holds every leased message with a deadline at most 1 s ahead.
        broker = self.h.broker
        now = self.h.clock.monotonic()
        for msg_id in self.leased_ids():
            deadline = broker._timers.deadline(("lease", "q", msg_id))
            assert deadline is not None and deadline <= now + 1.0 + 1e-9


TestBrokerModel = BrokerModel.TestCase
TestBrokerModel.settings = settings(
    max_examples=10_000 if LONG else 200, stateful_step_count=50, deadline=None
)
