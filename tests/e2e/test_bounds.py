"""Resource bounds through the real server: config values, prefetch, streams, pages."""

from __future__ import annotations

import contextlib
import time

import grpc
import pytest

from e2e.helpers import Stream, Stubs, code_of, wait_for
from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2

THROTTLE_HOOK = """
function on_enqueue(msg)
  local keys = {}
  if msg.headers["throttle"] then keys = { msg.headers["throttle"] } end
  return { fairness_key = msg.headers["tenant"] or "default", throttle_keys = keys }
end
"""


@pytest.fixture()
def stubs(fila_server):  # type: ignore[no-untyped-def]
    s = Stubs(fila_server.addr)
    yield s
    s.close()


def _set(stubs: Stubs, key: str, value: str) -> None:
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key=key, value=value), timeout=10)


def _refusal(stubs: Stubs, key: str, value: str) -> tuple[grpc.StatusCode, str]:
    try:
        _set(stubs, key, value)
    except grpc.RpcError as exc:
        return exc.code(), exc.details()
    raise AssertionError(f"{key}={value!r} was accepted")


@pytest.mark.parametrize(("key", "value", "reason"), [
    ("throttle.t", "1e-20,1", "throttle rate must be 0 or 0.000001..1000000 per second"),
    ("throttle.t", "1e300,1", "throttle rate must be 0 or 0.000001..1000000 per second"),
    ("throttle.t", "nan,1", "throttle rate must be a finite number >= 0"),
    ("throttle.t", "inf,1", "throttle rate must be a finite number >= 0"),
    ("throttle.t", "-1,1", "throttle rate must be a finite number >= 0"),
    ("throttle.t", "1,1e30", "throttle burst must be at most 1000000"),
    ("concurrency.c", "1" * 31, "concurrency value must be at most 1000000"),
    ("concurrency.c", "1000001", "concurrency value must be at most 1000000"),
    ("concurrency.c", "-3", "concurrency value must be an integer >= 0"),
])
def test_out_of_range_limit_values_are_refused(stubs: Stubs, key: str, value: str,
                                               reason: str) -> None:
    code, details = _refusal(stubs, key, value)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(reason), details
    listed = stubs.admin.ListConfig(admin_pb2.ListConfigRequest(), timeout=10)
    assert [e.key for e in listed.entries] == []


def test_extreme_accepted_limits_still_encode_in_stats(stubs: Stubs) -> None:
    _set(stubs, "throttle.slow", "0.000001,1")
    _set(stubs, "throttle.fast", "1000000,1000000")
    _set(stubs, "concurrency.wide", "1000000")
    stubs.create("extreme", on_enqueue=THROTTLE_HOOK)
    for _ in range(3):
        stubs.enqueue("extreme", b"x", {"tenant": "a", "throttle": "slow"})
        stubs.enqueue("extreme", b"x", {"tenant": "b", "throttle": "wide"})
    stream = Stream(stubs, "extreme", prefetch=10)
    stream.take(4)  # 1 slow token + 3 under the wide cap; the rest waits ~11 days
    wait_for(lambda: stubs.stats("extreme").in_flight == 4, what="4 leases")
    stats = stubs.stats("extreme")
    assert {t.key for t in stats.per_throttle_stats} == {"slow", "fast"}
    watch = stubs.admin.WatchStats(admin_pb2.WatchStatsRequest(queue="extreme"))
    frame = next(iter(watch))
    watch.cancel()
    slow_key = next(k for k in frame.queues[0].keys if k.key == "a")
    assert slow_key.waiting == "throttled" and slow_key.waiting_until_ms > 0
    assert {lim.key: lim.cap for lim in frame.limits}["wide"] == 1_000_000
    stream.cancel()


