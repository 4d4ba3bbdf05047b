"""Memory per pending message after restart-recovery, in-process and quick.

    python benchmarks/memory.py [--messages 100000] [--payload 100] [--no-trim]

Builds a RocksStore the way the broker writes it (prepare_enqueue, write,
apply_enqueue; 100-byte payload, one header, no hook), closes it, then runs
fresh child processes that open it and call ``Broker.recover()``:

* RSS run on an EMPTY store and on the FULL store; bytes/message is
  (RSS full - RSS empty) / n, as benchmarks/core.py computes it for a real
  server (core.py then subtracts the payload size; both figures are printed).
  Each child also reports its own RSS before/after recover and, unless
  --no-trim, after glibc ``malloc_trim(0)`` (what fila-server does after recover).
* tracemalloc run on the FULL store (separate process: tracing costs memory
  itself): Python heap current and peak during recover, per message.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from _harness import header, rss_bytes

from fila.server.broker import Broker
from fila.server.engine import SystemClock
from fila.server.main import GC_THRESHOLDS
from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch

QUEUE = "recover"
HEADERS = {"tenant": "acme"}  # same as benchmarks/core.py
WRITE_EVERY = 1000  # enqueues per store write while filling (speed only)


def malloc_trim() -> bool:
    """What fila-server does after recover (fila/server/main.py), on glibc only."""
    try:
        if not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
            return False
    except (ValueError, OSError):
        return False
    ctypes.CDLL(None).malloc_trim(0)
    return True


def build(path: Path, n: int, payload: bytes) -> float:
    t0 = time.perf_counter()
    store = RocksStore(path)
    broker = Broker(store, SystemClock())
    created = broker.create_queue(QUEUE)
    store.write(created.batch)
    for apply in created.on_commit:
        apply()
    pending = WriteBatch()
    prepared = []
    for i in range(n):
        p = broker.prepare_enqueue(QUEUE, HEADERS, payload)
        pending.extend(p.batch)
        prepared.append(p)
        if len(prepared) == WRITE_EVERY or i == n - 1:
            store.write(pending, sync=False)
            for p in prepared:
                broker.apply_enqueue(p)
            pending, prepared = WriteBatch(), []
    store.close()
    return time.perf_counter() - t0


def child(path: str, mode: str, trim: bool) -> None:
    gc.collect()
    out: dict[str, float] = {}
    if mode == "trace":
        tracemalloc.start()
    out["rss_before"] = rss_bytes()
    gc.set_threshold(*GC_THRESHOLDS)  # as fila-server does before recovering
    t0 = time.perf_counter()
    broker = Broker(RocksStore(path), SystemClock())
    out["loaded"] = broker.recover().loaded
    out["recover_s"] = time.perf_counter() - t0
    gc.collect()
    if mode == "trace":
        out["heap_current"], out["heap_peak"] = tracemalloc.get_traced_memory()
    out["rss_after"] = rss_bytes()
    if trim and malloc_trim():
        out["rss_trimmed"] = rss_bytes()
    print(json.dumps(out))


def run_child(path: Path, mode: str, trim: bool) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", str(path), "--mode", mode]
    if not trim:
        cmd.append("--no-trim")
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--payload", type=int, default=100, help="payload bytes")
    ap.add_argument("--no-trim", action="store_true", help="skip malloc_trim in the children")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="rss", help=argparse.SUPPRESS)
    args = ap.parse_args()
    trim = not args.no_trim
    if args.child:
        child(args.child, args.mode, trim)
        return
    n = args.messages
    print(header())
    with tempfile.TemporaryDirectory(prefix="fila-mem-") as tmp:
        empty, full = Path(tmp, "empty"), Path(tmp, "full")
        RocksStore(empty).close()
        fill_s = build(full, n, b"x" * args.payload)
        e = run_child(empty, "rss", trim)
        f = run_child(full, "rss", trim)
        t = run_child(full, "trace", trim)
    if int(f["loaded"]) != n:
        raise SystemExit(f"recovered {f['loaded']} of {n} messages")
    key = "rss_trimmed" if "rss_trimmed" in f and "rss_trimmed" in e else "rss_after"
    per_msg = (f[key] - e[key]) / n
    untrimmed = (f["rss_after"] - e["rss_after"]) / n
    print(f"fill {n:,} messages: {fill_s:.1f} s; recover (full store): {f['recover_s']:.2f} s")
    print(f"empty store  RSS before/after recover: {e['rss_before'] / 2**20:.1f} / "
          f"{e['rss_after'] / 2**20:.1f} MiB")
    print(f"full store   RSS before/after recover: {f['rss_before'] / 2**20:.1f} / "
          f"{f['rss_after'] / 2**20:.1f} MiB"
          + (f"; after malloc_trim {f['rss_trimmed'] / 2**20:.1f} MiB"
             if "rss_trimmed" in f else ""))
    print(f"RSS bytes/message, untrimmed (full - empty) / n: {untrimmed:.0f}")
    print(f"RSS bytes/message ({key}): {per_msg:.0f}; minus payload ({args.payload} B, as "
          f"core.py reports it): {per_msg - args.payload:.0f}")
    print(f"tracemalloc bytes/message: current {t['heap_current'] / n:.0f}, "
          f"peak {t['heap_peak'] / n:.0f}")


if __name__ == "__main__":
    main()
