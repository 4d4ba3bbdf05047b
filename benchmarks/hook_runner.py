"""What running hooks on the watched hook thread costs, against calling them inline.

A typical ``on_enqueue`` (fairness key from a header, a throttle key) is called N times:
inline on the event-loop thread (what the broker did before), through the HookRunner one
call at a time (a single producer), and with 8 and 64 calls in flight (concurrent producers
share the hand-off). Reports microseconds per call of wall time and of event-loop CPU.

    python benchmarks/hook_runner.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _harness import header

from fila.server.hookrunner import HookRunner
from fila.server.hooks import HookSettings, QueueHooks

HOOK = """function on_enqueue(msg)
  local keys = {}
  if msg.headers.provider then keys = { "provider:" .. msg.headers.provider } end
  return { fairness_key = msg.headers.tenant or "default", throttle_keys = keys }
end"""
HEADERS = {"tenant": "acme", "provider": "slowpay", "trace": "abc123"}


async def drive(hooks: QueueHooks, calls: int, in_flight: int, runner: HookRunner | None
                ) -> tuple[float, float]:
    """Both modes under the same asyncio harness (coroutines, a semaphore), so the
    difference is what the hand-off itself costs the event loop."""
    sem = asyncio.Semaphore(in_flight)
    call = hooks.on_enqueue

    async def inline() -> None:
        async with sem:
            call(HEADERS, 100, "q")

    async def handed_off() -> None:
        async with sem:
            assert runner is not None
            await runner.run("on_enqueue", call, HEADERS, 100, "q")

    one = inline if runner is None else handed_off
    await asyncio.gather(*(one() for _ in range(200)))  # warm-up
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    return wall / calls * 1e6, cpu / calls * 1e6


async def both(hooks: QueueHooks, calls: int, in_flight: int) -> list[tuple[float, float]]:
    runner = HookRunner(1.0)
    try:
        return [await drive(hooks, calls, in_flight, None),
                await drive(hooks, calls, in_flight, runner)]
    finally:
        runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # as fila-server sets it
    hooks = QueueHooks(HOOK, "", HookSettings(), lambda key: None)
    for _ in range(1000):
        hooks.on_enqueue(HEADERS, 100, "q")
    print(header())
    print(f"{'in flight':<10}{'mode':<14}{'wall us/call':>14}{'loop CPU us/call':>18}")
    for in_flight in (1, 8, 64):
        results = asyncio.run(both(hooks, args.calls, in_flight))
        for mode, (wall, cpu) in zip(("inline", "hook thread"), results, strict=True):
            print(f"{in_flight:<10}{mode:<14}{wall:>14.1f}{cpu:>18.1f}")


if __name__ == "__main__":
    main()