def test_config_entry_cap_refuses_new_keys_but_not_overwrite_or_delete(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_config_entries": 3}})
    stubs = Stubs(server.addr)
    for i in range(3):
        _set(stubs, f"k{i}", "v")
    code, details = _refusal(stubs, "k3", "v")
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert details == "too many config entries (limit 3)"
    _set(stubs, "k0", "changed")  # overwrite is always allowed
    _set(stubs, "k1", "")  # and so is a delete, which makes room
    _set(stubs, "k3", "v")
    assert code_of(lambda: _set(stubs, "k4", "v")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    stubs.close()


def test_prefetch_above_the_server_cap_is_served_as_the_cap(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_prefetch": 5}})
    stubs = Stubs(server.addr)
    stubs.create("big")
    for _ in range(20):
        stubs.enqueue("big")
    stream = Stream(stubs, "big", prefetch=2**32 - 1)
    stream.take(5)
    # The core leases for a stream's credit in one pass: 20 here before the cap.
    assert stubs.stats("big").in_flight == 5
    stream.cancel()
    stubs.close()


def test_consume_streams_per_client_are_capped(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_streams_per_client": 2}})
    stubs = Stubs(server.addr)
    stubs.create("q")
    streams = [Stream(stubs, "q"), Stream(stubs, "q")]
    wait_for(lambda: stubs.stats("q").active_consumers == 2, what="2 streams")
    third = Stream(stubs, "q")
    with pytest.raises(grpc.RpcError) as err:
        third.get()
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == "too many consume streams from this client (limit 2)"
    other = Stubs(server.addr, own_connection=True)  # another client is not affected
    fourth = Stream(other, "q")
    wait_for(lambda: stubs.stats("q").active_consumers == 3, what="another client's stream")
    for s in (*streams, fourth):
        s.cancel()
    other.close()
    stubs.close()


def test_http2_streams_per_connection_are_capped(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_concurrent_streams": 2}})
    stubs = Stubs(server.addr)
    watcher = Stubs(server.addr, own_connection=True)
    stubs.create("q")
    streams = [Stream(stubs, "q"), Stream(stubs, "q")]
    wait_for(lambda: watcher.stats("q").active_consumers == 2, what="2 streams")
    # A third RPC on that connection waits for a free HTTP/2 stream.
    assert code_of(lambda: stubs.svc.Enqueue(
        service_pb2.EnqueueRequest(queue="q", payload=b"x"), timeout=1)
    ) == grpc.StatusCode.DEADLINE_EXCEEDED
    streams[0].cancel()
    stubs.enqueue("q")
    streams[1].cancel()
    watcher.close()
    stubs.close()


def test_watch_stats_streams_are_capped(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_watch_streams": 2}})
    stubs = Stubs(server.addr)
    request = admin_pb2.WatchStatsRequest(interval_ms=100)
    watches = [stubs.admin.WatchStats(request) for _ in range(2)]
    for w in watches:
        next(w)  # open and serving
    with pytest.raises(grpc.RpcError) as err:
        next(stubs.admin.WatchStats(request))
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.value.details() == "too many WatchStats streams (limit 2)"
    watches[0].cancel()

    def opens() -> bool:
        w = stubs.admin.WatchStats(request)
        try:
            next(w)
        except grpc.RpcError:
            return False
        w.cancel()
        return True

    wait_for(opens, what="a freed WatchStats slot")
    watches[1].cancel()
    stubs.close()


def test_second_server_on_a_taken_port_refuses_to_start(make_server) -> None:  # type: ignore[no-untyped-def]
    first = make_server()
    second = make_server({"server": {"listen_addr": first.addr}}, start=False)
    with pytest.raises(RuntimeError, match="exited with 1"):
        second.start()
    assert f"fila-server: cannot start: {first.addr} is already in use" in second.log()
    stubs = Stubs(first.addr)
    stubs.create("still-first")  # the first one still serves, alone
    stubs.close()


def test_stalled_reader_holds_at_most_its_prefetch_and_gets_no_more_leases(make_server) -> None:  # type: ignore[no-untyped-def]
    """A stream that stops reading: before, every visibility timeout leased it `prefetch`
    more copies into an outbox nobody read (delivered_total grew by 4 per second,
    forever). Now its unsent leases expire and the credit they held stays with the
    outbox entries until the stream reads them again."""
    server = make_server()
    stubs = Stubs(server.addr)
    stubs.create("stall", visibility_timeout_ms=1000)
    for _ in range(30):
        stubs.enqueue("stall", b"x" * (1 << 20))  # big: the stream's transport fills up
    reader = Stubs(server.addr, own_connection=True)
    call = reader.svc.Consume(service_pb2.ConsumeRequest(queue="stall", prefetch=4))
    next(call)  # read one message, then stop reading
    samples: list[tuple[float, int, int]] = []

    def settled() -> bool:
        stats = stubs.stats("stall")
        now = time.monotonic()
        samples.append((now, stats.snapshot.delivered_total, stats.in_flight))
        recent = [s for s in samples if s[0] >= now - 2.2]  # > 2 visibility timeouts
        return (samples[0][0] <= now - 2.2 and stats.in_flight == 0
                and len({s[1] for s in recent}) == 1)

    wait_for(settled, timeout=20, what="no new leases for the stalled stream")
    assert max(s[2] for s in samples) <= 4  # never more leases than its prefetch

    # Reading again: the stale entries are skipped, their credit comes back, and this
    # stream alone drains the queue (no credit was lost on the way).
    seen: list[tuple[str, int]] = []
    for frame in call:
        msg = frame.message
        seen.append((msg.id, msg.timestamps.leased_at.ToMilliseconds()))
        with contextlib.suppress(grpc.RpcError):  # a copy sent before its lease expired
            reader.ack("stall", msg.id)
        if stubs.stats("stall").depth == 0:
            break
    assert len(seen) == len(set(seen))  # one copy per lease
    call.cancel()
    reader.close()
    stubs.close()


def test_list_messages_pages_by_size_as_well_as_count(fila_server, stubs: Stubs) -> None:  # type: ignore[no-untyped-def]
    stubs.create("fat")
    ids = [stubs.enqueue("fat", bytes([i]) * (3 << 20)) for i in range(7)]  # 21 MiB
    # As fila's own client: a receive limit above the server's 16 MiB send limit.
    channel = grpc.insecure_channel(fila_server.addr, options=[
        ("grpc.max_receive_message_length", 64 << 20)])
    admin = admin_pb2_grpc.FilaAdminStub(channel)
    listed: list[str] = []
    token = ""
    pages = 0
    while True:
        page = admin.ListMessages(admin_pb2.ListMessagesRequest(
            queue="fat", limit=100, page_token=token), timeout=30)
        pages += 1
        assert 1 <= len(page.messages) <= 2  # 8 MiB a page: two 3 MiB payloads
        for m in page.messages:
            assert m.message.payload == bytes([ids.index(m.message.id)]) * (3 << 20)
        listed.extend(m.message.id for m in page.messages)
        token = page.next_page_token
        if not token:
            break
    assert listed == ids and pages == 4
    channel.close()


def test_largest_weight_and_quantum_still_encode_in_stats(make_server) -> None:  # type: ignore[no-untyped-def]
    # Hooks cap weight at 2^32-1 (a uint32); [scheduler] quantum is capped at 1000000
    # so weight x quantum (the deficit, an int64) always fits.
    server = make_server({"scheduler": {"quantum": 1_000_000}})
    stubs = Stubs(server.addr)
    stubs.create("heavy", on_enqueue="""
function on_enqueue(msg)
  return { fairness_key = "k", weight = 4294967295 }
end
""")
    stubs.enqueue("heavy")
    stubs.enqueue("heavy")
    stream = Stream(stubs, "heavy", prefetch=1)
    assert stream.get().metadata.weight == 4294967295
    stats = stubs.stats("heavy")
    assert stats.quantum == 1_000_000
    assert [(k.weight, k.current_deficit) for k in stats.per_key_stats] == [
        (4294967295, 4294967295 * 1_000_000 - 1)]
    stream.cancel()
    stubs.close()
