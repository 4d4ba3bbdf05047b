"""CLI start-up: wall time of one-shot `fila` commands against a bare gRPC script.

Starts a fila-server on a free port (temporary data dir), then runs, interleaved
round by round so load on the machine hits all alike:

* the floor: ``python -c`` that imports grpc and the generated stubs and sends the
  same RPC (Enqueue; GetServerInfo for ``version``);
* ``fila enqueue bench hello`` and ``fila version``;
* ``fila queue list`` (a Typer command, for comparison).

Reports the median of each and the ratio to its floor. The target (docs/benchmarks.md,
"CLI start-up") is at most 1.5x the floor for ``enqueue`` and ``version``.

    python benchmarks/cli_startup.py [--rounds 21] [--fila /path/to/other/venv/bin/fila]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import FilaServer, header

BARE = """
import grpc
from fila.v1 import {module}_pb2, {module}_pb2_grpc
channel = grpc.insecure_channel("{addr}")
stub = {module}_pb2_grpc.{stub}(channel)
print(stub.{rpc}({module}_pb2.{request}, timeout=10))
channel.close()
"""


def bare(addr: str, what: str) -> list[str]:
    if what == "enqueue":
        code = BARE.format(module="service", stub="FilaServiceStub", rpc="Enqueue", addr=addr,
                           request='EnqueueRequest(queue="bench", payload=b"hello")')
    else:
        code = BARE.format(module="admin", stub="FilaAdminStub", rpc="GetServerInfo", addr=addr,
                           request="GetServerInfoRequest()")
    return [sys.executable, "-c", code]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, env=env)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--fila", default=shutil.which("fila") or "fila",
                        help="the fila script to time (e.g. another checkout's venv)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = FilaServer(Path(tmp))
        server.start(timeout=20.0)
        addr = server.addr
        try:
            env = {**os.environ, "FILA_ADDR": addr}
            subprocess.run([args.fila, "queue", "create", "bench"], env=env, check=True,
                           capture_output=True)
            cases = {
                "floor: enqueue (grpc + stubs)": bare(addr, "enqueue"),
                "fila enqueue": [args.fila, "enqueue", "bench", "hello"],
                "floor: version (grpc + stubs)": bare(addr, "version"),
                "fila version": [args.fila, "version"],
                "fila queue list": [args.fila, "queue", "list"],
            }
            for cmd in cases.values():  # warm the page cache
                timed(cmd, env)
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(args.rounds):
                for name, cmd in cases.items():
                    times[name].append(timed(cmd, env))
        finally:
            server.stop(timeout=20.0)
    med = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    floors = {"fila enqueue": "floor: enqueue (grpc + stubs)",
              "fila version": "floor: version (grpc + stubs)",
              "fila queue list": "floor: version (grpc + stubs)"}
    print(header())
    print(f"{args.rounds} interleaved rounds")
    print(f"fila = {args.fila}")
    print("| command | median ms | vs floor |")
    print("|---|---|---|")
    for name, ms in med.items():
        ratio = f"{ms / med[floors[name]]:.2f}x" if name in floors else ""
        print(f"| {name} | {ms:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
