"""Hostile Lua through the real server: inputs that used to abort fila-server (Lua PANIC) or
freeze its event loop, and hook results outside the wire's ranges.

After each case the server process is alive, gRPC health answers SERVING, and another queue
still enqueues and delivers.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e.helpers import Stream, Stubs, code_of
from fila.server.hooks import MAX_ERROR_BYTES, MAX_SCRIPT_BYTES
from fila.v1 import admin_pb2, service_pb2

TWO_MIB = 2 << 20

# Each freeze is run at top level (so CreateQueue has to compile through it) and inside
# on_enqueue when a message carries the `attack` header.
FREEZES = {
    "concat": "table.concat(setmetatable({}, { __index = table.concat }), '', 1, math.maxinteger)",
    "sort": (
        "table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end,"
        " __index = tostring, __newindex = rawequal }))"
    ),
    "coroutine": (
        "pcall(coroutine.wrap(function() while true do end end))\n"
        "while true do pcall(function() while true do end end) end"
    ),
}


@pytest.fixture()
def server(fila_server):  # type: ignore[no-untyped-def]
    return fila_server


@pytest.fixture()
def stubs(server) -> Iterator[Stubs]:  # type: ignore[no-untyped-def]
    s = Stubs(server.addr)
    yield s
    s.close()


def assert_server_healthy(server, stubs: Stubs, tag: str) -> None:  # type: ignore[no-untyped-def]
    assert server.proc.poll() is None, f"fila-server died:\n{server.log()}"
    health = health_pb2_grpc.HealthStub(stubs.channel)
    resp = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    # Another queue still enqueues and delivers.
    other = f"bystander-{tag}"
    stubs.create(other)
    stubs.enqueue(other, b"still-here")
    stream = Stream(stubs, other)
    try:
        assert stream.get().payload == b"still-here"
    finally:
        stream.cancel()
    assert "PANIC" not in server.log()


def create_error(stubs: Stubs, name: str, **scripts: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as exc:
        stubs.create(name, **scripts)
    return exc.value


def test_two_mib_nack_error_on_an_on_failure_queue(server, stubs: Stubs) -> None:  # type: ignore[no-untyped-def]
    stubs.create("nacked", on_failure="function on_failure(msg)\n"
                 "  return { action = 'retry', delay_ms = #msg.error > 4096 and 999999 or 0 }\n"
                 "end")
    stubs.enqueue("nacked", b"job")
    stream = Stream(stubs, "nacked")
    try:
        first = stream.get()
        stubs.nack("nacked", first.id, error="e" * TWO_MIB)
        # The hook saw at most 4096 bytes of it, so it chose an immediate retry.
        again = stream.get()
        assert again.id == first.id and again.metadata.attempt_count == 1
        assert len(again.metadata.last_error) <= MAX_ERROR_BYTES
    finally:
        stream.cancel()
    assert_server_healthy(server, stubs, "nack")


@pytest.mark.parametrize("hook", ["on_enqueue", "on_failure"])
def test_two_mib_script_via_create_queue_is_invalid_argument(server, stubs: Stubs,  # type: ignore[no-untyped-def]
                                                             hook: str) -> None:
    script = f"function {hook}(msg) end\n--" + "x" * TWO_MIB
    err = create_error(stubs, "huge", **{hook: script})
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    size = len(script.encode())
    assert f"{hook} script is {size} bytes; at most {MAX_SCRIPT_BYTES} allowed" in err.details()
    assert_server_healthy(server, stubs, f"create-{hook}")


def test_two_mib_script_via_update_queue_is_invalid_argument_and_changes_nothing(  # type: ignore[no-untyped-def]
    server, stubs: Stubs
) -> None:
    stubs.create("updated",
                 on_enqueue="function on_enqueue(msg) return { fairness_key = 'v1' } end")
    script = "function on_enqueue(msg) end\n--" + "x" * TWO_MIB
    code = code_of(lambda: stubs.admin.UpdateQueue(
        admin_pb2.UpdateQueueRequest(name="updated", on_enqueue_script=script), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    stubs.enqueue("updated", b"m")
    stream = Stream(stubs, "updated")
    try:
        assert stream.get().metadata.fairness_key == "v1"
    finally:
        stream.cancel()
    assert_server_healthy(server, stubs, "update")


def test_test_hook_with_a_two_mib_header_reports_an_error(server, stubs: Stubs) -> None:  # type: ignore[no-untyped-def]
    resp = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_enqueue",
        script="function on_enqueue(msg) return { fairness_key = msg.headers.big } end",
        headers={"big": "x" * TWO_MIB}, queue="q"), timeout=10)
    assert "at most" in resp.error and "allowed" in resp.error
    # TestHook with a 2 MiB script and a 2 MiB error text, too.
    resp = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_failure", script="function on_failure(msg) end\n--" + "x" * TWO_MIB,
        queue="q"), timeout=10)
    assert f"at most {MAX_SCRIPT_BYTES} allowed" in resp.error
    resp = stubs.admin.TestHook(admin_pb2.TestHookRequest(
        hook="on_failure",
        script="function on_failure(msg) return { delay_ms = #msg.error } end",
        error="e" * TWO_MIB, attempts=1, message_id="m", queue="q"), timeout=10)
    assert resp.error == "" and resp.delay_ms == MAX_ERROR_BYTES
    assert_server_healthy(server, stubs, "testhook")


@pytest.mark.parametrize("name", list(FREEZES))
def test_freeze_at_top_level_is_rejected_by_create_queue(server, stubs: Stubs, name: str) -> None:  # type: ignore[no-untyped-def]
    err = create_error(stubs, f"top-{name}",
                       on_enqueue=FREEZES[name] + "\nfunction on_enqueue(msg) end")
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "budget" in err.details() or "too expensive" in err.details()
    assert_server_healthy(server, stubs, f"top-{name}")


@pytest.mark.parametrize("name", list(FREEZES))
def test_freeze_in_on_enqueue_falls_back_to_the_defaults(server, stubs: Stubs, name: str) -> None:  # type: ignore[no-untyped-def]
    queue = f"hook-{name}"
    stubs.create(queue, on_enqueue="function on_enqueue(msg)\n"
                 f"  if msg.headers.attack then\n{FREEZES[name]}\n  end\n"
                 "  return { fairness_key = 'hooked' }\nend")
    stubs.enqueue(queue, b"attack", {"attack": "1"})
    stubs.enqueue(queue, b"normal")
    stream = Stream(stubs, queue)
    try:
        got = {m.payload: m.metadata.fairness_key for m in stream.take(2)}
    finally:
        stream.cancel()
    assert got == {b"attack": "default", b"normal": "hooked"}
    assert stubs.stats(queue).snapshot.hook_failures >= 1
    assert_server_healthy(server, stubs, f"hook-{name}")


@pytest.mark.parametrize(
    ("field", "value"), [("weight", "2^32"), ("weight", "math.maxinteger"), ("delay_ms", "2^62")]
)
def test_out_of_range_hook_results_are_not_stored(server, stubs: Stubs, field: str,  # type: ignore[no-untyped-def]
                                                  value: str) -> None:
    queue = f"range-{field}-{len(value)}"
    stubs.create(queue, on_enqueue=f"function on_enqueue(msg) return {{ {field} = {value} }} end")
    stubs.enqueue(queue, b"m")
    listed = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(queue=queue), timeout=10)
    assert [m.state for m in listed.messages] == ["ready"]
    assert listed.messages[0].message.metadata.weight == 1
    stream = Stream(stubs, queue)
    try:
        msg = stream.get()
        assert msg.payload == b"m" and msg.metadata.weight == 1
        stubs.ack(queue, msg.id)
    finally:
        stream.cancel()
    assert stubs.stats(queue).snapshot.hook_failures == 1
    # Consume keeps working for the next message too.
    stubs.enqueue(queue, b"m2")
    stream = Stream(stubs, queue)
    try:
        assert stream.get().payload == b"m2"
    finally:
        stream.cancel()
    assert_server_healthy(server, stubs, f"range-{field}-{len(value)}")


def test_heap_filling_hook_through_enqueue_keeps_the_server_up(server, stubs: Stubs) -> None:  # type: ignore[no-untyped-def]
    stubs.create("hog", on_enqueue="keep = {}\nfunction on_enqueue(msg)\n"
                 "  keep[#keep + 1] = msg.headers.v .. #keep\n  return { fairness_key = 'k' }\nend")
    for i in range(60):
        stubs.svc.Enqueue(service_pb2.EnqueueRequest(
            queue="hog", headers={"v": "x" * 60000 + str(i)}, payload=b"p"), timeout=10)
    assert stubs.stats("hog").snapshot.hook_failures > 0
    assert_server_healthy(server, stubs, "hog")
