"""Fila beside RabbitMQ and Redis: the same scenarios, Python clients, durable settings.

Run:  python benchmarks/peers.py                (about 8 minutes: 3 repetitions)
      python benchmarks/peers.py --quick        (small counts: a smoke test, not a measurement)
      python benchmarks/peers.py --json out.json --chart docs/img/peers.png

Every broker runs on loopback as a child process of this script, in its own temp dir,
on free ports, and is stopped by PID at the end (also on an error or Ctrl-C):

- **Fila**: a real ``fila-server`` (defaults), through ``fila.client.Client``.
- **RabbitMQ** (Debian ``rabbitmq-server``; its own ``epmd`` on a free port, no plugins):
  durable classic queue, persistent messages (delivery_mode 2), publisher confirms; pika.
- **Redis 7** (Debian ``redis-server``): Streams with ``--appendonly yes --appendfsync always``
  (the reply to a write waits for the AOF fsync); redis-py; a consumer group, XACK on settle
  (XACK does not delete the entry; the stream keeps it).

A peer that is not installed is skipped with one line saying how to install it.

All the brokers are up for the whole run; each scenario runs on each broker in turn (on its
own queue/stream, deleted afterwards), then the next scenario; all of it ``--reps`` times
(3), the broker order rotated each time, so load from elsewhere on the machine falls on all
of them alike. Cells are median (min-max) over repetitions; a ratio is the median of the
per-repetition ratios (Fila and the peer measured seconds apart). Scenarios:

1. ``single``: one message per request, 1 and 8 producer threads (one connection each),
   for a fixed window; msg/s. RabbitMQ waits for each confirm before the next publish.
2. ``batch``: 100 messages per request, 1 producer: Fila ``EnqueueBatch``; RabbitMQ
   publishes 100 then waits for their confirms; Redis a pipeline of 100 XADD.
3. ``lifecycle``: a producer and a consumer at once, N messages; msg/s from the first enqueue
   to the last ack. Batched: producer as in 2; consumer Fila ``max_batch=100`` +
   ``ack_many`` per 100, RabbitMQ prefetch 200 + ``multiple`` ack per 100, Redis
   ``XREADGROUP COUNT 100`` + XACK of what it read. Unbatched: one message per enqueue,
   one message per frame and one ack each (Fila server-default prefetch, RabbitMQ prefetch 100
   with single acks, Redis ``COUNT 1`` + XACK each).
4. ``latency``: one producer paced at 200 msg/s, one consumer (acking each); enqueue call
   start -> delivery in the consumer, p50/p99 (same process, same clock).
5. ``noisy``: a noisy tenant enqueues a backlog (in batches of 100), then a quiet tenant
   enqueues 10, one at a time; then one consumer (batched, as in 3) drains until it has all
   quiet messages. The quiet tenant's worst delivery position and worst wait (its enqueue
   -> delivery). Fila's queue has the ``on_enqueue`` hook
   ``return { fairness_key = msg.headers["tenant"] or "default" }``; RabbitMQ and Redis
   are FIFO.

The figure of merit is the ratio Fila / peer in the same run. Client, brokers and anything
else on the machine share its cores: absolute numbers move with the load average, which
is printed before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from _harness import ROOT, FilaServer, commit, cpu_model, free_port, header, loadavg

from fila.client import Client
from fila.errors import FilaError
from fila.types import EnqueueItem

CHART = ROOT / "docs" / "img" / "peers.png"
BATCH = 100
PAYLOAD = b"x" * 100
FAIR_HOOK = """
function on_enqueue(msg)
  return { fairness_key = msg.headers["tenant"] or "default" }
end
"""
INSTALL_HINT = "apt-get install -y rabbitmq-server redis-server; pip install -e '.[benchmarks]'"


@dataclass(frozen=True)
class Params:
    window_s: float  # single / batch enqueue windows
    lifecycle_batched: int
    lifecycle_unbatched: int
    latency_s: float  # at 200 msg/s
    noisy: int
    quiet: int


FULL = Params(window_s=5.0, lifecycle_batched=20_000, lifecycle_unbatched=3_000,
              latency_s=10.0, noisy=10_000, quiet=10)
QUICK = Params(window_s=0.5, lifecycle_batched=1_000, lifecycle_unbatched=200,
               latency_s=0.5, noisy=500, quiet=10)
LATENCY_RATE = 200.0


# ---- waiting on ports and processes ------------------------------------------------------


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    """Until 127.0.0.1:port accepts a connection; RuntimeError if ``proc`` exits or on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.02)  # readiness polling, bounded by the deadline
    raise RuntimeError(f"{what} not listening on {port} within {timeout}s")


