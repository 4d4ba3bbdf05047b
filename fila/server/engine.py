"""The async shell around the core: commits, consumer outboxes and timers.

One event loop owns the :class:`~fila.server.broker.Broker`. Every call here
runs a core method synchronously, hands the resulting batches to the group
committer, and only then answers (or sends deliveries). Nothing in here makes
a scheduling decision.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fila.errors import FilaError, InvalidArgumentError, UnavailableError
from fila.server.broker import (
    MAX_BATCH_ITEMS,
    MAX_ERROR_BYTES,
    Broker,
    Delivered,
    Delivery,
    Effects,
    PreparedEnqueue,
    QueueGoneError,
)
from fila.server.commit import GroupCommitter
from fila.server.effects import merge
from fila.server.health import PROBE_KEY, StorageHealth
from fila.server.history import History
from fila.server.hookcalls import HookCalls
from fila.server.hookguard import EnqueueDecision, FailureDecision
from fila.server.hookrunner import HookRunner
from fila.server.logfmt import fields
from fila.server.model import DLQ_SUFFIX, QueueConfig
from fila.server.overlay import OverlayStore
from fila.server.store import WriteBatch
from fila.types import HookResult

if TYPE_CHECKING:  # prometheus-client is imported only when metrics are on
    from fila.server.metrics import Metrics

__all__ = ["REDRIVE_CHUNK", "Consumer", "Engine", "SystemClock"]

log = logging.getLogger("fila.engine")

# Records removed per commit when a deleted queue's messages are purged in the background.
PURGE_CHUNK = 2000
# Wall-clock limit of one hook job when no runner is passed in (config: [lua] watchdog_ms).
DEFAULT_HOOK_WATCHDOG_S = 1.0
# Messages moved per batch by Redrive.
REDRIVE_CHUNK = 1000
# How often idle key stats and unused interned strings are pruned (seconds).
PRUNE_INTERVAL_S = 30.0


def check_batch(n: int) -> None:
    """A batch call's size limit: over it the whole request is refused, nothing done."""
    if n > MAX_BATCH_ITEMS:
        raise InvalidArgumentError(f"batch has {n} items (limit {MAX_BATCH_ITEMS})")


class SystemClock:
    """The real clock: monotonic for timers (the loop's clock), wall ms for records."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000


@dataclass(eq=False)
class Consumer:
    """One consume stream's outbox. ``None`` in the outbox ends the stream."""

    id: int
    queue: str
    outbox: asyncio.Queue[Delivered | None] = field(default_factory=asyncio.Queue)
    sending: set[str] = field(default_factory=set)
    unsent_bytes: int = 0  # payload bytes waiting in the outbox
    paused: bool = False  # no more leases while unsent_bytes is over the limit
    # Leased to it while the outbox was over the byte limit: read from the store (payload
    # and all) only when the outbox has room, so memory per stream stays bounded.
    deferred: deque[Delivery] = field(default_factory=deque)


