"""The hook thread and its watchdog: a job that never returns cannot hold the loop."""

from __future__ import annotations

import asyncio
import threading

import pytest

from fila.server.hookrunner import HookRunner, HookStuck


async def test_jobs_run_in_order_off_the_loop_thread() -> None:
    runner = HookRunner(5.0)
    loop_thread = threading.get_ident()
    seen: list[tuple[int, int]] = []

    def job(i: int) -> int:
        seen.append((i, threading.get_ident()))
        return i * 2

    results = await asyncio.gather(*(runner.run("job", job, i) for i in range(50)))
    assert results == [i * 2 for i in range(50)]
    assert [i for i, _ in seen] == list(range(50))
    assert all(tid != loop_thread for _, tid in seen)
    runner.close()


async def test_a_job_exception_reaches_the_caller() -> None:
    runner = HookRunner(5.0)

    def boom() -> None:
        raise ValueError("bad script")

    with pytest.raises(ValueError, match="bad script"):
        await runner.run("job", boom)
    assert await runner.run("next", lambda: "still works") == "still works"
    runner.close()


async def test_a_stuck_job_is_abandoned_and_the_loop_keeps_going() -> None:
    runner = HookRunner(0.1)
    release = threading.Event()
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while not release.is_set():
            ticks += 1
            await asyncio.sleep(0.01)  # the loop's own work, proving it is not blocked

    beat = asyncio.ensure_future(heartbeat())
    try:
        with pytest.raises(HookStuck, match=r"on_enqueue of queue 'q' ran past the hook "
                                            r"watchdog \(100 ms\)"):
            # Blocks its thread until the end of the test: only the watchdog can end the call.
            await runner.run("on_enqueue of queue 'q'", release.wait, 60)
        assert ticks > 0
        assert runner.stuck_total == 1
        # The jobs behind it run on a fresh thread.
        assert await runner.run("after", lambda: threading.current_thread().name) == "fila-hooks"
    finally:
        release.set()
        await beat
        runner.close()


async def test_jobs_queued_behind_a_stuck_one_still_run() -> None:
    runner = HookRunner(0.1)
    release = threading.Event()
    stuck = asyncio.ensure_future(runner.run("stuck", release.wait, 60))
    behind = [asyncio.ensure_future(runner.run("behind", lambda i=i: i)) for i in range(5)]
    try:
        assert await asyncio.gather(*behind) == list(range(5))
        with pytest.raises(HookStuck):
            await stuck
    finally:
        release.set()
        runner.close()
