"""PurgeQueue against a real server: ready and delayed messages go for good, leased ones
stay with their consumer and survive a restart; a large purge leaves the broker serving."""

from __future__ import annotations

import threading
import time

import pytest

from fila.client import Client
from fila.errors import QueueNotFoundError
from fila.types import EnqueueItem


def _depth(c: Client, queue: str) -> int:
    return next(q.depth for q in c.list_queues() if q.name == queue)


def test_purge_is_durable_and_leased_messages_survive_it(fila_server) -> None:  # type: ignore[no-untyped-def]
    with Client(fila_server.addr) as c:
        c.create_queue("jobs", visibility_timeout_ms=2000)
        for n in range(5):
            c.enqueue("jobs", {}, f"ready-{n}".encode())
        c.enqueue("jobs", {}, b"later", delay_ms=60_000)
        stream = c.consume("jobs", prefetch=1)
        leased = next(stream)
        assert c.purge_queue("jobs") == 5  # four ready + one delayed, not the leased one
        assert _depth(c, "jobs") == 1
        fila_server.stop()  # with the lease still held
        stream.close()

    fila_server.start()
    with Client(fila_server.addr) as c:
        assert _depth(c, "jobs") == 1  # the purge was committed; the lease was too
        stream = c.consume("jobs")
        back = next(stream)  # once the recovered lease runs out (2 s), it comes back
        assert (back.id, back.payload) == (leased.id, leased.payload)
        c.ack("jobs", back.id)
        stream.close()
        assert _depth(c, "jobs") == 0
        with pytest.raises(QueueNotFoundError):
            c.purge_queue("nope")


def test_a_large_purge_goes_in_chunks_while_the_broker_keeps_serving(fila_server) -> None:  # type: ignore[no-untyped-def]
    with Client(fila_server.addr) as c:
        c.create_queue("big")
        c.create_queue("other")
        for _ in range(10):
            c.enqueue_many([EnqueueItem("big", b"x" * 100) for _ in range(1000)])
        served: list[float] = []
        done = threading.Event()

        def other_traffic() -> None:
            with Client(fila_server.addr) as o:
                while not done.is_set():
                    start = time.monotonic()
                    o.enqueue("other", {}, b"y")
                    served.append(time.monotonic() - start)

        t = threading.Thread(target=other_traffic)
        t.start()
        try:
            assert c.purge_queue("big") == 10_000
        finally:
            done.set()
            t.join(timeout=30)
        assert _depth(c, "big") == 0
        assert served, "the other queue was served while the purge ran"
    fila_server.stop()
    fila_server.start()
    with Client(fila_server.addr) as c:
        assert _depth(c, "big") == 0
