"""The broker core: queues, fair delivery, limits, leases, dead letters.

Synchronous and free of I/O: no grpc, asyncio, rocksdict, lupa or time here.
Time comes from an injected :class:`Clock`; storage is read through an
injected :class:`~fila.server.store.Store` and every change is *returned* as a
:class:`~fila.server.store.WriteBatch` inside :class:`Effects` for the shell to
commit (group commit) before anything is answered or sent.

Consistency rule: an enqueue is applied to memory only after its batch is
durable (``prepare_enqueue`` then ``apply_enqueue``). Every other change is
applied to memory at once and committed right after; if that commit fails the
shell calls :meth:`Broker.resync` for the touched messages, which rebuilds
their in-memory state from what the store actually holds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from fila.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    MessageNotFoundError,
    OverloadedError,
    QueueNotFoundError,
)
from fila.server import keys
from fila.server.effects import Delivered, Delivery, Effects, PreparedEnqueue
from fila.server.hookguard import (
    EnqueueDecision,
    FailureDecision,
    HookGuard,
    Hooks,
    HookSettings,
)
from fila.server.ids import Uuid7Generator, is_uuid
from fila.server.leases import LeaseTable
from fila.server.limits import Limits
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
from fila.server.queues import (
    ConsumerState,
    QueueState,
    check_name,
    check_visibility,
)
from fila.server.recovery import Recovered, RecoveryScan, to_record
from fila.server.runtime_config import LimitSetting, check_entry, parse_limit
from fila.server.scheduler import Block
from fila.server.store import Store, WriteBatch
from fila.server.timers import TimerHeap, TimerKind, TimerRef

__all__ = ["Broker", "BrokerSettings", "Clock", "Delivered", "Delivery", "Effects",
           "PreparedEnqueue"]

MAX_HEADERS = 256
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_DELAY_MS = 365 * 24 * 3600 * 1000
MAX_ERROR_BYTES = 4096
# Per-key stats idle this long (nothing pending, delayed or in flight) are pruned.
KEY_IDLE_S = 60.0
# ListMessages stops a page before this many encoded bytes (the send limit is 16 MiB).
MAX_PAGE_BYTES = 8 * 1024 * 1024

_DEFAULT_ENQUEUE = EnqueueDecision()
_DEFAULT_FAILURE = FailureDecision()


class Clock(Protocol):
    """Time as the core sees it: monotonic seconds for timers, wall ms for records."""

    def monotonic(self) -> float: ...

    def wall_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    quantum: int = 1000
    hooks: HookSettings = field(default_factory=HookSettings)
    default_prefetch: int = 256
    release_grace_ms: int = 1000
    max_consumers: int = 1000
    max_queues: int = 10_000
    max_config_entries: int = 10_000
    max_prefetch: int = 1000
    max_streams_per_client: int = 100
    # A stream holding this many unsent payload bytes gets no more credit until it reads.
    max_outbox_bytes: int = 16 * 1024 * 1024


class Broker:
    """All scheduling state of one broker, owned by one thread."""

    def __init__(self, store: Store, clock: Clock, settings: BrokerSettings | None = None) -> None:
        self._store = store
        self._clock = clock
        self.settings = settings or BrokerSettings()
        self._queues: dict[str, QueueState] = {}
        self._config: dict[str, str] = {}
        self._limits = Limits()
        self._timers: TimerHeap[TimerRef] = TimerHeap()
        # limit key -> (queue, fairness key) parked on it
        self._waiters: dict[str, set[tuple[str, str]]] = {}
        self._consumers: dict[int, ConsumerState] = {}
        self._leases = LeaseTable()  # holders, and stale holders for the stale-ack rule
        self._creating: set[str] = set()  # queues whose create batch is not durable yet
        self._purging: set[str] = set()  # deleted queues whose records are being removed
        self._next_consumer = 1
        self._seq = 0
        self._ids = Uuid7Generator()
        self._interned: dict[str, str] = {}
        self._incarnations = 0

    # ---- helpers -----------------------------------------------------------

    def _intern(self, text: str) -> str:
        # Fairness and limit keys repeat across many messages: share one string.
        return self._interned.setdefault(text, text)

    def _queue(self, name: str) -> QueueState:
        q = self._queues.get(name)
        if q is None:
            check_name(name)
            raise QueueNotFoundError(f'queue "{name}" does not exist')
        return q

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_queue(self, config: QueueConfig, hooks: Hooks | None) -> QueueState:
        self._incarnations += 1
        q = QueueState(self._incarnations, config, self.settings.quantum,
                       HookGuard(hooks, self.settings.hooks))
        self._queues[config.name] = q
        return q

    # ---- queues ------------------------------------------------------------

    def create_queue(self, name: str, on_enqueue: str = "", on_failure: str = "",
                     visibility_timeout_ms: int = 0, hooks: Hooks | None = None
                     ) -> Effects:
        """Create ``name`` (and its DLQ). Visible only once the batch is durable.

        ``hooks`` are the scripts compiled by the shell (the core never runs Lua).
        """
        check_name(name)
        if name.endswith(DLQ_SUFFIX):
            raise InvalidArgumentError(
                f'queue names ending in "{DLQ_SUFFIX}" are reserved for dead-letter queues '
                f'(creating "{name[:-len(DLQ_SUFFIX)]}" creates "{name}")')
        if name in self._queues or name in self._creating:
            raise AlreadyExistsError(f'queue "{name}" already exists')
        vt = check_visibility(visibility_timeout_ms)
        dlq = name + DLQ_SUFFIX
        now_ms = self._clock.wall_ms()
        new = [QueueConfig(name, on_enqueue, on_failure, vt, dlq, now_ms)]
        if dlq not in self._queues and dlq not in self._creating:
            new.append(QueueConfig(dlq, created_at_ms=now_ms))
        if len(self._queues) + len(self._creating) + len(new) > self.settings.max_queues:
            raise OverloadedError(f"too many queues (limit {self.settings.max_queues})")
        effects = Effects()
        names = [c.name for c in new]
        self._creating.update(names)
        for config in new:
            effects.batch.put(keys.queue(config.name), config.encode())

        def apply() -> Effects:
            self._creating.difference_update(names)
            for i, config in enumerate(new):
                self._new_queue(config, hooks if i == 0 else None)
            return Effects()

        def undo() -> Effects:
            self._creating.difference_update(names)
            return Effects()

        effects.on_commit.append(apply)
        effects.undo.append(undo)
        return effects

    def delete_queue(self, name: str) -> Effects:
        """Delete ``name`` and its DLQ once the batch removing their configs is durable.

        Their message records are removed afterwards by :meth:`purge_batch`, chunk by chunk
        (recovery drops whatever a crash leaves of them: records of no queue).
        """
        q = self._queue(name)
        doomed = [name]
        dlq = q.config.dead_letter_queue
        if dlq and dlq in self._queues:
            doomed.append(dlq)
        effects = Effects()
        for qname in doomed:
            effects.batch.delete(keys.queue(qname))
        incarnations = {n: self._queues[n].incarnation for n in doomed}

        def apply() -> Effects:
            done = Effects()
            for qname, inc in incarnations.items():
                dq = self._queues.get(qname)
                if dq is None or dq.incarnation != inc:
                    continue
                del self._queues[qname]
                for rec in list(dq.msgs.values()):
                    self._forget(qname, dq, rec, done)
                for cid in list(dq.consumers):
                    self._consumers.pop(cid, None)
                    done.closed.append(cid)
                dq.guard.close()
                self._purging.add(qname)
            return done

        effects.on_commit.append(apply)
        return effects

    def purge_batch(self, name: str, limit: int) -> WriteBatch | None:
        """The next chunk of a deleted queue's stored records to remove (None: all gone)."""
        batch = WriteBatch()
        for prefix in (keys.msg_prefix(name), keys.payload_prefix(name),
                       keys.lease_prefix(name)):
            for key, _ in self._store.scan(prefix):
                batch.delete(key)
                if len(batch) >= limit:
                    return batch
        if len(batch):
            return batch
        self._purging.discard(name)
        return None

    def purging(self, name: str) -> bool:
        """True while a deleted queue's records are still being removed."""
        return name in self._purging

    def queue_names(self) -> list[str]:
        return sorted(self._queues)

    def queue_config(self, name: str) -> QueueConfig:
        return self._queue(name).config

    def update_queue(self, name: str, on_enqueue: str | None = None,
                     on_failure: str | None = None,
                     visibility_timeout_ms: int | None = None,
                     hooks: Hooks | None = None) -> tuple[QueueConfig, Effects]:
        """Change hooks and/or the visibility timeout; applied once durable.

        When a script changes, ``hooks`` is the new pair compiled by the shell.
        """
        q = self._queue(name)
        old = q.config
        new_enqueue = old.on_enqueue_script if on_enqueue is None else on_enqueue
        new_failure = old.on_failure_script if on_failure is None else on_failure
        vt = old.visibility_timeout_ms
        if visibility_timeout_ms is not None:
            vt = check_visibility(visibility_timeout_ms)
        scripts_changed = on_enqueue is not None or on_failure is not None
        config = QueueConfig(name, new_enqueue, new_failure, vt, old.dead_letter_queue,
                             old.created_at_ms)
        effects = Effects()
        effects.batch.put(keys.queue(name), config.encode())

        def apply() -> Effects:
            if self._queues.get(name) is not q:
                return Effects()  # deleted meanwhile
            q.config = config
            if scripts_changed:
                q.guard.replace(hooks)
            return Effects()

        effects.on_commit.append(apply)
        return config, effects

    # ---- runtime config ----------------------------------------------------

    def set_config(self, key: str, value: str) -> Effects:
        value = check_entry(key, value)
        setting = parse_limit(key, value)
        limit = self.settings.max_config_entries
        if key not in self._config and value != "" and len(self._config) >= limit:
            raise OverloadedError(f"too many config entries (limit {limit})")
        effects = Effects()
        if value == "":
            effects.batch.delete(keys.config(key))
        else:
            effects.batch.put(keys.config(key), value.encode())
        effects.on_commit.append(lambda: self._write_config(key, value, setting))
        return effects

    def _write_config(self, key: str, value: str, setting: LimitSetting | None) -> Effects:
        """Set (or with "" remove) a durable config key in memory and its limit."""
        effects = Effects()
        if value == "":
            self._config.pop(key, None)
        else:
            self._config[key] = value
        if setting is not None:
            self._apply_limit(setting)
            self._wake_limit(setting.key, effects)
        return effects

    def _apply_limit(self, setting: LimitSetting) -> None:
        if setting.kind == "throttle":
            if setting.remove:
                self._limits.remove_throttle(setting.key)
            else:
                self._limits.set_throttle(setting.key, setting.rate, setting.burst,
                                          self._clock.monotonic())
        elif setting.remove:
            self._limits.remove_cap(setting.key)
        else:
            self._limits.set_cap(setting.key, setting.cap)

    def get_config(self, key: str) -> str | None:
        return self._config.get(key)

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        # Byte order, as the spec asks (UTF-8 byte order equals code point order).
        return sorted((k, v) for k, v in self._config.items() if k.startswith(prefix))

    # ---- enqueue -----------------------------------------------------------

    def check_enqueue(self, queue: str, headers: Mapping[str, str], payload: bytes,
                      delay_ms: int = 0) -> Hooks | None:
        """Validate an enqueue; returns the on_enqueue hooks the shell should run first."""
        q = self._queue(queue)
        if len(headers) > MAX_HEADERS:
            raise InvalidArgumentError(f"too many headers (limit {MAX_HEADERS})")
        size = sum(len(k) + len(v) for k, v in headers.items())
        if size > MAX_HEADER_BYTES:
            raise InvalidArgumentError(f"headers exceed {MAX_HEADER_BYTES} bytes")
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise InvalidArgumentError(f"payload exceeds {MAX_PAYLOAD_BYTES} bytes")
        if delay_ms < 0 or delay_ms > MAX_DELAY_MS:
            raise InvalidArgumentError(f"delay_ms must be 0..{MAX_DELAY_MS}")
        return q.guard.to_run("on_enqueue", self._clock.wall_ms())

    def hook_done(self, queue: str, hooks: Hooks, error: str | None = None, *,
                  stuck: bool = False) -> None:
        """The shell ran ``hooks`` of ``queue``: feed its breaker (see HookGuard.done)."""
        q = self._queues.get(queue)
        if q is not None and q.guard.done(hooks, error, self._clock.wall_ms(), stuck=stuck) \
                and error is not None:
            q.counters["hook_failures"] += 1

    def prepare_enqueue(self, queue: str, headers: Mapping[str, str], payload: bytes,
                        delay_ms: int = 0, decision: EnqueueDecision | None = None, *,
                        validate: bool = True) -> PreparedEnqueue:
        """Build the batch from the hook's ``decision``. Memory is untouched.

        ``validate=False`` when :meth:`check_enqueue` just validated the same request.
        """
        q = self._queue(queue)
        if validate:
            self.check_enqueue(queue, headers, payload, delay_ms)
        if decision is None:
            decision = _DEFAULT_ENQUEUE
        delay = max(delay_ms, decision.delay_ms)
        now_ms = self._clock.wall_ms()
        msg_id = self._ids.new(now_ms)
        fkey = self._intern(decision.fairness_key or DEFAULT_KEY)
        tkeys = tuple(dict.fromkeys(self._intern(k) for k in decision.throttle_keys))
        weight = max(1, decision.weight)
        deliver_after = now_ms + delay if delay > 0 else 0
        stored = StoredMessage(dict(headers), fkey, weight, tkeys, 0, now_ms, self._next_seq(),
                               deliver_after)
        batch = WriteBatch()
        batch.put(keys.msg(queue, msg_id), stored.encode())
        batch.put(keys.payload(queue, msg_id), payload)
        state = State.DELAYED if deliver_after else State.READY
        record = MessageRecord(msg_id, fkey, weight, tkeys, 0, state, deliver_after)
        return PreparedEnqueue(queue, record, batch, q.incarnation)

    def apply_enqueue(self, prepared: PreparedEnqueue) -> Effects:
        """Index a durable enqueue and deliver what can go now."""
        effects = Effects()
        q = self._queues.get(prepared.queue)
        if q is None or q.incarnation != prepared.incarnation:
            # Deleted while the write was in flight: remove the orphan records.
            effects.batch.delete(keys.msg(prepared.queue, prepared.record.id))
            effects.batch.delete(keys.payload(prepared.queue, prepared.record.id))
            raise_later = QueueNotFoundError(f'queue "{prepared.queue}" does not exist')
            raise _WithEffects(raise_later, effects)
        q.counters["enqueued"] += 1
        self._index(prepared.queue, q, prepared.record)
        self._dispatch(prepared.queue, q, effects)
        return effects

    def _index(self, qname: str, q: QueueState, rec: MessageRecord,
               now: float | None = None) -> None:
        """Put a message record into memory in its state (ready, delayed or leased)."""
        if now is None:
            now = self._clock.monotonic()
        q.msgs[rec.id] = rec
        ks = q.key_stats(rec.fairness_key)
        ks.last_active = now
        if rec.state == State.READY:
            rec.ready_at = now
            q.sched.push(rec.fairness_key, rec.id, rec.weight)
            ks.pending += 1
        elif rec.state == State.DELAYED:
            q.delayed += 1
            ks.delayed += 1
            wait_s = max(0.0, (rec.deliver_after_ms - self._clock.wall_ms()) / 1000)
            self._timers.schedule(now + wait_s, TimerRef(TimerKind.DUE, qname, rec.id))
        else:
            q.leased += 1
            ks.in_flight += 1

    def _forget(self, qname: str, q: QueueState, rec: MessageRecord, effects: Effects) -> None:
        """Remove every in-memory trace of a message (not the store records)."""
        q.msgs.pop(rec.id, None)
        self._leases.forget(rec.id)
        ks = q.key_stats(rec.fairness_key)
        if rec.state == State.READY:
            if q.sched.remove(rec.fairness_key, rec.id):
                ks.pending -= 1
        elif rec.state == State.DELAYED:
            q.delayed -= 1
            ks.delayed -= 1
            self._timers.cancel(TimerRef(TimerKind.DUE, qname, rec.id))
        else:
            # Freeing its limit slots may wake keys elsewhere: their deliveries go in effects.
            self._end_lease(qname, q, rec, effects)

    # ---- consumers and delivery --------------------------------------------

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
                              LeaseRecord(deadline_ms, leased_at).encode())
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
        deadline_ms = now_ms + q.config.visibility_timeout_ms

        def check(key: str, msg_id: str) -> Block | None:
            return self._check_limits(qname, q, key, msg_id)

        while True:
            consumer = self._pick_consumer(q)
            if consumer is None:
                return
            picked = q.sched.next(check)
            if picked is None:
                return
            key, msg_id = picked
            rec = q.msgs[msg_id]
            rec.state = transition(rec.state, Event.DELIVER) or State.LEASED
            q.keys[key].pending -= 1
            if rec.throttle_keys:
                self._limits.acquire(rec.throttle_keys, now)
            consumer.credit -= 1
            consumer.leases.add(msg_id)
            q.ready.rotate(-1)
            q.leased += 1
            ks = q.key_stats(key)
            ks.in_flight += 1
            ks.delivered += 1
            ks.last_active = now
            wait = max(0.0, now - rec.ready_at)
            ks.add_wait(wait)
            q.waits.append(wait)
            q.counters["delivered"] += 1
            self._timers.schedule(now + q.config.visibility_timeout_ms / 1000,
                                  TimerRef(TimerKind.LEASE, qname, msg_id))
            self._leases.grant(msg_id, consumer.id, consumer.peer, consumer.token)
            effects.lease_batch.put(keys.lease(qname, msg_id),
                                    LeaseRecord(deadline_ms, now_ms).encode())
            effects.deliveries.append(Delivery(consumer.id, qname, msg_id))
            effects.touched.append((qname, msg_id))

    def _end_lease(self, qname: str, q: QueueState, rec: MessageRecord, effects: Effects,
                   *, expired: bool = False, unsettled: bool = False) -> None:
        """Free what a lease held: consumer credit, limit slots, its timer.

        An expired lease still unsent (in its stream's outbox) keeps its credit until
        the stream takes the entry off and skips it: a stream that stopped reading is
        not leased more. Any other end (ack, nack, ...) frees the credit at once.
        """
        q.leased -= 1
        ks = q.key_stats(rec.fairness_key)
        ks.in_flight -= 1
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

    def _load(self, qname: str, msg_id: str) -> StoredMessage:
        raw = self._store.get(keys.msg(qname, msg_id))
        if raw is None:  # pragma: no cover - memory says it exists; the store must agree
            raise MessageNotFoundError(f'message "{msg_id}" is missing from storage')
        return StoredMessage.decode(raw)

    def materialize(self, delivery: Delivery) -> Delivered | None:
        """Read what a consumer receives; None if the message is no longer leased."""
        q = self._queues.get(delivery.queue)
        rec = q.msgs.get(delivery.msg_id) if q else None
        if rec is None or rec.state != State.LEASED:
            return None
        if self._leases.owner(rec.id) != delivery.consumer:
            return None  # its lease ended and it went to another stream meanwhile
        return self._read(delivery.queue, rec, "leased")

    def _read(self, qname: str, rec: MessageRecord, state: str) -> Delivered:
        stored = self._load(qname, rec.id)
        payload = self._store.get(keys.payload(qname, rec.id)) or b""
        leased_at = 0
        if rec.state == State.LEASED:
            raw = self._store.get(keys.lease(qname, rec.id))
            leased_at = LeaseRecord.decode(raw).leased_at_ms if raw else self._clock.wall_ms()
        return Delivered(rec.id, qname, stored.headers, payload, stored.fairness_key,
                         stored.weight, stored.throttle_keys, rec.attempts,
                         stored.enqueued_at_ms, leased_at, rec.deliver_after_ms,
                         stored.last_error, state)

    # ---- settle ------------------------------------------------------------

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
        q, rec = self._leased(queue, msg_id, peer, token)
        transition(rec.state, Event.ACK)
        effects = Effects()
        self._end_lease(queue, q, rec, effects)
        q.msgs.pop(rec.id, None)
        self._leases.forget(rec.id)
        q.counters["acked"] += 1
        for key in (keys.msg(queue, rec.id), keys.payload(queue, rec.id),
                    keys.lease(queue, rec.id)):
            effects.batch.delete(key)
        effects.touched.append((queue, rec.id))
        self._dispatch(queue, q, effects)
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
                # message forever (the spec's "dlq" means: move it to <queue>.dlq).
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

    # ---- redrive -----------------------------------------------------------

    def redrive(self, dlq_name: str, count: int = 0, fairness_key: str = "",
                dry_run: bool = False) -> tuple[int, Effects]:
        """All at once (the engine goes chunk by chunk: redrive_candidates, redrive_ids)."""
        ids = self.redrive_candidates(dlq_name, count, fairness_key)
        if dry_run:
            return len(ids), Effects()
        return self.redrive_ids(dlq_name, ids)

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
                           fairness_key: str = "") -> list[str]:
        """Ids a redrive would move now, oldest first: non-leased, up to ``count`` (0 = all).

        Taken once, up front: messages dead-lettered while a chunked redrive runs (a
        redriven one failing again, say) are not part of it.
        """
        dlq, _, _ = self._redrive_pair(dlq_name)
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
            self._index(parent_name, parent, moved)
            effects.touched.extend([(dlq_name, rec.id), (parent_name, rec.id)])
        self._dispatch(parent_name, parent, effects)
        return count, effects

    # ---- timers ------------------------------------------------------------

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
                    self._requeue(a, q, rec, effects, event=Event.EXPIRE)
                    touched_queues.add(a)
            elif kind == TimerKind.DUE:
                q = self._queues.get(a)
                rec = q.msgs.get(b) if q else None
                if q is not None and rec is not None and rec.state == State.DELAYED:
                    rec.state = transition(rec.state, Event.DUE) or State.READY
                    q.delayed -= 1
                    q.key_stats(rec.fairness_key).delayed -= 1
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

    # ---- recovery ----------------------------------------------------------

    def recover(self) -> Recovered:
        """Rebuild all in-memory state from the store (see recovery.py).

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

    def _place(self, qname: str, q: QueueState, rec: MessageRecord, lease: LeaseRecord | None,
               now: float, now_ms: int) -> None:
        """Index a recovered record; a leased one gets its expiry timer and limit slots."""
        self._index(qname, q, rec, now)
        if lease is not None:
            # Wall-clock deadline -> monotonic timer, clamped to the timeout so a
            # wall-clock jump cannot stretch or collapse every lease at once.
            timeout = q.config.visibility_timeout_ms
            remaining = min(max(0, lease.deadline_ms - now_ms), timeout)
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

    # ---- hooks -------------------------------------------------------------

    def scripted_queues(self) -> list[QueueConfig]:
        """Configs of queues that have scripts but no compiled hooks (after recovery)."""
        return [q.config for q in self._queues.values()
                if q.guard.hooks is None and (q.config.on_enqueue_script.strip()
                                        or q.config.on_failure_script.strip())]

    def install_hooks(self, name: str, hooks: Hooks | None, error: str = "") -> None:
        """Attach hooks compiled by the shell after recovery (``error``: they did not compile,
        the queue runs without them and its stats say why)."""
        q = self._queues.get(name)
        if q is None:
            return
        if error:
            q.guard.drop(error)
        else:
            q.guard.replace(hooks)

    @property
    def config_lookup(self) -> Callable[[str], str | None]:
        """``fila.get`` for hooks: a plain dict lookup (safe from the hook thread)."""
        return self._config.get

    # ---- reads for admin and stats -----------------------------------------

    def queue_counts(self, name: str) -> tuple[int, int, int]:
        """(depth, in_flight, consumers) of a queue."""
        q = self._queue(name)
        return len(q.msgs), q.leased, len(q.consumers)

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

    def stats_view(self, name: str) -> QueueState:
        """The live queue object, for the stats module (read-only by convention)."""
        return self._queue(name)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def limits(self) -> Limits:
        return self._limits


def _encoded_size(m: Delivered) -> int:
    """About what a listed message costs on the wire (fields plus framing)."""
    return (len(m.payload) + sum(len(k) + len(v) + 8 for k, v in m.headers.items())
            + len(m.last_error) + len(m.fairness_key) + sum(len(k) + 2 for k in m.throttle_keys)
            + len(m.id) + len(m.queue) + 128)


class _WithEffects(Exception):
    """Raised by apply_enqueue when the queue vanished: carries cleanup effects."""

    def __init__(self, error: Exception, effects: Effects) -> None:
        super().__init__(str(error))
        self.error = error
        self.effects = effects
