"""Soak test: mixed load for a long time, resources stay flat, nothing lost.

Results: docs/benchmarks.md, "Soak".

    python benchmarks/soak.py [--seconds 3600] [--window 60] [--rate 120] [--json soak.json]

Starts a real ``fila-server`` (temporary data dir, free port) and runs, for ``--seconds``:

* producers on several queues (one plain, one whose ``on_enqueue`` hook sets a fairness key
  and a throttle key from a header, one with an ``on_failure`` hook that retries then
  dead-letters), paced at ``--rate`` messages/s in total;
* consumers that mostly ack, sometimes nack, sometimes let the lease time out, and now and
  then close their stream and open a new one;
* a config changer cycling the throttle rates of the hook's throttle keys;
* WatchStats watchers (re-opened periodically) and admin readers (ListQueues, GetStats,
  ListMessages, GetServerInfo, GetConfig, ListConfig).

Every 2 s it samples the server's RSS and open fds from /proc; per window (``--window``
seconds) it computes the enqueue RPC latency p99. At the end it stops producing, lifts the
throttles, acks everything (DLQs included) until every queue is empty, and checks that every
enqueue the server acknowledged was delivered at least once (``lost``); a message the broker
leased again after its ack was answered is reported as ``dup_after_ack`` (a bug). A copy
leased *before* the ack, which the client reads from its buffer afterwards, is at-least-once
delivery (the lease expired while the consumer was slow, and the same stream got the
message again): those are counted as ``read_after_ack`` and are not a failure.

Criteria (exit status 1 if one fails): after warm-up (``--warmup``, default the larger of one
window and 20 % of the run), the peak RSS of each ``--rss-span`` block (300 s) within +-10 %
of the first block's (RSS saw-tooths with RocksDB memtable fills, so single windows are not
compared); open fds of every window within +-10 of the first window after warm-up;
enqueue p99 of every window <= 1.5x the first window's; lost = 0; the server alive; no
unhandled exception in the server log.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from _harness import FilaServer, header

from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2, service_pb2_grpc

FAIR_HOOK = """
function on_enqueue(msg)
  local t = msg.headers["tenant"] or "anon"
  return { fairness_key = t, weight = tonumber(msg.headers["w"] or "1"),
           throttle_keys = { "soak-tk:" .. t } }
end
"""
RETRY_HOOK = """
function on_failure(msg)
  if msg.attempts >= 3 then return { action = "dlq" } end
  return { action = "retry", delay_ms = 50 * msg.attempts }