class Engine:
    """Drives the core from the event loop."""

    def __init__(self, broker: Broker, committer: GroupCommitter, overlay: OverlayStore,
                 hooks: HookRunner | None = None, health: StorageHealth | None = None,
                 metrics: Metrics | None = None, history: History | None = None) -> None:
        self.broker = broker
        self._committer = committer
        self._overlay = overlay
        self.hooks = hooks or HookRunner(DEFAULT_HOOK_WATCHDOG_S)
        self.hook_calls = HookCalls(broker, self.hooks)
        # None when metrics are off: then nothing below records anything.
        self.metrics = metrics
        if metrics is not None:
            self.hook_calls.observe = metrics.hook
        self._purges: dict[str, asyncio.Task[None]] = {}
        self._purge_done: dict[str, bool] = {}  # False: stopped unfinished (cluster mode)
        self._consumers: dict[int, Consumer] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()
        self._pruner: asyncio.TimerHandle | None = None
        # Per-second stats samples for GetStatsHistory; the shell's timer drives the sampler.
        self.history = history if history is not None else History(broker)
        self._sampler: asyncio.TimerHandle | None = None
        # Storage health: while degraded, timers pause, failed lease writes wait in
        # _deferred for the recovery, and one probe write retries with backoff.
        self.health = health if health is not None else StorageHealth()
        self.health.add_listener(self._on_health)
        self._deferred: dict[tuple[str, str], None] = {}
        self._probe: asyncio.TimerHandle | None = None
        self._healthy_waiters: list[asyncio.Future[None]] = []
        # Cluster mode: where a queue's consumers go once this node stopped serving it
        # (None: not moved, e.g. deleted). Set by fila/cluster/node.py.
        self.moved_to: Callable[[str], str | None] = lambda queue: None

    # ---- plumbing ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise UnavailableError("broker is shutting down")

    def _admit(self) -> None:
        """Refuse a client call before the core changes anything if the writer is full."""
        self._check_open()
        self._committer.check_room(2)  # the call's own batch and its lease batch

    def _submit(self, batch: WriteBatch) -> asyncio.Future[None]:
        """Hand ``batch`` to the committer; the core reads it back until it settles.

        Forced: admission was checked before the core call (``_admit``), and internal
        work (timers, releases, resyncs) must never be dropped half-applied.
        """
        future = self._committer.submit(batch, force=True)
        ticket = self._overlay.stage(batch)
        future.add_done_callback(lambda _: self._overlay.settle(ticket, batch))
        future.add_done_callback(self._observe)  # before any awaiter resumes
        return future

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _close_streams(self, cids: list[int]) -> None:
        for cid in cids:
            consumer = self._consumers.pop(cid, None)
            if consumer is not None:
                consumer.outbox.put_nowait(None)

    async def _apply(self, effects: Effects) -> None:
        """Commit the call's own batch (awaited) and its deliveries (in the background)."""
        own: asyncio.Future[None] | None = None
        if len(effects.batch):
            own = self._submit(effects.batch)
            # In a done-callback, not after the await: callbacks run in commit order, and
            # also when the awaiting RPC was cancelled meanwhile.
            own.add_done_callback(functools.partial(self._settled, effects))
        elif effects.on_commit:
            self._settled(effects, None)
        if effects.deliveries:
            self._spawn(self._send(effects, self._submit(effects.lease_batch)))
        self._close_streams(effects.closed)
        self._rearm()
        if own is not None:
            await own

    def _settled(self, effects: Effects, written: asyncio.Future[None] | None) -> None:
        """The call's batch is durable (apply its admin change) or failed (undo, resync)."""
        if written is not None and (written.cancelled() or written.exception() is not None):
            self._recover_from(effects)
            return
        for apply in effects.on_commit:
            self._spawn(self._apply_logged(apply()))

    def _recover_from(self, effects: Effects) -> None:
        """A batch failed: undo what the core reserved, resync the messages it touched."""
        for undo in reversed(effects.undo):
            self._spawn(self._apply_logged(undo()))
        if effects.touched:
            self._spawn(self._apply_logged(self.broker.resync(effects.touched)))
        self._rearm()

    async def _send(self, effects: Effects, leases: asyncio.Future[None]) -> None:
        sending = [(self._consumers.get(d.consumer), d.msg_id) for d in effects.deliveries]
        for consumer, msg_id in sending:
            if consumer is not None:
                consumer.sending.add(msg_id)
        try:
            await leases
        except FilaError as exc:
            if self.health.degraded:
                # No immediate resync: it would lease the same messages again and
                # write again, a spin on a full disk. They go back on recovery.
                log.debug("lease write failed, %d message(s) wait for storage: %s",
                          len(effects.deliveries), exc)
                self._defer(effects.touched)
                return
            log.error("lease write failed, returning %d message(s): %s",
                      len(effects.deliveries), exc)
            self._spawn(self._apply_logged(self.broker.resync(effects.touched)))
            self._rearm()
            return
        finally:
            for consumer, msg_id in sending:
                if consumer is not None:
                    consumer.sending.discard(msg_id)
        limit = self.broker.settings.max_outbox_bytes
        for delivery in effects.deliveries:
            consumer = self._consumers.get(delivery.consumer)
            if consumer is None:
                continue  # stream gone: its close released the lease
            if consumer.deferred or consumer.unsent_bytes > limit:
                self.broker.queued(consumer.id, delivery.msg_id)
                consumer.deferred.append(delivery)
                continue
            try:
                message = self.broker.materialize(delivery)
            except FilaError as exc:  # a record vanished under us: skip it, send the rest
                log.error("cannot read message %s for delivery: %s", delivery.msg_id, exc,
                          extra=fields(queue=delivery.queue, message_id=delivery.msg_id))
                continue
            if message is not None:
                self.broker.queued(consumer.id, message.id)
                self._put(consumer, message)

    def _put(self, consumer: Consumer, message: Delivered) -> None:
        consumer.outbox.put_nowait(message)
        if self.metrics is not None:
            self.metrics.delivery_wait(
                message.queue, max(0, message.leased_at_ms - message.enqueued_at_ms) / 1000)
        consumer.unsent_bytes += len(message.payload)
        if not consumer.paused and consumer.unsent_bytes > self.broker.settings.max_outbox_bytes:
            consumer.paused = True
            self.broker.pause(consumer.id, True)

    def take(self, consumer: Consumer, message: Delivered) -> bool:
        """The stream takes ``message`` off its outbox: False = its lease ended, skip it."""
        limit = self.broker.settings.max_outbox_bytes
        consumer.unsent_bytes -= len(message.payload)
        current, effects = self.broker.take(consumer.id, message.id)
        self._apply_later(effects)
        while consumer.deferred and consumer.unsent_bytes <= limit:
            delivery = consumer.deferred.popleft()
            try:
                later = self.broker.materialize(delivery)
            except FilaError as exc:
                log.error("cannot read message %s for delivery: %s", delivery.msg_id, exc,
                          extra=fields(queue=delivery.queue, message_id=delivery.msg_id))
                later = None
            if later is None:  # its lease ended while deferred: free its slot
                self._apply_later(self.broker.take(consumer.id, delivery.msg_id)[1])
            else:
                self._put(consumer, later)
        if consumer.paused and consumer.unsent_bytes <= limit and not consumer.deferred:
            consumer.paused = False
            self._apply_later(self.broker.pause(consumer.id, False))
        return current

    def _apply_later(self, effects: Effects) -> None:
        if effects.deliveries or len(effects.batch) or effects.closed:
            self._spawn(self._apply_logged(effects))

    # ---- timers ------------------------------------------------------------

    def _rearm(self) -> None:
        """Sleep until the core's earliest deadline (lease, due message, limit wake)."""
        deadline = self.broker.next_deadline()
        # Degraded: expiry requeues and limit wakes would only write and fail;
        # the recovery re-arms.
        if deadline is None or self._closing or self.health.degraded:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = self._timer_at = None
            return
        if self._timer is not None and self._timer_at is not None and self._timer_at <= deadline:
            return
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        # loop.time() is time.monotonic(), the core's clock.
        self._timer_at = deadline
        self._timer = loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._timer_at = None
        if self.health.degraded or self._closing:
            return
        try:
            effects = self.broker.tick()
        except Exception:  # pragma: no cover - a core bug must not kill the timer
            log.exception("timer tick failed")
            self._rearm()
            return
        self._spawn(self._apply_logged(effects))

    async def _apply_logged(self, effects: Effects) -> None:
        try:
            await self._apply(effects)
        except FilaError as exc:
            if self.health.degraded:  # one line per episode, from StorageHealth
                log.debug("background commit failed: %s", exc)
            else:
                log.error("background commit failed: %s", exc)

    # ---- storage health ------------------------------------------------------

    def _observe(self, future: asyncio.Future[None]) -> None:
        """Every submitted batch reports its outcome to the health state."""
        if future.cancelled():
            return
        error = future.exception()
        if error is None:
            self.health.write_ok()
        elif not isinstance(error, UnavailableError):
            # UNAVAILABLE is not the disk: shutting down, or (cluster mode) a queue this
            # node no longer serves, or its replicated log out of reach.
            self.health.write_failed(error)

    def _defer(self, touched: list[tuple[str, str]]) -> None:
        """Resync these messages once storage recovers (memory is ahead of it now)."""
        self._deferred.update(dict.fromkeys(touched))
        self._schedule_probe()

    def _on_health(self, degraded: bool) -> None:
        if self._closing:
            return
        if degraded:
            self._rearm()  # cancels the timer
            self._schedule_probe()
            return
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        if self._deferred:
            touched, self._deferred = list(self._deferred), {}
            self._spawn(self._apply_logged(self.broker.resync(touched)))
        waiters, self._healthy_waiters = self._healthy_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._rearm()

    async def _until_healthy(self) -> None:
        """Wait for the end of the current storage episode (cancelled at close)."""
        if not self.health.degraded:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._healthy_waiters.append(waiter)
        await waiter

    def _schedule_probe(self) -> None:
        if self._probe is not None or self._closing or not self.health.degraded:
            return
        loop = asyncio.get_running_loop()
        self._probe = loop.call_later(self.health.next_delay(), self._run_probe)

    def _run_probe(self) -> None:
        """One small write through the committer: its success ends the episode."""
        self._probe = None
        if self._closing or not self.health.degraded:
            return
        batch = WriteBatch()
        batch.delete(PROBE_KEY)  # still a WAL record: it needs the disk like any write
        try:
            written = self._submit(batch)
        except FilaError:  # shutting down
            return
        written.add_done_callback(lambda _: self._schedule_probe())

    # ---- hooks (hookcalls.py runs them on the hook thread) -----------------

    async def load_hooks(self) -> None:
        await self.hook_calls.load_all()

    # ---- residency (cluster mode: fila/cluster/node.py) -------------------------

    async def load_queue(self, name: str) -> int:
        """Serve ``name`` (and its DLQ) from what the store holds; returns messages loaded."""
        loaded = 0
        for qname in (name, name + DLQ_SUFFIX):
            loaded += self.broker.load_queue(qname)
        await self.hook_calls.load_all(only=name)
        self._rearm()
        return loaded

    async def purged(self, name: str) -> bool:
        """Until the purges of deleted queue ``name`` (and its DLQ) end; False if one
        stopped unfinished (cluster mode: this node stopped serving the queue)."""
        done = True
        for qname in (name, name + DLQ_SUFFIX):
            purge = self._purges.get(qname)
            if purge is not None:
                await asyncio.shield(purge)
            done = done and self._purge_done.get(qname, True)
        return done

    def has_queue(self, name: str) -> bool:
        return name in self.broker.queue_names()

    async def purge_orphans(self, name: str) -> bool:
        """Remove the records of ``name`` and its DLQ left by a deleted queue whose purge did
        not finish (cluster mode: its owner changed mid-purge). True if there were some,
        and they are gone."""
        found = False
        for qname in (name, name + DLQ_SUFFIX):
            if self.has_queue(qname) or qname in self._purges:
                continue
            if self.broker.purge_batch(qname, 1) is None:
                continue  # nothing left of it
            found = True
            self._purges[qname] = asyncio.ensure_future(self._purge(qname))
        return found and await self.purged(name)

    async def unload_queue(self, name: str) -> None:
        """Stop serving ``name`` and its DLQ at once; their consume streams end (the service
        sends them where :attr:`moved_to` says)."""
        for qname in (name, name + DLQ_SUFFIX):
            await self._apply(self.broker.unload_queue(qname))

    async def test_hook(self, hook: str, script: str, headers: Mapping[str, str],
                        payload_size: int, queue: str, attempts: int, error: str,
                        message_id: str) -> HookResult:
        return await self.hook_calls.test(hook, script, headers, payload_size, queue, attempts,
                                          error, message_id)

    # ---- operations --------------------------------------------------------

    async def create_queue(self, name: str, on_enqueue: str, on_failure: str,
                           visibility_timeout_ms: int) -> None:
        self._admit()
        purge = self._purges.get(name)
        if purge is not None:  # the records of a deleted queue of this name go first
            await asyncio.shield(purge)
        hooks = await self.hook_calls.compile(name, on_enqueue, on_failure)
        await self._apply(self.broker.create_queue(name, on_enqueue, on_failure,
                                                   visibility_timeout_ms, hooks))

    async def delete_queue(self, name: str) -> None:
        self._admit()
        config = self.broker.queue_config(name)
        await self._apply(self.broker.delete_queue(name))
        if self.metrics is not None:
            self.metrics.forget_queue(name)
        for qname in (name, config.dead_letter_queue):
            if qname and self.broker.purging(qname) and qname not in self._purges:
                self._purges[qname] = asyncio.ensure_future(self._purge(qname))

    async def _purge(self, name: str) -> None:
        """Remove a deleted queue's records chunk by chunk, yielding to the loop between."""
        removed = 0
        cursor = None
        while (chunk := self.broker.purge_batch(name, PURGE_CHUNK, cursor)) is not None:
            batch, next_cursor = chunk
            try:
                await self._submit(batch)
            except UnavailableError as exc:
                # Cluster mode: another node serves the queue now; it finishes the purge.
                log.info("stopped removing the records of deleted queue %s: %s", name, exc,
                         extra=fields(queue=name))
                self._purges.pop(name, None)
                self._purge_done[name] = False
                return
            except FilaError as exc:
                if self.health.degraded:  # retry once a write lands (the probe backs off)
                    await self._until_healthy()
                    continue
                log.error("removing the records of deleted queue %s failed (retrying): %s",
                          name, exc, extra=fields(queue=name))
                await asyncio.sleep(1.0)  # retry cadence while storage is failing
                continue
            removed += len(batch)
            cursor = next_cursor
        self._purges.pop(name, None)
        self._purge_done.pop(name, None)
        if removed > PURGE_CHUNK:
            log.info("deleted queue %s: %d record(s) removed", name, removed,
                     extra=fields(queue=name, count=removed))

    async def update_queue(self, name: str, on_enqueue: str | None, on_failure: str | None,
                           visibility_timeout_ms: int | None) -> QueueConfig:
        self._admit()
        hooks = None
        if on_enqueue is not None or on_failure is not None:
            old = self.broker.queue_config(name)
            hooks = await self.hook_calls.compile(
                name, old.on_enqueue_script if on_enqueue is None else on_enqueue,
                old.on_failure_script if on_failure is None else on_failure)
        config, effects = self.broker.update_queue(name, on_enqueue, on_failure,
                                                   visibility_timeout_ms, hooks)
        await self._apply(effects)
        return config

    async def write(self, batch: WriteBatch) -> None:
        """Commit a batch the core does not own (API keys, auth.py): durable on return."""
        self._admit()
        await self._submit(batch)

    async def set_config(self, key: str, value: str) -> None:
        self._admit()
        await self._apply(self.broker.set_config(key, value))

    async def enqueue(self, queue: str, headers: dict[str, str], payload: bytes,
                      delay_ms: int) -> str:
        """``headers`` is the caller's own dict (the service copies the request's map once):
        the hook reads it and the stored record keeps it."""
        self._admit()
        hooks = self.broker.check_enqueue(queue, headers, payload, delay_ms)
        decision: EnqueueDecision | None = None
        if hooks is not None:
            decision = await self.hook_calls.call(queue, hooks, "on_enqueue", headers,
                                             len(payload), queue)
        prepared = self.broker.prepare_enqueue(queue, headers, payload, delay_ms, decision,
                                               validate=hooks is not None)
        # Durable first: the message becomes visible only once it is in the WAL.
        written = self._submit(prepared.batch)
        try:
            await asyncio.shield(written)
        except asyncio.CancelledError:
            # The client gave up, but the write goes on: index it when it lands, or the
            # stored message would stay invisible until a restart.
            written.add_done_callback(functools.partial(self._apply_late, [prepared]))
            raise
        try:
            effects = self.broker.apply_enqueue(prepared)
        except QueueGoneError as gone:
            await self._apply(gone.effects)
            raise
        await self._apply(effects)
        return prepared.record.id

    async def enqueue_batch(self, items: Sequence[tuple[str, dict[str, str], bytes, int]]
                            ) -> list[str | FilaError]:
        """Many enqueues, ONE durable commit; a bad item fails alone (its error in its place).

        Each item is (queue, headers, payload, delay_ms). on_enqueue hooks run per item, as
        for :meth:`enqueue`. Over MAX_BATCH_ITEMS items: InvalidArgumentError, nothing stored.
        """
        check_batch(len(items))
        self._admit()
        broker = self.broker
        results: list[str | FilaError] = [""] * len(items)
        prepared: list[PreparedEnqueue] = []
        positions: list[int] = []
        batch = WriteBatch()
        now_ms = broker.clock.wall_ms()
        for i, (queue, headers, payload, delay_ms) in enumerate(items):
            try:
                hooks = broker.check_enqueue(queue, headers, payload, delay_ms, now_ms)
                decision: EnqueueDecision | None = None
                if hooks is not None:
                    decision = await self.hook_calls.call(queue, hooks, "on_enqueue", headers,
                                                          len(payload), queue)
                    now_ms = broker.clock.wall_ms()  # the hook took time
                prepared.append(broker.prepare_enqueue(
                    queue, headers, payload, delay_ms, decision, validate=hooks is not None,
                    into=batch, now_ms=now_ms))
                positions.append(i)
            except FilaError as exc:
                results[i] = exc
        if not prepared:
            return results
        written = self._submit(batch)
        try:
            await asyncio.shield(written)
        except asyncio.CancelledError:
            written.add_done_callback(functools.partial(self._apply_late, prepared))
            raise
        effects, gone = broker.apply_enqueue_many(prepared)
        for n, (i, p) in enumerate(zip(positions, prepared, strict=True)):
            results[i] = QueueGoneError(p.queue, Effects()) if n in gone else p.record.id
        await self._apply(effects)
        return results

    def _apply_late(self, prepared: list[PreparedEnqueue], written: asyncio.Future[None]
                    ) -> None:
        """The caller gave up waiting, but the write goes on: index the messages when it
        lands, or they would stay invisible until a restart."""
        if written.cancelled() or written.exception() is not None:
            return
        effects, _ = self.broker.apply_enqueue_many(prepared)
        self._spawn(self._apply_logged(effects))

    async def ack(self, queue: str, message_id: str, peer: str = "", token: str = "") -> None:
        self._admit()
        await self._apply(self.broker.ack(queue, message_id, peer, token))

    async def ack_batch(self, items: Sequence[tuple[str, str]], peer: str = "",
                        token: str = "") -> list[FilaError | None]:
        """Settle many leases, one commit; each item's error (or None) in its place."""
        check_batch(len(items))
        self._admit()
        effects, results = self.broker.ack_many(items, peer, token)
        if any(r is None for r in results):
            await self._apply(effects)
        return results

    async def nack_batch(self, items: Sequence[tuple[str, str, str]], peer: str = "",
                         token: str = "") -> list[FilaError | None]:
        """Nack many leases (queue, id, error), one commit; on_failure runs per item."""
        check_batch(len(items))
        self._admit()
        results: list[FilaError | None] = []
        parts: list[Effects] = []
        for queue, message_id, error in items:
            try:
                decision: FailureDecision | None = None
                run = self.broker.failure_hook(queue, message_id, peer, token)
                if run is not None:
                    hooks, headers, attempt, msg_id = run
                    decision = await self.hook_calls.call(queue, hooks, "on_failure", headers,
                                                          msg_id, attempt, queue,
                                                          error[:MAX_ERROR_BYTES])
                parts.append(self.broker.nack(queue, message_id, error, peer, token, decision))
                results.append(None)
            except FilaError as exc:
                results.append(exc)
        if parts:
            await self._apply(merge(parts))
        return results

    async def extend_lease(self, queue: str, message_id: str, extend_ms: int, peer: str = "",
                           token: str = "") -> None:
        self._admit()
        await self._apply(self.broker.extend_lease(queue, message_id, extend_ms, peer, token))

    async def nack(self, queue: str, message_id: str, error: str, peer: str = "",
                   token: str = "") -> None:
        self._admit()
        decision: FailureDecision | None = None
        run = self.broker.failure_hook(queue, message_id, peer, token)
        if run is not None:
            hooks, headers, attempt, msg_id = run
            decision = await self.hook_calls.call(queue, hooks, "on_failure", headers, msg_id,
                                             attempt, queue, error[:MAX_ERROR_BYTES])
        await self._apply(self.broker.nack(queue, message_id, error, peer, token, decision))

    async def redrive(self, dlq: str, count: int, fairness_key: str, dry_run: bool,
                      message_id: str = "") -> int:
        """Move in chunks of REDRIVE_CHUNK, each committed before the next, so a large
        DLQ neither holds the event loop nor builds one huge batch."""
        self._admit()
        ids = self.broker.redrive_candidates(dlq, count, fairness_key, message_id)
        if dry_run:
            return len(ids)
        return await self._in_chunks(ids, REDRIVE_CHUNK,
                                     lambda chunk: self.broker.redrive_ids(dlq, chunk))

    async def delete_message(self, queue: str, message_id: str) -> str:
        """Delete one message durably; returns the state it was in."""
        self._admit()
        state, effects = self.broker.delete_message(queue, message_id)
        await self._apply(effects)
        return state

    async def purge_queue(self, name: str) -> int:
        """Remove the queue's ready and delayed messages in chunks of PURGE_CHUNK, each
        committed before the next (like a redrive), so a large queue neither holds the
        event loop nor builds one huge batch. Leased messages stay with their consumers."""
        self._admit()
        ids = self.broker.purge_candidates(name)
        return await self._in_chunks(ids, PURGE_CHUNK,
                                     lambda chunk: self.broker.purge_ids(name, chunk))

    async def _in_chunks(self, ids: list[str], size: int,
                         step: Callable[[list[str]], tuple[int, Effects]]) -> int:
        """Run ``step`` over ``ids`` in chunks, committing each before the next (the commit
        yields to the loop); returns how many it handled. A queue that goes away mid-way,
        or a shutdown, ends the run with what was done so far."""
        done = 0
        for start in range(0, len(ids), size):
            if self._closing:
                break
            try:
                n, effects = step(ids[start:start + size])
            except FilaError:
                if done:
                    break
                raise
            await self._apply(effects)
            done += n
        return done

    # ---- consumers ---------------------------------------------------------

    async def open_consumer(self, queue: str, prefetch: int, peer: str = "",
                            token: str = "") -> Consumer:
        self._admit()
        cid, effects = self.broker.add_consumer(queue, prefetch, peer, token)
        consumer = Consumer(cid, queue)
        self._consumers[cid] = consumer
        try:
            await self._apply(effects)
        except BaseException:
            await self.close_consumer(consumer)  # never leave a consumer nobody reads
            raise
        return consumer

    async def close_consumer(self, consumer: Consumer) -> None:
        """The stream ended: messages still in its outbox were never sent."""
        self._consumers.pop(consumer.id, None)
        unsent = list(consumer.sending)  # leased for it, lease write still in flight
        unsent.extend(d.msg_id for d in consumer.deferred)
        while not consumer.outbox.empty():
            item = consumer.outbox.get_nowait()
            if item is not None:
                unsent.append(item.id)
        effects = self.broker.remove_consumer(consumer.id, unsent)
        try:
            await self._apply(effects)
        except FilaError as exc:
            if self.health.degraded:  # resynced already; one log line per episode
                log.debug("releasing leases of a closed stream failed: %s", exc)
            else:
                log.error("releasing leases of a closed stream failed: %s", exc)

    # ---- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._rearm()
        self._schedule_prune()
        self._schedule_sample()

    def _schedule_sample(self) -> None:
        if not self._closing:
            # Just past the next wall-clock second, so each call lands in a new second.
            delay = 1.0 - (self.broker.clock.wall_ms() % 1000) / 1000 + 0.01
            self._sampler = asyncio.get_running_loop().call_later(delay, self._sample)

    def _sample(self) -> None:
        try:
            self.history.sample()
        except Exception:  # pragma: no cover - a core bug must not stop the history
            log.exception("stats history sample failed")
        self._schedule_sample()

    def _schedule_prune(self) -> None:
        if not self._closing:
            self._pruner = asyncio.get_running_loop().call_later(PRUNE_INTERVAL_S, self._prune)

    def _prune(self) -> None:
        try:
            self.broker.prune()
        except Exception:  # pragma: no cover - a core bug must not stop pruning
            log.exception("pruning failed")
        self._schedule_prune()

    async def close(self) -> None:
        """Stop timers, end every stream, wait for background commits."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pruner is not None:
            self._pruner.cancel()
            self._pruner = None
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        if self._probe is not None:
            self._probe.cancel()
            self._probe = None
        for consumer in list(self._consumers.values()):
            consumer.outbox.put_nowait(None)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for purge in list(self._purges.values()):
            purge.cancel()  # recovery removes what is left of them
        await self._committer.flush()
        self.hooks.close()

    @property
    def closing(self) -> bool:
        return self._closing

