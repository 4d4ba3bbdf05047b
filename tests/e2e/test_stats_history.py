"""Stats history end to end: a real fila-server samples each second; GetStatsHistory serves it."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import pytest

from e2e.helpers import code_of, wait_for
from e2e.server_process import ServerProcess
from fila.client import Client
from fila.errors import InvalidArgumentError, QueueNotFoundError
from fila.types import StatsHistory
from fila.v1 import admin_pb2, admin_pb2_grpc

HOOK = """
function on_enqueue(msg)
  return { fairness_key = msg.headers.tenant or "default",
           throttle_keys = msg.headers.throttle and { msg.headers.throttle } or {} }
end
"""


def test_history_has_rates_depth_and_busy_keys(
        make_server: Callable[..., ServerProcess]) -> None:
    server = make_server({"stats": {"history_seconds": 120, "history_top_keys": 2}})
    with Client(server.addr) as client:
        client.create_queue("orders", on_enqueue=HOOK)
        client.set_config("throttle.slow", "1,1")
        for i in range(30):
            client.enqueue("orders", {"tenant": "acme" if i % 3 else "umbrella"}, b"x")
        for _ in range(3):
            client.enqueue("orders", {"tenant": "slow", "throttle": "slow"}, b"x")
        stream = client.consume("orders", prefetch=10)
        for acked, msg in enumerate(stream, 1):
            client.ack("orders", msg.id)
            if acked == 12:
                break

        def settled() -> StatsHistory | None:
            h = client.stats_history("orders")
            done = (sum(h.enqueue_rate) >= 33 and sum(h.ack_rate) >= 12
                    and sum(h.throttle_hit_rate) >= 1 and h.depth and h.depth[-1] <= 21)
            return h if done else None

        history = wait_for(settled, timeout=15, what="a history with the traffic in it")
        stream.close()
    assert history.step_ms == 1000
    assert (history.history_seconds, history.history_top_keys) == (120, 2)
    n = len(history.depth)
    assert 1 <= n <= 120
    assert all(len(s) == n for s in (history.enqueue_rate, history.deliver_rate,
                                     history.ack_rate, history.nack_rate,
                                     history.wait_p95_ms, history.throttle_hit_rate))
    assert sum(history.enqueue_rate) == 33  # each enqueue counted in exactly one second
    assert sum(history.deliver_rate) >= 12
    assert history.depth[-1] == 33 - 12  # acked ones leave; leased ones still count
    assert history.start_ms % 1000 == 0
    # The two busiest keys are tracked (at most history_top_keys), each a full series.
    assert 1 <= len(history.keys) <= 2
    assert {k.key for k in history.keys} <= {"acme", "umbrella", "slow"}
    for key in history.keys:
        assert key.start_ms >= history.start_ms
        assert len(key.pending) == len(key.deliver_rate) == len(key.wait_p95_ms)


def test_history_of_one_key_and_bad_requests(fila_server: ServerProcess) -> None:
    with Client(fila_server.addr) as client:
        client.create_queue("jobs", on_enqueue=HOOK)
        assert client.stats_history("jobs").depth == ()  # no activity yet: nothing kept
        for _ in range(4):
            client.enqueue("jobs", {"tenant": "t1"}, b"x")
        one = wait_for(lambda: (h := client.stats_history("jobs", fairness_key="t1",
                                                          seconds=5)).keys and h,
                       timeout=15, what="key t1 in the history")
        assert [k.key for k in one.keys] == ["t1"]
        assert one.keys[0].pending[-1] == 4
        assert len(one.depth) <= 5
        assert client.stats_history("jobs", fairness_key="nobody").keys == ()
        with pytest.raises(QueueNotFoundError):
            client.stats_history("missing")
        with pytest.raises(InvalidArgumentError):
            client.stats_history("")
    # Raw gRPC: the same refusal as a status code, for SDKs without our client.
    channel = grpc.insecure_channel(fila_server.addr)
    try:
        stub = admin_pb2_grpc.FilaAdminStub(channel)
        assert code_of(lambda: stub.GetStatsHistory(
            admin_pb2.GetStatsHistoryRequest(queue="missing"), timeout=10)
        ) == grpc.StatusCode.NOT_FOUND
    finally:
        channel.close()
