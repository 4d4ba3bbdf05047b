"""Batch RPCs against the real server: EnqueueBatch, AckBatch, NackBatch, ExtendLease and
batched Consume frames (max_batch), over raw stubs and through the client library."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e2e.helpers import Stream, Stubs, code_of, wait_for
from fila.client import AsyncClient, Client
from fila.errors import InvalidArgumentError, MessageNotFoundError, QueueNotFoundError
from fila.types import EnqueueItem
from fila.v1 import admin_pb2, service_pb2

TENANT_HOOK = """
function on_enqueue(msg)
  return { fairness_key = msg.headers["tenant"] or "default" }
end
"""

OK = grpc.StatusCode.OK.value[0]
NOT_FOUND = grpc.StatusCode.NOT_FOUND.value[0]
INVALID = grpc.StatusCode.INVALID_ARGUMENT.value[0]


@pytest.fixture()
def stubs(fila_server):  # type: ignore[no-untyped-def]
    s = Stubs(fila_server.addr)
    yield s
    s.close()


def _req(queue: str, payload: bytes = b"x", headers: dict[str, str] | None = None
         ) -> service_pb2.EnqueueRequest:
    return service_pb2.EnqueueRequest(queue=queue, payload=payload, headers=headers or {})


def _listed(stubs: Stubs, queue: str) -> dict[str, bytes]:
    page = stubs.admin.ListMessages(admin_pb2.ListMessagesRequest(queue=queue, limit=1000),
                                    timeout=10)
    return {m.message.id: m.message.payload for m in page.messages}


def _batch_stream(stubs: Stubs, queue: str, max_batch: int) -> tuple[Any, list[list[Any]]]:
    """A Consume call with max_batch, read on a thread; returns (call, frames)."""
    call = stubs.svc.Consume(service_pb2.ConsumeRequest(queue=queue, max_batch=max_batch))
    frames: list[list[Any]] = []

    def read() -> None:
        try:
            for frame in call:
                assert not frame.HasField("message"), "a batched frame leaves message unset"
                frames.append(list(frame.messages))
        except grpc.RpcError:
            pass

    threading.Thread(target=read, daemon=True).start()
    return call, frames


def test_enqueue_batch_bad_items_fail_alone(stubs: Stubs) -> None:
    stubs.create("q")
    items = [
        _req("q", b"first"),
        _req("missing", b"nowhere"),
        _req("q", b"x" * (4 * 1024 * 1024 + 1)),
        _req("q", b"headers", {f"h{i}": "v" for i in range(257)}),
        _req("q", b"last"),
    ]
    resp = stubs.svc.EnqueueBatch(service_pb2.EnqueueBatchRequest(messages=items), timeout=10)
    kinds = [r.WhichOneof("result") for r in resp.results]
    assert kinds == ["message_id", "error", "error", "error", "message_id"]
    assert resp.results[1].error.code == NOT_FOUND
    assert resp.results[2].error.code == INVALID
    assert "payload" in resp.results[2].error.message
    assert resp.results[3].error.code == INVALID
    assert "headers" in resp.results[3].error.message
    stored = _listed(stubs, "q")
    assert stored == {resp.results[0].message_id: b"first", resp.results[4].message_id: b"last"}
    stream = Stream(stubs, "q")
    assert [m.payload for m in stream.take(2)] == [b"first", b"last"]  # request order
    stream.cancel()


def test_enqueue_batch_over_limit_stores_nothing(stubs: Stubs) -> None:
    stubs.create("q")
    items = [_req("q", b"%d" % i) for i in range(1001)]
    code = code_of(lambda: stubs.svc.EnqueueBatch(
        service_pb2.EnqueueBatchRequest(messages=items), timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert stubs.stats("q").depth == 0
    # The limit itself is fine.
    resp = stubs.svc.EnqueueBatch(service_pb2.EnqueueBatchRequest(messages=items[:1000]),
                                  timeout=30)
    assert all(r.WhichOneof("result") == "message_id" for r in resp.results)
    assert stubs.stats("q").depth == 1000


def test_enqueue_batch_runs_on_enqueue_per_message(stubs: Stubs) -> None:
    stubs.create("q", on_enqueue=TENANT_HOOK)
    items = [_req("q", b"a", {"tenant": "acme"}), _req("q", b"b", {"tenant": "globex"})]
    stubs.svc.EnqueueBatch(service_pb2.EnqueueBatchRequest(messages=items), timeout=10)
    stream = Stream(stubs, "q")
    got = {m.payload: m.metadata.fairness_key for m in stream.take(2)}
    stream.cancel()
    assert got == {b"a": "acme", b"b": "globex"}


def test_ack_batch_valid_unknown_malformed_and_stale(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    stubs.create("q")
    # A lease that goes stale: stream A (its own connection, room for one) gets it and
    # closes unsettled; stream B, on another connection, holds it after that.
    a = Stubs(fila_server.addr, own_connection=True)
    stream_a = Stream(a, "q", prefetch=1)
    stale_id = stubs.enqueue("q", b"stale")
    assert stream_a.get().id == stale_id
    stream = Stream(stubs, "q")
    ids = [stubs.enqueue("q", b"%d" % i) for i in range(3)]
    assert {m.id for m in stream.take(3)} == set(ids)
    stream_a.cancel()
    assert stream.get().id == stale_id  # redelivered to B after the release grace
    unknown = str(uuid.uuid4())
    items = [(ids[0]), unknown, "not-a-uuid", ids[1], ids[0]]
    resp = stubs.svc.AckBatch(service_pb2.AckBatchRequest(items=[
        service_pb2.AckRequest(queue="q", message_id=m) for m in items]), timeout=10)
    assert [r.code for r in resp.results] == [OK, NOT_FOUND, INVALID, OK, NOT_FOUND]
    assert resp.results[1].message
    # From A's connection the stale lease is refused; the good item in the same batch is not.
    resp = a.svc.AckBatch(service_pb2.AckBatchRequest(items=[
        service_pb2.AckRequest(queue="q", message_id=stale_id),
        service_pb2.AckRequest(queue="q", message_id=ids[2])]), timeout=10)
    assert [r.code for r in resp.results] == [NOT_FOUND, OK]
    assert "redelivered" in resp.results[0].message
    assert stubs.stats("q").depth == 1  # only the stale one is left, still leased by B
    stubs.ack("q", stale_id)
    assert stubs.stats("q").depth == 0
    stream.cancel()
    a.close()
    stubs.close()


def test_ack_batch_over_limit_settles_nothing(stubs: Stubs) -> None:
    stubs.create("q")
    msg_id = stubs.enqueue("q")
    stream = Stream(stubs, "q")
    stream.get()
    items = [service_pb2.AckRequest(queue="q", message_id=msg_id)] * 1001
    code = code_of(lambda: stubs.svc.AckBatch(service_pb2.AckBatchRequest(items=items),
                                              timeout=10))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert stubs.stats("q").in_flight == 1
    stream.cancel()


def test_nack_batch_requeues_and_reports_per_item(stubs: Stubs) -> None:
    stubs.create("q")
    ids = {stubs.enqueue("q", b"%d" % i) for i in range(2)}
    stream = Stream(stubs, "q")
    assert {m.id for m in stream.take(2)} == ids
    items = [*sorted(ids), str(uuid.uuid4())]
    resp = stubs.svc.NackBatch(service_pb2.NackBatchRequest(items=[
        service_pb2.NackRequest(queue="q", message_id=m, error="boom") for m in items]),
        timeout=10)
    assert [r.code for r in resp.results] == [OK, OK, NOT_FOUND]
    again = stream.take(2)
    assert {m.id for m in again} == ids
    assert all(m.metadata.attempt_count == 1 for m in again)
    assert all(m.metadata.last_error == "boom" for m in again)
    stream.cancel()


def test_extend_lease_keeps_message_past_its_deadline(stubs: Stubs) -> None:
    stubs.create("q", visibility_timeout_ms=1000)
    msg_id = stubs.enqueue("q")
    stream = Stream(stubs, "q")
    assert stream.get().id == msg_id
    stubs.svc.ExtendLease(service_pb2.ExtendLeaseRequest(queue="q", message_id=msg_id,
                                                         extend_ms=5000), timeout=10)
    # Well past the original 1 s deadline: not redelivered, still in flight.
    assert stream.nothing_within(2.5)
    assert stubs.stats("q").in_flight == 1
    stubs.ack("q", msg_id)
    assert stubs.stats("q").depth == 0
    stream.cancel()


def test_extend_lease_without_extension_expires(stubs: Stubs) -> None:
    """The control for the test above: the same message comes back after 1 s unextended."""
    stubs.create("q", visibility_timeout_ms=1000)
    msg_id = stubs.enqueue("q")
    stream = Stream(stubs, "q")
    assert stream.get().id == msg_id
    again = stream.get(timeout=10)
    assert again.id == msg_id and again.metadata.attempt_count == 1
    stream.cancel()


def test_extend_lease_errors(stubs: Stubs) -> None:
    stubs.create("q")
    msg_id = stubs.enqueue("q")

    def extend(mid: str, ms: int, queue: str = "q") -> Any:
        return lambda: stubs.svc.ExtendLease(service_pb2.ExtendLeaseRequest(
            queue=queue, message_id=mid, extend_ms=ms), timeout=10)

    assert code_of(extend(msg_id, 1000)) == grpc.StatusCode.NOT_FOUND  # not leased
    assert code_of(extend(str(uuid.uuid4()), 1000)) == grpc.StatusCode.NOT_FOUND
    assert code_of(extend(msg_id, 1000, "nope")) == grpc.StatusCode.NOT_FOUND
    stream = Stream(stubs, "q")
    stream.get()
    assert code_of(extend(msg_id, 0)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(extend(msg_id, 12 * 3600 * 1000 + 1)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(extend("bad", 1000)) == grpc.StatusCode.INVALID_ARGUMENT
    extend(msg_id, 12 * 3600 * 1000)()  # the maximum is allowed
    stubs.ack("q", msg_id)
    stream.cancel()


def _fill(stubs: Stubs, queue: str) -> None:
    stubs.create(queue, on_enqueue=TENANT_HOOK)
    for i in range(40):
        stubs.enqueue(queue, b"%d" % i, {"tenant": ("a", "b", "c", "a")[i % 4]})


def test_max_batch_frames_keep_the_unbatched_order(stubs: Stubs) -> None:
    _fill(stubs, "plain")
    _fill(stubs, "batched")
    stream = Stream(stubs, "plain")
    plain = [m.payload for m in stream.take(40)]
    stream.cancel()
    call, frames = _batch_stream(stubs, "batched", max_batch=8)
    wait_for(lambda: sum(len(f) for f in frames) >= 40, what="40 batched messages")
    call.cancel()
    assert max(len(f) for f in frames) > 1, "the waiting backlog should share frames"
    assert all(1 <= len(f) <= 8 for f in frames)
    assert [m.payload for f in frames for m in f] == plain


def test_max_batch_does_not_wait_to_fill_a_frame(stubs: Stubs) -> None:
    stubs.create("q")
    call, frames = _batch_stream(stubs, "q", max_batch=100)
    stubs.enqueue("q", b"alone")
    wait_for(lambda: frames, what="a frame with one message")
    assert [m.payload for m in frames[0]] == [b"alone"]
    call.cancel()


def test_client_enqueue_many_ack_many_nack_many(fila_server) -> None:  # type: ignore[no-untyped-def]
    with Client(fila_server.addr) as client:
        client.create_queue("q")
        results = client.enqueue_many([
            EnqueueItem("q", b"one", {"k": "v"}),
            EnqueueItem("missing", b"two"),
            EnqueueItem("q", b"three"),
        ])
        assert isinstance(results[0], str) and isinstance(results[2], str)
        assert isinstance(results[1], QueueNotFoundError)
        with pytest.raises(InvalidArgumentError):
            client.enqueue_many([EnqueueItem("q", b"x")] * 1001)
        stream = client.consume("q", max_batch=10)
        got = [next(stream), next(stream)]
        assert [m.payload for m in got] == [b"one", b"three"]
        assert got[0].headers == {"k": "v"}
        unknown = str(uuid.uuid4())
        nacked = client.nack_many("q", [got[1].id, unknown], "later")
        assert nacked[0] is None and isinstance(nacked[1], MessageNotFoundError)
        again = next(stream)
        assert again.id == got[1].id and again.attempt_count == 1
        acked = client.ack_many("q", [got[0].id, again.id, "junk"])
        assert acked[:2] == [None, None] and isinstance(acked[2], InvalidArgumentError)
        stream.close()
        assert client.get_stats("q").depth == 0


def test_client_extend_lease(fila_server) -> None:  # type: ignore[no-untyped-def]
    with Client(fila_server.addr) as client:
        client.create_queue("q", visibility_timeout_ms=1000)
        client.enqueue("q", None, b"slow")
        stream = client.consume("q")
        msg = next(stream)
        client.extend_lease("q", msg.id, 4000)
        with pytest.raises(MessageNotFoundError):
            client.extend_lease("q", str(uuid.uuid4()), 4000)
        with pytest.raises(InvalidArgumentError):
            client.extend_lease("q", msg.id, 0)
        wait_for(lambda: client.get_stats("q").in_flight == 1, what="in flight")
        stream.close()


def test_async_client_batch_methods(fila_server) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        async with AsyncClient(fila_server.addr) as client:
            await client.create_queue("q")
            ids = await client.enqueue_many([EnqueueItem("q", b"%d" % i) for i in range(5)])
            assert all(isinstance(i, str) for i in ids)
            stream = client.consume("q", max_batch=5)
            got = []
            async for m in stream:
                got.append(m)
                if len(got) == 5:
                    break
            assert [m.id for m in got] == ids
            await client.extend_lease("q", got[0].id, 5000)
            assert await client.ack_many("q", [m.id for m in got]) == [None] * 5
            assert (await client.get_stats("q")).depth == 0

    asyncio.run(run())


WEIGHTED_HOOK = """
function on_enqueue(msg)
  return { fairness_key = msg.headers["tenant"], weight = tonumber(msg.headers["w"]) }
