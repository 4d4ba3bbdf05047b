"""Group commit: one writer thread, one synced write per group of batches.

Handlers on the event loop call :meth:`GroupCommitter.submit` and await the
returned future. The writer thread takes everything queued since its last
write, merges it into one WriteBatch (in submission order, so a later batch's
operation on a key wins), writes it once with ``sync=True`` and only then
resolves the group's futures on their loop. Concurrent writers therefore
share one fsync, and no future resolves before the write holding its batch
has returned (docs/concepts.md, "Durability").
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
from collections import deque
from collections.abc import Callable

from fila.errors import FilaError, OverloadedError, StorageError, UnavailableError
from fila.server.store import Store, WriteBatch

__all__ = ["GroupCommitter"]

_Item = tuple[WriteBatch, "asyncio.Future[None]"]


class GroupCommitter:
    """Owns all writes to ``store``; see the module docstring.

    ``max_pending`` bounds the batches submitted but not yet settled
    (queued plus the group being written); beyond it ``submit`` raises
    OverloadedError at once instead of queueing without limit.
    ``sync=False`` is the opt-in "process-crash only" mode: same batching,
    no fsync.
    """

    def __init__(self, store: Store, *, max_pending: int = 10_000, sync: bool = True,
                 observe: Callable[[float], None] | None = None) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._store = store
        self._max_pending = max_pending
        self._sync = sync
        # Metrics: called on the writer thread with each group's write + fsync seconds.
        self._observe = observe
        self._queue: deque[_Item] = deque()
        self._in_flight = 0  # batches in the group being written now
        self._cond = threading.Condition()
        self._closing = False
        self._kick_scheduled = False
        # Counters for metrics and tests; written by the writer thread only.
        self.groups_written = 0
        self.batches_written = 0
        self.groups_failed = 0
        self._thread = threading.Thread(target=self._run, name="fila-group-commit", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Batches submitted and not yet settled."""
        with self._cond:
            return len(self._queue) + self._in_flight

    def check_room(self, batches: int) -> None:
        """Raise now if ``batches`` more could not be accepted (called before the core
        changes anything, so a full queue never leaves memory ahead of the store)."""
        with self._cond:
            if self._closing:
                raise UnavailableError("storage writer is shutting down")
            if len(self._queue) + self._in_flight + batches > self._max_pending:
                raise OverloadedError(
                    f"too many pending writes ({self._max_pending}); try again later"
                )

    def submit(self, batch: WriteBatch, *, force: bool = False) -> asyncio.Future[None]:
        """Queue ``batch``; the future resolves once it is durably written.

        Call on the event loop thread. The future fails with the write's
        StorageError / OverloadedError if the group's write fails. Raises
        OverloadedError when too many batches are pending (unless ``force``: work
        the broker owes, such as releasing leases, is never refused) and
        UnavailableError after :meth:`close`.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if self._closing:
                raise UnavailableError("storage writer is shutting down")
            if not force and len(self._queue) + self._in_flight >= self._max_pending:
                raise OverloadedError(
                    f"too many pending writes ({self._max_pending}); try again later"
                )
            self._queue.append((batch, future))
        if not self._kick_scheduled:
            # Wake the writer once per loop iteration, not per batch: every request the
            # loop handles in this iteration lands in the same group and shares its fsync.
            self._kick_scheduled = True
            loop.call_soon(self._kick)
        return future

    def _kick(self) -> None:
        self._kick_scheduled = False
        with self._cond:
            self._cond.notify()

    async def flush(self) -> None:
        """Wait until everything submitted before this call is written (or failed)."""
        # Groups are written in submission order, so an empty batch queued
        # now settles only after every earlier one.
        # A failed group still means the earlier batches are settled.
        with contextlib.suppress(FilaError):
            await self.submit(WriteBatch())

    async def close(self) -> None:
        """Stop accepting, write what is queued, and join the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        await asyncio.to_thread(self._thread.join)

    # -- writer thread ---------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if not self._queue:
                        return  # closing and drained
                    group = list(self._queue)
                    self._queue.clear()
                    self._in_flight = len(group)
                try:
                    self._write_group(group)
                finally:
                    with self._cond:
                        self._in_flight = 0
        finally:
            self._fail_leftovers()

    def _write_group(self, group: list[_Item]) -> None:
        merged = WriteBatch()
        for batch, _ in group:
            merged.extend(batch)
        error: FilaError | None = None
        started = time.perf_counter()
        try:
            self._store.write(merged, sync=self._sync)
        except FilaError as exc:
            error = exc
        except Exception as exc:  # a Store broke its contract; still fail, never hang
            error = StorageError(f"storage write failed: {exc}")
            error.__cause__ = exc
        if self._observe is not None:
            self._observe(time.perf_counter() - started)
        if error is None:
            self.groups_written += 1
            self.batches_written += len(group)
        else:
            self.groups_failed += 1
        with self._cond:
            # Before the futures resolve: a waiter that submits again at once must not
            # find its own settled group still counted as pending.
            self._in_flight = 0
        _settle(group, error)

    def _fail_leftovers(self) -> None:
        # Only reached with a non-empty queue if the writer died on a bug:
        # fail the waiters instead of leaving them hanging forever.
        with self._cond:
            self._closing = True
            leftovers = list(self._queue)
            self._queue.clear()
        if leftovers:
            _settle(leftovers, StorageError("storage writer stopped"))


def _settle(group: list[_Item], error: FilaError | None) -> None:
    """Resolve the group's futures on their loops: one callback per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for _, future in group:
        by_loop.setdefault(future.get_loop(), []).append(future)
    for loop, futures in by_loop.items():
        # A closed loop raises RuntimeError: nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve, futures, error)


def _resolve(futures: list[asyncio.Future[None]], error: FilaError | None) -> None:
    for future in futures:
        if future.done():
            continue  # the caller cancelled; the write happened regardless
        if error is None:
            future.set_result(None)
        else:
            # One instance per waiter: re-raising a shared exception in many
            # tasks would keep growing its traceback.
            own = copy.copy(error)
            own.__cause__ = error.__cause__
            future.set_exception(own)