# Every process this script starts, and their children (Erlang's helpers, epmd), inherit
# this variable: what is left of them at the end is found by it and stopped by PID.
RUN_MARK = f"FILA_PEERS_RUN={os.getpid()}-{time.time_ns()}"


def child_env(**extra: str) -> dict[str, str]:
    key, value = RUN_MARK.split("=", 1)
    return {**os.environ, key: value, **extra}


def stop_leftovers() -> None:
    """SIGKILL any process still carrying RUN_MARK (only ever our own descendants)."""
    mark = RUN_MARK.encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            if mark in (d / "environ").read_bytes().split(b"\0"):
                os.kill(int(d.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = 30.0) -> None:
    """SIGTERM this child (by PID), SIGKILL its process group after ``timeout``."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        # started with start_new_session: its group is ours and only ours
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


# ---- a common face for the three brokers ------------------------------------------------


Headers = dict[str, str]


class Producer(Protocol):
    def send(self, headers: Headers, payload: bytes) -> None: ...
    def send_batch(self, batch: list[tuple[Headers, bytes]]) -> None: ...
    def close(self) -> None: ...


class Consumer(Protocol):
    def __iter__(self) -> Iterator[Headers]: ...
    def finish(self) -> None:
        """Settle what is still unacked, close."""


class Broker(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def version(self) -> str: ...
    def make_queue(self, name: str, *, fair: bool = False) -> None: ...
    def drop_queue(self, name: str) -> None: ...
    def producer(self, queue: str) -> Producer: ...
    def consumer(self, queue: str, *, batched: bool) -> Consumer: ...


# ---- Fila ------------------------------------------------------------------------------------


class FilaProducer:
    def __init__(self, addr: str, queue: str) -> None:
        self.client = Client(addr)
        self.queue = queue

    def send(self, headers: Headers, payload: bytes) -> None:
        self.client.enqueue(self.queue, headers, payload)

    def send_batch(self, batch: list[tuple[Headers, bytes]]) -> None:
        results = self.client.enqueue_many([EnqueueItem(self.queue, p, h) for h, p in batch])
        errors = [r for r in results if isinstance(r, FilaError)]
        if errors:
            raise RuntimeError(f"EnqueueBatch: {len(errors)} failed, first: {errors[0]}")

    def close(self) -> None:
        self.client.close()


class FilaConsumer:
    def __init__(self, addr: str, queue: str, batched: bool) -> None:
        self.client = Client(addr, timeout=30.0)
        self.queue = queue
        self.batched = batched
        self.unacked: list[str] = []
        self.stream = self.client.consume(queue, max_batch=BATCH if batched else 0,
                                          prefetch=2 * BATCH if batched else 0)

    def __iter__(self) -> Iterator[Headers]:
        for m in self.stream:
            if self.batched:
                self.unacked.append(m.id)
                if len(self.unacked) >= BATCH:
                    self._ack()
            else:
                self.client.ack(self.queue, m.id)
            yield m.headers

    def _ack(self) -> None:
        ids, self.unacked = self.unacked, []
        if ids:
            bad = [r for r in self.client.ack_many(self.queue, ids) if r is not None]
            if bad:
                raise RuntimeError(f"AckBatch: {len(bad)} failed, first: {bad[0]}")

    def finish(self) -> None:
        self._ack()
        self.stream.close()
        self.client.close()


class FilaBroker:
    name = "Fila"

    def __init__(self, workdir: Path) -> None:
        self.server = FilaServer(workdir / "fila", alias="fila-server-peers")

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def version(self) -> str:
        from importlib.metadata import version
        return f"fila-broker {version('fila-broker')} (commit {commit()})"

    def make_queue(self, name: str, *, fair: bool = False) -> None:
        with Client(self.server.addr) as c:
            c.create_queue(name, on_enqueue=FAIR_HOOK if fair else None)

    def drop_queue(self, name: str) -> None:
        with Client(self.server.addr, timeout=120.0) as c:
            c.delete_queue(name)

    def producer(self, queue: str) -> Producer:
        return FilaProducer(self.server.addr, queue)

    def consumer(self, queue: str, *, batched: bool) -> Consumer:
        return FilaConsumer(self.server.addr, queue, batched)


# ---- RabbitMQ --------------------------------------------------------------------------------


class RabbitProducer:
    """Publisher confirms without blocking per message: pika's SelectConnection, its I/O loop
    run until every publish of the batch is confirmed (``multiple`` acks included)."""

    def __init__(self, port: int, queue: str) -> None:
        import pika

        self.pika = pika
        self.queue = queue
        self.props = pika.BasicProperties(delivery_mode=2)
        self.tag = 0
        self.unconfirmed: set[int] = set()
        self.error: str | None = None
        self.channel: Any = None

        def on_open(conn: Any) -> None:
            conn.channel(on_open_callback=on_channel)

        def on_channel(ch: Any) -> None:
            self.channel = ch
            ch.confirm_delivery(self._on_confirm, callback=lambda _f: self.conn.ioloop.stop())

        def on_error(_conn: Any, exc: BaseException) -> None:
            self.error = f"connection failed: {exc!r}"
            self.conn.ioloop.stop()

        self.conn = pika.SelectConnection(
            pika.ConnectionParameters("127.0.0.1", port), on_open_callback=on_open,
            on_open_error_callback=on_error,
            on_close_callback=lambda _conn, _why: self.conn.ioloop.stop())
        self.conn.ioloop.start()
        if self.error:
            raise RuntimeError(self.error)

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        if isinstance(method, self.pika.spec.Basic.Nack):
            self.error = f"publish nacked: {method}"
        tag = method.delivery_tag
        if method.multiple:
            self.unconfirmed = {t for t in self.unconfirmed if t > tag}
        else:
            self.unconfirmed.discard(tag)
        if not self.unconfirmed or self.error:
            self.conn.ioloop.stop()

    def send_batch(self, batch: list[tuple[Headers, bytes]]) -> None:
        for headers, payload in batch:
            props = self.pika.BasicProperties(delivery_mode=2, headers=headers)
            self.channel.basic_publish("", self.queue, payload, props)
            self.tag += 1
            self.unconfirmed.add(self.tag)
        self.conn.ioloop.start()
        if self.error:
            raise RuntimeError(self.error)

    def send(self, headers: Headers, payload: bytes) -> None:
        self.send_batch([(headers, payload)])

    def close(self) -> None:
        if self.conn.is_open:
            self.conn.close()
            self.conn.ioloop.start()  # runs until the close completes


class RabbitConsumer:
    def __init__(self, port: int, queue: str, batched: bool) -> None:
        import pika

        self.conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
        self.ch = self.conn.channel()
        self.ch.basic_qos(prefetch_count=2 * BATCH if batched else BATCH)
        self.queue = queue
        self.batched = batched
        self.unacked = 0
        self.last_tag = 0

    def __iter__(self) -> Iterator[Headers]:
        for method, props, _body in self.ch.consume(self.queue):
            self.last_tag = method.delivery_tag
            if self.batched:
                self.unacked += 1
                if self.unacked >= BATCH:
                    self._ack()
            else:
                self.ch.basic_ack(method.delivery_tag)
            yield dict(props.headers or {})

    def _ack(self) -> None:
        if self.unacked:
            self.ch.basic_ack(self.last_tag, multiple=True)
            self.unacked = 0

    def finish(self) -> None:
        self._ack()
        self.ch.cancel()
        self.conn.close()  # flushes the ack frames first


RABBIT_CONF = """\
listeners.tcp.default = {port}
loopback_users = none
"""


class RabbitBroker:
    name = "RabbitMQ"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "rabbitmq"
        self.port = free_port()
        self.epmd: subprocess.Popen[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def installed() -> bool:
        return Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists() and bool(
            shutil.which("epmd"))

    def start(self) -> None:
        d = self.dir
        d.mkdir(parents=True)
        (d / "rabbitmq.conf").write_text(RABBIT_CONF.format(port=self.port))
        (d / "enabled_plugins").write_text("[].\n")  # no management plugin, no extra ports
        (d / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq's
        epmd_port = free_port()
        log = (d / "server.log").open("ab")
        # Our own epmd, in the foreground, as our child: nothing is left daemonised.
        self.epmd = subprocess.Popen(["epmd", "-port", str(epmd_port)], stdout=log,
                                     stderr=log, env=child_env(), start_new_session=True)
        wait_port(epmd_port, self.epmd, "epmd", 10.0)
        env = child_env(HOME=str(d),  # the Erlang cookie goes here, not in ~
                        ERL_EPMD_PORT=str(epmd_port))
        env.update({
            "RABBITMQ_NODENAME": f"fila-peers-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_MNESIA_BASE": str(d / "mnesia"),
            "RABBITMQ_LOG_BASE": str(d / "log"),
            "RABBITMQ_CONFIG_FILE": str(d / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(d / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(d / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(d / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(d / "rabbitmq.pid"),
            # Erlang schedulers busy-wait after work by default; on a 2-core box that spin
            # takes CPU from whichever broker runs next. Off, as for any shared host.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "+sbwt none +sbwtdcpu none +sbwtdio none",
        })
        # The script stays the parent of the Erlang VM and stops it on SIGTERM.
        self.proc = subprocess.Popen(["/usr/lib/rabbitmq/bin/rabbitmq-server"], env=env,
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        wait_port(self.port, self.proc, "rabbitmq-server", 60.0)

    def stop(self) -> None:
        stop_process(self.proc)
        stop_process(self.epmd)

    def version(self) -> str:
        otp = ""
        for p in sorted(Path("/usr/lib/erlang/releases").glob("*/OTP_VERSION")):
            otp = p.read_text().strip()
        import pika

        with self._channel() as (conn, _ch):
            v = conn._impl.server_properties.get("version", b"?")  # what the broker says
        v = v.decode() if isinstance(v, bytes) else str(v)
        return f"RabbitMQ {v}, Erlang/OTP {otp}; pika {pika.__version__}"

    @contextlib.contextmanager
    def _channel(self) -> Iterator[tuple[Any, Any]]:
        import pika

        conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", self.port))
        try:
            yield conn, conn.channel()
        finally:
            conn.close()

    def make_queue(self, name: str, *, fair: bool = False) -> None:
        with self._channel() as (_c, ch):
            ch.queue_declare(name, durable=True)

    def drop_queue(self, name: str) -> None:
        with self._channel() as (_c, ch):
            ch.queue_delete(name)

    def producer(self, queue: str) -> Producer:
        return RabbitProducer(self.port, queue)

    def consumer(self, queue: str, *, batched: bool) -> Consumer:
        return RabbitConsumer(self.port, queue, batched)


# ---- Redis -----------------------------------------------------------------------------------


GROUP = "g"


class RedisProducer:
    def __init__(self, port: int, stream: str) -> None:
        import redis

        self.r = redis.Redis(port=port)
        self.stream = stream

    def send(self, headers: Headers, payload: bytes) -> None:
        self.r.xadd(self.stream, {**headers, "p": payload})

    def send_batch(self, batch: list[tuple[Headers, bytes]]) -> None:
        pipe = self.r.pipeline(transaction=False)
        for headers, payload in batch:
            pipe.xadd(self.stream, {**headers, "p": payload})
        pipe.execute()

    def close(self) -> None:
        self.r.close()


class RedisConsumer:
    def __init__(self, port: int, stream: str, batched: bool) -> None:
        import redis

        self.r = redis.Redis(port=port)
        self.stream = stream
        self.count = BATCH if batched else 1
        self.unacked: list[bytes] = []
        self.closed = False

    def __iter__(self) -> Iterator[Headers]:
        while not self.closed:
            got = self.r.xreadgroup(GROUP, "c", {self.stream: ">"}, count=self.count,
                                    block=1000)
            for _name, entries in got or []:
                for entry_id, fields in entries:
                    self.unacked.append(entry_id)
                    yield {k.decode(): v.decode() for k, v in fields.items() if k != b"p"}
                self._ack()

    def _ack(self) -> None:
        ids, self.unacked = self.unacked, []
        if ids:
            self.r.xack(self.stream, GROUP, *ids)

    def finish(self) -> None:
        self._ack()
        self.closed = True
        self.r.close()


class RedisBroker:
    name = "Redis"

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def installed() -> bool:
        return bool(shutil.which("redis-server"))

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        log = (self.dir / "server.log").open("ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--daemonize", "no"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=child_env(),
            start_new_session=True)
        wait_port(self.port, self.proc, "redis-server", 30.0)

    def stop(self) -> None:
        stop_process(self.proc)

    def version(self) -> str:
        import redis

        r = redis.Redis(port=self.port)
        try:
            v = r.info("server")["redis_version"]
        finally:
            r.close()
        return f"Redis {v} (appendfsync always); redis-py {redis.__version__}"

    def make_queue(self, name: str, *, fair: bool = False) -> None:
        import redis

        with redis.Redis(port=self.port) as r:
            r.xgroup_create(name, GROUP, id="$", mkstream=True)

    def drop_queue(self, name: str) -> None:
        import redis

        with redis.Redis(port=self.port) as r:
            r.delete(name)

    def producer(self, queue: str) -> Producer:
        return RedisProducer(self.port, queue)

    def consumer(self, queue: str, *, batched: bool) -> Consumer:
        return RedisConsumer(self.port, queue, batched)


# ---- scenarios -------------------------------------------------------------------------------


def run_threads(targets: list[Callable[[], None]], timeout: float) -> None:
    """Run each target in a thread; re-raise the first error; RuntimeError on timeout."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t), daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.0))
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in threads):
        raise RuntimeError(f"scenario did not finish within {timeout:.0f}s")


