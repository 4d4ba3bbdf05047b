"""Acking in batches: collect message ids, settle them with one AckBatch RPC.

``client.acker(queue)`` returns one of these. ``ack(id)`` only records the id; the
batch goes out when it reaches ``max_batch`` ids, when the oldest id has waited
``max_delay`` seconds (so a consumer idling on an empty queue does not sit on acks
until its leases expire), on ``flush()`` and on ``close()`` / leaving the ``with``.

An id the broker refuses (its lease expired and it went to someone else, say) is
that id's failure alone: ``flush()`` returns them, and every failure, including
those of timer flushes nobody awaited, is kept in ``failed`` as ``(id, error)``.

Each side has its own timer (``loop.call_later`` vs ``threading.Timer``), hence two
classes; the blocking client's generated code names ``BlockingAcker``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType

from fila.errors import FilaError

__all__ = ["AsyncAcker", "BlockingAcker"]

# AckBatch takes at most this many ids.
_MAX_IDS = 1000

Failures = list[tuple[str, FilaError]]


def _failures(ids: Sequence[str], results: Sequence[FilaError | None]) -> Failures:
    return [(i, r) for i, r in zip(ids, results, strict=True) if r is not None]


class AsyncAcker:
    """Batches acks of one queue for an :class:`fila.client.AsyncClient`."""

    def __init__(
        self,
        ack_many: Callable[[str, Sequence[str]], Awaitable[list[FilaError | None]]],
        queue: str,
        *,
        max_batch: int = 100,
        max_delay: float = 0.05,
    ) -> None:
        self.queue = queue
        self.failed: Failures = []
        self._ack_many = ack_many
        self._max = max(1, min(max_batch, _MAX_IDS))
        self._delay = max_delay
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushes: set[asyncio.Task[Failures]] = set()

    async def ack(self, message_id: str) -> None:
        """Record ``message_id`` as done; send the batch if this fills it."""
        self._pending.append(message_id)
        if len(self._pending) >= self._max:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._delay, self._due)

    def _due(self) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self.flush())
        self._flushes.add(task)  # a task nobody holds may be collected mid-flight
        task.add_done_callback(self._flushes.discard)

    async def flush(self) -> Failures:
        """Send what is pending now; return the ids the broker refused, with why."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        failed: Failures = []
        while self._pending:
            ids, self._pending = self._pending[: self._max], self._pending[self._max :]
            try:
                failed += _failures(ids, await self._ack_many(self.queue, ids))
            except FilaError as e:  # the whole RPC failed: every id in it did
                failed += [(i, e) for i in ids]
        self.failed += failed
        return failed

    async def close(self) -> None:
        """Send what is pending and wait for timer flushes still in flight."""
        await self.flush()
        if self._flushes:
            await asyncio.gather(*self._flushes)

    async def __aenter__(self) -> AsyncAcker:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


class BlockingAcker:
    """Batches acks of one queue for a :class:`fila.client.Client` (thread-safe)."""

    def __init__(
        self,
        ack_many: Callable[[str, Sequence[str]], list[FilaError | None]],
        queue: str,
        *,
        max_batch: int = 100,
        max_delay: float = 0.05,
    ) -> None:
        self.queue = queue
        self.failed: Failures = []
        self._ack_many = ack_many
        self._max = max(1, min(max_batch, _MAX_IDS))
        self._delay = max_delay
        self._pending: list[str] = []
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()  # guards _pending, _timer, failed
        self._sending = threading.Lock()  # one flush at a time: close() waits for a timer's

    def ack(self, message_id: str) -> None:
        """Record ``message_id`` as done; send the batch if this fills it."""
        with self._lock:
            self._pending.append(message_id)
            full = len(self._pending) >= self._max
            if not full and self._timer is None:
                self._timer = threading.Timer(self._delay, self.flush)
                self._timer.daemon = True
                self._timer.start()
        if full:
            self.flush()

    def flush(self) -> Failures:
        """Send what is pending now; return the ids the broker refused, with why."""
        with self._sending:
            with self._lock:
                if self._timer is not None:
                    self._timer.cancel()
                    self._timer = None
                pending, self._pending = self._pending, []
            failed: Failures = []
            for start in range(0, len(pending), self._max):
                ids = pending[start : start + self._max]
                try:
                    failed += _failures(ids, self._ack_many(self.queue, ids))
                except FilaError as e:
                    failed += [(i, e) for i in ids]
            with self._lock:
                self.failed += failed
            return failed

    def close(self) -> None:
        """Send what is pending (after a timer flush still in flight, if any)."""
        self.flush()

    def __enter__(self) -> BlockingAcker:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
