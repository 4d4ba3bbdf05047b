"""benchmarks/cluster_checker.py end to end on the smallest setup: one NATS node and one
fila-server node (the faults then have no other node to fail over to: the checker counts
recovery from the heal). This keeps the script itself working; runs on a real cluster are
the script's job (docs/cluster.md)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
import grpc.aio

from fila import AsyncClient
from fila.errors import LEADER_ADDR_KEY
from fila.v1 import messages_pb2, service_pb2, service_pb2_grpc

from .conftest import needs_nats_server

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cluster_checker.py"


@needs_nats_server
def test_checker_runs_faults_and_reports_a_verdict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--fila-nodes", "1", "--nats-nodes", "1",
         "--cycles", "2", "--faults", "kill,pause", "--lease-ttl-ms", "1000",
         "--settle", "0.3", "--warmup", "10", "--producers", "2", "--json",
         # a message leased to a stream that broke comes back after this: a quick drain
         "--visibility-timeout-ms", "1000",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    verdict = json.loads(done.stdout)
    assert verdict["ok"] is True
    assert verdict["lost"] == [] and verdict["unexpected"] == []
    assert verdict["acknowledged"] > 0
    assert verdict["delivered_unique"] >= verdict["acknowledged"]
    assert [f["kind"] for f in verdict["faults"]] == ["kill", "pause"]
    assert verdict["not_recovered"] == 0
    assert all(f["failover_s"] > 0 for f in verdict["faults"])
    assert "cycle 2/2 pause n1: failover" in done.stderr
    assert (tmp_path / "fila" / "n1" / "fila.log").exists()  # --dir keeps the nodes' files


def test_checker_refuses_an_unknown_fault_in_one_line() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--faults", "kill,flood"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown flood" in done.stderr and "Traceback" not in done.stderr


def _load_checker() -> ModuleType:
    # a script beside benchmarks/_harness.py: load both the way running it would
    for name in ("_harness", "cluster_checker"):
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, SCRIPT.parent / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules["cluster_checker"]


class _NotOwner(service_pb2_grpc.FilaServiceServicer):
    """A node that does not own the queue, answering Consume as cluster mode does."""

    def __init__(self, owner: str) -> None:
        self.owner = owner

    async def Consume(self, request: Any, context: Any) -> Any:
        context.set_trailing_metadata(((LEADER_ADDR_KEY, self.owner),))
        await context.abort(grpc.StatusCode.UNAVAILABLE, "not the owner of this queue")
        yield  # pragma: no cover (a generator, as a streaming handler)


class _Owner(service_pb2_grpc.FilaServiceServicer):
    async def Consume(self, request: Any, context: Any) -> Any:
        yield service_pb2.ConsumeResponse(message=messages_pb2.Message(id="m1", payload=b"p0-1"))
        await asyncio.Event().wait()  # an open stream, as a real one stays


async def _serve(servicer: Any) -> tuple[Any, str]:
    server = grpc.aio.server()
    service_pb2_grpc.add_FilaServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_the_checker_credits_a_delivery_to_the_node_that_made_it() -> None:
    # Failover times hang on which node delivered: after the client followed a redirect,
    # that is the owner, not the node the stream was opened on.
    checker = _load_checker()
    owner, owner_addr = await _serve(_Owner())
    other, other_addr = await _serve(_NotOwner(owner_addr))
    try:
        for start in (other_addr, owner_addr):
            async with AsyncClient(start) as client:
                stream = client.consume("q")
                msg = await stream.__anext__()
                assert msg.payload == b"p0-1"
                assert checker.delivered_by(client, msg.id) == owner_addr
                await stream.aclose()
    finally:
        await other.stop(None)
        await owner.stop(None)
