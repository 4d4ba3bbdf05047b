"""Cluster mode's replicated log: what one fenced append to a three-replica JetStream stream costs.

Run: python benchmarks/cluster_log.py [--sequential N] [--seconds S] [--in-flight K ...]
Needs the cluster extra (pip install -e '.[cluster]').

Starts 3 local nats-server nodes (fila.cluster.harness: loopback, `sync_interval: always`),
creates one queue's three-replica stream and appends commit groups through
fila.cluster.log.QueueLog:
- sequential: one append at a time (one small message's commit group, ~200 bytes): p50/p99;
- K appenders in flight: appends/s and entries/s (concurrent appends share one entry, the
  group commit the log does, so appends/s can exceed entries/s).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from _harness import header

from fila.cluster.harness import NatsCluster


def commit_group(i: int) -> list[tuple[bytes, bytes | None]]:
    # About what one enqueue of a 100-byte payload writes: a metadata record and a payload.
    return [
        (f"m/bench\x00{i:020}".encode(), b"r" * 90),
        (f"p/bench\x00{i:020}".encode(), b"x" * 100),
    ]


async def run(args: argparse.Namespace) -> None:
    import nats

    from fila.cluster.log import QueueLog, ensure_stream

    with NatsCluster(3) as cluster:
        nc = await nats.connect(servers=cluster.urls)
        js = nc.jetstream(timeout=10)
        await ensure_stream(js, "bench")
        log = QueueLog(js, "bench")
        await log.open()
        for i in range(50):  # warm up
            await log.append(commit_group(i))
        lat = []
        for i in range(args.sequential):
            started = time.perf_counter()
            await log.append(commit_group(i))
            lat.append(time.perf_counter() - started)
        q = statistics.quantiles(lat, n=100)
        print(
            f"sequential appends: {args.sequential}, p50 {q[49] * 1e3:.2f} ms, "
            f"p99 {q[98] * 1e3:.2f} ms, mean {statistics.fmean(lat) * 1e3:.2f} ms"
        )
        for k in args.in_flight:
            appends_before, entries_before = log.appends, log.entries_appended
            stop = time.perf_counter() + args.seconds

            async def appender(base: int, stop: float) -> None:
                i = 0
                while time.perf_counter() < stop:
                    await log.append(commit_group(base + i))
                    i += 1

            started = time.perf_counter()
            await asyncio.gather(*(appender(j * 10_000_000, stop) for j in range(k)))
            elapsed = time.perf_counter() - started
            appends = log.appends - appends_before
            entries = log.entries_appended - entries_before
            print(
                f"{k:3d} in flight: {appends / elapsed:8.0f} appends/s, "
                f"{entries / elapsed:6.0f} entries/s ({appends / max(1, entries):.1f} per entry)"
            )
        await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--in-flight", type=int, nargs="*", default=[1, 8, 64])
    args = parser.parse_args()
    print(header())
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
