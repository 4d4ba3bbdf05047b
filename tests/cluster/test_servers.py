"""fila-server nodes on a local NATS cluster (fila.cluster.servers): they come up on their
own ports and directories with a [cluster] section naming every NATS node, serve real gRPC,
and keep what they acknowledged across kill -9 and a restart on the same directory.

The RPC helpers follow a Consume answered UNAVAILABLE with ``x-fila-leader-addr`` to the
owner, so these tests hold whether the nodes run as single nodes or as a cluster.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fila.cluster.harness import ClusterError, NatsCluster
from fila.cluster.servers import FilaCluster, FilaNode, fila_server_command, render_toml
from fila.server.healthcheck import check
from fila.v1 import admin_pb2, admin_pb2_grpc, messages_pb2, service_pb2, service_pb2_grpc

from .conftest import NATS_BINARY, SKIP_REASON, needs_nats_server

LEADER_KEY = "x-fila-leader-addr"


@pytest.fixture(scope="module")
def fila_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FilaCluster]:
    """3 NATS nodes and 3 fila-server nodes, shared by this module's tests (each uses its
    own queue; a test that kills a node restarts it)."""
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    base = tmp_path_factory.mktemp("fila-cluster")
    with NatsCluster(3, base / "nats") as nats, FilaCluster(nats, 3, base / "fila") as fila:
        yield fila


def _create(addr: str, queue: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(addr) as channel:
        admin = admin_pb2_grpc.FilaAdminStub(channel)
        while True:
            try:
                admin.CreateQueue(admin_pb2.CreateQueueRequest(name=queue), timeout=10)
                return
            except grpc.RpcError as exc:
                # a cluster node may not serve until a node owns the queue
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)  # retrying an UNAVAILABLE answer, bounded by the deadline


def _enqueue(addr: str, queue: str, payload: bytes, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(addr) as channel:
        svc = service_pb2_grpc.FilaServiceStub(channel)
        while True:
            try:
                reply = svc.Enqueue(service_pb2.EnqueueRequest(queue=queue, payload=payload),
                                    timeout=10)
                return str(reply.message_id)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)  # retrying an UNAVAILABLE answer, bounded by the deadline


def _consume_one(addr: str, queue: str, timeout: float = 20.0) -> messages_pb2.Message:
    """The first message a Consume stream delivers (acked), following the owner's address
    when a node answers UNAVAILABLE with it."""
    deadline = time.monotonic() + timeout
    while True:
        with grpc.insecure_channel(addr) as channel:
            svc = service_pb2_grpc.FilaServiceStub(channel)
            call = svc.Consume(service_pb2.ConsumeRequest(queue=queue),
                               timeout=max(0.5, deadline - time.monotonic()))
            try:
                for frame in call:
                    if frame.HasField("message"):
                        svc.Ack(service_pb2.AckRequest(queue=queue,
                                                       message_id=frame.message.id), timeout=10)
                        call.cancel()
                        return frame.message
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                leader = dict(exc.trailing_metadata() or ()).get(LEADER_KEY)  # type: ignore[attr-defined]
                if leader:
                    addr = str(leader)
        time.sleep(0.1)  # retrying an UNAVAILABLE answer, bounded by the deadline


@needs_nats_server
def test_nodes_get_their_own_port_directory_and_every_nats_url(fila_cluster: FilaCluster) -> None:
    nodes = fila_cluster.nodes
    assert [n.node_id for n in nodes] == ["n1", "n2", "n3"]
    assert len({n.port for n in nodes}) == 3
    assert len({n.data_dir for n in nodes}) == 3
    for node in nodes:
        assert node.running() and node.serving()
        config = tomllib.loads(node.config_path.read_text())
        assert config["server"] == {"listen_addr": node.addr, "data_dir": str(node.data_dir)}
        assert config["cluster"]["nats_urls"] == fila_cluster.nats.urls
        assert config["cluster"]["node_id"] == node.node_id
        assert config["cluster"]["advertise_addr"] == node.addr
        assert config["cluster"]["lease_ttl_ms"] == 2000
        assert config["cluster"]["replicas"] == 3
        assert "listening on " + node.addr in node.log()


@needs_nats_server
def test_enqueue_and_consume_over_grpc(fila_cluster: FilaCluster) -> None:
    node = fila_cluster.nodes[1]
    _create(node.addr, "servers-roundtrip")
    msg_id = _enqueue(node.addr, "servers-roundtrip", b"hello")
    got = _consume_one(node.addr, "servers-roundtrip")
    assert (got.id, got.payload) == (msg_id, b"hello")


@needs_nats_server
def test_kill_9_and_restart_keeps_an_acknowledged_message(fila_cluster: FilaCluster) -> None:
    node = fila_cluster.nodes[0]
    _create(node.addr, "servers-durable")
    msg_id = _enqueue(node.addr, "servers-durable", b"kept")
    pid, port = node.pid, node.port
    assert node.kill() == -9
    assert not node.running() and not node.serving()
    node.start()
    assert node.pid != pid and node.port == port and node.serving()
    got = _consume_one(node.addr, "servers-durable")
    assert (got.id, got.payload) == (msg_id, b"kept")


@needs_nats_server
def test_a_paused_node_answers_nothing_until_resumed(fila_cluster: FilaCluster) -> None:
    node = fila_cluster.nodes[2]
    node.pause()
    try:
        assert node.running() and not node.serving()
    finally:
        node.resume()
    assert node.serving()


def test_a_node_that_cannot_start_is_one_clear_error(tmp_path: Path) -> None:
    # an invalid config: fila-server refuses it at once, and the error carries its log
    node = FilaNode("n1", tmp_path / "n1", ["nats://127.0.0.1:1"],
                    extra_config={"scheduler": {"quantum": 0}})
    with pytest.raises(ClusterError, match="exited with 1") as info:
        node.start(timeout=20)
    assert "quantum" in str(info.value)
    assert not node.running()


def test_config_rendering_and_the_executable() -> None:
    text = render_toml({"server": {"listen_addr": "127.0.0.1:1", "fsync": True},
                        "cluster": {"nats_urls": ["nats://a:1", "nats://b:2"], "node_id": 'x"y'}})
    assert tomllib.loads(text) == {
        "server": {"listen_addr": "127.0.0.1:1", "fsync": True},
        "cluster": {"nats_urls": ["nats://a:1", "nats://b:2"], "node_id": 'x"y'},
    }
    assert fila_server_command()[-1].endswith(("fila-server", "fila.server.main"))


@needs_nats_server
def test_dev_command_starts_fila_nodes_too(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "fila.cluster", "--nodes", "1", "--fila", "2", "--dir",
         str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]  # blocks until printed (or EOF)
        fila_lines = [line.split() for line in lines[1:3]]
        assert [f[:2] for f in fila_lines] == [["fila", "n1"], ["fila", "n2"]], lines
        addrs = [f[2] for f in fila_lines]
        assert [f[6] for f in fila_lines] == [str(tmp_path / "fila" / n / "data")
                                             for n in ("n1", "n2")]
        assert lines[3].startswith("ready: NATS URLs nats://127.0.0.1:"), lines
        assert lines[3].rstrip().endswith("; fila " + ",".join(addrs))
        for addr in addrs:  # real servers, answering
            assert check(addr)[0]
        pids = [int(line.split(" pid ")[1].split()[0]) for line in lines[:3]]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        for pid in pids:  # stopped with it
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
        assert "listening on" in (tmp_path / "fila" / "n1" / "fila.log").read_text()
    finally:
        if proc.poll() is None:
            # SIGTERM first: it stops its nodes; SIGKILL would leave them running
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
