"""Committed generated code must be exactly what its generator writes.

fila/v1 from the protos; fila/_sync_client.py and fila/_client_api.py from the
asyncio client (scripts/gen_sync_client.py).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_sync_client_is_fresh() -> None:
    gen = _load("gen_sync_client")
    files = gen.generate(ROOT)
    assert set(files) == {Path("fila/_sync_client.py"), Path("fila/_client_api.py")}
    stale = sorted(str(rel) for rel, text in files.items() if (ROOT / rel).read_text() != text)
    assert not stale, f"stale generated code: {stale}; run `python scripts/gen_sync_client.py`"


def test_sync_generator_refuses_what_it_cannot_translate() -> None:
    gen = _load("gen_sync_client")
    source = '"""doc"""\n\nasync def f(x):\n    async with x:\n        await x\n'
    assert gen.sync_source(source).endswith("def f(x):\n    with x:\n        x\n")
    with pytest.raises(SystemExit, match="no substitution"):
        gen.sync_source('"""doc"""\n\nimport grpc.aio\n')


def test_the_client_api_protocol_matches_both_clients() -> None:
    import inspect

    from fila._client_api import ClientAPI
    from fila.client import AsyncClient, Client

    public = {n for n in vars(Client) if not n.startswith("_")}
    assert public == {n for n in vars(ClientAPI) if not n.startswith("_")}
    assert public == {n for n in vars(AsyncClient) if not n.startswith("_")}
    for name in public:
        sync, proto, aio = (getattr(c, name) for c in (Client, ClientAPI, AsyncClient))
        assert inspect.signature(sync) == inspect.signature(proto), name
        assert list(inspect.signature(sync).parameters) == list(
            inspect.signature(aio).parameters), name
        assert sync.__doc__ == aio.__doc__ == proto.__doc__, name
        if name != "close":  # closing raises nothing
            assert sync.__doc__ and "Raises" in sync.__doc__, f"{name} documents no Raises:"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules["gen_proto"] = gen
    spec.loader.exec_module(gen)
    gen.generate(tmp_path)
    fresh = {p.name: p.read_text() for p in (tmp_path / "fila" / "v1").glob("*_pb2*")}
    committed = {p.name: p.read_text() for p in (ROOT / "fila" / "v1").glob("*_pb2*")}
    assert fresh.keys() == committed.keys()
    stale = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not stale, f"stale generated code: {stale}; run `python scripts/gen_proto.py`"


def test_part_a_field_numbers_are_fixed() -> None:
    from fila.v1 import admin_pb2, messages_pb2, service_pb2

    def numbers(msg: type) -> dict[str, int]:
        return {f.name: f.number for f in msg.DESCRIPTOR.fields}  # type: ignore[attr-defined]

    assert numbers(messages_pb2.Message) == {
        "id": 1, "headers": 2, "payload": 3, "metadata": 4, "timestamps": 5}
    assert {k: v for k, v in numbers(messages_pb2.MessageMetadata).items() if v <= 5} == {
        "fairness_key": 1, "weight": 2, "throttle_keys": 3, "attempt_count": 4, "queue_id": 5}
    assert numbers(service_pb2.EnqueueRequest)["payload"] == 3
    assert numbers(service_pb2.NackRequest) == {"queue": 1, "message_id": 2, "error": 3}
    stats = numbers(admin_pb2.GetStatsResponse)
    assert stats["per_throttle_stats"] == 7 and stats["replication_count"] == 9
    assert numbers(admin_pb2.QueueConfig) == {
        "on_enqueue_script": 1, "on_failure_script": 2, "visibility_timeout_ms": 3}
    assert numbers(admin_pb2.RedriveRequest)["count"] == 2
    assert numbers(admin_pb2.ListQueuesResponse) == {"queues": 1, "cluster_node_count": 2}
