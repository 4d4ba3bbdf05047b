"""OpenTelemetry export: the same metrics as ``/metrics``, pushed over OTLP/gRPC.

``[telemetry] otlp_endpoint`` turns it on. Every ``metrics_interval_ms`` a thread of its
own collects the Prometheus registry (metrics.py: the core's counters read on the event
loop, and the shell's histograms) and sends it as one OTLP ``ExportMetricsServiceRequest``,
so there is one instrumentation layer and the two exports map one to one:

- a Prometheus counter ``fila_x_total`` is the OTLP monotonic cumulative Sum ``fila_x``;
- a gauge is a Gauge of the same name;
- a histogram is a cumulative Histogram of the same name with the same bucket bounds
  (``min``/``max`` left unset: Prometheus histograms do not keep them).

Labels become attributes; the resource carries ``service.name`` (``[telemetry]
service_name``). Cumulative values start at the process start (counters are not
persisted). A collector that is down costs one warning per outage, and the next interval
tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1 import (
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from fila import __version__

__all__ = ["OtlpExporter", "channel_target", "to_request"]

log = logging.getLogger("fila.metrics")

EXPORT_TIMEOUT_S = 10.0
FINAL_EXPORT_TIMEOUT_S = 2.0
_CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE


def channel_target(endpoint: str) -> tuple[str, bool]:
    """``http://host:4317``, ``https://host:4317`` or ``host:4317`` -> (host:port, tls)."""
    tls = endpoint.startswith("https://")
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            endpoint = endpoint[len(scheme):]
    return endpoint.rstrip("/"), tls


def _attributes(labels: dict[str, str]) -> list[common_pb2.KeyValue]:
    return [common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
            for k, v in sorted(labels.items())]


def _metric(family: Metric, start_ns: int, now_ns: int) -> metrics_pb2.Metric | None:
    out = metrics_pb2.Metric(name=family.name, description=family.documentation,
                             unit=family.unit)
    if family.type == "counter":
        out.sum.aggregation_temporality = _CUMULATIVE
        out.sum.is_monotonic = True
        for s in family.samples:
            if s.name == family.name + "_total":
                out.sum.data_points.add(attributes=_attributes(s.labels), as_double=s.value,
                                        start_time_unix_nano=start_ns, time_unix_nano=now_ns)
    elif family.type == "gauge":
        for s in family.samples:
            out.gauge.data_points.add(attributes=_attributes(s.labels), as_double=s.value,
                                      time_unix_nano=now_ns)
    elif family.type == "histogram":
        out.histogram.aggregation_temporality = _CUMULATIVE
        series: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for s in family.samples:
            labels = {k: v for k, v in s.labels.items() if k != "le"}
            one = series.setdefault(tuple(sorted(labels.items())),
                                    {"labels": labels, "buckets": [], "count": 0, "sum": 0.0})
            if s.name.endswith("_bucket"):
                one["buckets"].append((float(s.labels["le"]), s.value))
            elif s.name.endswith("_count"):
                one["count"] = int(s.value)
            elif s.name.endswith("_sum"):
                one["sum"] = s.value
        for one in series.values():
            buckets = sorted(one["buckets"])
            # Prometheus buckets are cumulative (<= le); OTLP counts each bucket alone.
            counts, previous = [], 0.0
            for _, cumulative in buckets:
                counts.append(int(cumulative - previous))
                previous = cumulative
            out.histogram.data_points.add(
                attributes=_attributes(one["labels"]), start_time_unix_nano=start_ns,
                time_unix_nano=now_ns, count=one["count"], sum=one["sum"],
                bucket_counts=counts,
                explicit_bounds=[le for le, _ in buckets if le != float("inf")])
    else:
        return None  # info, summary, untyped: fila exports none
    return out


def to_request(families: Iterable[Metric], service_name: str, start_ns: int, now_ns: int
               ) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """One export request holding every family (the Prometheus view, converted)."""
    resource = resource_pb2.Resource(attributes=_attributes({
        "service.name": service_name, "service.version": __version__}))
    metrics = [m for f in families if (m := _metric(f, start_ns, now_ns)) is not None]
    scope = metrics_pb2.ScopeMetrics(
        scope=common_pb2.InstrumentationScope(name="fila", version=__version__),
        metrics=metrics)
    return metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[metrics_pb2.ResourceMetrics(resource=resource, scope_metrics=[scope])])


class OtlpExporter:
    """Pushes ``registry`` to ``endpoint`` every ``interval_s`` on a thread of its own."""

    def __init__(self, registry: CollectorRegistry, endpoint: str, service_name: str,
                 interval_s: float) -> None:
        self._registry = registry
        self._service_name = service_name
        self._interval = interval_s
        self._start_ns = time.time_ns()
        target, tls = channel_target(endpoint)
        self._endpoint = endpoint
        self._channel = (grpc.secure_channel(target, grpc.ssl_channel_credentials()) if tls
                         else grpc.insecure_channel(target))
        self._stub = metrics_service_pb2_grpc.MetricsServiceStub(  # type: ignore[no-untyped-call]
            self._channel)
        self._stop = threading.Event()
        self._failing = False
        self.exports = 0  # successful exports, for tests
        self._thread = threading.Thread(target=self._run, name="fila-otlp", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.export_once()
        # The last values, at shutdown; a short timeout so a black-holed collector cannot
        # hold the shutdown for long.
        self.export_once(FINAL_EXPORT_TIMEOUT_S)

    def export_once(self, timeout: float = EXPORT_TIMEOUT_S) -> None:
        try:
            request = to_request(self._registry.collect(), self._service_name,
                                 self._start_ns, time.time_ns())
            self._stub.Export(request, timeout=timeout)
        except Exception as exc:  # a collector being down must not stop the broker
            if not self._failing:
                self._failing = True
                log.warning("OTLP export to %s failed (retrying every %.0f s): %s",
                            self._endpoint, self._interval,
                            exc.details() if isinstance(exc, grpc.RpcError) and
                            isinstance(exc, grpc.Call) else exc)
            return
        if self._failing:
            self._failing = False
            log.info("OTLP export to %s works again", self._endpoint)
        self.exports += 1

    def close(self) -> None:
        """Send one last export and stop (call before the event loop stops)."""
        self._stop.set()
        self._thread.join(timeout=EXPORT_TIMEOUT_S + 5)
        self._channel.close()
