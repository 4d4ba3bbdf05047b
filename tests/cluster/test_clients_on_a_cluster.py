"""The client, the CLI and their cluster features against two real fila-server nodes in
cluster mode over a real 3-node NATS JetStream cluster.

A Consume sent to the node that does not own the queue is answered UNAVAILABLE with
``x-fila-leader-addr``; the client follows it to the owner, and the acks of what it
delivers settle there. ``fila cluster status`` shows both nodes and the queue's owner.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest
from e2e.server_process import ServerProcess

from fila.client import Client
from fila.cluster.harness import NatsCluster
from fila.errors import LEADER_ADDR_KEY, FilaError
from fila.types import ClusterStatus
from fila.v1 import service_pb2, service_pb2_grpc

from .conftest import NATS_BINARY, SKIP_REASON, needs_nats

pytestmark = [needs_nats, pytest.mark.timeout(240)]


@pytest.fixture()
def nodes(make_server: Callable[..., ServerProcess], tmp_path: Path
          ) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    with NatsCluster(3, tmp_path / "nats") as nats:
        urls = ",".join(nats.urls)
        yield (make_server({"cluster": {"nats_urls": urls, "node_id": "n1"}}, start=True),
               make_server({"cluster": {"nats_urls": urls, "node_id": "n2"}}, start=True))


def run_fila(args: list[str]) -> subprocess.CompletedProcess[str]:
    """`fila ARGS` as a real process (stdout piped: the plain, stable text)."""
    return subprocess.run([sys.executable, "-m", "fila.cli.main", *args], capture_output=True,
                          text=True, timeout=60, check=False)


def status_when(client: Client, ready: Callable[[ClusterStatus], bool],
                timeout: float = 60.0) -> ClusterStatus:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = client.cluster_status()
            if ready(last):  # type: ignore[arg-type]
                return last  # type: ignore[return-value]
        except FilaError as exc:
            last = exc
        time.sleep(0.2)  # polling the cluster's state, bounded by the deadline
    raise AssertionError(f"cluster not as expected within {timeout}s: {last}")


def test_consume_on_the_non_owner_follows_to_the_owner(
        nodes: tuple[ServerProcess, ServerProcess]) -> None:
    n1, n2 = nodes
    with Client(n1.addr, timeout=30) as c1:
        status_when(c1, lambda s: s.enabled and len(s.nodes) == 2)
        c1.create_queue("orders")
        status = status_when(c1, lambda s: any(q.queue == "orders" and q.owner_node_id
                                                for q in s.queues))
        owner_id = next(q.owner_node_id for q in status.queues if q.queue == "orders")
        msg_id = c1.enqueue("orders", {"k": "v"}, b"clustered")
    owner, other = (n1, n2) if owner_id == "n1" else (n2, n1)
    assert {(n.node_id, n.addr) for n in status.nodes} == {("n1", n1.addr), ("n2", n2.addr)}

    # What the client is up against: the other node refuses the stream, naming the owner.
    with grpc.insecure_channel(other.addr) as channel:
        raw = service_pb2_grpc.FilaServiceStub(channel).Consume(
            service_pb2.ConsumeRequest(queue="orders"), timeout=30)
        with pytest.raises(grpc.RpcError) as refused:
            next(raw)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert (LEADER_ADDR_KEY, owner.addr) in tuple(refused.value.trailing_metadata() or ())

    with Client(other.addr, timeout=30) as client:
        stream = client.consume("orders")
        msg = next(stream)
        assert (msg.id, msg.payload) == (msg_id, b"clustered")
        client.ack("orders", msg.id)
        stream.close()
    with Client(owner.addr, timeout=30) as check:
        assert check.get_stats("orders").depth == 0

    # The CLI, asked on the node that does not own the queue.
    shown = run_fila(["--addr", other.addr, "cluster", "status"])
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == f"Node: {'n1' if other is n1 else 'n2'} at {other.addr}"
    assert lines[1].startswith("Live nodes: 2 ")
    row = next(line.split() for line in lines if line.strip().startswith("orders "))
    assert row[1] == owner_id
    every = run_fila(["--addr", other.addr, "cluster", "status", "--all", "--json"])
    assert every.returncode == 0, every.stderr
    views = json.loads(every.stdout)["views"]
    assert [(v["node_id"], v["error"]) for v in views] == [("n1", None), ("n2", None)]
    assert all("orders" in v["lag"] for v in views)
