"""OTLP export: a real fila-server pushes its metrics to an OTLP/gRPC endpoint (an
in-test collector built from opentelemetry-proto), and they match the traffic."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)

from e2e.helpers import wait_for
from fila.client import Client

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


class Collector(metrics_service_pb2_grpc.MetricsServiceServicer):  # type: ignore[misc]
    def __init__(self) -> None:
        self.requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self.lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self.lock:
            self.requests.append(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()

    def latest(self) -> metrics_service_pb2.ExportMetricsServiceRequest | None:
        with self.lock:
            return self.requests[-1] if self.requests else None


@pytest.fixture()
def collector() -> Iterator[tuple[Collector, int]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    service = Collector()
    metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield service, port
    finally:
        server.stop(0)


def points(request: Any, name: str) -> dict[tuple[tuple[str, str], ...], Any]:
    out = {}
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name != name:
                    continue
                data = getattr(m, m.WhichOneof("data"))
                for p in data.data_points:
                    attrs = tuple((a.key, a.value.string_value) for a in p.attributes)
                    out[attrs] = p
    return out


def test_metrics_reach_an_otlp_collector(make_server: Callable[..., ServerProcess],
                                        collector: tuple[Collector, int]) -> None:
    service, port = collector
    server = make_server({"telemetry": {"otlp_endpoint": f"http://127.0.0.1:{port}",
                                        "service_name": "fila-test",
                                        "metrics_interval_ms": 200}})
    with Client(server.addr) as c:
        c.create_queue("orders")
        for i in range(7):
            c.enqueue("orders", {}, f"m{i}".encode())
        stream = c.consume("orders")
        for _ in range(7):
            c.ack("orders", next(stream).id)
        stream.close()

    q = (("queue", "orders"),)

    def acked_seen() -> bool:
        latest = service.latest()
        p = points(latest, "fila_messages_acked").get(q) if latest else None
        return p is not None and p.as_double == 7

    wait_for(acked_seen, timeout=30, what="an export with the 7 acks")
    request = service.latest()
    assert request is not None
    resource = {a.key: a.value.string_value
                for a in request.resource_metrics[0].resource.attributes}
    assert resource["service.name"] == "fila-test"
    assert points(request, "fila_messages_enqueued")[q].as_double == 7
    assert points(request, "fila_messages_delivered")[q].as_double == 7
    assert points(request, "fila_queue_depth")[q].as_double == 0
    rpc = points(request, "fila_rpc_duration_seconds")[(("code", "OK"), ("method", "Enqueue"))]
    assert rpc.count == 7 and sum(rpc.bucket_counts) == 7
    assert len(rpc.bucket_counts) == len(rpc.explicit_bounds) + 1
    assert server.stop() == 0
