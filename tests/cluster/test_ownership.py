"""Ownership leases in a JetStream KV bucket (3 nodes, 3 replicas) with short TTLs: one holder at a
time, renewal keeps a lease past its TTL, a lapsed lease passes to another node, and the
old holder's own view gives up before the new holder can take over."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from fila.cluster.assign import balanced_assignment, loads

from .conftest import JS_TIMEOUT, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.ownership import Lease, LeaseKeeper, LeaseTable  # noqa: E402

_buckets = itertools.count()
# 2 s: short enough for quick tests, long enough for a renewal round trip on a busy
# 2-core machine.
TTL = 2.0


async def tables(nc: Any, *nodes: str, ttl: float = TTL) -> list[LeaseTable]:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    bucket = f"owners_{next(_buckets)}"
    return [
        await LeaseTable.open(js, node, f"127.0.0.1:{5555 + i}", ttl=ttl, bucket=bucket)
        for i, node in enumerate(nodes)
    ]


async def poll(condition: Any, timeout: float) -> float:
    """Await until ``condition()`` (a coroutine function) is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)  # polling a condition, bounded by the deadline


async def test_one_holder_at_a_time(nc: Any) -> None:
    a, b = await tables(nc, "a", "b")
    lease = await a.acquire("orders")
    assert lease is not None and lease.valid()
    assert await b.acquire("orders") is None
    holder = await b.holder("orders")
    assert holder is not None
    assert (holder.name, holder.node, holder.addr) == ("orders", "a", "127.0.0.1:5555")
    assert await b.acquire("payments") is not None  # other queues are independent
    assert {q: h.node for q, h in (await a.holders()).items()} == {"orders": "a", "payments": "b"}


async def test_renewal_keeps_a_lease_past_its_ttl(nc: Any) -> None:
    a, b = await tables(nc, "a", "b")
    lease = await a.acquire("orders")
    assert lease is not None
    until = time.monotonic() + 2 * TTL
    while time.monotonic() < until:
        assert await a.renew(lease)
        assert await b.acquire("orders") is None
        await asyncio.sleep(TTL / 4)  # the renewal period under test
    assert lease.valid()


async def test_a_lapsed_lease_passes_on_and_the_old_holder_knows_first(nc: Any) -> None:
    a, b = await tables(nc, "a", "b")
    old = await a.acquire("orders")
    assert old is not None
    # `a` stops renewing (paused, cut off): `b` gets the lease once the TTL has run out ...
    new: Lease | None = None

    async def take() -> bool:
        nonlocal new
        new = await b.acquire("orders")
        # ... and at no moment before that did `a` still think it held it.
        assert new is None or not old.valid()
        return new is not None

    await poll(take, timeout=5 * TTL)
    assert new is not None and new.valid()
    # The old holder's renewal is refused (compare-and-set on a revision it does not hold).
    assert not await a.renew(old)
    assert old.lost and not old.valid()
    holder = await a.holder("orders")
    assert holder is not None and holder.node == "b"
    # Releasing the stale lease cannot delete the new holder's key (CAS on the revision).
    await a.release(old)
    holder = await a.holder("orders")
    assert holder is not None and holder.node == "b"


async def test_release_hands_over_at_once(nc: Any) -> None:
    a, b = await tables(nc, "a", "b", ttl=30.0)
    lease = await a.acquire("orders")
    assert lease is not None
    await a.release(lease)
    assert not lease.valid()
    assert await b.acquire("orders") is not None  # no TTL to wait out


async def test_a_keeper_renews_and_reports_a_lost_lease(nc: Any) -> None:
    a, b = await tables(nc, "a", "b")
    lost: list[str] = []
    keeper = LeaseKeeper(a, lambda lease: lost.append(lease.name))
    lease = await a.acquire("orders")
    assert lease is not None
    keeper.add(lease)
    keeper.start()
    try:
        await asyncio.sleep(2 * TTL)  # two TTLs pass: only the keeper keeps it alive
        assert lease.valid() and not lost
        assert await b.acquire("orders") is None
        # An operator clears the key (or it is taken): the next renewal is refused.
        await a._kv.purge(lease.key)
        await poll(lambda: asyncio.sleep(0, result=bool(lost)), timeout=3 * TTL)
        assert lost == ["orders"] and lease.lost
    finally:
        await keeper.stop()


async def test_live_nodes_and_a_balanced_plan_from_the_bucket(nc: Any) -> None:
    # A long TTL: nothing renews here, and the leases must outlast a slow machine.
    tabs = await tables(nc, "n1", "n2", "n3", ttl=30.0)
    regs = [await t.register() for t in tabs]
    assert all(regs)
    assert await tabs[0].register() is None  # a node id is registered once
    live = await tabs[0].live_nodes()
    assert sorted(live) == ["n1", "n2", "n3"]
    queues = [f"q{i}" for i in range(10)]
    owners = {q: h.node for q, h in (await tabs[0].holders()).items()}
    plan = balanced_assignment(queues, live, owners)
    # Each node takes the leases planned to it; the bucket then agrees with the plan.
    for table in tabs:
        for queue, node in plan.items():
            if node == table.node_id:
                assert await table.acquire(queue) is not None
    held = {q: h.node for q, h in (await tabs[1].holders()).items()}
    assert held == plan
    assert max(loads(held).values()) <= 4  # ceil(10/3)


async def test_a_node_that_stops_renewing_leaves_the_live_set(nc: Any) -> None:
    tabs = await tables(nc, "n1", "n2", "n3")
    regs = [await t.register() for t in tabs]
    assert all(regs)

    # n3 stops renewing its registration: it drops out of the live set after the TTL.
    async def n3_gone() -> bool:
        for lease, table in zip(regs[:2], tabs[:2], strict=True):
            assert lease is not None and await table.renew(lease)
        return "n3" not in await tabs[0].live_nodes()

    await poll(n3_gone, timeout=5 * TTL)


async def test_bucket_ttl_mismatch_is_refused(nc: Any) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    await LeaseTable.open(js, "a", ttl=2.0, bucket="owners_mismatch")
    with pytest.raises(ValueError, match=r"has TTL 2\.0s, this node wants 3\.0s"):
        await LeaseTable.open(js, "b", ttl=3.0, bucket="owners_mismatch")
    with pytest.raises(ValueError, match="node id"):
        await LeaseTable.open(js, "bad id", ttl=2.0, bucket="owners_mismatch")
