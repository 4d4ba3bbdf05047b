"""Node coordinators over one lease bucket (real NATS, 2 s TTL): queues spread evenly over
the live nodes, a node's death hands its queues to the others, a node joining takes its
share, and no queue ever has two nodes that believe they own it."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from typing import Any

import pytest

from fila.cluster.assign import loads

from .conftest import JS_TIMEOUT, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.coordinator import Coordinator  # noqa: E402
from fila.cluster.ownership import LeaseTable  # noqa: E402

TTL = 2.0
QUEUES = [f"queue-{i}" for i in range(9)]
_buckets = itertools.count()


class Node:
    """A coordinator plus the log of what it was told (as the server would be)."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self.events: list[tuple[str, str]] = []

    @property
    def name(self) -> str:
        return self.coordinator.node_id


async def make_nodes(nc: Any, bucket: str, *names: str) -> list[Node]:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    nodes = []
    for name in names:
        table = await LeaseTable.open(js, name, f"{name}:5555", ttl=TTL, bucket=bucket)
        node = Node(Coordinator(table, lambda: QUEUES))
        node.coordinator._on_acquired = lambda q, _l, n=node: n.events.append(("acquired", q))
        node.coordinator._on_lost = lambda q, n=node: n.events.append(("lost", q))
        nodes.append(node)
    return nodes


def ownership(nodes: list[Node]) -> dict[str, str]:
    """queue -> node, from the nodes' own beliefs; fails if two nodes believe in one queue."""
    owners: dict[str, str] = {}
    for node in nodes:
        for queue in QUEUES:
            if node.coordinator.owns(queue):
                assert queue not in owners, f"{queue} owned by {owners[queue]} and {node.name}"
                owners[queue] = node.name
    return owners


async def rounds_until(nodes: list[Node], watched: list[Node], done: Any, timeout: float) -> None:
    """Run rounds on ``nodes`` (checking the single-owner rule over ``watched`` after each)
    until ``done(ownership)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        for node in nodes:
            await node.coordinator.step()
            ownership(watched)
        if done(ownership(watched)):
            return
        assert time.monotonic() < deadline, f"not settled: {ownership(watched)}"
        await asyncio.sleep(TTL / 6)  # the round period


def balanced(count: int) -> Any:
    def check(owners: dict[str, str]) -> bool:
        return (
            len(owners) == len(QUEUES)
            and max(loads(owners).values()) <= math.ceil(len(QUEUES) / count)
            and len(set(owners.values())) == count
        )

    return check


async def test_queues_spread_evenly_and_follow_deaths_and_joins(nc: Any) -> None:
    bucket = f"coord_{next(_buckets)}"
    a, b, c = await make_nodes(nc, bucket, "a", "b", "c")
    nodes = [a, b, c]
    await rounds_until(nodes, nodes, balanced(3), timeout=10 * TTL)
    assert sorted(loads(ownership(nodes)).values()) == [3, 3, 3]
    c_queues = sorted(q for q, n in ownership(nodes).items() if n == "c")

    # `c` dies: it stops renewing without releasing anything (its beliefs are kept, and
    # checked: it must give its queues up by its own clock before anyone else takes them).
    survivors = [a, b]
    seen = {node.name: len(node.events) for node in survivors}
    await rounds_until(survivors, nodes, balanced(2), timeout=10 * TTL)
    assert sorted(loads(ownership(nodes)).values()) == [4, 5]
    assert not any(c.coordinator.owns(q) for q in QUEUES)
    after = [e for node in survivors for e in node.events[seen[node.name] :]]
    taken = [q for kind, q in after if kind == "acquired"]
    assert sorted(taken) == c_queues, after

    # `d` joins: the others hand over queues until everyone holds its share.
    (d,) = await make_nodes(nc, bucket, "d")
    seen = {node.name: len(node.events) for node in survivors}
    nodes = [a, b, d]
    await rounds_until(nodes, [*nodes, c], balanced(3), timeout=10 * TTL)
    assert sorted(loads(ownership(nodes)).values()) == [3, 3, 3]
    moved = [q for n in survivors for kind, q in n.events[seen[n.name] :] if kind == "lost"]
    assert sorted(q for kind, q in d.events if kind == "acquired") == sorted(moved)


async def test_a_clean_stop_hands_over_without_waiting_for_the_ttl(nc: Any) -> None:
    bucket = f"coord_{next(_buckets)}"
    a, b = await make_nodes(nc, bucket, "a", "b")
    await rounds_until([a, b], [a, b], balanced(2), timeout=10 * TTL)
    await b.coordinator.stop(release=True)
    assert not b.coordinator.owned
    assert sorted(q for k, q in b.events if k == "lost") == sorted(
        q for k, q in b.events if k == "acquired"
    )
    started = time.monotonic()
    await rounds_until([a], [a, b], balanced(1), timeout=10 * TTL)
    # Released leases and registration are free at once: well under one TTL.
    assert time.monotonic() - started < TTL


async def test_started_coordinators_run_their_own_rounds(nc: Any) -> None:
    bucket = f"coord_{next(_buckets)}"
    nodes = await make_nodes(nc, bucket, "a", "b", "c")
    for node in nodes:
        node.coordinator.start()
    try:
        deadline = time.monotonic() + 10 * TTL
        while not balanced(3)(ownership(nodes)):
            assert time.monotonic() < deadline, ownership(nodes)
            await asyncio.sleep(0.05)  # polling the nodes' state, bounded by the deadline
    finally:
        for node in nodes:
            await node.coordinator.stop()