def enqueue_rate(b: Broker, queue: str, producers: int, per_request: int, window: float) -> float:
    """msg/s over ``window`` seconds: ``producers`` threads, ``per_request`` messages each call."""
    b.make_queue(queue)
    conns = [b.producer(queue) for _ in range(producers)]
    counts = [0] * producers
    start = threading.Barrier(producers + 1)
    t_end = [0.0]
    batch = [({"n": "0"}, PAYLOAD)] * per_request

    def work(i: int) -> Callable[[], None]:
        def run() -> None:
            p = conns[i]
            start.wait()
            end = t_end[0]
            while time.perf_counter() < end:
                if per_request == 1:
                    p.send({"n": "0"}, PAYLOAD)
                else:
                    p.send_batch(batch)
                counts[i] += per_request
        return run

    threads = [threading.Thread(target=work(i), daemon=True) for i in range(producers)]
    for t in threads:
        t.start()
    t0 = time.perf_counter()
    t_end[0] = t0 + window
    start.wait()
    for t in threads:
        t.join(window + 60)
    elapsed = time.perf_counter() - t0
    for p in conns:
        p.close()
    b.drop_queue(queue)
    return sum(counts) / elapsed


def lifecycle(b: Broker, queue: str, n: int, batched: bool) -> float:
    """Producer and consumer at once; msg/s from the first enqueue to the last ack."""
    b.make_queue(queue)
    producer = b.producer(queue)
    consumer = b.consumer(queue, batched=batched)
    t0 = time.perf_counter()
    done = [0.0]

    def produce() -> None:
        sent = 0
        while sent < n:
            k = min(BATCH, n - sent) if batched else 1
            if batched:
                producer.send_batch([({"n": str(sent + i)}, PAYLOAD) for i in range(k)])
            else:
                producer.send({"n": str(sent)}, PAYLOAD)
            sent += k

    def consume() -> None:
        for got, _h in enumerate(consumer, start=1):
            if got == n:
                break
        consumer.finish()
        done[0] = time.perf_counter()

    run_threads([produce, consume], timeout=300)
    producer.close()
    b.drop_queue(queue)
    return n / (done[0] - t0)


