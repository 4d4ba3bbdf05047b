"""kill -9 with EnqueueBatch calls in flight: a batch is one durable commit.

Every batch that answered OK is fully present after restart; a batch whose answer was
lost in the crash is either fully present or fully absent (never partial); nothing else
appears.
"""

from __future__ import annotations

import random
import threading
import time

import grpc

from e2e.helpers import Stream, Stubs
from fila.v1 import admin_pb2, service_pb2

CYCLES = 3
BATCH = 25


def _producer(addr: str, tag: str, ok: dict[str, list[str]], sent: set[str],
              stop: threading.Event, lock: threading.Lock) -> None:
    stubs = Stubs(addr)
    n = 0
    while not stop.is_set():
        n += 1
        name = f"{tag}-{n}"
        items = [service_pb2.EnqueueRequest(queue="load", payload=f"{name}/{k}".encode())
                 for k in range(BATCH)]
        with lock:
            sent.add(name)
        try:
            resp = stubs.svc.EnqueueBatch(service_pb2.EnqueueBatchRequest(messages=items),
                                          timeout=5)
        except grpc.RpcError:
            break  # the server died: this batch may or may not be durable
        ids = [r.message_id for r in resp.results]
        assert all(ids), "every item of a good batch gets an id"
        with lock:
            ok[name] = ids
    stubs.close()


def _all_messages(stubs: Stubs) -> dict[str, str]:
    """message id -> payload of everything in the queue (ListMessages, no leasing)."""
    found: dict[str, str] = {}
    token = ""
    while True:
        page = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(
            queue="load", limit=1000, page_token=token), timeout=30)
        found.update({m.message.id: m.message.payload.decode() for m in page.messages})
        token = page.next_page_token
        if not token:
            return found


def test_kill_9_with_enqueue_batches_in_flight(fila_server) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(11)
    stubs = Stubs(fila_server.addr)
    stubs.create("load")
    stubs.close()
    ok: dict[str, list[str]] = {}
    sent: set[str] = set()
    lock = threading.Lock()
    for cycle in range(CYCLES):
        stop = threading.Event()
        threads = [threading.Thread(target=_producer,
                                    args=(fila_server.addr, f"c{cycle}p{i}", ok, sent, stop,
                                          lock))
                   for i in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.0))  # load duration before the crash (fault injection)
        fila_server.kill()
        stop.set()
        for t in threads:
            t.join(timeout=15)
        fila_server.start()

    stubs = Stubs(fila_server.addr)
    found = _all_messages(stubs)
    stubs.close()
    by_batch: dict[str, set[str]] = {}
    for msg_id, payload in found.items():
        name, _, _k = payload.partition("/")
        by_batch.setdefault(name, set()).add(msg_id)
    assert len(ok) > 10, "the load should have committed some batches"
    lost = {name for name, ids in ok.items() if not set(ids) <= by_batch.get(name, set())}
    assert not lost, f"{len(lost)} batch(es) answered OK are missing messages"
    partial = {name for name, ids in by_batch.items() if len(ids) != BATCH}
    assert not partial, f"partial batches after the crash: {sorted(partial)[:5]}"
    unexpected = by_batch.keys() - sent
    assert not unexpected


def test_an_extended_lease_survives_kill_9(fila_server) -> None:  # type: ignore[no-untyped-def]
    """ExtendLease is stored with the lease: after kill -9 and a restart the message stays
    leased for the extension, not one visibility timeout; the extension's holder can still
    ack it (the stale-ack rule does not apply to a lease that never ended)."""
    stubs = Stubs(fila_server.addr)
    stubs.create("slow", visibility_timeout_ms=1000)
    msg_id = stubs.enqueue("slow", b"long job")
    stream = Stream(stubs, "slow")
    assert stream.get().id == msg_id
    stubs.svc.ExtendLease(service_pb2.ExtendLeaseRequest(queue="slow", message_id=msg_id,
                                                         extend_ms=60_000), timeout=10)
    # The stream stays open up to the crash: closing it would release the lease (after
    # the release grace) instead.
    fila_server.kill()
    stream.cancel()
    stubs.close()
    fila_server.start()
    stubs = Stubs(fila_server.addr)
    other = Stream(stubs, "slow")
    # A lease clamped to the 1 s timeout would be back within about 1 s of the restart.
    assert other.nothing_within(2.5), "the extended lease ended at the restart's timeout"
    listed = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(queue="slow"), timeout=10)
    assert [(m.message.id, m.state) for m in listed.messages] == [(msg_id, "leased")]
    other.cancel()
    stubs.close()
