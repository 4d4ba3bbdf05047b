"""Cluster mode end to end: three real fila-server processes on a real three-node JetStream
cluster, over real gRPC, each with its own RocksDB.

What a user relies on: any node accepts a queue's calls (forwarded to the owner), a Consume
on another node is sent to the owner, queues spread over the nodes, runtime config and API
keys reach every node, and when the owner dies (kill -9) or stalls past its lease (SIGSTOP)
another node serves the queue with every acknowledged message and nothing acked coming
back; a node that was away while the log was snapshotted and purged rejoins from the
snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from fila.cluster.harness import NatsCluster
from fila.errors import LEADER_ADDR_KEY
from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2, service_pb2_grpc

from .conftest import NATS_BINARY, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.servers import FilaCluster, FilaNode  # noqa: E402

DEADLINE = 30.0


def wait_for(what: str, check: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy (its value), or fail saying what."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except grpc.RpcError as exc:  # a node failing over: ask again
            last = exc
        time.sleep(0.05)  # polling a condition, bounded by the deadline
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


class Node:
    """Stubs on one node's address."""

    def __init__(self, addr: str) -> None:
        self.addr = addr
        self.channel = grpc.insecure_channel(addr)
        self.svc = service_pb2_grpc.FilaServiceStub(self.channel)
        self.adm = admin_pb2_grpc.FilaAdminStub(self.channel)

    def status(self) -> Any:
        return self.adm.GetClusterStatus(admin_pb2.GetClusterStatusRequest(), timeout=5)

    def owner(self, queue: str) -> str:
        """The owner's address as this node sees it ("" while none)."""
        for q in self.status().queues:
            if q.queue == queue:
                return str(q.owner_addr)
        return ""

    def enqueue(self, queue: str, payload: bytes) -> str:
        return str(self.svc.Enqueue(service_pb2.EnqueueRequest(queue=queue, payload=payload),
                                    timeout=15).message_id)

    def consume(self, queue: str, n: int, ack: bool = True, timeout: float = 15
                ) -> list[tuple[str, bytes]]:
        """``n`` messages from a stream on this node (acked unless ``ack`` is False)."""
        got: list[tuple[str, bytes]] = []
        stream = self.svc.Consume(service_pb2.ConsumeRequest(queue=queue), timeout=timeout)
        try:
            for frame in stream:
                msgs = list(frame.messages) or ([frame.message] if frame.message.id else [])
                for m in msgs:
                    got.append((m.id, m.payload))
                    if ack:
                        self.svc.Ack(service_pb2.AckRequest(queue=queue, message_id=m.id),
                                     timeout=10)
                if len(got) >= n:
                    break
        finally:
            stream.cancel()
        return got

    def close(self) -> None:
        self.channel.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilaCluster]:
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    base = tmp_path_factory.mktemp("cluster-mode")
    # Small snapshots, so the snapshot test purges logs without writing thousands of entries.
    with NatsCluster(3, base / "nats") as nats, FilaCluster(
            nats, 3, base / "fila", extra_config={"cluster": {"snapshot_entries": 40}}) as fila:
        yield fila


@pytest.fixture()
def nodes(cluster: FilaCluster) -> Iterator[list[Node]]:
    for n in cluster:  # a test that stopped a node leaves it running again
        if not n.running():
            n.start()
    stubs = [Node(addr) for addr in cluster.addrs]
    yield stubs
    for stub in stubs:
        stub.close()


def create(node: Node, queue: str, visibility_timeout_ms: int = 0) -> str:
    config = admin_pb2.QueueConfig(visibility_timeout_ms=visibility_timeout_ms)
    node.adm.CreateQueue(admin_pb2.CreateQueueRequest(name=queue, config=config), timeout=30)
    return str(wait_for(f"an owner for {queue}", lambda: node.owner(queue)))