def latency(b: Broker, queue: str, seconds: float) -> tuple[float, float, int]:
    """Paced at LATENCY_RATE; (p50 ms, p99 ms, samples), enqueue call start -> delivery."""
    b.make_queue(queue)
    producer = b.producer(queue)
    consumer = b.consumer(queue, batched=False)
    sent_at: dict[str, float] = {}
    lat: list[float] = []
    warm = threading.Event()
    total = int(seconds * LATENCY_RATE)

    def consume() -> None:
        got = 0
        for h in consumer:
            now = time.perf_counter()
            if h.get("n") == "warm":
                warm.set()
                continue
            lat.append((now - sent_at[h["n"]]) * 1000)
            got += 1
            if got == total:
                break
        consumer.finish()

    def produce() -> None:
        # One message first, to know the consumer is subscribed before the clock starts.
        producer.send({"n": "warm"}, PAYLOAD)
        if not warm.wait(30):
            raise RuntimeError("warm-up message not delivered within 30s")
        t0 = time.perf_counter()
        for i in range(total):
            due = t0 + i / LATENCY_RATE
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the producer, not synchronisation
            sent_at[str(i)] = time.perf_counter()
            producer.send({"n": str(i)}, PAYLOAD)

    run_threads([consume, produce], timeout=seconds + 120)
    producer.close()
    b.drop_queue(queue)
    qs = statistics.quantiles(lat, n=100, method="inclusive")
    return qs[49], qs[98], len(lat)


