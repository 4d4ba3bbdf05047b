"""kill -9 under concurrent load (docs/concepts.md, "Durability"): nothing acked is lost.

A checker in the style of a total-queue test: every enqueue the server
acknowledged must be delivered after restart (lost = 0); nothing comes out
that was never enqueued (unexpected = 0); nothing a consumer acked comes back.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import threading
import time

import grpc

from e2e.helpers import Stream, Stubs
from fila.v1 import admin_pb2, service_pb2

CYCLES = 200 if os.environ.get("FILA_LONG_TESTS") else 4


def _producer(addr: str, tag: str, acked: set[str], attempted: list[int], stop: threading.Event,
              lock: threading.Lock) -> None:
    stubs = Stubs(addr)
    n = 0
    while not stop.is_set():
        n += 1
        payload = f"{tag}-{n}".encode()
        try:
            resp = stubs.svc.Enqueue(service_pb2.EnqueueRequest(queue="load", payload=payload),
                                     timeout=5)
        except grpc.RpcError:
            break  # the server died: this enqueue may or may not be durable
        with lock:
            acked.add(resp.message_id)
    attempted.append(n)
    stubs.close()


def _consumer(addr: str, settled: set[str], tried: set[str], stop: threading.Event,
              lock: threading.Lock) -> None:
    stubs = Stubs(addr)
    try:
        for frame in stubs.svc.Consume(service_pb2.ConsumeRequest(queue="load")):
            if stop.is_set():
                break
            msg = frame.message
            with lock:
                tried.add(msg.id)  # an ack whose reply is lost in the crash may still be durable
            try:
                stubs.svc.Ack(service_pb2.AckRequest(queue="load", message_id=msg.id), timeout=5)
            except grpc.RpcError:
                break
            with lock:
                settled.add(msg.id)
    except grpc.RpcError:
        pass
    finally:
        stubs.close()


def test_kill_9_under_load_loses_nothing(fila_server) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(7)
    stubs = Stubs(fila_server.addr)
    # A short visibility timeout: leases held at a crash come back quickly after restart.
    stubs.create("load", visibility_timeout_ms=2000)
    stubs.close()
    acked: set[str] = set()
    settled: set[str] = set()
    tried: set[str] = set()
    lock = threading.Lock()
    for cycle in range(CYCLES):
        stop = threading.Event()
        attempted: list[int] = []
        threads = [threading.Thread(target=_producer,
                                    args=(fila_server.addr, f"c{cycle}p{i}", acked, attempted,
                                          stop, lock))
                   for i in range(4)]
        threads.append(threading.Thread(target=_consumer,
                                        args=(fila_server.addr, settled, tried, stop, lock)))
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 1.0))  # load duration before the crash (fault injection)
        fila_server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=15)
        fila_server.start()

    stubs = Stubs(fila_server.addr)
    expected = acked - tried
    depth = stubs.stats("load").depth
    stream = Stream(stubs, "load")
    received: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(received) < depth and time.monotonic() < deadline:
        try:
            msg = stream.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        received[msg.id] = received.get(msg.id, 0) + 1
        stubs.ack("load", msg.id)
    stream.cancel()
    lost = expected - received.keys()
    came_back = settled & received.keys()
    unexpected = received.keys() - acked  # enqueues whose reply was lost in the crash are allowed
    assert len(acked) > 100, "the load should have enqueued something"
    assert not lost, f"lost {len(lost)} acked enqueue(s) (depth {depth}, got {len(received)})"
    assert not came_back, f"{len(came_back)} consumer-acked message(s) came back"
    assert len(unexpected) <= 4 * CYCLES, "only in-flight enqueues at each crash may surface"
    stubs.close()


def test_sigterm_under_load_drains_and_keeps_every_ok(fila_server) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM under load exits 0 within 10 s; every enqueue that returned OK survives."""
    stubs = Stubs(fila_server.addr)
    stubs.create("load")
    stubs.close()
    acked: set[str] = set()
    lock = threading.Lock()
    stop = threading.Event()
    attempted: list[int] = []
    threads = [threading.Thread(target=_producer, args=(fila_server.addr, f"p{i}", acked,
                                                        attempted, stop, lock))
               for i in range(4)]
    for t in threads:
        t.start()
    wait_until = time.monotonic() + 10
    while len(acked) < 200 and time.monotonic() < wait_until:
        time.sleep(0.01)  # let the load build up before the signal (bounded)
    assert fila_server.proc is not None
    started = time.monotonic()
    fila_server.proc.send_signal(signal.SIGTERM)
    assert fila_server.proc.wait(timeout=10) == 0
    assert time.monotonic() - started < 10
    stop.set()
    for t in threads:
        t.join(timeout=15)
    fila_server.start()
    stubs = Stubs(fila_server.addr)
    depth = stubs.stats("load").depth
    listed: set[str] = set()
    token = ""
    while True:
        page = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(
            queue="load", limit=1000, page_token=token))
        listed.update(m.message.id for m in page.messages)
        token = page.next_page_token
        if not token:
            break
    assert acked <= listed, f"lost {len(acked - listed)} acknowledged enqueue(s)"
    assert depth == len(listed)
    stubs.close()
