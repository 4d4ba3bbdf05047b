"""The broker core: what the shell calls — enqueue, settle, redrive, recovery.

Synchronous and free of I/O (no grpc, asyncio, rocksdict, lupa or time): time comes from
an injected clock, storage is read through an injected store, and every change is
*returned* as batches inside :class:`Effects` for the shell to commit (group commit)
before anything is answered or sent. The core is built in layers (see core_state.py):
state, then dispatch, then queue admin, then this.

Consistency rules: an enqueue reaches memory only after its batch is durable
(``prepare_enqueue`` then ``apply_enqueue``); admin changes likewise, through
``Effects.on_commit`` (queue_admin.py); message changes (ack, nack, expiry, redrive,
leases) are applied at once and committed right after, and if that commit fails the shell
calls :meth:`Broker.resync` for the touched messages, which rebuilds their in-memory state
from what the store actually holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from fila.errors import (
    FailedPreconditionError,
    FilaError,
    InvalidArgumentError,
    MessageNotFoundError,
    QueueNotFoundError,
)
from fila.server import keys
from fila.server.core_state import (
    KEY_IDLE_S,
    MAX_BATCH_ITEMS,
    MAX_DELAY_MS,
    MAX_ERROR_BYTES,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_LEASE_MS,
    MAX_PAGE_BYTES,
    MAX_PAYLOAD_BYTES,
    BrokerSettings,
    Clock,
)
from fila.server.effects import Delivered, Delivery, Effects, PreparedEnqueue
from fila.server.hookguard import (
    EnqueueDecision,
    FailureDecision,
    Hooks,
)
from fila.server.ids import is_uuid
from fila.server.model import (
    DEFAULT_KEY,
    DLQ_SUFFIX,
    Event,
    LeaseRecord,
    MessageRecord,
    QueueConfig,
    State,
    StoredMessage,
    transition,
)
from fila.server.queue_admin import QueueAdmin
from fila.server.queues import (
    QueueState,
    check_name,
)
from fila.server.recovery import Recovered, RecoveryScan, scan_queue, to_record
from fila.server.runtime_config import parse_limit
from fila.server.store import WriteBatch
from fila.server.timers import TimerKind, TimerRef

__all__ = [
    "MAX_BATCH_ITEMS",
    "MAX_DELAY_MS",
    "MAX_ERROR_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_PAYLOAD_BYTES",
    "Broker",
    "BrokerSettings",
    "Clock",
    "Delivered",
    "Delivery",
    "Effects",
    "PreparedEnqueue",
    "QueueGoneError",
]

_DEFAULT_ENQUEUE = EnqueueDecision()
_DEFAULT_FAILURE = FailureDecision()


class Broker(QueueAdmin):
    """The broker core: what the shell calls (layers in core_state.py's docstring)."""

    # ---- enqueue ----------------------------------------------------------------

    def check_enqueue(self, queue: str, headers: Mapping[str, str], payload: bytes,
                      delay_ms: int = 0, now_ms: int | None = None) -> Hooks | None:
        """Validate an enqueue; returns the on_enqueue hooks the shell should run first."""
        q = self._queue(queue)
        if len(headers) > MAX_HEADERS:
            raise InvalidArgumentError(f"too many headers (limit {MAX_HEADERS})")
        size = sum(map(len, headers)) + sum(map(len, headers.values())) if headers else 0
        if size > MAX_HEADER_BYTES:
            raise InvalidArgumentError(f"headers exceed {MAX_HEADER_BYTES} bytes")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidArgumentError(f"payload exceeds {MAX_PAYLOAD_BYTES} bytes")
        if delay_ms < 0 or delay_ms > MAX_DELAY_MS:
            raise InvalidArgumentError(f"delay_ms must be 0..{MAX_DELAY_MS}")
        return q.guard.to_run("on_enqueue", self._clock.wall_ms() if now_ms is None else now_ms)

    def prepare_enqueue(self, queue: str, headers: dict[str, str], payload: bytes,
                        delay_ms: int = 0, decision: EnqueueDecision | None = None, *,
                        validate: bool = True, into: WriteBatch | None = None,
                        now_ms: int | None = None) -> PreparedEnqueue:
        """Build the batch from the hook's ``decision``. Memory is untouched.

        ``validate=False`` when :meth:`check_enqueue` just validated the same request.
        The record keeps ``headers`` itself (the caller's own copy; nothing mutates it).
        ``into``: append the records to this batch (one batch for a whole EnqueueBatch)
        instead of a new one; ``now_ms``: the wall clock, read once for a whole batch.
        """
        q = self._queue(queue)
        if validate:
            self.check_enqueue(queue, headers, payload, delay_ms)
        if decision is None:
            decision = _DEFAULT_ENQUEUE
        delay = max(delay_ms, decision.delay_ms)
        if now_ms is None:
            now_ms = self._clock.wall_ms()
        msg_id = self._ids.new(now_ms)
        fkey = self._intern(decision.fairness_key or DEFAULT_KEY)
        tkeys = (tuple(dict.fromkeys(self._intern(k) for k in decision.throttle_keys))
                 if decision.throttle_keys else ())
        weight = max(1, decision.weight)
        deliver_after = now_ms + delay if delay > 0 else 0
        self._seq += 1
        stored = StoredMessage(headers, fkey, weight, tkeys, 0, now_ms, self._seq,
                               deliver_after)
        batch = WriteBatch() if into is None else into
        batch.ops += ((keys.msg(queue, msg_id), stored.encode()),
                      (keys.payload(queue, msg_id), payload))
        state = State.DELAYED if deliver_after else State.READY
        record = MessageRecord(msg_id, fkey, weight, tkeys, 0, state, deliver_after)
        return PreparedEnqueue(queue, record, batch, q.incarnation, stored, payload)

    def apply_enqueue(self, prepared: PreparedEnqueue) -> Effects:
        """Index a durable enqueue and deliver what can go now."""
        effects, gone = self.apply_enqueue_many([prepared])
        if gone:
            raise QueueGoneError(prepared.queue, effects)
        return effects

    def apply_enqueue_many(self, prepared: list[PreparedEnqueue]
                           ) -> tuple[Effects, set[int]]:
        """Index durable enqueues (one commit's worth), then deliver what can go now.

        Returns the effects and the positions (in ``prepared``) whose queue was deleted
        while the write was in flight: their orphan records are deleted by the effects'
        batch. Each queue is dispatched once, after all of the call's messages are indexed:
        DRR chooses among the whole commit, which became visible at one instant, rather than
        handing the first messages to idle consumers before it has seen the rest.
        """
        effects = Effects()
        gone: set[int] = set()
        touched: dict[str, QueueState] = {}
        now = self._clock.monotonic()
        for n, p in enumerate(prepared):
            q = self._queues.get(p.queue)
            if q is None or q.incarnation != p.incarnation:
                effects.batch.delete(keys.msg(p.queue, p.record.id))
                effects.batch.delete(keys.payload(p.queue, p.record.id))
                gone.add(n)
                continue
            q.counters["enqueued"] += 1
            self._index(p.queue, q, p.record, now)
            self._fresh.add(p.record.id, p.queue, p.stored, p.payload)
            touched[p.queue] = q
        for qname, q in touched.items():
            self._dispatch(qname, q, effects)
        return effects, gone

    # ---- settle -----------------------------------------------------------------

    def _leased(self, queue: str, msg_id: str, peer: str = "", token: str = ""
                ) -> tuple[QueueState, MessageRecord]:
        q = self._queue(queue)
        if not msg_id:
            raise InvalidArgumentError("message_id must not be empty")
        if not is_uuid(msg_id):
            raise InvalidArgumentError(f'message_id "{msg_id[:64]}" is not a UUID')
        rec = q.msgs.get(msg_id.lower())
        if rec is None or rec.state != State.LEASED:
            raise MessageNotFoundError(
                f'message "{msg_id}" has no current lease in queue "{queue}"'
            )
        if self._leases.is_stale(rec.id, peer, token):
            raise MessageNotFoundError(
                f'message "{msg_id}" has no current lease in queue "{queue}" for this '
                "client (its lease expired and the message was redelivered)"
            )
        return q, rec

    def ack(self, queue: str, msg_id: str, peer: str = "", token: str = "") -> Effects:
        effects = Effects()
        q = self._ack(queue, msg_id, peer, token, effects)
        self._dispatch(queue, q, effects)
        return effects

    def ack_many(self, items: Iterable[tuple[str, str]], peer: str = "", token: str = ""
                 ) -> tuple[Effects, list[FilaError | None]]:
        """Ack (queue, id) pairs for one commit; each item's error (or None) in its place.

        Each queue is dispatched once, after all of its acks: the freed credit is handed
        out in one DRR pass instead of one message per ack.
        """
        effects = Effects()
        results: list[FilaError | None] = []
        touched: dict[str, QueueState] = {}
        for queue, msg_id in items:
            try:
                touched[queue] = self._ack(queue, msg_id, peer, token, effects)
                results.append(None)
            except FilaError as exc:
                results.append(exc)
        for queue, q in touched.items():
            self._dispatch(queue, q, effects)
        return effects, results

    def _ack(self, queue: str, msg_id: str, peer: str, token: str, effects: Effects
             ) -> QueueState:
        q, rec = self._leased(queue, msg_id, peer, token)
        transition(rec.state, Event.ACK)
        self._end_lease(queue, q, rec, effects)
        q.msgs.pop(rec.id, None)
        self._leases.forget(rec.id)
        q.counters["acked"] += 1
        effects.batch.ops += ((keys.msg(queue, rec.id), None), (keys.payload(queue, rec.id), None),
                              (keys.lease(queue, rec.id), None))
        effects.touched.append((queue, rec.id))
        return q

    def extend_lease(self, queue: str, msg_id: str, extend_ms: int, peer: str = "",
                     token: str = "") -> Effects:
        """The lease holder keeps it: it now ends ``extend_ms`` from now (same rules as ack)."""
        if extend_ms < 1 or extend_ms > MAX_LEASE_MS:
            raise InvalidArgumentError(f"extend_ms must be 1..{MAX_LEASE_MS} (12 h)")
        _, rec = self._leased(queue, msg_id, peer, token)
        now_ms = self._clock.wall_ms()
        raw = self._store.get(keys.lease(queue, rec.id))
        leased_at = LeaseRecord.decode(raw).leased_at_ms if raw else now_ms
        self._timers.schedule(self._clock.monotonic() + extend_ms / 1000,
                              TimerRef(TimerKind.LEASE, queue, rec.id))
        effects = Effects()
        effects.batch.put(keys.lease(queue, rec.id),
                          LeaseRecord(now_ms + extend_ms, leased_at, extend_ms).encode())
        effects.touched.append((queue, rec.id))
        return effects

    def failure_hook(self, queue: str, msg_id: str, peer: str = "", token: str = ""
                     ) -> tuple[Hooks, dict[str, str], int, str] | None:
        """Validate a nack; returns (hooks, headers, attempt, id) if on_failure runs first."""
        q, rec = self._leased(queue, msg_id, peer, token)
        hooks = q.guard.to_run("on_failure", self._clock.wall_ms())
        if hooks is None:
            return None
        return hooks, self._load(queue, rec.id).headers, rec.attempts + 1, rec.id

    def nack(self, queue: str, msg_id: str, error: str = "", peer: str = "", token: str = "",
             decision: FailureDecision | None = None) -> Effects:
        """Settle a lease as failed, as ``decision`` (from on_failure) says: retry or DLQ."""
        q, rec = self._leased(queue, msg_id, peer, token)
        q.counters["nacked"] += 1
        if decision is None:
            decision = _DEFAULT_FAILURE
        effects = Effects()
        dlq_name = q.config.dead_letter_queue
        if decision.action == "dlq" and dlq_name:
            dlq = self._queues.get(dlq_name)
            if dlq is None:
                # Someone deleted the DLQ: bring it back rather than retry a poison
                # message forever ("dlq" means: move it to <queue>.dlq, docs/concepts.md).
                config = QueueConfig(dlq_name, created_at_ms=self._clock.wall_ms())
                dlq = self._new_queue(config, None)
                effects.batch.put(keys.queue(dlq_name), config.encode())
            rec.attempts += 1
            self._dead_letter(queue, q, rec, dlq_name, dlq, error, effects)
        else:
            event = Event.NACK_DELAYED if decision.delay_ms > 0 else Event.NACK
            self._requeue(queue, q, rec, effects, event=event, delay_ms=decision.delay_ms,
                          error=error)
        self._dispatch(queue, q, effects)
        return effects

    def _dead_letter(self, qname: str, q: QueueState, rec: MessageRecord, dlq_name: str,
                     dlq: QueueState, error: str, effects: Effects) -> None:
        transition(rec.state, Event.DEAD_LETTER)
        self._end_lease(qname, q, rec, effects)
        q.msgs.pop(rec.id, None)
        self._leases.forget(rec.id)
        q.counters["dead_lettered"] += 1
        stored = self._load(qname, rec.id)
        payload = self._store.get(keys.payload(qname, rec.id)) or b""
        stored.attempts = rec.attempts
        stored.last_error = error[:MAX_ERROR_BYTES]
        stored.seq = self._next_seq()
        stored.deliver_after_ms = 0
        for key in (keys.msg(qname, rec.id), keys.payload(qname, rec.id),
                    keys.lease(qname, rec.id)):
            effects.batch.delete(key)
        effects.batch.put(keys.msg(dlq_name, rec.id), stored.encode())
        effects.batch.put(keys.payload(dlq_name, rec.id), payload)
        moved = MessageRecord(rec.id, rec.fairness_key, rec.weight, rec.throttle_keys,
                              rec.attempts, State.READY)
        dlq.counters["enqueued"] += 1
        self._index(dlq_name, dlq, moved)
        effects.touched.extend([(qname, rec.id), (dlq_name, rec.id)])
        self._dispatch(dlq_name, dlq, effects)

    # ---- redrive and delete one message -----------------------------------------

    def redrive(self, dlq_name: str, count: int = 0, fairness_key: str = "",
                dry_run: bool = False, message_id: str = "") -> tuple[int, Effects]:
        """All at once (the engine goes chunk by chunk: redrive_candidates, redrive_ids)."""
        ids = self.redrive_candidates(dlq_name, count, fairness_key, message_id)
        if dry_run:
            return len(ids), Effects()
        return self.redrive_ids(dlq_name, ids)

    def _find(self, queue: str, q: QueueState, msg_id: str) -> MessageRecord:
        if not msg_id:
            raise InvalidArgumentError("message_id must not be empty")
        if not is_uuid(msg_id):
            raise InvalidArgumentError(f'message_id "{msg_id[:64]}" is not a UUID')
        rec = q.msgs.get(msg_id.lower())
        if rec is None:
            raise MessageNotFoundError(f'message "{msg_id}" is not in queue "{queue}"')
        return rec

    def delete_message(self, queue: str, msg_id: str) -> tuple[str, Effects]:
        """Remove one message for good: (the state it was in, effects).

        A leased message is refused: its consumer would ack a message that no longer
        exists, and the operator asked to drop a message nobody is working on.
        """
        q = self._queue(queue)
        rec = self._find(queue, q, msg_id)
        if rec.state == State.LEASED:
            raise FailedPreconditionError(
                f'message "{rec.id}" is leased by a consumer; it can be deleted once it is '
                "nacked or its lease expires")
        transition(rec.state, Event.DELETE)
        state = rec.state.name.lower()
        effects = Effects()
        self._forget(queue, q, rec, effects)
        self._fresh.discard(rec.id)
        effects.batch.delete(keys.msg(queue, rec.id))
        effects.batch.delete(keys.payload(queue, rec.id))
        effects.touched.append((queue, rec.id))
        return state, effects

    def _redrive_pair(self, dlq_name: str) -> tuple[QueueState, str, QueueState]:
        check_name(dlq_name, "dlq_queue")
        if not dlq_name.endswith(DLQ_SUFFIX):
            raise InvalidArgumentError(f'"{dlq_name}" is not a dead-letter queue (no .dlq suffix)')
        dlq = self._queue(dlq_name)
        parent_name = dlq_name[: -len(DLQ_SUFFIX)]
        parent = self._queues.get(parent_name)
        if parent is None:
            raise FailedPreconditionError(f'parent queue "{parent_name}" does not exist')
        return dlq, parent_name, parent

    def redrive_candidates(self, dlq_name: str, count: int = 0,
                           fairness_key: str = "", message_id: str = "") -> list[str]:
        """Ids a redrive would move now, oldest first: non-leased, up to ``count`` (0 = all).

        Taken once, up front: messages dead-lettered while a chunked redrive runs (a
        redriven one failing again, say) are not part of it. ``message_id``: just that
        message, which must be in the DLQ and not leased (the filters still apply to it).
        """
        dlq, _, _ = self._redrive_pair(dlq_name)
        if message_id:
            rec = self._find(dlq_name, dlq, message_id)
            if rec.state == State.LEASED:
                raise FailedPreconditionError(
                    f'message "{rec.id}" is leased by a consumer of "{dlq_name}"; it can be '
                    "redriven once it is nacked or its lease expires")
            return [rec.id] if not fairness_key or rec.fairness_key == fairness_key else []
        candidates = sorted(
            rec.id for rec in dlq.msgs.values()
            if rec.state != State.LEASED
            and (not fairness_key or rec.fairness_key == fairness_key)
        )
        return candidates[:count] if count > 0 else candidates

    def redrive_ids(self, dlq_name: str, ids: Iterable[str]) -> tuple[int, Effects]:
        """Move these DLQ messages to the parent (attempt 0); ones gone or leased since
        they were chosen are skipped. Returns how many moved."""
        dlq, parent_name, parent = self._redrive_pair(dlq_name)
        effects = Effects()
        count = 0
        for msg_id in ids:
            rec = dlq.msgs.get(msg_id)
            if rec is None or rec.state == State.LEASED:
                continue
            count += 1
            transition(rec.state, Event.REDRIVE)
            self._forget(dlq_name, dlq, rec, effects)
            stored = self._load(dlq_name, rec.id)
            payload = self._store.get(keys.payload(dlq_name, rec.id)) or b""
            stored.attempts = 0
            stored.seq = self._next_seq()
            stored.deliver_after_ms = 0
            effects.batch.delete(keys.msg(dlq_name, rec.id))
            effects.batch.delete(keys.payload(dlq_name, rec.id))
            effects.batch.put(keys.msg(parent_name, rec.id), stored.encode())
            effects.batch.put(keys.payload(parent_name, rec.id), payload)
            moved = MessageRecord(rec.id, rec.fairness_key, rec.weight, rec.throttle_keys, 0,
                                  State.READY)
            parent.counters["enqueued"] += 1
            dlq.counters["redriven"] += 1
            self._index(parent_name, parent, moved)
            effects.touched.extend([(dlq_name, rec.id), (parent_name, rec.id)])
        self._dispatch(parent_name, parent, effects)
        return count, effects

    # ---- upkeep -----------------------------------------------------------------

    def prune(self, idle_s: float = KEY_IDLE_S) -> int:
        """Forget what gone keys leave behind; the shell calls this now and then.

        Per-key stats with nothing pending, delayed or in flight and idle for ``idle_s``
        go, then interned strings no queue key, limit or waiter uses. (A pending
        message's throttle key without a limit may lose its shared copy: the next
        message naming it interns it again. Sharing saves memory; nothing relies on
        identity.) Returns how many entries were dropped.
        """
        now = self._clock.monotonic()
        dropped = 0
        in_use: set[str] = set()
        for q in self._queues.values():
            gone = [k for k, ks in q.keys.items()
                    if ks.in_flight == 0 and ks.delayed == 0 and ks.pending == 0
                    and now - ks.last_active > idle_s]
            for key in gone:
                del q.keys[key]
            dropped += len(gone)
            in_use.update(q.keys)
        in_use.update(self._limits.keys_in_use())
        in_use.update(self._waiters)
        in_use.update(key for parked in self._waiters.values() for _, key in parked)
        stale = [text for text in self._interned if text not in in_use]
        for text in stale:
            del self._interned[text]
        return dropped + len(stale)

    # ---- recovery ---------------------------------------------------------------

    def recover(self, *, queues: bool = True) -> Recovered:
        """Rebuild all in-memory state from the store (see recovery.py). ``queues=False``:
        the runtime config only (cluster mode loads a queue when it starts serving it).

        Returns the messages loaded and the records of nothing for the shell to delete.
        """
        scan = RecoveryScan(self._store, self._clock.wall_ms(), self._intern)
        # Runtime config first: the shell compiles the hooks after this returns, and a
        # script may read fila.get(...) at its top level.
        for name, value in scan.config():
            self._config[name] = value
            # A value stored before a validation change: keep it, ignore the limit.
            with contextlib.suppress(InvalidArgumentError):
                setting = parse_limit(name, value)
                if setting is not None:
                    self._apply_limit(setting)
        if not queues:
            return Recovered(0, WriteBatch())
        for config in scan.queues():
            self._new_queue(config, None)
        loaded = 0
        for qname, recs in scan.messages(self._queues.__contains__):
            q = self._queues[qname]
            # One instant for the whole queue: every record shares one `ready_at` float.
            now, now_ms = self._clock.monotonic(), self._clock.wall_ms()
            for rec in recs:
                self._place(qname, q, rec, scan.take_lease(qname, rec.id), now, now_ms)
            loaded += len(recs)
        self._seq = max(self._seq, scan.max_seq)
        return Recovered(loaded, scan.cleanup)

    # ---- residency (cluster mode) -------------------------------------------------

    def load_queue(self, name: str) -> int:
        """Start holding ``name`` in memory from the store (cluster mode: this node has just
        taken the queue over and its store holds the log through the claim). Returns the
        messages loaded; 0 if the store has no such queue or it is already loaded. The
        shell compiles its hooks afterwards."""
        if name in self._queues:
            return 0
        config, recs, max_seq = scan_queue(self._store, name, self._clock.wall_ms(),
                                           self._intern)
        if config is None:
            return 0
        q = self._new_queue(config, None)
        now, now_ms = self._clock.monotonic(), self._clock.wall_ms()
        for rec, lease in recs:
            self._place(name, q, rec, lease, now, now_ms)
        self._seq = max(self._seq, max_seq)
        effects = Effects()
        self._dispatch(name, q, effects)  # no consumers yet: nothing is delivered
        return len(recs)

    def unload_queue(self, name: str) -> Effects:
        """Stop holding ``name`` in memory, leaving the store as it is (cluster mode: another
        node serves the queue now). Its consume streams are closed (``effects.closed``);
        limit slots its leases held are freed, which may deliver elsewhere."""
        effects = Effects()
        q = self._queues.pop(name, None)
        if q is None:
            return effects
        for rec in list(q.msgs.values()):
            self._forget(name, q, rec, effects)
        for cid in list(q.consumers):
            self._consumers.pop(cid, None)
            effects.closed.append(cid)
        q.guard.close()
        return effects

    def _place(self, qname: str, q: QueueState, rec: MessageRecord, lease: LeaseRecord | None,
               now: float, now_ms: int) -> None:
        """Index a recovered record; a leased one gets its expiry timer and limit slots."""
        self._index(qname, q, rec, now)
        if lease is not None:
            # Wall-clock deadline -> monotonic timer, clamped to the span the lease was
            # granted (the timeout, or an extension) so a wall-clock jump cannot stretch
            # or collapse every lease at once.
            span = lease.span_ms or q.config.visibility_timeout_ms
            remaining = min(max(0, lease.deadline_ms - now_ms), span)
            self._timers.schedule(now + remaining / 1000, TimerRef(TimerKind.LEASE, qname, rec.id))
            if rec.throttle_keys:
                self._limits.hold(rec.throttle_keys)

    def resync(self, touched: Iterable[tuple[str, str]]) -> Effects:
        """After a failed commit: make memory match the store for these messages, then
        deliver what can go (the effects carry the new leases)."""
        effects = Effects()
        queues: set[str] = set()
        for qname, msg_id in dict.fromkeys(touched):
            q = self._queues.get(qname)
            if q is None:
                continue
            queues.add(qname)
            rec = q.msgs.get(msg_id)
            if rec is not None:
                self._forget(qname, q, rec, effects)
            raw = self._store.get(keys.msg(qname, msg_id))
            if raw is None:
                continue
            lease_raw = self._store.get(keys.lease(qname, msg_id))
            lease = LeaseRecord.decode(lease_raw) if lease_raw else None
            rec = to_record(msg_id, StoredMessage.decode(raw), lease is not None,
                            self._clock.wall_ms(), self._intern)
            self._place(qname, q, rec, lease, self._clock.monotonic(), self._clock.wall_ms())
        for qname in queues:
            q = self._queues.get(qname)
            if q is not None:
                self._dispatch(qname, q, effects)
        return effects

    # ---- reads for admin --------------------------------------------------------

    def list_messages(self, queue: str, fairness_key: str = "", limit: int = 100,
                      page_token: str = "") -> tuple[list[Delivered], str]:
        """Page through a queue in id (= enqueue time) order without leasing."""
        q = self._queue(queue)
        limit = max(1, min(limit or 100, 1000))
        start = keys.msg(queue, page_token + "\x00") if page_token else None
        out: list[Delivered] = []
        last = ""
        size = 0
        for key, _ in self._store.scan(keys.msg_prefix(queue), start):
            _, msg_id = keys.split(key)
            rec = q.msgs.get(msg_id)
            if rec is None or (fairness_key and rec.fairness_key != fairness_key):
                continue
            if len(out) == limit:
                return out, last
            item = self._read(queue, rec, rec.state.name.lower())
            # A page must fit the 16 MiB send limit: stop by size too (at least one message).
            size += _encoded_size(item)
            if out and size > MAX_PAGE_BYTES:
                return out, last
            out.append(item)
            last = msg_id
        return out, ""


def _encoded_size(m: Delivered) -> int:
    """About what a listed message costs on the wire (fields plus framing)."""
    return (len(m.payload) + sum(len(k) + len(v) + 8 for k, v in m.headers.items())
            + len(m.last_error) + len(m.fairness_key) + sum(len(k) + 2 for k in m.throttle_keys)
            + len(m.id) + len(m.queue) + 128)


class QueueGoneError(QueueNotFoundError):
    """apply_enqueue found the queue deleted (or re-created) while the write was in flight.

    A QueueNotFoundError to the client; ``effects`` remove the orphaned records first.
    """

    def __init__(self, queue: str, effects: Effects) -> None:
        super().__init__(f'queue "{queue}" does not exist')
        self.effects = effects