def noisy_tenant(b: Broker, queue: str, noisy: int, quiet: int) -> tuple[int, float, float]:
    """(quiet worst position, quiet worst wait ms, drain msg/s until the last quiet one)."""
    b.make_queue(queue, fair=True)
    producer = b.producer(queue)
    for start in range(0, noisy, BATCH):
        k = min(BATCH, noisy - start)
        producer.send_batch([({"tenant": "noisy", "n": str(start + i)}, PAYLOAD)
                             for i in range(k)])
    sent_at: dict[str, float] = {}
    for i in range(quiet):
        sent_at[f"q{i}"] = time.perf_counter()
        producer.send({"tenant": "quiet", "n": f"q{i}"}, PAYLOAD)
    producer.close()
    positions: list[int] = []
    waits: list[float] = []
    t0 = time.perf_counter()

    def consume() -> None:
        consumer = b.consumer(queue, batched=True)
        for pos, h in enumerate(consumer, start=1):
            if h.get("tenant") == "quiet":
                waits.append((time.perf_counter() - sent_at[h["n"]]) * 1000)
                positions.append(pos)
                if len(positions) == quiet:
                    break
        consumer.finish()

    run_threads([consume], timeout=600)
    drain = max(positions) / (time.perf_counter() - t0)
    b.drop_queue(queue)
    return max(positions), max(waits), drain


