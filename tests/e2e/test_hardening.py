"""Hardening against a real fila-server: a hook that never returns, restarts with hooks that
read config, stale acks from a second stream on one connection, reserved and long names,
and deleting a big queue while others keep working."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from fila import Client
from fila.errors import MessageNotFoundError
from fila.v1 import admin_pb2, service_pb2

from .helpers import Stream, Stubs, code_of, wait_for

SPIN = "function on_enqueue(msg) while true do end end"


def health(stubs: Stubs) -> int:
    resp = health_pb2_grpc.HealthStub(stubs.channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=5)
    return int(resp.status)


def test_a_hook_past_the_watchdog_does_not_stop_the_broker(make_server) -> None:  # type: ignore[no-untyped-def]
    # The sandbox's own budget is set far out (20 s of CPU, 200M instructions), so only the
    # second line of defence, the 200 ms wall-clock watchdog, can end this call in time.
    server = make_server({"lua": {"default_timeout_ms": 20_000, "watchdog_ms": 200}})
    stubs = Stubs(server.addr)
    stubs.create("spin", on_enqueue=SPIN)
    stubs.create("plain")
    # Deadlines well under the hook's own run time: if the loop were stuck behind the hook,
    # these calls would fail with DEADLINE_EXCEEDED.
    msg_id = stubs.svc.Enqueue(service_pb2.EnqueueRequest(queue="spin"), timeout=3).message_id
    assert msg_id
    assert health(stubs) == health_pb2.HealthCheckResponse.SERVING
    stubs.enqueue("plain", b"still flowing")
    stream = Stream(stubs, "plain")
    assert stream.get(timeout=3).payload == b"still flowing"
    stream.cancel()
    snap = stubs.stats("spin").snapshot
    assert snap.hook_breaker_open
    assert "ran past the hook watchdog (200 ms)" in snap.hook_error
    assert "disabled until the queue's scripts are updated" in snap.hook_error
    shown = subprocess.run([shutil.which("fila") or "fila", "--addr", server.addr, "queue",
                            "inspect", "spin"], capture_output=True, text=True, timeout=30)
    assert "Hooks:                breaker open (on_enqueue of queue 'spin' ran past" in \
        shown.stdout
    # The queue keeps working without its hook, and replacing the script brings hooks back.
    stubs.enqueue("spin", b"again")
    stubs.admin.UpdateQueue(admin_pb2.UpdateQueueRequest(
        name="spin", on_enqueue_script='function on_enqueue(m) return {fairness_key="k"} end'),
        timeout=5)
    assert stubs.stats("spin").snapshot.hook_error == ""
    assert server.proc.poll() is None


def test_hooks_that_read_config_at_load_survive_a_restart(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server()
    stubs = Stubs(server.addr)
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="tenant.header", value="org"),
                          timeout=5)
    hook = """local field = fila.get("tenant.header")
assert(field, "tenant.header is not set")
function on_enqueue(msg) return { fairness_key = msg.headers[field] or "none" } end"""
    stubs.create("jobs", on_enqueue=hook)
    stubs.close()
    assert server.stop() == 0
    server.start()
    stubs = Stubs(server.addr)
    stubs.enqueue("jobs", b"x", {"org": "acme"})
    stream = Stream(stubs, "jobs")
    assert stream.get().metadata.fairness_key == "acme"
    stream.cancel()
    assert stubs.stats("jobs").snapshot.hook_error == ""


def test_a_stale_ack_from_another_client_on_the_same_connection_is_refused(fila_server) -> None:  # type: ignore[no-untyped-def]
    # Two Client objects in one process share one TCP connection, so the connection cannot
    # tell them apart; the stream token our client sends back can.
    first, second = Client(fila_server.addr), Client(fila_server.addr)
    first.create_queue("work")
    msg_id = first.enqueue("work", None, b"job")
    stream = first.consume("work")
    assert next(stream).id == msg_id
    stream.close()  # its lease goes back after the 1 s release grace...
    other = second.consume("work")
    assert next(other).id == msg_id  # ...and the message goes to the second client
    with pytest.raises(MessageNotFoundError, match="lease expired"):
        first.ack("work", msg_id)
    second.ack("work", msg_id)  # the holder's ack still works
    other.close()
    assert first.get_stats("work").depth == 0
    first.close()
    second.close()


def test_dlq_names_are_reserved_and_long_names_redrive(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    assert code_of(lambda: stubs.create("x.dlq")) == grpc.StatusCode.INVALID_ARGUMENT
    long = "q" * 256  # the longest name; its DLQ is 260 bytes
    stubs.create(long, on_failure='function on_failure(m) return {action = "dlq"} end')
    msg_id = stubs.enqueue(long, b"poison")
    stream = Stream(stubs, long)
    assert stream.get().id == msg_id
    stubs.nack(long, msg_id, "bad")
    wait_for(lambda: stubs.stats(long + ".dlq").depth == 1, what="the dead letter")
    moved = stubs.admin.Redrive(admin_pb2.RedriveRequest(dlq_queue=long + ".dlq"), timeout=5)
    assert moved.redriven == 1
    assert stream.get().id == msg_id
    stream.cancel()


def test_deleting_a_big_queue_then_recreating_it_starts_empty(fila_server) -> None:  # type: ignore[no-untyped-def]
    with Client(fila_server.addr) as client:
        client.create_queue("big")
        client.create_queue("other")
        for i in range(300):
            client.enqueue("big", {"i": str(i)}, b"x" * 512)
        client.delete_queue("big")
        client.enqueue("other", None, b"meanwhile")
        client.create_queue("big")
        assert client.get_stats("big").depth == 0
        assert client.list_messages("big") == ([], "")
    fila_server.stop()
    fila_server.start()
    with Client(fila_server.addr) as client:
        assert client.get_stats("big").depth == 0
        assert client.get_stats("other").depth == 1
