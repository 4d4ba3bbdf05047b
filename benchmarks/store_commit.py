"""Storage write throughput: fsync per put vs group commit vs no fsync.

    python benchmarks/store_commit.py [--seconds 5] [--dir PATH] [--value-size 256]
                                      [--producers 8]

Each mode writes single-put batches to a fresh RocksStore for ``--seconds``
and prints puts/s plus WAL fsyncs per put (from ``rocksdb.wal.synced``).
The two "group commit" rows use 8 asyncio producers (``--producers``), each
awaiting its own submit, as the broker's handlers do; the ratio between them
is the gate for group commit (durable >= 50 % of unsynced, as in
benchmarks/fsync_cost.py). With N producers of one put each, a group holds at most N
puts, so fsyncs/put cannot go below 1/N.
Put the data dir on the disk you care about: fsync cost is the whole story.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _harness import header

from fila.server.commit import GroupCommitter
from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch

PRODUCERS = 8  # default; --producers overrides


def _batch(i: int, value: bytes) -> WriteBatch:
    batch = WriteBatch()
    batch.put(b"p/bench\x00%012d" % i, value)
    return batch


def run_direct(store: RocksStore, seconds: float, value: bytes, sync: bool) -> int:
    n = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        store.write(_batch(n, value), sync=sync)
        n += 1
    return n


def run_grouped(
    store: RocksStore, seconds: float, value: bytes, sync: bool, producers: int = PRODUCERS
) -> int:
    async def main() -> int:
        committer = GroupCommitter(store, sync=sync)
        deadline = time.perf_counter() + seconds
        counts = [0] * producers

        async def producer(p: int) -> None:
            i = p
            while time.perf_counter() < deadline:
                await committer.submit(_batch(i, value))
                counts[p] += 1
                i += producers

        await asyncio.gather(*(producer(p) for p in range(producers)))
        await committer.close()
        return sum(counts)

    return asyncio.run(main())


def measure(
    name: str,
    run: Callable[[RocksStore, float, bytes, bool], int],
    sync: bool,
    args: argparse.Namespace,
) -> tuple[str, float, float | None]:
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="fila-bench-") as tmp:
        store = RocksStore(Path(tmp) / "db")
        try:
            value = os.urandom(args.value_size)
            synced_before = store.wal_synced() or 0
            start = time.perf_counter()
            puts = run(store, args.seconds, value, sync)
            elapsed = time.perf_counter() - start
            synced = (store.wal_synced() or 0) - synced_before
        finally:
            store.close()
    return name, puts / elapsed, (synced / puts if puts else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per mode (4 modes)")
    parser.add_argument("--dir", default=None, help="where to create the databases")
    parser.add_argument("--value-size", type=int, default=256)
    parser.add_argument("--producers", type=int, default=PRODUCERS)
    args = parser.parse_args()
    producers = args.producers
    print(header())

    def grouped_run(store: RocksStore, seconds: float, value: bytes, sync: bool) -> int:
        return run_grouped(store, seconds, value, sync, producers)

    rows = [
        measure("fsync per put (sequential)", run_direct, True, args),
        measure(f"group commit, sync=True, {producers} producers", grouped_run, True, args),
        measure(f"group commit, sync=False, {producers} producers", grouped_run, False, args),
        measure("sync=False (sequential)", run_direct, False, args),
    ]
    print(f"{'mode':<42} {'puts/s':>10} {'fsyncs/put':>11}")
    for name, rate, per_put in rows:
        shown = f"{per_put:.3f}" if per_put is not None else "-"
        print(f"{name:<42} {rate:>10,.0f} {shown:>11}")
    ratio = rows[1][1] / rows[2][1]
    print(f"\ngroup commit sync=True / sync=False ({producers} producers): {ratio:.0%}")


if __name__ == "__main__":
    main()
