"""Lua hooks, dead letters, redrive and delays through the real server."""

from __future__ import annotations

import time

import grpc
import pytest

from e2e.helpers import Stream, Stubs, code_of, wait_for
from fila.v1 import admin_pb2

ROUTING = """
function on_enqueue(msg)
  local region = fila.get("myapp.region") or "none"
  return { fairness_key = region .. ":" .. (msg.headers["tenant"] or "anon"),
           weight = 2, throttle_keys = { "provider:x", 42 } }
end
"""

DLQ_AFTER_3 = """
function on_failure(msg)
  if msg.attempts >= 3 then return { action = "dlq" } end
  return { action = "retry" }
end
"""

BACKOFF = """
function on_failure(msg)
  return { action = "retry", delay_ms = 1500 }
end
"""


@pytest.fixture()
def stubs(fila_server):  # type: ignore[no-untyped-def]
    s = Stubs(fila_server.addr)
    yield s
    s.close()


def test_on_enqueue_uses_headers_and_runtime_config(stubs: Stubs) -> None:
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="myapp.region", value="eu"))
    stubs.create("routed", on_enqueue=ROUTING)
    stubs.enqueue("routed", b"1", {"tenant": "acme"})
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="myapp.region", value="us"))
    stubs.enqueue("routed", b"2", {"tenant": "acme"})
    stream = Stream(stubs, "routed")
    got = {m.payload: m.metadata for m in stream.take(2)}
    assert got[b"1"].fairness_key == "eu:acme"
    assert got[b"2"].fairness_key == "us:acme"
    assert got[b"1"].weight == 2
    assert list(got[b"1"].throttle_keys) == ["provider:x"]  # the non-string was dropped
    stream.cancel()


def test_dead_letter_after_three_nacks_then_redrive(stubs: Stubs) -> None:
    stubs.create("jobs", on_failure=DLQ_AFTER_3)
    msg_id = stubs.enqueue("jobs", b"poison", {"tenant": "t"})
    stream = Stream(stubs, "jobs")
    for attempt in range(3):
        msg = stream.get()
        assert msg.metadata.attempt_count == attempt
        stubs.nack("jobs", msg.id, f"fail {attempt}")
    wait_for(lambda: stubs.stats("jobs.dlq").depth == 1, what="message in the DLQ")
    assert stubs.stats("jobs").depth == 0
    listed = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(queue="jobs.dlq"))
    dead = listed.messages[0].message
    assert dead.id == msg_id and dead.payload == b"poison"
    assert dead.metadata.attempt_count == 3
    assert dead.metadata.last_error == "fail 2"
    assert dead.metadata.queue_id == "jobs.dlq"
    preview = stubs.admin.Redrive(admin_pb2.RedriveRequest(dlq_queue="jobs.dlq", dry_run=True))
    assert preview.redriven == 1 and stubs.stats("jobs.dlq").depth == 1
    moved = stubs.admin.Redrive(admin_pb2.RedriveRequest(dlq_queue="jobs.dlq", count=0))
    assert moved.redriven == 1
    back = stream.get()
    assert back.id == msg_id and back.metadata.attempt_count == 0 and back.payload == b"poison"
    stubs.ack("jobs", msg_id)
    stream.cancel()


def test_redrive_errors(stubs: Stubs) -> None:
    def redrive(name: str) -> None:
        stubs.admin.Redrive(admin_pb2.RedriveRequest(dlq_queue=name))

    assert code_of(lambda: redrive("missing.dlq")) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: redrive("jobs")) == grpc.StatusCode.INVALID_ARGUMENT
    # ".dlq" names belong to the broker: nobody can plant a DLQ for a queue created later.
    assert code_of(lambda: stubs.create("orphan.dlq")) == grpc.StatusCode.INVALID_ARGUMENT


