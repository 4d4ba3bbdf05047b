"""Which node should own which queue: an even spread over the live nodes, moving few queues.

Every node computes the same plan from the same inputs (the queues, the live nodes, the
current owners read from the lease bucket), so the nodes agree without talking: each
acquires the free leases planned to it and gives up the ones planned elsewhere. Leases, not
this plan, decide who actually owns a queue; the plan only says where ownership should go.

The plan gives every live node ``floor(Q/N)`` or ``floor(Q/N) + 1`` queues (never more than
``ceil(Q/N)``), and moves a queue only when its owner is gone or holds more than its share:
the nodes that already hold the most keep the ``Q mod N`` larger shares. Ties break by node
id and queue name, so the plan does not depend on the order of its inputs. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Move", "balanced_assignment", "loads", "moves"]


@dataclass(frozen=True, order=True)
class Move:
    queue: str
    source: str | None  # None: the queue had no live owner
    target: str


def balanced_assignment(
    queues: Iterable[str], nodes: Iterable[str], current: Mapping[str, str]
) -> dict[str, str]:
    """queue -> node for every queue; ``current`` maps queues to their owners now (owners
    not in ``nodes`` count as gone). ValueError when there are queues but no nodes."""
    all_queues = sorted(set(queues))
    live = sorted(set(nodes))
    if not all_queues:
        return {}
    if not live:
        raise ValueError("no live node to own the queues")
    base, extra = divmod(len(all_queues), len(live))

    held: dict[str, list[str]] = {node: [] for node in live}
    for queue in all_queues:
        owner = current.get(queue)
        if owner in held:
            held[owner].append(queue)

    # The `extra` nodes that hold the most get the larger share: fewest moves.
    by_holding = sorted(live, key=lambda n: (-len(held[n]), n))
    share = {node: base + (1 if i < extra else 0) for i, node in enumerate(by_holding)}

    plan: dict[str, str] = {}
    for node in live:
        for queue in held[node][: share[node]]:
            plan[queue] = node
    room = {node: share[node] - min(len(held[node]), share[node]) for node in live}
    homeless = [q for q in all_queues if q not in plan]
    for queue in homeless:
        # The node with the most room left, then by id: fills evenly.
        node = min(live, key=lambda n: (-room[n], n))
        plan[queue] = node
        room[node] -= 1
    return plan


def moves(current: Mapping[str, str], plan: Mapping[str, str]) -> list[Move]:
    """What changes from ``current`` to ``plan``, in queue order."""
    return sorted(
        Move(queue, current.get(queue), node)
        for queue, node in plan.items()
        if current.get(queue) != node
    )


def loads(plan: Mapping[str, str], nodes: Iterable[str] = ()) -> dict[str, int]:
    """Queues per node (nodes listed in ``nodes`` appear even with none)."""
    counts = dict.fromkeys(nodes, 0)
    for node in plan.values():
        counts[node] = counts.get(node, 0) + 1
    return counts
