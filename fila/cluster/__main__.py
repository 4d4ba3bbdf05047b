"""``python -m fila.cluster``: run a local NATS JetStream cluster for development.

Starts N nats-server nodes on loopback (fila.cluster.harness: JetStream, fsync always,
routed as one cluster), prints one line per node (name, client URL, PID, monitoring URL)
and ``ready``, then runs until interrupted (Ctrl-C or SIGTERM) and stops the nodes. Data
lives under ``--dir`` (kept) or a temporary directory (removed at exit).

Cluster mode is in progress and not wired into fila-server yet (docs/cluster.md); this is
the harness its tests use.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from fila.cluster.harness import ClusterError, NatsCluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fila.cluster", description="Run a local NATS JetStream cluster."
    )
    parser.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="data directory (kept)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        cluster = NatsCluster(args.nodes, args.dir).start()
    except ClusterError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    try:
        for node in cluster:
            print(
                f"{node.name} {node.url} pid {node.pid} monitor http://127.0.0.1:{node.http_port}",
                flush=True,
            )
        print("ready: NATS URLs " + ",".join(cluster.urls), flush=True)
        stop.wait()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
