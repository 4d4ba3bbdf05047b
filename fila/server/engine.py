"""The async shell around the core: commits, consumer outboxes and timers.

One event loop owns the :class:`~fila.server.broker.Broker`. Every call here
runs a core method synchronously, hands the resulting batches to the group
committer, and only then answers (or sends deliveries). Nothing in here makes
a scheduling decision.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from fila.errors import FilaError, UnavailableError
from fila.server.broker import Broker, Delivered, Effects, _WithEffects
from fila.server.commit import GroupCommitter
from fila.server.model import QueueConfig
from fila.server.overlay import OverlayStore
from fila.server.store import WriteBatch

__all__ = ["Consumer", "Engine", "SystemClock"]

log = logging.getLogger("fila.engine")


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


class Engine:
    """Drives the core from the event loop."""

    def __init__(self, broker: Broker, committer: GroupCommitter, overlay: OverlayStore) -> None:
        self.broker = broker
        self._committer = committer
        self._overlay = overlay
        self._consumers: dict[int, Consumer] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()

    # ---- plumbing ----------------------------------------------------------

    def _check_open(self) -> None:
        if self._closing:
            raise UnavailableError("broker is shutting down")

    def _submit(self, batch: WriteBatch) -> asyncio.Future[None]:
        """Hand ``batch`` to the committer; the core reads it back until it settles."""
        future = self._committer.submit(batch)
        ticket = self._overlay.stage(batch)
        future.add_done_callback(lambda _: self._overlay.settle(ticket, batch))
        return future

    async def _apply(self, effects: Effects) -> None:
        """Commit the call's own batch (awaited) and its deliveries (in the background)."""
        own: asyncio.Future[None] | None = None
        if len(effects.batch):
            own = self._submit(effects.batch)
        if effects.deliveries:
            leases = self._submit(effects.lease_batch)
            task = asyncio.ensure_future(self._send(effects, leases))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        for cid in effects.closed:
            consumer = self._consumers.pop(cid, None)
            if consumer is not None:
                consumer.outbox.put_nowait(None)
        self._rearm()
        if own is not None:
            try:
                await own
            except FilaError:
                self.broker.resync(effects.touched)
                self._rearm()
                raise

    async def _send(self, effects: Effects, leases: asyncio.Future[None]) -> None:
        try:
            await leases
        except FilaError as exc:
            log.error("lease write failed, returning %d message(s): %s",
                      len(effects.deliveries), exc)
            self.broker.resync(effects.touched)
            self._rearm()
            return
        for delivery in effects.deliveries:
            consumer = self._consumers.get(delivery.consumer)
            message = self.broker.materialize(delivery)
            if consumer is None or message is None:
                continue  # stream gone or message settled meanwhile: release handles it
            consumer.outbox.put_nowait(message)

    # ---- timers ------------------------------------------------------------

    def _rearm(self) -> None:
        """Sleep until the core's earliest deadline (lease, due message, limit wake)."""
        deadline = self.broker.next_deadline()
        if deadline is None or self._closing:
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
        try:
            effects = self.broker.tick()
        except Exception:  # pragma: no cover - a core bug must not kill the timer
            log.exception("timer tick failed")
            self._rearm()
            return
        task = asyncio.ensure_future(self._apply_logged(effects))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _apply_logged(self, effects: Effects) -> None:
        try:
            await self._apply(effects)
        except FilaError as exc:
            log.error("background commit failed: %s", exc)

    # ---- operations --------------------------------------------------------

    async def create_queue(self, name: str, on_enqueue: str, on_failure: str,
                           visibility_timeout_ms: int) -> None:
        self._check_open()
        await self._apply(self.broker.create_queue(name, on_enqueue, on_failure,
                                                   visibility_timeout_ms))

    async def delete_queue(self, name: str) -> None:
        self._check_open()
        await self._apply(self.broker.delete_queue(name))

    async def update_queue(self, name: str, on_enqueue: str | None, on_failure: str | None,
                           visibility_timeout_ms: int | None) -> QueueConfig:
        self._check_open()
        config, effects = self.broker.update_queue(name, on_enqueue, on_failure,
                                                   visibility_timeout_ms)
        await self._apply(effects)
        return config

    async def set_config(self, key: str, value: str) -> None:
        self._check_open()
        await self._apply(self.broker.set_config(key, value))

    async def enqueue(self, queue: str, headers: Mapping[str, str], payload: bytes,
                      delay_ms: int) -> str:
        self._check_open()
        prepared = self.broker.prepare_enqueue(queue, headers, payload, delay_ms)
        # Durable first: the message becomes visible only once it is in the WAL.
        await self._submit(prepared.batch)
        try:
            effects = self.broker.apply_enqueue(prepared)
        except _WithEffects as gone:
            await self._apply(gone.effects)
            raise gone.error from None
        await self._apply(effects)
        return prepared.record.id

    async def ack(self, queue: str, message_id: str, peer: str = "") -> None:
        self._check_open()
        await self._apply(self.broker.ack(queue, message_id, peer))

    async def nack(self, queue: str, message_id: str, error: str, peer: str = "") -> None:
        self._check_open()
        await self._apply(self.broker.nack(queue, message_id, error, peer))

    async def redrive(self, dlq: str, count: int, fairness_key: str, dry_run: bool) -> int:
        self._check_open()
        moved, effects = self.broker.redrive(dlq, count, fairness_key, dry_run)
        await self._apply(effects)
        return moved

    # ---- consumers ---------------------------------------------------------

    async def open_consumer(self, queue: str, prefetch: int, peer: str = "") -> Consumer:
        self._check_open()
        cid, effects = self.broker.add_consumer(queue, prefetch, peer)
        consumer = Consumer(cid, queue)
        self._consumers[cid] = consumer
        await self._apply(effects)
        return consumer

    async def close_consumer(self, consumer: Consumer) -> None:
        """The stream ended: messages still in its outbox were never sent."""
        self._consumers.pop(consumer.id, None)
        unsent: list[str] = []
        while not consumer.outbox.empty():
            item = consumer.outbox.get_nowait()
            if item is not None:
                unsent.append(item.id)
        effects = self.broker.remove_consumer(consumer.id, unsent)
        try:
            await self._apply(effects)
        except FilaError as exc:
            log.error("releasing leases of a closed stream failed: %s", exc)

    # ---- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        self._rearm()

    async def close(self) -> None:
        """Stop timers, end every stream, wait for background commits."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for consumer in list(self._consumers.values()):
            consumer.outbox.put_nowait(None)
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self._committer.flush()

    @property
    def closing(self) -> bool:
        return self._closing