end
"""
# name -> (on_enqueue, on_failure, visibility_timeout_ms)
QUEUES: dict[str, tuple[str, str, int]] = {
    "soak-plain": ("", "", 2000),
    "soak-fair": (FAIR_HOOK, "", 2000),
    "soak-retry": ("", RETRY_HOOK, 2000),
}
TENANTS = [f"t{i}" for i in range(6)]
THROTTLES = ["500,100", "40,20", "2000,500", "100,10"]
UNHANDLED = "unexpected error in RPC"


# ---- shared bookkeeping ---------------------------------------------------------------------

@dataclass
class Window:
    index: int
    latencies: list[float] = field(default_factory=list)
    rss: list[int] = field(default_factory=list)
    fds: list[int] = field(default_factory=list)
    enqueued: int = 0
    errors: int = 0


class Book:
    def __init__(self, window_s: float) -> None:
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.window_s = window_s
        self.windows: dict[int, Window] = {}
        self.enqueued: dict[str, str] = {}  # message id -> queue
        self.delivered: dict[str, int] = {}  # message id -> deliveries
        self.acked: dict[str, int] = {}  # message id -> wall ms when its ack was answered
        self.dup_after_ack = 0
        self.read_after_ack = 0
        self.counts: dict[str, int] = {}
        self.rpc_errors: dict[str, int] = {}

    def window(self) -> Window:
        i = int((time.monotonic() - self.t0) // self.window_s)
        w = self.windows.get(i)
        if w is None:
            w = self.windows[i] = Window(i)
        return w

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, where: str, exc: grpc.RpcError) -> None:
        key = f"{where}:{exc.code().name}"
        with self.lock:
            self.rpc_errors[key] = self.rpc_errors.get(key, 0) + 1

    def deliver(self, msg: Any) -> None:
        msg_id = msg.id
        leased_at_ms = msg.timestamps.leased_at.ToMilliseconds()
        with self.lock:
            acked_at_ms = self.acked.get(msg_id)
            if acked_at_ms is not None:
                # Same host, same wall clock: a lease granted after the ack's answer means
                # the broker handed out a message it had deleted.
                if leased_at_ms > acked_at_ms:
                    self.dup_after_ack += 1
                else:
                    self.read_after_ack += 1
            self.delivered[msg_id] = self.delivered.get(msg_id, 0) + 1


def channel(addr: str) -> grpc.Channel:
    # Each worker its own connection, as separate client processes would have.
    return grpc.insecure_channel(addr, options=[("grpc.use_local_subchannel_pool", 1)])


# ---- workers --------------------------------------------------------------------------------

def producer(addr: str, book: Book, stop: threading.Event, rate: float, seed: int) -> None:
    rng = random.Random(seed)
    ch = channel(addr)
    svc = service_pb2_grpc.FilaServiceStub(ch)
    queues = list(QUEUES)
    period = 1.0 / rate
    next_at = time.monotonic()
    n = 0
    while not stop.is_set():
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)  # the load generator's fixed cadence
        elif delay < -1.0:
            next_at = time.monotonic()  # fell behind: do not burst to catch up
        n += 1
        q = rng.choice(queues)
        tenant = rng.choice(TENANTS)
        headers = {"tenant": tenant, "w": str(rng.choice([1, 1, 2, 5]))}
        payload = rng.randbytes(rng.choice([16, 100, 1000, 8000]))
        start = time.perf_counter()
        try:
            resp = svc.Enqueue(service_pb2.EnqueueRequest(queue=q, headers=headers,
                                                          payload=payload), timeout=30)
        except grpc.RpcError as exc:
            book.error("enqueue", exc)
            with book.lock:
                book.window().errors += 1
            continue
        took = time.perf_counter() - start
        with book.lock:
            book.enqueued[resp.message_id] = q
            w = book.window()
            w.latencies.append(took)
            w.enqueued += 1
    ch.close()


class Consumer:
    """One consume stream at a time on a queue; reopened on error and now and then."""

    def __init__(self, addr: str, queue: str, book: Book, stop: threading.Event,
                 drain: threading.Event, seed: int, reopen_every: float = 45.0) -> None:
        self.addr, self.queue, self.book = addr, queue, book
        self.stop, self.drain = stop, drain
        self.rng = random.Random(seed)
        self.reopen_every = reopen_every
        self.thread = threading.Thread(target=self.run, name=f"consume-{queue}", daemon=True)
        self._call: Any = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self.thread.start()

    def cancel_stream(self) -> None:
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def run(self) -> None:
        ch = channel(self.addr)
        svc = service_pb2_grpc.FilaServiceStub(ch)
        while not self.stop.is_set():
            opened = time.monotonic()
            call = svc.Consume(service_pb2.ConsumeRequest(queue=self.queue,
                                                          prefetch=self.rng.choice([0, 1, 16])))
            with self._lock:
                self._call = call
            try:
                for frame in call:
                    if not frame.HasField("message"):
                        continue
                    self.handle(svc, frame.message)
                    if self.stop.is_set():
                        break
                    if not self.drain.is_set() and time.monotonic() - opened > self.reopen_every:
                        self.book.count("consumer_reopen")
                        break
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:
                    self.book.error(f"consume {self.queue}", exc)
                    self.stop.wait(0.2)  # back-off before reconnecting (cadence, not sync)
            finally:
                call.cancel()
        ch.close()

    def handle(self, svc: service_pb2_grpc.FilaServiceStub, msg: Any) -> None:
        self.book.deliver(msg)
        r = 0.0 if self.drain.is_set() else self.rng.random()
        try:
            if r < 0.85:
                svc.Ack(service_pb2.AckRequest(queue=self.queue, message_id=msg.id), timeout=30)
                answered_ms = time.time_ns() // 1_000_000
                with self.book.lock:
                    self.book.acked.setdefault(msg.id, answered_ms)
                self.book.count("acked")
            elif r < 0.95:
                svc.Nack(service_pb2.NackRequest(queue=self.queue, message_id=msg.id,
                                                 error="soak nack"), timeout=30)
                self.book.count("nacked")
            else:
                self.book.count("lease_left_to_expire")
        except grpc.RpcError as exc:
            # NOT_FOUND: the lease expired meanwhile (a slow consumer); the message comes back.
            self.book.error(f"settle {self.queue}", exc)


def config_changer(addr: str, book: Book, stop: threading.Event, every: float) -> None:
    ch = channel(addr)
    admin = admin_pb2_grpc.FilaAdminStub(ch)
    i = 0
    while not stop.wait(every):  # cadence
        for j, tenant in enumerate(TENANTS[:4]):
            value = THROTTLES[(i + j) % len(THROTTLES)]
            try:
                admin.SetConfig(admin_pb2.SetConfigRequest(key=f"throttle.soak-tk:{tenant}",
                                                           value=value), timeout=30)
                book.count("set_config")
            except grpc.RpcError as exc:
                book.error("set_config", exc)
        i += 1
    ch.close()


def stats_watcher(addr: str, book: Book, stop: threading.Event, queue: str,
                  reopen_every: float) -> None:
    ch = channel(addr)
    admin = admin_pb2_grpc.FilaAdminStub(ch)
    while not stop.is_set():
        opened = time.monotonic()
        call = admin.WatchStats(admin_pb2.WatchStatsRequest(queue=queue, interval_ms=500,
                                                            top_keys=10))
        try:
            for _snap in call:
                book.count("watch_frames")
                if stop.is_set() or time.monotonic() - opened > reopen_every:
                    break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                book.error("watch_stats", exc)
                stop.wait(0.2)  # back-off (cadence)
        finally:
            call.cancel()
    ch.close()


def admin_reader(addr: str, book: Book, stop: threading.Event, every: float) -> None:
    ch = channel(addr)
    admin = admin_pb2_grpc.FilaAdminStub(ch)
    reads: list[Callable[[], Any]] = [
        lambda: admin.ListQueues(admin_pb2.ListQueuesRequest(), timeout=30),
        *[(lambda q=q: admin.GetStats(admin_pb2.GetStatsRequest(queue=q), timeout=30))
          for q in QUEUES],
        *[(lambda q=q: admin.ListMessages(admin_pb2.ListMessagesRequest(queue=q, limit=50),
                                          timeout=30)) for q in QUEUES],
        lambda: admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=30),
        lambda: admin.GetConfig(admin_pb2.GetConfigRequest(key="throttle.soak-tk:t0"),
                                timeout=30),
        lambda: admin.ListConfig(admin_pb2.ListConfigRequest(prefix="throttle."), timeout=30),
        lambda: admin.GetQueue(admin_pb2.GetQueueRequest(name="soak-fair"), timeout=30),
    ]
    i = 0
    while not stop.wait(every):  # cadence
        try:
            reads[i % len(reads)]()
            book.count("admin_reads")
        except grpc.RpcError as exc:
            book.error("admin_read", exc)
        i += 1
    ch.close()


def sampler(server: FilaServer, book: Book, stop: threading.Event, every: float) -> None:
    while server.alive():
        try:
            rss, fds = server.rss_bytes(), server.open_fds()
        except OSError:
            break
        with book.lock:
            w = book.window()
            w.rss.append(rss)
            w.fds.append(fds)
        if stop.wait(every):  # cadence
            break


# ---- the run --------------------------------------------------------------------------------

def p99(values: list[float]) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, round(0.99 * (len(s) - 1)))]


def depths(admin: admin_pb2_grpc.FilaAdminStub) -> dict[str, int]:
    resp = admin.ListQueues(admin_pb2.ListQueuesRequest(), timeout=30)
    return {q.name: q.depth for q in resp.queues}


def run_soak(seconds: float = 3600, window: float = 60, rate: float = 120,
             producers: int = 4, workdir: Path | None = None,
             drain_timeout: float = 120, log: Callable[[str], None] = print,
             warmup: float | None = None, rss_span: float = 300) -> dict[str, Any]:
    """Run the soak; returns the result dict (``result["ok"]`` and ``result["failures"]``)."""
    own_dir = workdir is None
    root = Path(tempfile.mkdtemp(prefix="soak-")) if workdir is None else workdir
    # Run under its own name: on a shared machine a `pkill -f fila-server` meant for someone
    # else's servers would otherwise end the soak (it happened).
    server = FilaServer(root, alias="soak-broker")
    server.start(timeout=20.0)
    result: dict[str, Any] = {}
    try:
        if warmup is None:
            warmup = max(window, seconds / 5)
        result = _drive(server, seconds, window, rate, producers, drain_timeout, log, warmup,
                        rss_span)
    finally:
        alive_at_end = server.alive()
        code = server.stop(timeout=15.0)
        result.setdefault("failures", [])
        result["server_alive_at_end"] = alive_at_end
        result["server_exit_code"] = code
        server_log = server.log()
        result["unhandled_exceptions_logged"] = server_log.count(UNHANDLED)
        if not alive_at_end:
            how = (" after a SIGTERM we did not send" if "shutting down" in server_log
                   else "")
            result["failures"].append(f"server died (exit {code}){how}")
            result["server_log_tail"] = server_log[-4000:]
        if result["unhandled_exceptions_logged"]:
            result["failures"].append(
                f"{result['unhandled_exceptions_logged']} unhandled exception(s) in the server log")
            i = server_log.find(UNHANDLED)
            result["first_unhandled"] = server_log[i:i + 3000]
        result["ok"] = not result["failures"]
        if own_dir:
            shutil.rmtree(root, ignore_errors=True)
    return result


def _drive(server: FilaServer, seconds: float, window: float, rate: float, n_producers: int,
           drain_timeout: float, log: Callable[[str], None], warmup: float,
           rss_span: float) -> dict[str, Any]:
    ch = channel(server.addr)
    admin = admin_pb2_grpc.FilaAdminStub(ch)
    for name, (on_enqueue, on_failure, vt) in QUEUES.items():
        admin.CreateQueue(admin_pb2.CreateQueueRequest(name=name, config=admin_pb2.QueueConfig(
            on_enqueue_script=on_enqueue, on_failure_script=on_failure,
            visibility_timeout_ms=vt)), timeout=30)
    for tenant in TENANTS[:4]:
        admin.SetConfig(admin_pb2.SetConfigRequest(key=f"throttle.soak-tk:{tenant}",
                                                   value=THROTTLES[0]), timeout=30)
    book = Book(window)
    stop_load = threading.Event()   # producers, config, watchers, admin readers
    stop_all = threading.Event()    # consumers and the sampler
    drain = threading.Event()
    threads = [threading.Thread(target=producer, daemon=True, name=f"produce-{i}",
                                args=(server.addr, book, stop_load, rate / n_producers, i))
               for i in range(n_producers)]
    threads.append(threading.Thread(target=config_changer, daemon=True,
                                    args=(server.addr, book, stop_load, 10.0)))
    threads.append(threading.Thread(target=admin_reader, daemon=True,
                                    args=(server.addr, book, stop_load, 0.25)))
    for q, reopen in (("", 30.0), ("soak-fair", 20.0)):
        threads.append(threading.Thread(target=stats_watcher, daemon=True,
                                        args=(server.addr, book, stop_load, q, reopen)))
    sampler_thread = threading.Thread(target=sampler, daemon=True,
                                      args=(server, book, stop_all, 2.0))
    consumers: list[Consumer] = []
    for i, q in enumerate([*QUEUES, "soak-fair", "soak-retry.dlq"]):
        consumers.append(Consumer(server.addr, q, book, stop_all, drain, 100 + i,
                                  reopen_every=45.0 + 7 * i))
    sampler_thread.start()
    for c in consumers:
        c.start()
    for t in threads:
        t.start()

    end = time.monotonic() + seconds
    last_report = time.monotonic()
    while time.monotonic() < end and server.alive():
        stop_load.wait(min(1.0, max(0.0, end - time.monotonic())))  # progress cadence
        if time.monotonic() - last_report >= window:
            last_report = time.monotonic()
            with book.lock:
                current = int((time.monotonic() - book.t0) // window)
                done = [w for i, w in sorted(book.windows.items()) if i < current and w.latencies]
                if done:
                    w = done[-1]
                    log(f"  t={time.monotonic() - book.t0:6.0f}s enqueued={len(book.enqueued)} "
                        f"delivered={len(book.delivered)} p99(last window)="
                        f"{p99(w.latencies) * 1000:.1f} ms "
                        f"rss={(w.rss[-1] if w.rss else 0) / 2**20:.1f} MiB "
                        f"fds={w.fds[-1] if w.fds else 0}")
    load_seconds = time.monotonic() - book.t0
    stop_load.set()
    for t in threads:
        t.join(timeout=60)

    # Drain: lift throttles, ack everything, until every queue is empty.
    drain.set()
    drained = False
    final_depths: dict[str, int] = {}
    drain_started = time.monotonic()
    if server.alive():
        for tenant in TENANTS[:4]:
            with contextlib.suppress(grpc.RpcError):
                admin.SetConfig(admin_pb2.SetConfigRequest(key=f"throttle.soak-tk:{tenant}",
                                                           value=""), timeout=30)
        deadline = time.monotonic() + drain_timeout
        while time.monotonic() < deadline and server.alive():
            try:
                final_depths = depths(admin)
            except grpc.RpcError:
                final_depths = {}
            if final_depths and not any(final_depths.values()):
                with book.lock:
                    missing = set(book.enqueued) - set(book.delivered)
                if not missing:
                    drained = True
                    break
            stop_all.wait(0.2)  # polling the drain condition, bounded by the deadline
    drain_seconds = time.monotonic() - drain_started
    stop_all.set()
    for c in consumers:
        c.cancel_stream()
    for c in consumers:
        c.thread.join(timeout=30)
    sampler_thread.join(timeout=10)
    ch.close()
    return summarise(book, load_seconds, drain_seconds, drained, final_depths, warmup, rss_span)


def summarise(book: Book, load_seconds: float, drain_seconds: float, drained: bool,
              final_depths: dict[str, int], warmup: float, rss_span: float = 300
              ) -> dict[str, Any]:
    with book.lock:
        windows = [book.windows[i] for i in sorted(book.windows)]
        enqueued = set(book.enqueued)
        delivered = book.delivered
        lost = len(enqueued - set(delivered))
        # Delivered but never acknowledged to a producer: only explainable by an enqueue whose
        # reply was an error (it may still have been stored).
        unexpected = len(set(delivered) - enqueued)
        enqueue_errors = sum(w.errors for w in windows)
        redelivered = sum(n - 1 for n in delivered.values() if n > 1)
        rows = []
        for w in windows:
            if not w.latencies and not w.rss:
                continue
            rows.append({
                "window": w.index,
                "enqueued": w.enqueued,
                "enqueue_errors": w.errors,
                "p50_ms": round(statistics.median(w.latencies) * 1000, 2) if w.latencies else 0,
                "p99_ms": round(p99(w.latencies) * 1000, 2),
                "rss_mib": round(statistics.mean(w.rss) / 2**20, 1) if w.rss else 0,
                "rss_max_mib": round(max(w.rss) / 2**20, 1) if w.rss else 0,
                "fds_min": min(w.fds) if w.fds else 0,
                "fds_max": max(w.fds) if w.fds else 0,
            })
        result: dict[str, Any] = {
            "load_seconds": round(load_seconds, 1),
            "drain_seconds": round(drain_seconds, 1),
            "window_seconds": book.window_s,
            "enqueued_acked": len(enqueued),
            "delivered_unique": len(set(delivered) & enqueued),
            "lost": lost,
            "unexpected": unexpected,
            "redeliveries": redelivered,
            "dup_after_ack": book.dup_after_ack,
            "read_after_ack": book.read_after_ack,
            "drained": drained,
            "final_depths": final_depths,
            "counts": dict(book.counts),
            "rpc_errors": dict(book.rpc_errors),
            "windows": rows,
        }
    failures: list[str] = []
    # Only full load windows count for the stability criteria (the last one may be partial).
    full = [r for r in rows if r["enqueued"] and (r["window"] + 1) * book.window_s <= load_seconds]
    settled = [r for r in full if r["window"] * book.window_s >= warmup]
    if lost:
        failures.append(f"lost = {lost}")
    if unexpected > enqueue_errors:
        failures.append(f"unexpected deliveries = {unexpected} (enqueue errors {enqueue_errors})")
    if not drained:
        failures.append(f"not drained; final depths {final_depths}")
    # RSS saw-tooths with RocksDB memtable fills and flushes (64 MiB write buffer; minutes per
    # cycle at soak rates), so a window's RSS says little. Judged instead: the peak RSS of
    # each block of rss_span seconds after warm-up vs the first such block.
    per_block = max(1, round(rss_span / book.window_s))
    blocks = [settled[i:i + per_block] for i in range(0, len(settled), per_block)]
    blocks = [b for b in blocks if len(b) == per_block]
    peaks = [max(r["rss_max_mib"] for r in b) for b in blocks]
    if len(peaks) >= 2:
        for i, peak in enumerate(peaks[1:], 1):
            if abs(peak - peaks[0]) > 0.10 * peaks[0]:
                failures.append(f"RSS peak of block {i}: {peak} MiB vs {peaks[0]} MiB in the "
                                f"first block after warm-up (> 10 %)")
    if settled:
        base = settled[0]  # the first window after warm-up
        for r in settled[1:]:
            if r["fds_max"] > base["fds_max"] + 10 or r["fds_min"] < base["fds_min"] - 10:
                failures.append(f"fds window {r['window']}: {r['fds_min']}-{r['fds_max']} vs "
                                f"{base['fds_min']}-{base['fds_max']} after warm-up (> +-10)")
    if len(full) >= 2:
        first = full[0]["p99_ms"]
        for r in full[1:]:
            if first and r["p99_ms"] > 1.5 * first:
                failures.append(f"p99 window {r['window']}: {r['p99_ms']} ms > 1.5 x "
                                f"{first} ms (first window)")
    result["criteria"] = {
        "warmup_seconds": warmup,
        "rss": f"peak RSS of each {rss_span:.0f} s block after warm-up within +-10 % of the "
               f"first block's",
        "rss_block_peaks_mib": peaks,
        "fds": "within +-10 of the first window after warm-up",
        "p99": "every full window <= 1.5x the first window",
        "lost": "0",
        "windows_judged": len(full),
        "windows_after_warmup": len(settled),
    }
    result["failures"] = failures
    return result


def print_table(result: dict[str, Any], out: Callable[[str], None] = print) -> None:
    out(f"{'window':>6} {'enq':>7} {'err':>4} {'p50 ms':>7} {'p99 ms':>7} {'RSS MiB':>8} "
        f"{'max':>7} {'fds':>9}")
    for r in result.get("windows", []):
        out(f"{r['window']:>6} {r['enqueued']:>7} {r['enqueue_errors']:>4} {r['p50_ms']:>7} "
            f"{r['p99_ms']:>7} {r['rss_mib']:>8} {r['rss_max_mib']:>7} "
            f"{r['fds_min']:>4}-{r['fds_max']:<4}")
    for key in ("load_seconds", "drain_seconds", "enqueued_acked", "delivered_unique", "lost",
                "unexpected", "redeliveries", "dup_after_ack", "read_after_ack", "drained",
                "unhandled_exceptions_logged", "server_alive_at_end", "counts", "rpc_errors",
                "criteria"):
        if key in result:
            out(f"{key}: {result[key]}")
    out("RESULT: " + ("PASS" if result.get("ok") else "FAIL: " + "; ".join(result["failures"])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--window", type=float, default=60, help="seconds per sampling window")
    ap.add_argument("--rate", type=float, default=120, help="enqueues per second in total")
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--rss-span", type=float, default=300,
                    help="seconds per block whose peak RSS is compared (memtable cycles)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds excluded from the RSS/fd criteria (default: max(window, 20%%))")
    ap.add_argument("--json", type=Path, default=Path("soak.json"), help="where to write results")
    args = ap.parse_args(argv)
    print(header())
    print(f"soak: {args.seconds:.0f} s, {args.rate:.0f} msg/s, window {args.window:.0f} s",
          flush=True)
    result = run_soak(args.seconds, args.window, args.rate, args.producers,
                      log=lambda s: print(s, flush=True), warmup=args.warmup,
                      rss_span=args.rss_span)
    print_table(result)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.json}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