# ---- the run ---------------------------------------------------------------------------------


ROWS = [
    ("single_1", "Enqueue, one message per request, 1 producer", "msg/s", True),
    ("single_8", "Enqueue, one message per request, 8 producers", "msg/s", True),
    ("batch_100", "Enqueue, 100 per request / confirm wait / pipeline, 1 producer", "msg/s",
     True),
    ("lifecycle_batched", "Enqueue -> deliver -> ack, batched (100)", "msg/s", True),
    ("lifecycle_unbatched", "Enqueue -> deliver -> ack, one message each", "msg/s", True),
    ("latency_p50", "Enqueue -> deliver p50 at 200 msg/s", "ms", False),
    ("latency_p99", "Enqueue -> deliver p99 at 200 msg/s", "ms", False),
    ("noisy_position", "Quiet tenant's worst position (noisy backlog first)", "", False),
    ("noisy_wait", "Quiet tenant's worst wait", "ms", False),
]


SCENARIOS: list[tuple[str, Callable[[Broker, Params], dict[str, float]]]] = [
    ("single, 1 producer", lambda b, p: {"single_1": enqueue_rate(b, "single-1", 1, 1,
                                                                  p.window_s)}),
    ("single, 8 producers", lambda b, p: {"single_8": enqueue_rate(b, "single-8", 8, 1,
                                                                   p.window_s)}),
    ("batch x100", lambda b, p: {"batch_100": enqueue_rate(b, "batch-100", 1, BATCH,
                                                           p.window_s)}),
    ("lifecycle batched", lambda b, p: {"lifecycle_batched": lifecycle(
        b, "life-batched", p.lifecycle_batched, True)}),
    ("lifecycle unbatched", lambda b, p: {"lifecycle_unbatched": lifecycle(
        b, "life-unbatched", p.lifecycle_unbatched, False)}),
    ("latency", lambda b, p: dict(zip(("latency_p50", "latency_p99"),
                                      latency(b, "latency", p.latency_s)[:2], strict=True))),
    ("noisy tenant", lambda b, p: dict(zip(("noisy_position", "noisy_wait"),
                                           noisy_tenant(b, "noisy", p.noisy, p.quiet)[:2],
                                           strict=True))),
]


