"""Broker core end to end: real fila-server, real RocksDB, real gRPC."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

import grpc
import pytest

from e2e.helpers import Stream, Stubs, code_of, wait_for
from fila.v1 import admin_pb2, service_pb2


@pytest.fixture()
def stubs(fila_server):  # type: ignore[no-untyped-def]
    s = Stubs(fila_server.addr)
    yield s
    s.close()


def test_enqueue_consume_ack_roundtrip(stubs: Stubs) -> None:
    stubs.create("orders")
    before_ms = time.time() * 1000
    msg_id = stubs.enqueue("orders", b"hello", {"tenant": "acme", "k": "v"})
    assert uuid.UUID(msg_id).version == 7
    stream = Stream(stubs, "orders")
    msg = stream.get()
    assert msg.id == msg_id
    assert msg.payload == b"hello"
    assert dict(msg.headers) == {"tenant": "acme", "k": "v"}
    assert msg.metadata.fairness_key == "default"
    assert msg.metadata.attempt_count == 0
    assert msg.metadata.queue_id == "orders"
    assert msg.timestamps.enqueued_at.ToMilliseconds() >= before_ms - 1000
    assert msg.timestamps.leased_at.ToMilliseconds() >= msg.timestamps.enqueued_at.ToMilliseconds()
    stubs.ack("orders", msg_id)
    assert stubs.stats("orders").depth == 0
    stream.cancel()


def test_nack_redelivers_on_same_stream_with_attempt_one(stubs: Stubs) -> None:
    stubs.create("jobs")
    msg_id = stubs.enqueue("jobs", b"work")
    stream = Stream(stubs, "jobs")
    first = stream.get()
    stubs.nack("jobs", first.id, "transient")
    again = stream.get()
    assert again.id == msg_id
    assert again.metadata.attempt_count == 1
    assert again.metadata.last_error == "transient"
    stubs.ack("jobs", msg_id)
    stream.cancel()


def test_missing_queue_is_not_found(stubs: Stubs) -> None:
    assert code_of(lambda: stubs.enqueue("nope")) == grpc.StatusCode.NOT_FOUND
    call = stubs.svc.Consume(service_pb2.ConsumeRequest(queue="nope"))
    assert code_of(lambda: next(iter(call))) == grpc.StatusCode.NOT_FOUND
    for rpc in (lambda: stubs.stats("nope"),
                lambda: stubs.admin.DeleteQueue(admin_pb2.DeleteQueueRequest(queue="nope"))):
        assert code_of(rpc) == grpc.StatusCode.NOT_FOUND


def test_double_ack_and_bad_ids(stubs: Stubs) -> None:
    stubs.create("q")
    msg_id = stubs.enqueue("q")
    stream = Stream(stubs, "q")
    stream.get()
    stubs.ack("q", msg_id)
    assert code_of(lambda: stubs.ack("q", msg_id)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: stubs.nack("q", msg_id)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: stubs.ack("q", "")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.ack("q", "not-a-uuid")) == grpc.StatusCode.INVALID_ARGUMENT
    # Unleased (never delivered) message: no current lease.
    other = stubs.enqueue("q")
    stream.cancel()
    stubs.create("idle")
    idle_id = stubs.enqueue("idle")
    assert code_of(lambda: stubs.ack("idle", idle_id)) == grpc.StatusCode.NOT_FOUND
    assert other


def test_status_codes_for_bad_admin_input(stubs: Stubs) -> None:
    stubs.create("dup")
    assert code_of(lambda: stubs.create("dup")) == grpc.StatusCode.ALREADY_EXISTS
    assert code_of(lambda: stubs.create("")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.create("vt", visibility_timeout_ms=500)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.enqueue("")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.admin.Redrive(admin_pb2.RedriveRequest(dlq_queue="dup"))) == \
        grpc.StatusCode.INVALID_ARGUMENT


def test_create_makes_dlq_and_delete_removes_everything(stubs: Stubs) -> None:
    stubs.create("orders")
    names = {q.name for q in stubs.admin.ListQueues(admin_pb2.ListQueuesRequest()).queues}
    assert names == {"orders", "orders.dlq"}
    for _ in range(3):
        stubs.enqueue("orders")
    stubs.admin.DeleteQueue(admin_pb2.DeleteQueueRequest(queue="orders"))
    assert not stubs.admin.ListQueues(admin_pb2.ListQueuesRequest()).queues
    stubs.create("orders")
    assert stubs.stats("orders").depth == 0


def test_visibility_timeout_redelivers(stubs: Stubs) -> None:
    stubs.create("slow", visibility_timeout_ms=1000)
    msg_id = stubs.enqueue("slow")
    stream = Stream(stubs, "slow")
    first = stream.get()
    assert first.metadata.attempt_count == 0
    again = stream.get(timeout=10)  # never acked: the timer reclaims it
    assert again.id == msg_id
    assert again.metadata.attempt_count >= 1
    stream.cancel()


def test_disconnect_releases_leases_at_once(stubs: Stubs) -> None:
    stubs.create("q", visibility_timeout_ms=600_000)
    msg_id = stubs.enqueue("q")
    first = Stream(stubs, "q")
    assert first.get().id == msg_id
    first.cancel()
    second = Stream(stubs, "q")
    msg = second.get(timeout=10)  # far sooner than the 10-minute timeout
    assert msg.id == msg_id
    assert msg.metadata.attempt_count == 1
    second.cancel()


def test_ack_right_after_closing_the_stream_still_lands(stubs: Stubs) -> None:
    # The SDK pattern `msg = next(client.consume(q)); client.ack(q, msg.id)` closes the
    # stream before acking: the lease survives a short grace, so the ack is not lost.
    stubs.create("q")
    msg_id = stubs.enqueue("q")
    stream = Stream(stubs, "q")
    assert stream.get().id == msg_id
    stream.cancel()
    stubs.ack("q", msg_id)
    assert stubs.stats("q").depth == 0


def test_consumers_share_a_queue(stubs: Stubs) -> None:
    stubs.create("shared")
    a = Stream(stubs, "shared", prefetch=1)
    b = Stream(stubs, "shared", prefetch=1)
    wait_for(lambda: stubs.stats("shared").active_consumers == 2, what="two consumers")
    ids = {stubs.enqueue("shared") for _ in range(2)}
    got = {a.get().id, b.get().id}
    assert got == ids
    a.cancel()
    b.cancel()


def test_prefetch_limits_unacked_leases(stubs: Stubs) -> None:
    stubs.create("pf")
    for _ in range(5):
        stubs.enqueue("pf")
    stream = Stream(stubs, "pf", prefetch=2)
    first = stream.take(2)
    assert stream.nothing_within(0.3)
    stubs.ack("pf", first[0].id)
    stream.get()
    assert stubs.stats("pf").in_flight == 2
    stream.cancel()


def test_delayed_message_waits(stubs: Stubs) -> None:
    stubs.create("later")
    sent = time.monotonic()
    msg_id = stubs.enqueue("later", delay_ms=700)
    stream = Stream(stubs, "later")
    msg = stream.get(timeout=10)
    assert msg.id == msg_id
    assert time.monotonic() - sent >= 0.7
    stream.cancel()


def test_sigterm_exits_zero_and_keeps_data(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    stubs.create("keep")
    ids = {stubs.enqueue("keep", b"%d" % i) for i in range(10)}
    stream = Stream(stubs, "keep")
    stream.get()
    stubs.close()
    assert fila_server.stop() == 0
    fila_server.start()
    stubs = Stubs(fila_server.addr)
    assert stubs.stats("keep").depth == 10
    stream = Stream(stubs, "keep")
    got = {m.id for m in stream.take(10)}
    assert got == ids
    stream.cancel()
    stubs.close()


def test_reflection_lists_services(fila_server) -> None:  # type: ignore[no-untyped-def]
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(fila_server.addr) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(
                file_containing_symbol="fila.v1.FilaService"),
        ]))
        listed, files = list(responses)
    names = {s.name for s in listed.list_services_response.service}
    assert {"fila.v1.FilaService", "fila.v1.FilaAdmin", "grpc.health.v1.Health"} <= names
    assert files.file_descriptor_response.file_descriptor_proto


def test_health_serving(fila_server) -> None:  # type: ignore[no-untyped-def]
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(fila_server.addr) as channel:
        resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""))
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


def test_bad_config_file_exits_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "fila.toml").write_text("[server\nlisten_addr = 1")
    proc = subprocess.run([sys.executable, "-m", "fila.server.main"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 1
    assert "malformed config file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_sigint_also_drains(fila_server) -> None:  # type: ignore[no-untyped-def]
    assert fila_server.proc is not None
    fila_server.proc.send_signal(signal.SIGINT)
    assert fila_server.proc.wait(timeout=15) == 0


def test_enqueues_share_fsyncs_and_are_synced(fila_server) -> None:  # type: ignore[no-untyped-def]
    """Every acked enqueue went through a synced WAL write; concurrent ones share it."""
    import threading

    from fila.client import Client

    stubs = Stubs(fila_server.addr)
    stubs.create("sync")
    with Client(fila_server.addr) as client:
        before = client.server_info()
        assert before.fsync is True

        def produce() -> None:
            with Client(fila_server.addr) as c:
                for _ in range(50):
                    c.enqueue("sync", None, b"x")

        threads = [threading.Thread(target=produce) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = client.server_info()
    batches = after.commit_batches - before.commit_batches
    groups = after.commit_groups - before.commit_groups
    assert batches >= 400  # every enqueue was committed through the group committer
    assert after.wal_syncs - before.wal_syncs >= groups > 0  # each group was fsynced
    assert groups < batches  # and concurrent writers shared fsyncs
    stubs.close()


def test_stale_ack_is_refused_after_redelivery(fila_server) -> None:  # type: ignore[no-untyped-def]
    """A client whose lease ended cannot ack the message out from under the new holder."""
    a = Stubs(fila_server.addr, own_connection=True)
    b = Stubs(fila_server.addr, own_connection=True)
    a.create("r7", visibility_timeout_ms=1000)
    msg_id = a.enqueue("r7")
    stream_a = Stream(a, "r7")
    assert stream_a.get().id == msg_id
    stream_b = Stream(b, "r7")
    # a's lease expires (maybe more than once, if it comes back to a first) until b holds it.
    again = stream_b.get(timeout=15)
    assert again.id == msg_id and again.metadata.attempt_count >= 1
    assert code_of(lambda: a.ack("r7", msg_id)) == grpc.StatusCode.NOT_FOUND
    b.ack("r7", msg_id)
    assert a.stats("r7").depth == 0
    stream_a.cancel()
    stream_b.cancel()
    a.close()
    b.close()
