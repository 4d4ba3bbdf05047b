"""``python -m fila.cluster``: run a local NATS JetStream cluster for development.

Starts N nats-server nodes on loopback (fila.cluster.harness: JetStream, fsync always,
routed as one cluster), prints one line per node (name, client URL, PID, monitoring URL);
with ``--fila M`` also M fila-server nodes in cluster mode on them (fila.cluster.servers:
ids n1..nM, one line each: id, address, PID, data directory); then ``ready``, and runs
until interrupted (Ctrl-C or SIGTERM) and stops everything. Data lives under ``--dir``
(kept) or a temporary directory (removed at exit).

The same harness the cluster tests and benchmarks/cluster_checker.py use (docs/cluster.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from fila.cluster.harness import ClusterError, NatsCluster
from fila.cluster.servers import FilaCluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fila.cluster", description="Run a local NATS JetStream cluster."
    )
    parser.add_argument("--nodes", type=int, default=3, help="how many nodes (default 3)")
    parser.add_argument("--dir", type=Path, default=None, help="data directory (kept)")
    parser.add_argument("--fila", type=int, default=0, metavar="N",
                        help="also start N fila-server nodes in cluster mode (default 0)")
    parser.add_argument("--lease-ttl-ms", type=int, default=2000,
                        help="the fila-server nodes' lease TTL (default 2000)")
    args = parser.parse_args(argv)
    if args.nodes < 1:
        parser.error("--nodes must be at least 1")
    if args.fila < 0:
        parser.error("--fila must be 0 or more")
    if args.lease_ttl_ms < 1:
        parser.error("--lease-ttl-ms must be positive")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    nats_dir = args.dir / "nats" if args.dir is not None and args.fila else args.dir
    try:
        cluster = NatsCluster(args.nodes, nats_dir).start()
    except ClusterError as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    fila: FilaCluster | None = None
    try:
        for node in cluster:
            print(
                f"{node.name} {node.url} pid {node.pid} monitor http://127.0.0.1:{node.http_port}",
                flush=True,
            )
        if args.fila:
            fila = FilaCluster(
                cluster,
                args.fila,
                args.dir / "fila" if args.dir is not None else None,
                lease_ttl_ms=args.lease_ttl_ms,
            )
            try:
                fila.start()
            except ClusterError as exc:
                print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
                return 1
            for fnode in fila:
                print(
                    f"fila {fnode.node_id} {fnode.addr} pid {fnode.pid} data {fnode.data_dir}",
                    flush=True,
                )
        line = "ready: NATS URLs " + ",".join(cluster.urls)
        if fila is not None:
            line += "; fila " + ",".join(fila.addrs)
        print(line, flush=True)
        stop.wait()
    finally:
        if fila is not None:
            fila.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