def measure(brokers: list[Broker], p: Params, reps: int,
            log: Callable[[str], None]) -> dict[str, dict[str, list[float]]]:
    """Every scenario on every broker back to back (so background load hits all of them
    alike), ``reps`` times, the broker order rotated each repetition."""
    runs: dict[str, dict[str, list[float]]] = {b.name: {} for b in brokers}
    for rep in range(reps):
        order = brokers[rep % len(brokers):] + brokers[:rep % len(brokers)]
        for title, scenario in SCENARIOS:
            for b in order:
                got = scenario(b, p)
                for k, v in got.items():
                    runs[b.name].setdefault(k, []).append(v)
                shown = ", ".join(f"{k} {v:,.2f}" for k, v in got.items())
                log(f"rep {rep + 1}/{reps} {title}: {b.name}: {shown}")
    return runs


def fmt(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v:,.2f}" if v < 100 else f"{v:,.0f}"
    return f"{v:,.0f}"


def cell(vals: list[float], unit: str) -> str:
    """median (min-max), or the one value."""
    if not vals:
        return ""
    med = fmt(statistics.median(vals), unit)
    if len(vals) == 1 or min(vals) == max(vals):
        return med
    return f"{med} ({fmt(min(vals), unit)}-{fmt(max(vals), unit)})"


def ratios(fila: list[float], peer: list[float]) -> list[float]:
    """Fila / peer per repetition: the two were measured a few seconds apart."""
    return [f / q for f, q in zip(fila, peer, strict=False) if q]


def ratio_cell(rs: list[float], higher_is_better: bool) -> str:
    if not rs:
        return ""
    med = statistics.median(rs)
    text = f"{med:.2f}" if len(rs) == 1 else f"{med:.2f} ({min(rs):.2f}-{max(rs):.2f})"
    better = med >= 1 if higher_is_better else med <= 1
    return text + (" Fila better" if better and abs(med - 1) > 0.05 else "")


