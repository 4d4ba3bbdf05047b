"""Runs Lua hook work on a thread of its own, watched by a wall-clock limit.

The sandbox (``hooks.py``) bounds a script by instructions, calls, CPU time and memory. This
is the second, independent line of defence: if a hook call still runs past ``limit_s`` of
wall time (a C function the sandbox failed to bound, a bug in the sandbox itself), the event
loop is not stuck with it. Everything Lua does (compiling a queue's hooks, on_enqueue,
on_failure, TestHook) is a *job* run on the hook thread; lupa releases the GIL while Lua
runs, so the loop keeps serving other queues, admin RPCs and health meanwhile.

When a job overruns, :class:`HookRunner` fails it with :class:`HookStuck`, abandons the
thread (Python cannot kill a thread; it is left to finish or spin on its own) and starts a
fresh one for the jobs behind it. The Lua runtime the stuck job was using must never be
called again: lupa holds a per-runtime lock for the whole call, so a second call would block
the new thread too. The engine drops that queue's hooks until they are replaced.

Cost, measured by ``benchmarks/hook_overhead.py``: one hand-off per job to a waiting
thread, results handed back with one ``call_soon_threadsafe`` per burst of finished jobs.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["HookRunner", "HookStuck"]

log = logging.getLogger("fila.hooks")
T = TypeVar("T")


class HookStuck(Exception):
    """A hook job ran past the runner's wall-clock limit; its Lua runtime is abandoned."""


class _Job:
    __slots__ = ("args", "fn", "future", "name")

    def __init__(self, future: asyncio.Future[Any], name: str, fn: Callable[..., Any],
                 args: tuple[Any, ...]) -> None:
        self.future = future
        self.name = name
        self.fn = fn
        self.args = args


class _Worker:
    """One hook thread and what it is doing now (read by the watchdog on the loop)."""

    __slots__ = ("abandoned", "current", "started", "thread")

    def __init__(self) -> None:
        self.current: _Job | None = None
        self.started = 0.0
        self.abandoned = False
        self.thread: threading.Thread | None = None


class HookRunner:
    """A single hook thread with a watchdog; jobs run one at a time, in submission order."""

    def __init__(self, limit_s: float) -> None:
        self.limit_s = limit_s
        self.stuck_total = 0  # jobs that overran (each left a thread behind)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._done: deque[tuple[_Job, bool, Any]] = deque()
        self._drain_scheduled = False
        self._outstanding = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._worker: _Worker | None = None
        self._closed = False

    async def run(self, name: str, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the hook thread; its exception is re-raised here.

        ``name`` says what the job is (for HookStuck's text and the log).

        Raises:
            HookStuck: the job ran past ``limit_s``.
        """
        if self._closed:
            raise RuntimeError("hook runner is closed")
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if self._worker is None:
            self._start_worker()
        future: asyncio.Future[T] = loop.create_future()
        self._outstanding += 1
        self._jobs.put(_Job(future, name, fn, args))
        if self._watchdog is None:
            self._watchdog = loop.call_later(self.limit_s / 2, self._check)
        try:
            return await future
        finally:
            self._outstanding -= 1

    # ---- hook thread -------------------------------------------------------

    def _start_worker(self) -> None:
        worker = _Worker()
        worker.thread = threading.Thread(target=self._work, args=(worker,), name="fila-hooks",
                                         daemon=True)
        self._worker = worker
        worker.thread.start()

    def _work(self, worker: _Worker) -> None:
        jobs, done = self._jobs, self._done
        while True:
            job = jobs.get()
            if job is None or worker.abandoned:
                if job is not None:
                    jobs.put(job)  # raced with a replacement: hand it on
                return
            worker.started = time.monotonic()
            worker.current = job
            try:
                outcome: tuple[_Job, bool, Any] = (job, True, job.fn(*job.args))
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome = (job, False, exc)
            worker.current = None
            if worker.abandoned:
                log.warning("abandoned hook job %s finished after all", job.name)
                return
            done.append(outcome)
            if not self._drain_scheduled:
                self._drain_scheduled = True
                assert self._loop is not None
                try:
                    self._loop.call_soon_threadsafe(self._drain)
                except RuntimeError:  # loop closed during shutdown
                    return

    # ---- event loop --------------------------------------------------------

    def _drain(self) -> None:
        self._drain_scheduled = False
        done = self._done
        while done:
            job, ok, value = done.popleft()
            if job.future.done():  # cancelled, or failed by the watchdog
                continue
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _check(self) -> None:
        self._watchdog = None
        worker = self._worker
        if worker is not None:
            job = worker.current
            if job is not None and time.monotonic() - worker.started > self.limit_s:
                self._abandon(worker, job)
        if self._outstanding and self._loop is not None and not self._closed:
            self._watchdog = self._loop.call_later(self.limit_s / 2, self._check)

    def _abandon(self, worker: _Worker, job: _Job) -> None:
        worker.abandoned = True
        self.stuck_total += 1
        limit_ms = round(self.limit_s * 1000)
        log.error("hook job %s ran past the %d ms watchdog: its Lua runtime is abandoned and "
                  "a new hook thread takes over (%d abandoned so far)", job.name, limit_ms,
                  self.stuck_total)
        if not job.future.done():
            job.future.set_exception(HookStuck(
                f"{job.name} ran past the hook watchdog ({limit_ms} ms)"))
        self._start_worker()

    def close(self) -> None:
        """Stop the hook thread once the jobs already queued are done."""
        self._closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._worker is not None:
            self._jobs.put(None)
            self._worker = None
