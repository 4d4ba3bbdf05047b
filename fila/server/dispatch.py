"""Consumers, fair delivery and leases: the part of the core that hands messages out.

After every event the core runs :meth:`Dispatcher._dispatch` for the queue: while a
consumer has credit (prefetch minus unacked leases), ask the DRR scheduler for the next
message, checking limits on the head of each candidate key, and lease it. Leases end by
ack, nack, expiry (the one timer heap) or a closed stream.
"""

from __future__ import annotations

from collections.abc import Iterable

from fila.errors import (
    OverloadedError,
)
from fila.server import keys
from fila.server.core_state import MAX_ERROR_BYTES, CoreState
from fila.server.effects import Delivered, Delivery, Effects
from fila.server.model import (
    Event,
    LeaseRecord,
    MessageRecord,
    State,
    transition,
)
from fila.server.queues import (
    ConsumerState,
    QueueState,
)
from fila.server.scheduler import Block
from fila.server.timers import TimerKind, TimerRef

__all__ = ["Dispatcher"]


class Dispatcher(CoreState):
    """Consumers, dispatch, leases and timers (see the module docstring)."""

    # ---- consumers and delivery -------------------------------------------------

    def _forget(self, qname: str, q: QueueState, rec: MessageRecord, effects: Effects) -> None:
        """Remove every in-memory trace of a message (not the store records)."""
        q.msgs.pop(rec.id, None)
        self._leases.forget(rec.id)
        if rec.state == State.READY:
            if q.sched.remove(rec.fairness_key, rec.id):
                q.tally(State.READY, rec.fairness_key, -1)
        elif rec.state == State.DELAYED:
            q.tally(State.DELAYED, rec.fairness_key, -1)
            self._timers.cancel(TimerRef(TimerKind.DUE, qname, rec.id))
        else:
            # Freeing its limit slots may wake keys elsewhere: their deliveries go in effects.
            self._end_lease(qname, q, rec, effects)

    def add_consumer(self, queue: str, prefetch: int = 0, peer: str = "", token: str = ""
                     ) -> tuple[int, Effects]:
        q = self._queue(queue)
        if len(self._consumers) >= self.settings.max_consumers:
            raise OverloadedError(f"too many consumers (limit {self.settings.max_consumers})")
        per_client = self.settings.max_streams_per_client
        if peer and sum(1 for c in self._consumers.values() if c.peer == peer) >= per_client:
            raise OverloadedError(
                f"too many consume streams from this client (limit {per_client})")
        cid = self._next_consumer
        self._next_consumer += 1
        credit = prefetch if prefetch > 0 else self.settings.default_prefetch
        credit = min(credit, self.settings.max_prefetch)
        consumer = ConsumerState(cid, queue, credit, peer, token)
        self._consumers[cid] = consumer
        q.consumers[cid] = consumer
        q.ready.append(cid)
        effects = Effects()
        self._dispatch(queue, q, effects)
        return cid, effects

    def remove_consumer(self, cid: int, unsent: Iterable[str] = ()) -> Effects:
        """A stream closed: its leases go back (attempt +1 unless never sent).

        Messages it was sent get a short grace (``release_grace_ms``) before they
        return: a client that reads one message and closes its stream, then acks
        (a common SDK pattern), still settles it. Messages never sent return now.
        """
        effects = Effects()
        consumer = self._consumers.pop(cid, None)
        if consumer is None:
            return effects
        q = self._queues.get(consumer.queue)
        if q is None:
            return effects
        q.consumers.pop(cid, None)
        never_sent = set(unsent) | consumer.unsent
        grace = self.settings.release_grace_ms / 1000
        release_at = self._clock.monotonic() + grace
        for msg_id in list(consumer.leases):
            rec = q.msgs.get(msg_id)
            if rec is None or rec.state != State.LEASED:
                continue
            if msg_id in never_sent or grace <= 0:
                self._requeue(consumer.queue, q, rec, effects, event=Event.RELEASE,
                              bump=msg_id not in never_sent)
                continue
            # Orphaned lease: expires at the end of the grace unless settled first. The
            # stored deadline shrinks too, so a restart does not hold it for the full timeout.
            self._leases.orphan(msg_id)
            ref = TimerRef(TimerKind.LEASE, consumer.queue, msg_id)
            self._timers.schedule(min(self._timers.deadline(ref) or release_at, release_at), ref)
            raw = self._store.get(keys.lease(consumer.queue, msg_id))
            leased_at = LeaseRecord.decode(raw).leased_at_ms if raw else self._clock.wall_ms()
            deadline_ms = self._clock.wall_ms() + self.settings.release_grace_ms
            effects.batch.put(keys.lease(consumer.queue, msg_id),
                              LeaseRecord(deadline_ms, leased_at,
                                          self.settings.release_grace_ms).encode())
            effects.touched.append((consumer.queue, msg_id))
        self._dispatch(consumer.queue, q, effects)
        return effects

    def _pick_consumer(self, q: QueueState) -> ConsumerState | None:
        while q.ready:
            consumer = q.consumers.get(q.ready[0])
            if consumer is None or consumer.credit <= 0 or consumer.paused:
                q.ready.popleft()
                continue
            return consumer
        return None

    def _give_credit(self, q: QueueState, consumer: ConsumerState) -> None:
        consumer.credit += 1
        if consumer.credit == 1 and not consumer.paused:
            q.ready.append(consumer.id)

    def queued(self, cid: int, msg_id: str) -> None:
        """The shell put this lease in the stream's outbox; it is unsent until taken."""
        consumer = self._consumers.get(cid)
        if consumer is not None and msg_id in consumer.leases:
            consumer.unsent.add(msg_id)

    def take(self, cid: int, msg_id: str) -> tuple[bool, Effects]:
        """The stream takes an outbox entry: True = send it (its lease is current).

        False = its lease ended while it waited (expired, settled, released): skip it.
        The credit that entry held comes back now, with the deliveries it allows.
        """
        effects = Effects()
        consumer = self._consumers.get(cid)
        if consumer is None:
            return False, effects
        if msg_id in consumer.unsent:
            consumer.unsent.discard(msg_id)
            return True, effects
        if consumer.held > 0:
            consumer.held -= 1
            q = self._queues.get(consumer.queue)
            if q is not None:
                self._give_credit(q, consumer)
                self._dispatch(consumer.queue, q, effects)
        return False, effects

    def pause(self, cid: int, paused: bool) -> Effects:
        """Stop (or resume) leasing to a stream, whatever its credit: the shell holds
        too many unsent bytes for it."""
        effects = Effects()
        consumer = self._consumers.get(cid)
        if consumer is None or consumer.paused == paused:
            return effects
        consumer.paused = paused
        q = self._queues.get(consumer.queue)
        if q is not None and not paused and consumer.credit > 0:
            if cid not in q.ready:
                q.ready.append(cid)
            self._dispatch(consumer.queue, q, effects)
        return effects

    def _check_limits(self, qname: str, q: QueueState, key: str, msg_id: str) -> Block | None:
        rec = q.msgs[msg_id]
        if not rec.throttle_keys:
            return None
        now = self._clock.monotonic()
        block = self._limits.check(rec.throttle_keys, now)
        if block is not None:
            # Counted for the stats history: one per refusal, as the limit's own hits.
            q.counters["throttle_hits"] += 1
            ks = q.keys.get(key)
            if ks is not None:
                ks.throttled += 1
            self._waiters.setdefault(block.limit_key, set()).add((qname, key))
            if block.until is not None:
                self._timers.schedule(block.until, TimerRef(TimerKind.WAKE, block.limit_key))
        return block

    def _dispatch(self, qname: str, q: QueueState, effects: Effects) -> None:
        """Lease as many messages as consumers have credit for, in DRR order."""
        if not q.ready or len(q.sched) == 0:
            return
        now = self._clock.monotonic()
        now_ms = self._clock.wall_ms()
        vt_ms = q.config.visibility_timeout_ms
        # Every lease of this pass has the same deadline and lease time: one record value.
        lease_value = LeaseRecord(now_ms + vt_ms, now_ms, vt_ms).encode()
        expires_at = now + vt_ms / 1000

        def check(key: str, msg_id: str) -> Block | None:
            return self._check_limits(qname, q, key, msg_id)

        # Bound once: this loop runs once per delivered message.
        msgs, tally, ready, waits, counters = q.msgs, q.tally, q.ready, q.waits, q.counters
        pick, nxt = self._pick_consumer, q.sched.next
        schedule, grant = self._timers.schedule, self._leases.grant
        lease_ops, deliveries = effects.lease_batch.ops, effects.deliveries
        touched = effects.touched
        lease_key = keys.lease
        while True:
            consumer = pick(q)
            if consumer is None:
                return
            picked = nxt(check)
            if picked is None:
                return
            key, msg_id = picked
            rec = msgs[msg_id]
            tally(rec.state, key, -1)
            rec.state = transition(rec.state, Event.DELIVER) or State.LEASED
            ks = tally(rec.state, key, +1)
            if rec.throttle_keys:
                self._limits.acquire(rec.throttle_keys, now)
            consumer.credit -= 1
            consumer.leases.add(msg_id)
            ready.rotate(-1)
            ks.delivered += 1
            ks.last_active = now
            wait = now - rec.ready_at
            if wait < 0.0:
                wait = 0.0
            ks.add_wait(wait)
            waits.append(wait)
            counters["delivered"] += 1
            schedule(expires_at, TimerRef(TimerKind.LEASE, qname, msg_id))
            grant(msg_id, consumer.id, consumer.peer, consumer.token)
            lease_ops.append((lease_key(qname, msg_id), lease_value))
            deliveries.append(Delivery(consumer.id, qname, msg_id, now_ms))
            touched.append((qname, msg_id))

    def _end_lease(self, qname: str, q: QueueState, rec: MessageRecord, effects: Effects,
                   *, expired: bool = False, unsettled: bool = False) -> None:
        """Free what a lease held: consumer credit, limit slots, its timer.

        An expired lease still unsent (in its stream's outbox) keeps its credit until
        the stream takes the entry off and skips it: a stream that stopped reading is
        not leased more. Any other end (ack, nack, ...) frees the credit at once.
        """
        q.tally(State.LEASED, rec.fairness_key, -1)
        self._timers.cancel(TimerRef(TimerKind.LEASE, qname, rec.id))
        owner = self._leases.end(rec.id, unsettled=unsettled)
        consumer = self._consumers.get(owner) if owner is not None else None
        if consumer is not None:
            consumer.leases.discard(rec.id)
            if rec.id in consumer.unsent and expired:
                consumer.unsent.discard(rec.id)
                consumer.held += 1
            else:
                consumer.unsent.discard(rec.id)  # taken later, it is skipped
                self._give_credit(q, consumer)
        if rec.throttle_keys:
            self._limits.release(rec.throttle_keys)
            for tk in rec.throttle_keys:
                if tk in self._waiters and self._limits.cap_state(tk) is not None:
                    self._wake_limit(tk, effects)

    def _requeue(self, qname: str, q: QueueState, rec: MessageRecord, effects: Effects, *,
                 event: Event, bump: bool = True, delay_ms: int = 0, error: str | None = None
                 ) -> None:
        """Lease ends without ack: back of its key (or delayed), attempt +1."""
        nxt = transition(rec.state, event)
        self._end_lease(qname, q, rec, effects, expired=event == Event.EXPIRE,
                        unsettled=event in (Event.EXPIRE, Event.RELEASE))
        stored = self._load(qname, rec.id)
        if bump:
            rec.attempts += 1
        stored.attempts = rec.attempts
        stored.seq = self._next_seq()
        if error is not None:
            stored.last_error = error[:MAX_ERROR_BYTES]
        now_ms = self._clock.wall_ms()
        stored.deliver_after_ms = now_ms + delay_ms if delay_ms > 0 else 0
        rec.deliver_after_ms = stored.deliver_after_ms
        rec.state = State.DELAYED if delay_ms > 0 else (nxt or State.READY)
        self._index(qname, q, rec)
        effects.batch.delete(keys.lease(qname, rec.id))
        effects.batch.put(keys.msg(qname, rec.id), stored.encode())
        effects.touched.append((qname, rec.id))

    def materialize(self, delivery: Delivery) -> Delivered | None:
        """Read what a consumer receives; None if the message is no longer leased."""
        q = self._queues.get(delivery.queue)
        rec = q.msgs.get(delivery.msg_id) if q else None
        if rec is None or rec.state != State.LEASED:
            return None
        if self._leases.owner(rec.id) != delivery.consumer:
            return None  # its lease ended and it went to another stream meanwhile
        return self._read(delivery.queue, rec, "leased", delivery.leased_at_ms)

    # ---- timers -----------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """Monotonic time of the earliest timer (lease expiry, due message, limit wake)."""
        return self._timers.next_deadline()

    def tick(self) -> Effects:
        """Handle every timer that is due now."""
        effects = Effects()
        now = self._clock.monotonic()
        touched_queues: set[str] = set()
        for kind, a, b in self._timers.pop_due(now):
            if kind == TimerKind.LEASE:
                q = self._queues.get(a)
                rec = q.msgs.get(b) if q else None
                if q is not None and rec is not None and rec.state == State.LEASED:
                    q.counters["expired"] += 1
                    self._requeue(a, q, rec, effects, event=Event.EXPIRE)
                    touched_queues.add(a)
            elif kind == TimerKind.DUE:
                q = self._queues.get(a)
                rec = q.msgs.get(b) if q else None
                if q is not None and rec is not None and rec.state == State.DELAYED:
                    q.tally(rec.state, rec.fairness_key, -1)
                    rec.state = transition(rec.state, Event.DUE) or State.READY
                    self._index(a, q, rec)
                    touched_queues.add(a)
            elif kind == TimerKind.WAKE:
                self._wake_limit(a, effects)
        for qname in touched_queues:
            q = self._queues.get(qname)
            if q is not None:
                self._dispatch(qname, q, effects)
        return effects

    def _wake_limit(self, limit_key: str, effects: Effects) -> None:
        """Parked keys waiting on ``limit_key`` get another look."""
        waiting = self._waiters.pop(limit_key, None)
        if not waiting:
            return
        touched: set[str] = set()
        for qname, fkey in waiting:
            q = self._queues.get(qname)
            if q is not None:
                q.sched.wake(fkey)
                touched.add(qname)
        for qname in touched:
            self._dispatch(qname, self._queues[qname], effects)