def table(runs: dict[str, dict[str, list[float]]]) -> str:
    peers = [n for n in runs if n != "Fila"]
    cols = ["Scenario", *runs, *(f"Fila / {n}" for n in peers)]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for key, label, unit, hib in ROWS:
        cells = [label + (f" ({unit})" if unit else "")]
        cells += [cell(runs[n].get(key, []), unit) for n in runs]
        cells += [ratio_cell(ratios(runs["Fila"].get(key, []), runs[n].get(key, [])), hib)
                  for n in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chart(runs: dict[str, dict[str, list[float]]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # headless: the chart is only written to a file
    import matplotlib.pyplot as plt

    results = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in runs.items()}
    names = list(results)
    colors = {"Fila": "#2a7ab0", "RabbitMQ": "#f28e2b", "Redis": "#c0392b"}
    groups = [
        ("Throughput (msg/s, log scale; higher is better)",
         [("single_1", "1 producer,\n1 msg/req"), ("single_8", "8 producers,\n1 msg/req"),
          ("batch_100", "1 producer,\n100 msg/req"), ("lifecycle_batched", "lifecycle\nbatched"),
          ("lifecycle_unbatched", "lifecycle\nunbatched")], True),
        ("Enqueue -> deliver at 200 msg/s (ms)",
         [("latency_p50", "p50"), ("latency_p99", "p99")], False),
        ("Quiet tenant's worst wait behind\na noisy backlog (ms, log scale)",
         [("noisy_wait", "worst wait")], True),
    ]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), gridspec_kw={"width_ratios": [5, 2, 1.4]})
    width = 0.8 / max(len(names), 1)
    for ax, (gtitle, keys, log_scale) in zip(axes, groups, strict=True):
        for j, name in enumerate(names):
            xs = [i + (j - (len(names) - 1) / 2) * width for i in range(len(keys))]
            vals = [results[name].get(k, 0.0) for k, _ in keys]  # medians
            bars = ax.bar(xs, vals, width, label=name, color=colors.get(name))
            for bar, v in zip(bars, vals, strict=True):
                ax.annotate(f"{v:,.0f}" if v >= 10 else f"{v:.1f}",
                            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(keys)), [lbl for _, lbl in keys], fontsize=8)
        ax.set_title(gtitle, fontsize=9)
        if log_scale:
            ax.set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def available_peers(wanted: list[str], workdir: Path) -> list[Broker]:
    brokers: list[Broker] = []
    missing: list[str] = []
    for name in wanted:
        if name == "fila":
            brokers.append(FilaBroker(workdir))
            continue
        cls: Any = RabbitBroker if name == "rabbitmq" else RedisBroker
        module = "pika" if name == "rabbitmq" else "redis"
        try:
            __import__(module)
            ok = cls.installed()
        except ImportError:
            ok = False
        if ok:
            brokers.append(cls(workdir))
        else:
            missing.append(name)
    if missing:
        print(f"{', '.join(missing)} not installed (server or Python client), running without: "
              f"{INSTALL_HINT}", flush=True)
    return brokers


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small counts: a smoke test")
    ap.add_argument("--reps", type=int, default=0,
                    help="repetitions of every scenario (default 3; 1 with --quick)")
    ap.add_argument("--brokers", default="fila,rabbitmq,redis",
                    help="comma-separated subset of fila,rabbitmq,redis (fila is always run)")
    ap.add_argument("--json", metavar="PATH", help="also write the results as JSON ('-': stdout)")
    ap.add_argument("--chart", metavar="PATH", default=str(CHART),
                    help=f"PNG chart (default {CHART.relative_to(ROOT)}; '' for none)")
    args = ap.parse_args(argv)
    p = QUICK if args.quick else FULL
    reps = args.reps or (1 if args.quick else 3)
    wanted = ["fila", *(n for n in args.brokers.split(",") if n in ("rabbitmq", "redis"))]
    bad = set(args.brokers.split(",")) - {"fila", "rabbitmq", "redis", ""}
    if bad:
        ap.error(f"unknown broker(s): {', '.join(sorted(bad))}")
    to_stdout = args.json == "-"
    log: Callable[[str], None] = (lambda s: print(s, file=sys.stderr, flush=True)) \
        if to_stdout else (lambda s: print(s, flush=True))

    log(header())
    load_before = loadavg()
    started = datetime.datetime.now(datetime.UTC)
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="fila-peers-") as tmp:
        brokers = available_peers(wanted, Path(tmp))
        running: list[Broker] = []
        try:
            for b in brokers:  # all up for the whole run: each scenario runs on each in turn
                b.start()
                running.append(b)
                versions[b.name] = b.version()
                log(f"{b.name}: {versions[b.name]}")
            runs = measure(brokers, p, reps, log)
        finally:
            for b in running:  # done, an error or Ctrl-C: stop what we started, by PID
                b.stop()
            stop_leftovers()
    load_after = loadavg()
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores, {platform.system()} "
                   f"{platform.release()}, Python {platform.python_version()}",
        "commit": commit(),
        "command": "python benchmarks/peers.py" + (" --quick" if args.quick else "")
                   + (f" --reps {args.reps}" if args.reps else ""),
        "params": p.__dict__,
        "reps": reps,
        "load_before": load_before,
        "load_after": load_after,
        "versions": versions,
    }
    md = table(runs)
    if not to_stdout:
        print()
        print(md)
        print()
        print(f"load average before {load_before}, after {load_after}")
    if args.chart and importlib.util.find_spec("matplotlib") is None:
        log("no chart: matplotlib is not installed (pip install -e '.[benchmarks]')")
    elif args.chart:
        chart(runs, Path(args.chart),
              f"{meta['machine']}; commit {meta['commit']}; {meta['date']}"
              + ("; --quick" if args.quick else ""))
        log(f"chart: {args.chart}")
    if args.json:
        medians = {n: {k: statistics.median(v) for k, v in r.items()} for n, r in runs.items()}
        doc = {"meta": meta, "results": medians, "runs": runs,
               "rows": [{"key": k, "label": lbl, "unit": u, "higher_is_better": h}
                        for k, lbl, u, h in ROWS],
               "table": md}
        text = json.dumps(doc, indent=2)
        if to_stdout:
            print(text)
        else:
            Path(args.json).write_text(text + "\n")
    return 0


def _interrupt(_sig: int, _frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM too runs the cleanup in main's finally


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