def test_any_node_serves_every_queue_and_consumers_are_sent_to_the_owner(
        nodes: list[Node]) -> None:
    owner_addr = create(nodes[1], "spread-a")
    create(nodes[2], "spread-b")
    # Enqueue through every node; each call reaches the owner.
    ids = [node.enqueue("spread-a", f"via {node.addr}".encode()) for node in nodes]
    assert len(set(ids)) == 3
    # A batch spanning queues (perhaps on different owners) through one node: split,
    # forwarded, results back in request order.
    batch = nodes[0].svc.EnqueueBatch(service_pb2.EnqueueBatchRequest(messages=[
        service_pb2.EnqueueRequest(queue="spread-b", payload=b"b1"),
        service_pb2.EnqueueRequest(queue="spread-a", payload=b"a4"),
        service_pb2.EnqueueRequest(queue="missing", payload=b"x"),
    ]), timeout=15)
    assert [r.WhichOneof("result") for r in batch.results] == ["message_id", "message_id",
                                                               "error"]
    assert batch.results[2].error.code == grpc.StatusCode.NOT_FOUND.value[0]
    # Every node lists every queue, with the owner's counts.
    for node in nodes:
        listed = {q.name: q for q in node.adm.ListQueues(admin_pb2.ListQueuesRequest(),
                                                          timeout=10).queues}
        assert {"spread-a", "spread-b", "spread-a.dlq"} <= set(listed)
        assert listed["spread-a"].depth == 4
        stats = node.adm.GetStats(admin_pb2.GetStatsRequest(queue="spread-a"), timeout=10)
        assert stats.depth == 4
    # Consume on a node that does not serve the queue: UNAVAILABLE, pointing at the owner.
    other = next(n for n in nodes if n.addr != owner_addr)
    with pytest.raises(grpc.RpcError) as info:
        other.consume("spread-a", 1)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert dict(info.value.trailing_metadata())[LEADER_ADDR_KEY] == owner_addr
    owner = next(n for n in nodes if n.addr == owner_addr)
    got = owner.consume("spread-a", 4)
    assert sorted(p for _, p in got) == sorted(
        [f"via {n.addr}".encode() for n in nodes] + [b"a4"])
    # The status: three live nodes; every queue has one owner.
    status = nodes[0].status()
    assert status.enabled and len(status.nodes) == 3
    assert {q.queue for q in status.queues} >= {"spread-a", "spread-b"}


