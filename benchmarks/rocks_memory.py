"""Does the storage layer alone grow RSS the way the soak's broker did?

Drives a RocksStore (the broker's own options: 64 MiB memtables, 64 MiB block cache) with
the soak's shape of traffic, compressed in time: messages of 16 B-8 KiB are written in
batches, read back (as delivery does) and deleted once ~2 000 newer ones exist (as acks do).
Every 10 s it prints RSS beside RocksDB's own accounting of its block cache, memtables and
table readers, so RSS growth can be told apart into "caches filling up to their caps" and
"something else".

    python benchmarks/rocks_memory.py [--seconds 300]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid

from _harness import header, rss_bytes

from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch

BACKLOG = 2_000
MIB = 1 << 20
BATCH = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    print(header())
    with tempfile.TemporaryDirectory(prefix="fila-rocks-mem-") as tmp:
        store = RocksStore(tmp)
        db = store._db  # RocksDB's memory properties are not part of the Store seam
        live: list[bytes] = []
        written = 0
        started = last = time.monotonic()
        while (now := time.monotonic()) - started < args.seconds:
            batch = WriteBatch()
            for _ in range(BATCH):
                key = str(uuid.uuid4()).encode()
                batch.put(b"m/q\0" + key, b"h" * 120)
                batch.put(b"p/q\0" + key, os.urandom(random.randint(16, 8192)))
                live.append(key)
            while len(live) > BACKLOG:
                key = live.pop(0)
                for prefix in (b"m/q\0", b"p/q\0", b"l/q\0"):
                    batch.delete(prefix + key)
            store.write(batch, sync=False)  # memory, not durability, is measured here
            for key in random.sample(live, 10):
                store.get(b"p/q\0" + key)
            written += BATCH
            if now - last >= 10:
                last = now

                def prop(name: str) -> float:
                    return float(db.property_int_value(f"rocksdb.{name}")) / MIB

                print(f"t={now - started:5.0f}s messages={written:9,d} "
                      f"rss={rss_bytes() / MIB:6.1f} MiB "
                      f"block_cache={prop('block-cache-usage'):5.1f} "
                      f"memtables={prop('cur-size-all-mem-tables'):5.1f} "
                      f"table_readers={prop('estimate-table-readers-mem'):4.1f}", flush=True)
        store.close()


if __name__ == "__main__":
    main()
