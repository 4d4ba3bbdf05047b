"""The committed fila/v1 modules must be exactly what the protos generate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