def test_queues_are_spread_evenly_over_the_nodes(nodes: list[Node]) -> None:
    for i in range(6):
        nodes[i % 3].adm.CreateQueue(admin_pb2.CreateQueueRequest(name=f"even-{i}"), timeout=30)

    def balanced() -> bool:
        owners = [q.owner_node_id for q in nodes[0].status().queues]
        if not all(owners):
            return False
        counts = {o: owners.count(o) for o in set(owners)}
        limit = -(-len(owners) // 3) + 1  # ceil(queues / nodes) + 1
        return len(counts) == 3 and max(counts.values()) <= limit

    wait_for("a balanced assignment", balanced)


def test_runtime_config_and_api_keys_reach_every_node(nodes: list[Node]) -> None:
    nodes[0].adm.SetConfig(admin_pb2.SetConfigRequest(key="tenant.acme.weight", value="3"),
                           timeout=10)
    for node in nodes:
        wait_for(f"the config on {node.addr}", lambda node=node: node.adm.GetConfig(
            admin_pb2.GetConfigRequest(key="tenant.acme.weight"), timeout=5).value == "3")
    nodes[1].adm.SetConfig(admin_pb2.SetConfigRequest(key="tenant.acme.weight", value=""),
                           timeout=10)
    for node in nodes:
        wait_for(f"the removal on {node.addr}", lambda node=node: node.adm.GetConfig(
            admin_pb2.GetConfigRequest(key="tenant.acme.weight"), timeout=5).value == "")


def owner_node(cluster: FilaCluster, nodes: list[Node], queue: str) -> tuple[FilaNode, Node]:
    addr = nodes[0].owner(queue)
    return cluster.by_addr(addr), next(n for n in nodes if n.addr == addr)


def test_kill_9_of_the_owner_loses_nothing_acknowledged(cluster: FilaCluster,
                                                        nodes: list[Node]) -> None:
    create(nodes[0], "failover", visibility_timeout_ms=2000)
    sent = [nodes[i % 3].enqueue("failover", f"m{i}".encode()) for i in range(30)]
    proc, owner = owner_node(cluster, nodes, "failover")
    acked = owner.consume("failover", 10)  # ten acked before the crash
    leased = owner.consume("failover", 5, ack=False)  # five leased, never acked
    proc.kill()
    survivors = [n for n in nodes if n.addr != owner.addr]
    new_addr = wait_for("another node to serve the queue",
                        lambda: (a := survivors[0].owner("failover")) != owner.addr and a)
    new = next(n for n in survivors if n.addr == new_addr)
    # Acknowledged while the owner was gone, through the other survivor.
    other = next(n for n in survivors if n is not new)
    sent.append(wait_for("an enqueue after the failover",
                         lambda: other.enqueue("failover", b"after")))
    # Everything not acked comes back (the leased five once their 2 s lease ends); nothing
    # acked does.
    rest = new.consume("failover", 21, timeout=30)
    got_ids = [i for i, _ in rest]
    assert set(got_ids) == set(sent) - {i for i, _ in acked}
    assert {i for i, _ in leased} <= set(got_ids)
    proc.start()


def test_a_stalled_owner_is_replaced_and_cannot_write_when_it_wakes(
        cluster: FilaCluster, nodes: list[Node]) -> None:
    create(nodes[0], "stalled")
    first = nodes[0].enqueue("stalled", b"before")
    proc, owner = owner_node(cluster, nodes, "stalled")
    proc.pause()  # past the 2 s lease
    try:
        survivors = [n for n in nodes if n.addr != owner.addr]
        wait_for("another node to serve the queue",
                 lambda: survivors[0].owner("stalled") not in ("", owner.addr))
        second = wait_for("an enqueue on the new owner",
                          lambda: survivors[0].enqueue("stalled", b"during"))
    finally:
        proc.resume()
    # The old owner woke up believing nothing; it must not serve the queue any more.
    new_addr = survivors[0].owner("stalled")
    wait_for("the woken node to redirect", lambda: _redirected(owner, "stalled") == new_addr)
    new = next(n for n in nodes if n.addr == new_addr)
    got = new.consume("stalled", 2)
    assert {i for i, _ in got} == {first, second}


def _redirected(node: Node, queue: str) -> str:
    try:
        node.consume(queue, 1, ack=False, timeout=3)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNAVAILABLE:
            return str(dict(exc.trailing_metadata() or ()).get(LEADER_ADDR_KEY, ""))
    return ""


def test_a_node_back_after_the_log_was_purged_rejoins_from_the_snapshot(
        cluster: FilaCluster, nodes: list[Node], tmp_path: Path) -> None:
    create(nodes[0], "snap")
    proc, owner = owner_node(cluster, nodes, "snap")
    away = next(n for n in cluster if n.addr != owner.addr)
    away.stop()
    ids = [owner.enqueue("snap", f"s{i}".encode()) for i in range(150)]
    acked = owner.consume("snap", 50)
    # The owner snapshotted (every 40 entries) and purged: the log no longer starts at 1.
    wait_for("a snapshot", lambda: "group 'snap': snapshot through entry" in proc.log())
    away.start()
    back = Node(away.addr)
    try:
        wait_for("the returning node to catch up", lambda: any(
            q.queue == "snap" and q.applied_seq and q.applied_seq == q.log_last_seq
            for q in back.status().queues))
        assert "group 'snap': restored from its snapshot" in away.log()
        # Make the returning node the owner: the old one dies, the third one stops.
        third = next(n for n in cluster if n not in (proc, away))
        proc.kill()
        third.stop()
        wait_for("the returning node to serve", lambda: back.owner("snap") == back.addr)
        rest = back.consume("snap", 100)
        assert {i for i, _ in rest} == set(ids) - {i for i, _ in acked}
    finally:
        back.close()
        for n in cluster:
            if not n.running():
                n.start()


def test_no_reachable_nats_is_one_line_at_start(tmp_path: Path) -> None:
    import socket
    import subprocess

    from fila.cluster.servers import fila_server_command

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "fila.toml"
    config.write_text(f'[server]\nlisten_addr = "127.0.0.1:0"\ndata_dir = "{tmp_path / "d"}"\n'
                      f'[cluster]\nnats_urls = "nats://127.0.0.1:{port}"\nnode_id = "n1"\n'
                      'connect_timeout_ms = 1500\n')
    done = subprocess.run([*fila_server_command(), "--config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "fila-server: cannot start: cannot reach NATS at" in done.stderr
    assert "within 1.5 s" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_a_deleted_queue_is_gone_everywhere_and_its_name_can_be_reused(
        nodes: list[Node]) -> None:
    create(nodes[0], "reused")
    for i in range(5):
        nodes[i % 3].enqueue("reused", f"old {i}".encode())
    nodes[2].adm.DeleteQueue(admin_pb2.DeleteQueueRequest(queue="reused"), timeout=30)
    for node in nodes:
        with pytest.raises(grpc.RpcError) as info:
            node.adm.GetStats(admin_pb2.GetStatsRequest(queue="reused"), timeout=10)
        assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # The same name again: a new queue, with none of the old messages.
    owner_addr = create(nodes[1], "reused")
    nodes[0].enqueue("reused", b"new")
    owner = next(n for n in nodes if n.addr == owner_addr)
    stats = owner.adm.GetStats(admin_pb2.GetStatsRequest(queue="reused"), timeout=10)
    assert stats.depth == 1
    assert [p for _, p in owner.consume("reused", 1)] == [b"new"]


BOOT = "cluster-bootstrap-key"


def test_api_keys_and_acls_work_through_any_node(tmp_path: Path) -> None:
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    with NatsCluster(3, tmp_path / "nats") as nats, FilaCluster(
            nats, 2, tmp_path / "fila",
            extra_config={"auth": {"bootstrap_apikey": BOOT}}) as fila:
        a, b = (Node(addr) for addr in fila.addrs)
        boot = (("authorization", f"Bearer {BOOT}"),)
        try:
            a.adm.CreateQueue(admin_pb2.CreateQueueRequest(name="secure"), metadata=boot,
                              timeout=30)
            # Without a key nothing is created, not even in the cluster's registry.
            with pytest.raises(grpc.RpcError) as info:
                b.adm.CreateQueue(admin_pb2.CreateQueueRequest(name="sneaky"), timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            status = a.adm.GetClusterStatus(admin_pb2.GetClusterStatusRequest(), metadata=boot,
                                            timeout=10)
            assert "sneaky" not in {q.queue for q in status.queues}
            # A key made on one node, allowed to produce on "secure" only, works on both.
            made = a.adm.CreateApiKey(admin_pb2.CreateApiKeyRequest(name="producer"),
                                      metadata=boot, timeout=10)
            a.adm.SetAcl(admin_pb2.SetAclRequest(key_id=made.key_id, permissions=[
                admin_pb2.AclPermission(kind="produce", pattern="secure")]),
                metadata=boot, timeout=10)
            key = (("authorization", f"Bearer {made.key}"),)
            for node in (a, b):
                wait_for(f"the key on {node.addr}", lambda node=node: node.svc.Enqueue(
                    service_pb2.EnqueueRequest(queue="secure", payload=b"x"), metadata=key,
                    timeout=10).message_id)
            with pytest.raises(grpc.RpcError) as info:
                b.adm.DeleteQueue(admin_pb2.DeleteQueueRequest(queue="secure"), metadata=key,
                                  timeout=10)
            assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
            # Node-local calls on the other node know the key too (within one poll round).
            wait_for("the key known to the other node itself", lambda: b.adm.GetServerInfo(
                admin_pb2.GetServerInfoRequest(), metadata=key, timeout=10).caller_key_id
                == made.key_id)
            # Revoked on the other node: refused everywhere.
            b.adm.RevokeApiKey(admin_pb2.RevokeApiKeyRequest(key_id=made.key_id),
                               metadata=boot, timeout=10)

            def refused(node: Node) -> bool:
                try:
                    node.svc.Enqueue(service_pb2.EnqueueRequest(queue="secure", payload=b"x"),
                                     metadata=key, timeout=10)
                except grpc.RpcError as exc:
                    return exc.code() == grpc.StatusCode.UNAUTHENTICATED
                return False

            for node in (a, b):
                wait_for(f"the revocation on {node.addr}", lambda node=node: refused(node))
        finally:
            a.close()
            b.close()


def test_a_node_stops_cleanly_when_nats_is_gone(tmp_path: Path) -> None:
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    with NatsCluster(1, tmp_path / "nats") as nats, FilaCluster(nats, 1, tmp_path / "fila") as fila:
        node = Node(fila.addrs[0])
        try:
            create(node, "orphaned")
            node.enqueue("orphaned", b"x")
        finally:
            node.close()
        for n in nats:
            n.kill()
        # SIGTERM: the leases cannot be released (they run out on their own); it still exits.
        assert fila.nodes[0].stop(timeout=30) == 0
        assert "Traceback" not in fila.nodes[0].log()
