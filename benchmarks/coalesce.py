"""Client-side enqueue coalescing: 8 producers on one client, coalescing on vs off.

Run:  python benchmarks/coalesce.py [--seconds 5] [--repeats 3] [--producers 8]

One ``fila-server`` (durable, fsync on); each repetition runs four cells back to back:
asyncio (tasks sharing one AsyncClient) and threads (threads sharing one Client), each with
``enqueue_coalesce`` on and off, so background drift on a shared machine hits all alike.
Each cell prints msgs/s and how many RPCs the server committed per message (its
``commit_batches`` counter: one per Enqueue or EnqueueBatch RPC). The figure of merit is
the on/off ratio within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _harness import FilaServer, header, loadavg

from fila.client import AsyncClient, Client

PAYLOAD = b"x" * 100
HEADERS = {"tenant": "bench"}


def run_asyncio(addr: str, queue: str, producers: int, seconds: float, coalesce: bool) -> int:
    async def main() -> int:
        async with AsyncClient(addr, enqueue_coalesce=coalesce) as c:
            await c.enqueue(queue, HEADERS, PAYLOAD)  # connect outside the window
            end = time.monotonic() + seconds
            done = 0

            async def work() -> None:
                nonlocal done
                while time.monotonic() < end:
                    await c.enqueue(queue, HEADERS, PAYLOAD)
                    done += 1

            await asyncio.gather(*(work() for _ in range(producers)))
            return done

    return asyncio.run(main())


def run_threads(addr: str, queue: str, producers: int, seconds: float, coalesce: bool) -> int:
    counts = [0] * producers
    with Client(addr, enqueue_coalesce=coalesce) as c:
        c.enqueue(queue, HEADERS, PAYLOAD)
        end = time.monotonic() + seconds

        def work(i: int) -> None:
            while time.monotonic() < end:
                c.enqueue(queue, HEADERS, PAYLOAD)
                counts[i] += 1

        threads = [threading.Thread(target=work, args=(i,)) for i in range(producers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return sum(counts)


DRIVERS = {"asyncio": run_asyncio, "threads": run_threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--producers", type=int, default=8)
    args = ap.parse_args()
    print(header())
    rates: dict[tuple[str, bool], list[float]] = {}
    rpcs: dict[tuple[str, bool], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="fila-coalesce-") as tmp:
        server = FilaServer(Path(tmp) / "srv")
        server.start()
        try:
            with Client(server.addr) as admin:
                admin.create_queue("bench")
                for r in range(args.repeats):
                    for driver, run in DRIVERS.items():
                        for coalesce in (True, False):
                            before = admin.server_info().commit_batches
                            done = run(server.addr, "bench", args.producers, args.seconds,
                                       coalesce)
                            batches = admin.server_info().commit_batches - before - 1
                            rate = done / args.seconds
                            rates.setdefault((driver, coalesce), []).append(rate)
                            rpcs.setdefault((driver, coalesce), []).append(batches / done)
                            print(f"  rep {r + 1}/{args.repeats} {driver:>7} coalesce="
                                  f"{'on ' if coalesce else 'off'}: {rate:,.0f} msgs/s, "
                                  f"{batches / done:.3f} RPCs/msg, load "
                                  f"{loadavg().split()[0]}", flush=True)
                    # Keep the queue small: the scenario is enqueue, not a growing backlog.
                    admin.delete_queue("bench")
                    admin.create_queue("bench")
        finally:
            server.kill()
    print(f"\n{args.producers} producers on one client, durable enqueue, median of "
          f"{args.repeats} x {args.seconds:g} s:")
    print(f"{'driver':>8} {'coalesce on':>12} {'off':>10} {'on/off':>7} {'RPCs/msg on':>12}")
    for driver in DRIVERS:
        on = statistics.median(rates[(driver, True)])
        off = statistics.median(rates[(driver, False)])
        per = statistics.median(rpcs[(driver, True)])
        print(f"{driver:>8} {on:>12,.0f} {off:>10,.0f} {on / off:>7.2f} {per:>12.3f}")


if __name__ == "__main__":
    main()
