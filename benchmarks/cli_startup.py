"""CLI start-up: wall time of one-shot `fila` commands against a bare gRPC script.

Starts a fila-server on a free port (temporary data dir), then runs, interleaved
round by round so load on the machine hits all alike:

* the floor: ``python -c`` that imports grpc and the generated stubs and sends the
  same RPC (Enqueue; GetServerInfo for ``version``);
* ``fila enqueue bench hello`` and ``fila version``;
* ``fila queue list`` (a Typer command, for comparison).

Reports the median of each and the ratio to its floor. The target (newcomer issue)
is at most 1.5x the floor for ``enqueue`` and ``version``.

    python benchmarks/cli_startup.py [--rounds 21] [--fila /path/to/other/venv/bin/fila]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    addr = f"127.0.0.1:{free_port()}"
    (workdir / "fila.toml").write_text(f'[server]\nlisten_addr = "{addr}"\n')
    server_bin = shutil.which("fila-server")
    cmd = [server_bin] if server_bin else [sys.executable, "-m", "fila.server.main"]
    env = {**os.environ, "FILA_DATA_DIR": str(workdir / "db")}
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # readiness: the port accepts and a queue is made
        done = subprocess.run(bare(addr, "version"), capture_output=True)
        if done.returncode == 0:
            return proc, addr
        if proc.poll() is not None:
            raise SystemExit("fila-server exited during start-up")
    proc.kill()
    raise SystemExit("fila-server not ready within 20 s")


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
        server, addr = start_server(Path(tmp))
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
            server.terminate()
            server.wait(timeout=20)
    med = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    floors = {"fila enqueue": "floor: enqueue (grpc + stubs)",
              "fila version": "floor: version (grpc + stubs)",
              "fila queue list": "floor: version (grpc + stubs)"}
    print(f"commit {commit()}, {platform.node()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, {args.rounds} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"fila = {args.fila}")
    print("| command | median ms | vs floor |")
    print("|---|---|---|")
    for name, ms in med.items():
        ratio = f"{ms / med[floors[name]]:.2f}x" if name in floors else ""
        print(f"| {name} | {ms:.0f} | {ratio} |")


if __name__ == "__main__":
    main()
