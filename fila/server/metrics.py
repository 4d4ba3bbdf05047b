"""Prometheus metrics: the core's own counters read at scrape time, plus a few
histograms the async shell records.

The core already counts what happens to each queue (``QueueState.counters``, key
stats, limit counters) for GetStats; :class:`CoreCollector` turns those into
metric families when Prometheus scrapes, so the hot path pays nothing for counters
and gauges. Only durations need recording as they happen; the shell does that
(``Metrics``): RPC latency in service.py, group commit latency in commit.py,
enqueue → delivery wait in engine.py, hook duration in hookcalls.py.

The core is owned by the event-loop thread, and prometheus-client serves
``/metrics`` from a thread of its own, so a scrape hands the reading to the loop
(``call_soon_threadsafe``) and waits for it: the core is never read concurrently
with a change.

Cardinality: per-queue series for every queue (bounded by the queue limit, 10 000),
per fairness key only for the ``TOP_KEYS`` busiest keys of each queue (pending + in
flight), per limit key for the configured throttle and concurrency keys.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fila import __version__
from fila.server.broker import Broker
from fila.server.stats import top_keys_of

__all__ = ["TOP_KEYS", "CoreCollector", "Metrics", "MetricsServer", "StorageSource"]

log = logging.getLogger("fila.metrics")

# Per-fairness-key series per queue: the busiest keys only, so 100 000 keys do not
# become 100 000 series (documented in docs/operations.md).
TOP_KEYS = 20
# A scrape waits this long for the event loop to read the core; a wedged loop makes
# the scrape fail (which Prometheus records as up == 0) rather than hang.
COLLECT_TIMEOUT_S = 5.0

# Unary RPCs answer in about 0.1-10 ms (fsync bound); the tail matters.
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
               5.0, 10.0)
# One group's write + WAL fsync: tens of microseconds (no fsync) to tens of ms.
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                  0.25, 1.0)
# Enqueue -> lease: milliseconds when consumers keep up, minutes when they do not.
WAIT_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
# A hook call under its default 10 ms budget.
HOOK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0)

# (core counter name, metric name, help)
_QUEUE_COUNTERS = (
    ("enqueued", "fila_messages_enqueued", "Messages enqueued (including redriven ones)."),
    ("delivered", "fila_messages_delivered", "Messages leased to a consumer."),
    ("acked", "fila_messages_acked", "Messages acknowledged."),
    ("nacked", "fila_messages_nacked", "Messages negatively acknowledged."),
    ("dead_lettered", "fila_messages_dead_lettered", "Messages moved to the dead-letter queue."),
    ("expired", "fila_messages_expired", "Leases that ran out (message requeued)."),
    ("redriven", "fila_messages_redriven", "Messages moved out of this dead-letter queue."),
    ("purged", "fila_messages_purged", "Ready or delayed messages removed by PurgeQueue."),
    ("hook_failures", "fila_hook_failures", "Hook calls that failed (default policy applied)."),
)


@dataclass(frozen=True)
class StorageSource:
    """How the collector reads storage counters (plain callables: no store import)."""

    # () -> (wal syncs, commit groups, commit batches, fsync on)
    counters: Callable[[], tuple[int, int, int, bool]]
    commit_failures: Callable[[], int]
    degraded: Callable[[], bool]


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


def _counter(name: str, doc: str, labels: Iterable[str] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=list(labels))


def read_core(broker: Broker, storage: StorageSource | None = None,
              top_keys: int = TOP_KEYS) -> list[Metric]:
    """Every core-derived metric family, read now. Call on the loop that owns ``broker``."""
    counters = {name: _counter(metric, doc, ["queue"]) for name, metric, doc in _QUEUE_COUNTERS}
    gauges = {
        "depth": _gauge("fila_queue_depth", "Messages stored in the queue (any state).",
                        ["queue"]),
        "pending": _gauge("fila_queue_pending", "Messages ready for delivery.", ["queue"]),
        "in_flight": _gauge("fila_queue_in_flight", "Messages leased and not settled.",
                            ["queue"]),
        "delayed": _gauge("fila_queue_delayed", "Messages waiting for their delay.", ["queue"]),
        "consumers": _gauge("fila_queue_consumers", "Open consume streams.", ["queue"]),
        "active_keys": _gauge("fila_queue_active_keys", "Fairness keys with pending messages.",
                              ["queue"]),
        "breaker": _gauge("fila_hook_breaker_open", "1 while the queue's hooks are bypassed.",
                          ["queue"]),
    }
    key_pending = _gauge("fila_key_pending",
                         f"Pending messages of the {top_keys} busiest fairness keys per queue.",
                         ["queue", "key"])
    key_in_flight = _gauge("fila_key_in_flight",
                           f"Leased messages of the {top_keys} busiest fairness keys per queue.",
                           ["queue", "key"])
    key_delivered = _counter(
        "fila_key_messages_delivered",
        f"Deliveries of the {top_keys} busiest fairness keys per queue (resets when an idle "
        "key's stats are pruned).", ["queue", "key"])
    now_ms = broker.clock.wall_ms()
    for name in broker.queue_names():
        q = broker.stats_view(name)
        labels = [name]
        for counter, family in counters.items():
            family.add_metric(labels, q.counters.get(counter, 0))
        gauges["depth"].add_metric(labels, len(q.msgs))
        gauges["pending"].add_metric(labels, len(q.sched))
        gauges["in_flight"].add_metric(labels, q.leased)
        gauges["delayed"].add_metric(labels, q.delayed)
        gauges["consumers"].add_metric(labels, len(q.consumers))
        gauges["active_keys"].add_metric(labels, sum(1 for _ in q.sched.keys()))  # noqa: SIM118
        gauges["breaker"].add_metric(labels, 1 if q.guard.is_open(now_ms) else 0)
        for key in top_keys_of(q, top_keys):
            ks = q.keys[key]
            key_pending.add_metric([name, key], ks.pending)
            key_in_flight.add_metric([name, key], ks.in_flight)
            key_delivered.add_metric([name, key], ks.delivered)
    families: list[Metric] = [*counters.values(), *gauges.values(), key_pending, key_in_flight,
                              key_delivered, *_read_limits(broker)]
    if storage is not None:
        families.extend(_read_storage(storage))
    info = _gauge("fila_build_info", "Always 1; the version is a label.", ["version"])
    info.add_metric([__version__], 1)
    families.append(info)
    return families


def _read_limits(broker: Broker) -> list[Metric]:
    limits = broker.limits
    now = broker.clock.monotonic()
    tokens = _gauge("fila_throttle_tokens", "Tokens in the throttle key's bucket now.", ["key"])
    decisions = _counter("fila_limit_decisions",
                         "Limit checks of a key's head message: hit = refused, pass = allowed.",
                         ["key", "decision"])
    cap_in_flight = _gauge("fila_concurrency_in_flight",
                           "Leased messages holding a concurrency key.", ["key"])
    for key in sorted(set(limits.throttle_keys()) | set(limits.cap_keys())):
        throttle = limits.throttle_state(key, now)
        if throttle is not None:
            tokens.add_metric([key], throttle[0])
        cap = limits.cap_state(key)
        if cap is not None:
            cap_in_flight.add_metric([key], cap[0])
        hits, passes = limits.counters(key)
        decisions.add_metric([key, "hit"], hits)
        decisions.add_metric([key, "pass"], passes)
    return [tokens, decisions, cap_in_flight]


def _read_storage(storage: StorageSource) -> list[Metric]:
    syncs, groups, batches, _ = storage.counters()
    out: list[Metric] = []
    for name, doc, value in (
        ("fila_wal_syncs", "WAL fsyncs RocksDB performed.", syncs),
        ("fila_commit_groups", "Group commits written (one write + one fsync each).", groups),
        ("fila_commit_batches", "Batches written inside group commits.", batches),
        ("fila_commit_failures", "Group commits that failed.", storage.commit_failures()),
    ):
        family = _counter(name, doc)
        family.add_metric([], value)
        out.append(family)
    degraded = _gauge("fila_storage_degraded", "1 while storage writes fail.")
    degraded.add_metric([], 1 if storage.degraded() else 0)
    out.append(degraded)
    return out


class CoreCollector(Collector):
    """A prometheus-client collector that reads the core on its event loop at scrape time."""

    def __init__(self, broker: Broker, loop: asyncio.AbstractEventLoop,
                 storage: StorageSource | None = None, top_keys: int = TOP_KEYS) -> None:
        self._broker = broker
        self._loop = loop
        self._storage = storage
        self._top_keys = top_keys

    def _read(self) -> list[Metric]:
        return read_core(self._broker, self._storage, self._top_keys)

    def collect(self) -> Iterator[Metric]:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:  # already on the owning loop (tests, generate_latest)
            yield from self._read()
            return
        result: concurrent.futures.Future[list[Metric]] = concurrent.futures.Future()

        def read() -> None:
            try:
                result.set_result(self._read())
            except Exception as exc:  # reported to the scrape, never kills the loop
                result.set_exception(exc)

        try:
            self._loop.call_soon_threadsafe(read)
        except RuntimeError:
            return  # the loop is closed: the server is stopping, nothing to read
        yield from result.result(timeout=COLLECT_TIMEOUT_S)


class Metrics:
    """The shell's histograms, on one registry; None of this is touched when metrics are off."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.rpc_seconds = Histogram(
            "fila_rpc_duration_seconds", "Unary RPC latency by method and status code.",
            ["method", "code"], buckets=RPC_BUCKETS, registry=self.registry)
        self.commit_seconds = Histogram(
            "fila_commit_seconds", "One group commit: the write and its WAL fsync.",
            buckets=COMMIT_BUCKETS, registry=self.registry)
        self.wait_seconds = Histogram(
            "fila_delivery_wait_seconds",
            "Enqueue to lease, per delivery (includes delay_ms and earlier attempts).",
            ["queue"], buckets=WAIT_BUCKETS, registry=self.registry)
        self.hook_seconds = Histogram(
            "fila_hook_duration_seconds", "One on_enqueue or on_failure call, hand-off included.",
            ["queue", "hook"], buckets=HOOK_BUCKETS, registry=self.registry)
        # Children by label values: .labels() parses its arguments on every call.
        self._rpc: dict[tuple[str, str], Any] = {}
        self._wait: dict[str, Any] = {}
        self._hook: dict[tuple[str, str], Any] = {}

    def rpc(self, method: str, code: str, seconds: float) -> None:
        child = self._rpc.get((method, code))
        if child is None:
            child = self._rpc[(method, code)] = self.rpc_seconds.labels(method, code)
        child.observe(seconds)

    def commit(self, seconds: float) -> None:
        """Called on the group-commit thread (Histogram is thread-safe)."""
        self.commit_seconds.observe(seconds)

    def delivery_wait(self, queue: str, seconds: float) -> None:
        child = self._wait.get(queue)
        if child is None:
            child = self._wait[queue] = self.wait_seconds.labels(queue)
        child.observe(seconds)

    def hook(self, queue: str, hook: str, seconds: float) -> None:
        child = self._hook.get((queue, hook))
        if child is None:
            child = self._hook[(queue, hook)] = self.hook_seconds.labels(queue, hook)
        child.observe(seconds)

    def forget_queue(self, queue: str) -> None:
        """A deleted queue's histogram series go with it."""
        if self._wait.pop(queue, None) is not None:
            self.wait_seconds.remove(queue)
        for key in [k for k in self._hook if k[0] == queue]:
            del self._hook[key]
            self.hook_seconds.remove(*key)


class MetricsServer:
    """``/metrics`` over HTTP on its own thread (prometheus-client's server)."""

    def __init__(self, metrics: Metrics, addr: str) -> None:
        host, _, port = addr.rpartition(":")
        self._httpd, self._thread = start_http_server(int(port), host.strip("[]"),
                                                       registry=metrics.registry)
        self.port = int(self._httpd.server_address[1])

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
