"""Coalescing concurrent ``enqueue()`` calls of one client into EnqueueBatch RPCs.

The rule, the same on both sides: a caller that finds nothing in flight sends its
message at once as a unary Enqueue (a lone caller pays no added latency and the wire
looks like the published SDK's). Callers that arrive while an RPC is in flight wait;
when it returns, everything waiting (up to ``max_batch`` items and ``MAX_BATCH_BYTES``)
goes in the next RPC: a batch of one goes as a unary Enqueue. ``linger`` > 0 makes
every caller wait up to that long for company first (fewer, larger batches for more
latency). Each caller gets its own id or its own error; an error of the whole RPC
(the broker went away) is every caller's in it.

A broker that answers UNIMPLEMENTED to EnqueueBatch (older than the batch RPCs) is
remembered: that batch and every later call go unary.

The blocking client's threads cannot share an event loop, so each side has its own
implementation: ``_async_coalescer`` (a drain task on the loop) and ``_sync_coalescer``
(leader/follower: one waiting thread at a time sends for all). The generated blocking
client swaps the names (scripts/gen_sync_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fila import errors

__all__ = [
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ITEMS",
    "AsyncCoalescer",
    "BlockingCoalescer",
    "_async_coalescer",
    "_sync_coalescer",
]

# The broker refuses more items per EnqueueBatch (docs/configuration.md).
MAX_BATCH_ITEMS = 1000
# Far under the broker's 16 MiB request limit, so a batch of big messages is never
# refused as a whole; a single bigger message still goes (alone).
MAX_BATCH_BYTES = 4 * 1024 * 1024

Result = str | errors.FilaError


def _size(req: Any) -> int:
    # Payload and headers dominate; protobuf framing is a few bytes per field.
    return len(req.payload) + sum(len(k) + len(v) + 8 for k, v in req.headers.items()) + 64


def _take(waiting: deque[Any], max_items: int, req_of: Callable[[Any], Any]) -> list[Any]:
    """Pop the next batch off ``waiting``: at most ``max_items`` and MAX_BATCH_BYTES."""
    batch: list[Any] = []
    size = 0
    while waiting and len(batch) < max_items:
        item_size = _size(req_of(waiting[0]))
        if batch and size + item_size > MAX_BATCH_BYTES:
            break
        batch.append(waiting.popleft())
        size += item_size
    return batch


def _unimplemented(e: errors.FilaError) -> bool:
    return e.code_name == "UNIMPLEMENTED"


def _checked(results: Sequence[Result], n: int) -> Sequence[Result]:
    """``results``, or one error for all when the broker did not answer item for item."""
    if len(results) == n:
        return results
    wrong = errors.from_status("INTERNAL", f"EnqueueBatch answered {len(results)} results "
                               f"for {n} messages")
    return [wrong] * n


class AsyncCoalescer:
    """The asyncio side: waiting callers hold futures; one drain task sends their batches."""

    def __init__(
        self,
        send_one: Callable[[Any], Awaitable[str]],
        send_many: Callable[[Sequence[Any]], Awaitable[list[Result]]],
        *,
        max_batch: int = MAX_BATCH_ITEMS,
        linger: float = 0.0,
    ) -> None:
        self._send_one = send_one
        self._send_many = send_many
        self._max = max(1, min(max_batch, MAX_BATCH_ITEMS))
        self._linger = linger
        self._waiting: deque[tuple[Any, asyncio.Future[str]]] = deque()
        self._busy = False  # an RPC of this coalescer is in flight (or about to be)
        self._batch_ok = True  # False once the broker said UNIMPLEMENTED
        self._drainer: asyncio.Task[None] | None = None
        self._full = asyncio.Event()

    async def submit(self, req: Any) -> str:
        if not self._batch_ok:
            return await self._send_one(req)
        if not self._busy and not self._waiting and self._linger <= 0:
            self._busy = True
            try:
                return await self._send_one(req)
            finally:
                self._busy = False
                self._start_drain()
        fut: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiting.append((req, fut))
        if len(self._waiting) >= self._max:
            self._full.set()
        self._start_drain()
        # A cancelled caller leaves a cancelled future behind; the drain skips it.
        return await fut

    def _start_drain(self) -> None:
        if self._busy or not self._waiting or self._drainer is not None:
            return
        self._busy = True
        self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._waiting:
                if self._linger > 0 and len(self._waiting) < self._max:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._full.wait(), self._linger)
                self._full.clear()
                batch = [(r, f) for r, f in _take(self._waiting, self._max, lambda w: w[0])
                         if not f.done()]
                if batch:
                    await self._send(batch)
                    # One loop turn (no timer) for the callers just answered: a producer
                    # that enqueues again at once joins the next batch instead of finding
                    # nothing in flight and going alone (1 + N-1 RPCs instead of 1).
                    await asyncio.sleep(0)
        finally:
            self._busy = False
            self._drainer = None

    async def _send(self, batch: list[tuple[Any, asyncio.Future[str]]]) -> None:
        results: Sequence[Result | BaseException]
        try:
            if len(batch) == 1:
                results = [await self._send_one(batch[0][0])]
            else:
                results = _checked(await self._send_many([r for r, _ in batch]), len(batch))
        except errors.FilaError as e:
            if len(batch) > 1 and _unimplemented(e):
                self._batch_ok = False
                results = await asyncio.gather(
                    *(self._send_one(r) for r, _ in batch), return_exceptions=True
                )
            else:
                results = [e] * len(batch)
        except Exception as e:  # not a broker answer, but still each caller's to see
            results = [e] * len(batch)
        for (_, fut), result in zip(batch, results, strict=True):
            if fut.done():  # cancelled while in flight: the message may be stored anyway
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)


class _Slot:
    """One waiting blocking caller: its request, and its answer once sent."""

    __slots__ = ("done", "req", "result")

    def __init__(self, req: Any) -> None:
        self.req = req
        self.done = False
        self.result: Result | BaseException = ""


class BlockingCoalescer:
    """The blocking side: no background thread; a waiting caller sends for everyone waiting.

    Whoever finds no RPC in flight becomes the sender (leader) for the waiting slots,
    then wakes the others: those answered return, one of the rest leads the next batch.
    """

    def __init__(
        self,
        send_one: Callable[[Any], str],
        send_many: Callable[[Sequence[Any]], list[Result]],
        *,
        max_batch: int = MAX_BATCH_ITEMS,
        linger: float = 0.0,
    ) -> None:
        self._send_one = send_one
        self._send_many = send_many
        self._max = max(1, min(max_batch, MAX_BATCH_ITEMS))
        self._linger = linger
        self._cond = threading.Condition()
        self._waiting: deque[_Slot] = deque()
        self._busy = False
        self._batch_ok = True

    def submit(self, req: Any) -> str:
        if not self._batch_ok:
            return self._send_one(req)
        with self._cond:
            lone = not self._busy and not self._waiting and self._linger <= 0
            if lone:
                self._busy = True
            else:
                slot = _Slot(req)
                self._waiting.append(slot)
                if len(self._waiting) >= self._max:
                    self._cond.notify_all()
        if lone:
            try:
                return self._send_one(req)
            finally:
                self._release()
        try:
            self._wait_or_lead(slot)
        except BaseException:
            with self._cond:  # interrupted before it was sent: it must not go later
                if slot in self._waiting:
                    self._waiting.remove(slot)
            raise
        if isinstance(slot.result, BaseException):
            raise slot.result
        return slot.result

    def _release(self) -> None:
        with self._cond:
            self._busy = False
            self._cond.notify_all()

    def _wait_or_lead(self, slot: _Slot) -> None:
        while True:
            with self._cond:
                while not slot.done and self._busy:
                    self._cond.wait()
                if slot.done:
                    return
                self._busy = True
                if self._linger > 0:
                    deadline = time.monotonic() + self._linger
                    while len(self._waiting) < self._max:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._cond.wait(left)
                batch = _take(self._waiting, self._max, lambda s: s.req)
            try:
                self._send(batch)
            finally:
                self._release()

    def _send(self, batch: list[_Slot]) -> None:
        results: list[Result | BaseException]
        try:
            try:
                if len(batch) == 1:
                    results = [self._send_one(batch[0].req)]
                else:
                    results = list(_checked(self._send_many([s.req for s in batch]), len(batch)))
            except errors.FilaError as e:
                if len(batch) > 1 and _unimplemented(e):
                    self._batch_ok = False
                    results = [self._one_or_error(s.req) for s in batch]
                else:
                    results = [e] * len(batch)
            except Exception as e:
                results = [e] * len(batch)
        except BaseException:
            # The sender was interrupted (Ctrl-C) mid-RPC: whether the batch was stored
            # is unknown, as for an interrupted unary call; its other callers are told so.
            lost = errors.from_status("CANCELLED", "the enqueue RPC carrying this message "
                                      "was interrupted; it may or may not be stored")
            results = [lost] * len(batch)
            raise
        finally:
            with self._cond:
                for s, r in zip(batch, results, strict=False):
                    s.result, s.done = r, True

    def _one_or_error(self, req: Any) -> Result:
        try:
            return self._send_one(req)
        except errors.FilaError as e:
            return e


def _async_coalescer(
    send_one: Callable[[Any], Awaitable[str]],
    send_many: Callable[[Sequence[Any]], Awaitable[list[Result]]],
    max_batch: int,
    linger: float,
) -> AsyncCoalescer:
    return AsyncCoalescer(send_one, send_many, max_batch=max_batch, linger=linger)


def _sync_coalescer(
    send_one: Callable[[Any], str],
    send_many: Callable[[Sequence[Any]], list[Result]],
    max_batch: int,
    linger: float,
) -> BlockingCoalescer:
    return BlockingCoalescer(send_one, send_many, max_batch=max_batch, linger=linger)