end
"""

# Each tenant's weight is fixed per example; messages name their tenant.
tenants = st.dictionaries(st.sampled_from("abcdef"), st.integers(1, 4), min_size=1, max_size=5)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), weights=tenants, max_batch=st.integers(2, 50),
       prefetch=st.integers(1, 64))
def test_batched_path_delivers_in_exactly_the_unbatched_drr_order(
        fila_server, data: st.DataObject, weights: dict[str, int], max_batch: int,  # type: ignore[no-untyped-def]
        prefetch: int) -> None:
    """Property: enqueue_many + frames of up to max_batch + ack_many deliver the same
    sequence as unary Enqueue + one message per frame + one Ack each, for any mix of
    weighted tenants, frame size and credit (prefetch)."""
    order = data.draw(st.lists(st.sampled_from(sorted(weights)), min_size=1, max_size=60))
    name = uuid.uuid4().hex[:12]
    plain_q, batched_q = f"plain-{name}", f"batched-{name}"
    with Client(fila_server.addr) as c:
        for q in (plain_q, batched_q):
            c.create_queue(q, on_enqueue=WEIGHTED_HOOK)
        sent = [(f"{i}".encode(), {"tenant": t, "w": str(weights[t])}) for i, t in enumerate(order)]
        for payload, headers in sent:
            c.enqueue(plain_q, headers, payload)
        assert all(isinstance(r, str) for r in c.enqueue_many(
            [EnqueueItem(batched_q, payload, headers) for payload, headers in sent]))

        plain: list[bytes] = []
        stream = c.consume(plain_q, prefetch=prefetch)
        for msg in stream:
            plain.append(msg.payload)
            c.ack(plain_q, msg.id)
            if len(plain) == len(sent):
                break
        stream.close()

        batched: list[bytes] = []
        held: list[str] = []
        stream = c.consume(batched_q, prefetch=prefetch, max_batch=max_batch)
        for msg in stream:
            batched.append(msg.payload)
            held.append(msg.id)
            # Settle when the frame size is reached or credit would run out: a consumer
            # holding `prefetch` unacked leases gets nothing more.
            if len(held) >= min(max_batch, prefetch) or len(batched) == len(sent):
                assert all(r is None for r in c.ack_many(batched_q, held))
                held = []
            if len(batched) == len(sent):
                break
        stream.close()
    assert batched == plain
    assert sorted(batched) == sorted(p for p, _ in sent)
