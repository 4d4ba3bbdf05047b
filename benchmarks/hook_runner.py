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
import platform
import subprocess
import sys
import time

from fila.server.hookrunner import HookRunner
from fila.server.hooks import HookSettings, QueueHooks

HOOK = """function on_enqueue(msg)
  local keys = {}
  if msg.headers.provider then keys = { "provider:" .. msg.headers.provider } end
  return { fairness_key = msg.headers.tenant or "default", throttle_keys = keys }
end"""
HEADERS = {"tenant": "acme", "provider": "slowpay", "trace": "abc123"}


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def through_runner(hooks: QueueHooks, calls: int, in_flight: int) -> tuple[float, float]:
    runner = HookRunner(1.0)
    await runner.run("warm-up", hooks.on_enqueue, HEADERS, 100, "q")
    sem = asyncio.Semaphore(in_flight)

    async def one() -> None:
        async with sem:
            await runner.run("on_enqueue", hooks.on_enqueue, HEADERS, 100, "q")

    wall0, cpu0 = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(one() for _ in range(calls)))
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    runner.close()
    return wall / calls * 1e6, cpu / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    sys.setswitchinterval(0.0005)  # as fila-server sets it
    hooks = QueueHooks(HOOK, "", HookSettings(), lambda key: None)
    for _ in range(1000):
        hooks.on_enqueue(HEADERS, 100, "q")
    t0, c0 = time.perf_counter(), time.thread_time()
    for _ in range(args.calls):
        hooks.on_enqueue(HEADERS, 100, "q")
    inline = ((time.perf_counter() - t0) / args.calls * 1e6,
              (time.thread_time() - c0) / args.calls * 1e6)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, "
          f"python {platform.python_version()}, commit {commit()}")
    print(f"{'mode':<28}{'wall us/call':>14}{'loop CPU us/call':>18}")
    print(f"{'inline (loop thread)':<28}{inline[0]:>14.1f}{inline[1]:>18.1f}")
    for in_flight in (1, 8, 64):
        wall, cpu = asyncio.run(through_runner(hooks, args.calls, in_flight))
        print(f"{f'hook thread, {in_flight} in flight':<28}{wall:>14.1f}{cpu:>18.1f}")


if __name__ == "__main__":
    main()
