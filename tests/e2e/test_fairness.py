"""Fair scheduling and throttling through the real server.

What users are promised: docs/concepts.md, "Delivery: fair, then limited".
"""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter

import grpc
import pytest

from e2e.helpers import Stream, Stubs, code_of
from fila.v1 import admin_pb2

TENANT_HOOK = """
function on_enqueue(msg)
  local t = msg.headers["tenant"] or "default"
  local keys = {}
  if msg.headers["throttle"] then keys = { msg.headers["throttle"] } end
  return { fairness_key = t, weight = tonumber(msg.headers["w"] or "1"), throttle_keys = keys }
end
"""


@pytest.fixture()
def stubs(fila_server):  # type: ignore[no-untyped-def]
    s = Stubs(fila_server.addr)
    yield s
    s.close()


def _enqueue_many(addr: str, queue: str, items: list[dict[str, str]], threads: int = 4) -> None:
    chunks = [items[i::threads] for i in range(threads)]

    def run(chunk: list[dict[str, str]]) -> None:
        s = Stubs(addr)
        for headers in chunk:
            s.enqueue(queue, b"", headers)
        s.close()

    workers = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def test_quiet_tenant_is_not_stuck_behind_noisy(stubs: Stubs) -> None:
    stubs.create("fair-demo", on_enqueue=TENANT_HOOK)
    for _ in range(100):
        stubs.enqueue("fair-demo", b"n", {"tenant": "noisy"})
    for _ in range(5):
        stubs.enqueue("fair-demo", b"q", {"tenant": "quiet"})
    stats = stubs.stats("fair-demo")
    pending = {k.key: k.pending_count for k in stats.per_key_stats}
    assert pending == {"noisy": 100, "quiet": 5}
    stream = Stream(stubs, "fair-demo")
    first = [m.metadata.fairness_key for m in stream.take(10)]
    assert first.count("quiet") == 5
    stream.cancel()


def test_weighted_shares_within_one_percent(make_server) -> None:  # type: ignore[no-untyped-def]
    server = make_server({"server": {"max_prefetch": 5000}})  # above the default cap
    stubs = Stubs(server.addr)
    stubs.create("weighted", on_enqueue=TENANT_HOOK)
    items = [{"tenant": f"k{w}", "w": str(w)} for w in range(1, 6) for _ in range(2000)]
    _enqueue_many(server.addr, "weighted", items)
    stream = Stream(stubs, "weighted", prefetch=5000)
    counts: Counter[str] = Counter()
    for msg in stream.take(5000, timeout=120):
        counts[msg.metadata.fairness_key] += 1
    stream.cancel()
    stubs.close()
    for w in range(1, 6):
        share = counts[f"k{w}"] / 5000
        assert abs(share - w / 15) <= 0.01, (w, share)


def test_throttled_key_flows_at_its_rate_others_at_full_speed(stubs: Stubs) -> None:
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="throttle.slow", value="10,1"))
    stubs.create("thr", on_enqueue=TENANT_HOOK)
    for _ in range(60):
        stubs.enqueue("thr", b"", {"tenant": "slowpoke", "throttle": "slow"})
    for _ in range(200):
        stubs.enqueue("thr", b"", {"tenant": "fast"})
    stream = Stream(stubs, "thr", prefetch=1000)
    # Server-side delivery times (leased_at) say when the broker let each message go.
    msgs = []
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:
        try:
            msgs.append(stream.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            break
    stream.cancel()
    t0 = min(m.timestamps.leased_at.ToMilliseconds() for m in msgs)
    slow = [m.timestamps.leased_at.ToMilliseconds() - t0 for m in msgs
            if m.metadata.fairness_key == "slowpoke"]
    fast = [m.timestamps.leased_at.ToMilliseconds() - t0 for m in msgs
            if m.metadata.fairness_key == "fast"]
    assert len(fast) == 200 and max(fast) < 500  # the unthrottled key is not held back
    for second in range(3):
        in_window = sum(1 for t in slow if second * 1000 <= t < (second + 1) * 1000)
        assert 9 <= in_window <= 11, (second, in_window, slow)


def test_concurrency_cap_limits_leases(stubs: Stubs) -> None:
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="concurrency.x", value="2"))
    stubs.create("cap", on_enqueue=TENANT_HOOK)
    for _ in range(5):
        stubs.enqueue("cap", b"", {"tenant": "t", "throttle": "x"})
    stream = Stream(stubs, "cap", prefetch=100)
    held = stream.take(2)
    assert stream.nothing_within(0.5)
    assert stubs.stats("cap").in_flight == 2
    stubs.ack("cap", held[0].id)
    third = stream.get()
    assert third.id not in {m.id for m in held}
    assert stream.nothing_within(0.3)
    stream.cancel()


def test_bad_limit_values_are_rejected(stubs: Stubs) -> None:
    for key, value in (("throttle.a", "fast"), ("throttle.a", "1"), ("throttle.a", "-1,2"),
                       ("throttle.a", "nan,1"), ("concurrency.a", "1.5"), ("concurrency.a", "x")):
        assert code_of(lambda k=key, v=value: stubs.admin.SetConfig(
            admin_pb2.SetConfigRequest(key=k, value=v))) == grpc.StatusCode.INVALID_ARGUMENT
    listed = stubs.admin.ListConfig(admin_pb2.ListConfigRequest(prefix=""))
    assert listed.total_count == 0


def test_config_persists_and_limits_reload(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="throttle.p", value="5,2"))
    stubs.admin.SetConfig(admin_pb2.SetConfigRequest(key="myapp.region", value="eu"))
    stubs.create("q")
    stubs.close()
    assert fila_server.stop() == 0
    fila_server.start()
    stubs = Stubs(fila_server.addr)
    got = stubs.admin.GetConfig(admin_pb2.GetConfigRequest(key="myapp.region")).value
    assert got == "eu"
    throttles = {t.key: t for t in stubs.stats("q").per_throttle_stats}
    assert throttles["p"].rate_per_second == 5 and throttles["p"].burst == 2
    assert throttles["p"].tokens == 2  # buckets start full after a restart
    missing = stubs.admin.GetConfig(admin_pb2.GetConfigRequest(key="nope")).value
    assert missing == ""
    stubs.close()