def test_delayed_retry_survives_kill_9(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    stubs.create("retry", on_failure=BACKOFF)
    msg_id = stubs.enqueue("retry", b"r")
    stream = Stream(stubs, "retry")
    leased = stream.get().id
    nacked_at = time.monotonic()  # before the call: the server's clock starts after this
    stubs.nack("retry", leased, "later")
    stream.cancel()
    stubs.close()
    fila_server.kill()
    fila_server.start()
    stubs = Stubs(fila_server.addr)
    stream = Stream(stubs, "retry")
    msg = stream.get(timeout=15)
    assert msg.id == msg_id
    assert time.monotonic() - nacked_at >= 1.5
    assert msg.metadata.attempt_count == 1
    stream.cancel()
    stubs.close()


def test_hostile_hook_falls_back_and_breaker_recovers(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"lua": {"circuit_breaker_cooldown_ms": 1000}})
    stubs = Stubs(server.addr)
    stubs.create("evil", on_enqueue="function on_enqueue(msg) while true do end end")
    stubs.create("good", on_enqueue=ROUTING)
    for _ in range(5):
        stubs.enqueue("evil", b"e")  # never fails: defaults apply
    snap = stubs.stats("evil").snapshot
    assert snap.hook_failures == 3  # then the breaker bypasses the hook
    assert snap.hook_breaker_open
    assert stubs.stats("evil").per_key_stats[0].key == "default"
    started = time.monotonic()
    stubs.enqueue("good", b"g", {"tenant": "a"})
    assert time.monotonic() - started < 1.0
    # After the cooldown the hook is tried again (and fails again).
    wait_for(lambda: not stubs.stats("evil").snapshot.hook_breaker_open, timeout=5,
             what="breaker cooldown")
    stubs.enqueue("evil", b"e")
    assert stubs.stats("evil").snapshot.hook_failures == 4
    stubs.close()


def test_compile_errors_and_update_queue(stubs: Stubs) -> None:
    def create_bad() -> None:
        stubs.create("bad", on_enqueue="function on_enqueue(msg) return {")

    assert code_of(create_bad) == grpc.StatusCode.INVALID_ARGUMENT
    try:
        create_bad()
    except grpc.RpcError as exc:
        assert ":1:" in (exc.details() or "") or "line 1" in (exc.details() or "")
    stubs.create("live", on_enqueue=ROUTING)

    def update(**fields: object) -> admin_pb2.UpdateQueueResponse:
        return stubs.admin.UpdateQueue(admin_pb2.UpdateQueueRequest(name="live", **fields))

    assert code_of(lambda: update(on_enqueue_script="function on_enqueue(")) == \
        grpc.StatusCode.INVALID_ARGUMENT
    assert stubs.admin.GetQueue(admin_pb2.GetQueueRequest(name="live")).config \
        .on_enqueue_script == ROUTING
    new = 'function on_enqueue(msg) return { fairness_key = "v2" } end'
    update(on_enqueue_script=new, visibility_timeout_ms=5000)
    got = stubs.admin.GetQueue(admin_pb2.GetQueueRequest(name="live"))
    assert got.config.on_enqueue_script == new and got.config.visibility_timeout_ms == 5000
    assert got.dead_letter_queue == "live.dlq"
    stubs.enqueue("live")
    assert stubs.stats("live").per_key_stats[0].key == "v2"


def test_test_hook_never_touches_a_queue(stubs: Stubs) -> None:
    ok = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_enqueue", script=ROUTING, headers={"tenant": "z"}, payload_size=10))
    assert ok.error == "" and ok.fairness_key == "none:z" and ok.weight == 2
    failing = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_failure", script="function on_failure(msg)\n error('nope')\nend"))
    assert "nope" in failing.error and "2" in failing.error
    dlq = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_failure", script=DLQ_AFTER_3, attempts=3))
    assert dlq.action == "dlq"
    assert not stubs.admin.ListQueues(admin_pb2.ListQueuesRequest()).queues


def test_list_messages_pages_without_leasing(stubs: Stubs) -> None:
    stubs.create("browse", on_enqueue=ROUTING)
    ids = [stubs.enqueue("browse", b"%d" % i, {"tenant": "a" if i % 2 else "b"})
           for i in range(7)]
    first = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(queue="browse", limit=3))
    second = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(
        queue="browse", limit=10, page_token=first.next_page_token))
    seen = [m.message.id for m in first.messages] + [m.message.id for m in second.messages]
    assert seen == ids and second.next_page_token == ""
    only_a = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(
        queue="browse", fairness_key="none:a"))
    assert len(only_a.messages) == 3
    assert {m.state for m in first.messages} == {"ready"}
    assert stubs.stats("browse").in_flight == 0
