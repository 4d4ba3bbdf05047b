"""A queue owner in its own process, for tests that pause it (SIGSTOP) past its lease.

Run: python tests/cluster/paused_owner.py URLS QUEUE BUCKET TTL [--ignore-lease]

Acquires the queue's lease, takes the log over, then appends one entry after another,
printing ``acked <seq> <i>`` for each acknowledged append (key ``m/old/<i>``). It stops
with ``gave-up`` once its lease is no longer valid by its own clock, or ``fenced <actual>``
when the log refuses an append. With ``--ignore-lease`` it never checks its lease (a buggy
or stalled owner): then only the log's fencing stops it.
"""

from __future__ import annotations

import asyncio
import sys

import nats

from fila.cluster.log import FencedError, QueueLog
from fila.cluster.ownership import LeaseKeeper, LeaseTable
from fila.cluster.tailer import LogTailer
from fila.cluster.takeover import take_over
from fila.server.store import MemoryStore


async def main(urls: str, queue: str, bucket: str, ttl: float, ignore_lease: bool) -> int:
    nc = await nats.connect(
        servers=urls.split(","), reconnect_time_wait=0.2, max_reconnect_attempts=-1
    )
    js = nc.jetstream(timeout=20)
    table = await LeaseTable.open(js, "old", ttl=ttl, bucket=bucket)
    lease = await table.acquire(queue)
    if lease is None:
        print("not-acquired", flush=True)
        return 1
    keeper = LeaseKeeper(table, lambda _lease: None)
    keeper.add(lease)
    keeper.start()
    log = QueueLog(js, queue, timeout=5)
    claim = await take_over(log, LogTailer(js, MemoryStore(), queue, sync=False))
    print(f"owner {claim}", flush=True)
    i = 0
    while True:
        if not ignore_lease and not lease.valid():
            print("gave-up", flush=True)
            break
        try:
            seq = await log.append([(f"m/old/{i:06}".encode(), b"x")])
        except FencedError as exc:
            print(f"fenced {exc.actual}", flush=True)
            break
        print(f"acked {seq} {i}", flush=True)
        i += 1
        await asyncio.sleep(0.01)  # a steady trickle of writes
    await keeper.stop()
    await nc.close()
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    ignore = "--ignore-lease" in args
    urls_arg, queue_arg, bucket_arg, ttl_arg = [a for a in args if a != "--ignore-lease"]
    sys.exit(asyncio.run(main(urls_arg, queue_arg, bucket_arg, float(ttl_arg), ignore)))
