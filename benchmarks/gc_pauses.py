"""Time the cyclic garbage collector takes while a queue fills to a million messages.

    python benchmarks/gc_pauses.py [--messages 1000000] [--thresholds default|server]

In-process (the broker core and engine over a real RocksStore, fsync off: this measures the
collector, not the disk), EnqueueBatch-sized calls of 1 000. Prints the fill time, the share
spent in collections and the full (generation 2) collections with their longest pause.
``default`` is CPython's (700, 10, 10); ``server`` is what fila-server sets
(fila/server/main.py, GC_THRESHOLDS).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import time
from typing import Any

from _harness import header

from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.engine import Engine, SystemClock
from fila.server.hookrunner import HookRunner
from fila.server.main import GC_THRESHOLDS
from fila.server.overlay import OverlayStore
from fila.server.rocks import RocksStore


class GcClock:
    def __init__(self) -> None:
        self.total = 0.0
        self.full: list[float] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        took = time.perf_counter() - self._start
        self.total += took
        if info["generation"] == 2:
            self.full.append(took)


async def fill(path: str, messages: int) -> float:
    store = RocksStore(path)
    overlay = OverlayStore(store)
    broker = Broker(overlay, SystemClock(), BrokerSettings())
    broker.recover()
    engine = Engine(broker, GroupCommitter(store, sync=False), overlay, HookRunner(1.0))
    await engine.load_hooks()
    engine.start()
    await engine.create_queue("q", "", "", 0)
    items = [("q", {"tenant": "acme"}, b"x" * 100, 0) for _ in range(1000)]
    t0 = time.perf_counter()
    for _ in range(messages // 1000):
        await engine.enqueue_batch(items)
    took = time.perf_counter() - t0
    await engine.close()
    store.close()
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--thresholds", choices=["default", "server"], default="server")
    args = ap.parse_args()
    print(header())
    thresholds = GC_THRESHOLDS if args.thresholds == "server" else (700, 10, 10)
    gc.set_threshold(*thresholds)
    clock = GcClock()
    gc.callbacks.append(clock)
    with tempfile.TemporaryDirectory(prefix="fila-gc-") as tmp:
        took = asyncio.run(fill(tmp, args.messages))
    worst = max(clock.full, default=0.0)
    print(f"thresholds {thresholds}: {args.messages:,} messages in {took:.1f} s; "
          f"{clock.total:.2f} s in the collector ({clock.total / took:.0%}); "
          f"{len(clock.full)} full collections, longest {worst * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
