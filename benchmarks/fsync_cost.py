"""What durability costs: durable vs `[storage] fsync = false` enqueue, and fsyncs per message.

Run: python benchmarks/fsync_cost.py [--seconds S] [--producers N]

Starts two real fila-servers (one with `[storage] fsync = false`), drives each with the
same threaded producers as benchmarks/core.py (one blocking Client per thread, one message
per RPC), and reads GetServerInfo's storage counters to report fsyncs and commit groups per
message (targets: durable >= 50 % of unsynced, <= 0.5 fsyncs per message).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _harness import FilaServer, header, loadavg
from core import rate_threads

from fila.client import Client


def measure(root: Path, name: str, fsync: bool, producers: int, seconds: float
            ) -> tuple[float, float, float]:
    server = FilaServer(root / name, None if fsync else {"storage": {"fsync": False}})
    server.start()
    try:
        with Client(server.addr) as client:
            client.create_queue("bench")
            before = client.server_info()
            rate, total = rate_threads(server.addr, "bench", producers, seconds, 0.5)
            after = client.server_info()
        syncs = (after.wal_syncs - before.wal_syncs) / max(1, total)
        batches = after.commit_batches - before.commit_batches
        groups = after.commit_groups - before.commit_groups
        return rate, syncs, batches / max(1, groups)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=8)
    args = parser.parse_args()
    print(header())
    print(f"load average before: {loadavg()}")
    with tempfile.TemporaryDirectory(prefix="fila-fsync-") as tmp:
        root = Path(tmp)
        rows = [(label, *measure(root, label, fsync, args.producers, args.seconds))
                for label, fsync in (("durable", True), ("fsync-false", False))]
    print(f"{'mode':<12} {'msgs/s':>9} {'fsyncs/msg':>11} {'batches/group':>14}")
    for label, rate, syncs, per_group in rows:
        print(f"{label:<12} {rate:>9,.0f} {syncs:>11.3f} {per_group:>14.1f}")
    print(f"durable / fsync-false: {rows[0][1] / rows[1][1]:.0%} "
          f"({args.producers} threaded producers, {args.seconds:.0f} s)")
    print(f"load average after: {loadavg()}")


if __name__ == "__main__":
    main()
