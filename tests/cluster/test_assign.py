"""Balanced ownership (pure): every queue has a live owner, no node holds more than its
share, and only queues that must move do."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fila.cluster.assign import Move, balanced_assignment, loads, moves

node_ids = st.sampled_from([f"node-{i}" for i in range(8)])
queue_names = st.lists(st.text("abcdefgh", min_size=1, max_size=4), max_size=60, unique=True)


@st.composite
def situations(draw: st.DrawFn) -> tuple[list[str], list[str], dict[str, str]]:
    queues = draw(queue_names)
    live = draw(st.lists(node_ids, min_size=1, max_size=6, unique=True))
    # Current owners: live nodes, nodes that died, or none at all.
    owner = st.none() | node_ids
    current = {q: o for q in queues if (o := draw(owner)) is not None}
    return queues, live, current


@given(situations())
def test_every_queue_gets_a_live_owner_and_shares_are_even(
    situation: tuple[list[str], list[str], dict[str, str]],
) -> None:
    queues, live, current = situation
    plan = balanced_assignment(queues, live, current)
    assert set(plan) == set(queues)
    assert set(plan.values()) <= set(live)
    counts = loads(plan, live)
    if queues:
        # The bound is ceil(Q/N)+1; the plan keeps to floor/ceil exactly.
        assert max(counts.values()) <= math.ceil(len(queues) / len(live))
        assert min(counts.values()) >= len(queues) // len(live)


@given(situations())
def test_only_queues_that_must_move_do(
    situation: tuple[list[str], list[str], dict[str, str]],
) -> None:
    queues, live, current = situation
    plan = balanced_assignment(queues, live, current)
    counts = loads(plan, live)
    for node in live:
        had = [q for q, n in current.items() if n == node]
        kept = [q for q in had if plan[q] == node]
        # A live node keeps all it had up to its share: it gives queues up only when full,
        # and never gives some up while taking others.
        assert len(kept) == min(len(had), counts[node])
        if len(kept) < len(had):
            assert counts[node] == len(kept)
        if len(had) <= len(queues) // len(live):
            assert len(kept) == len(had)


@given(situations(), st.randoms())
def test_the_plan_is_the_same_whatever_the_input_order(
    situation: tuple[list[str], list[str], dict[str, str]], rnd: random.Random
) -> None:
    queues, live, current = situation
    plan = balanced_assignment(queues, live, current)
    shuffled_q, shuffled_n = queues[:], live[:]
    rnd.shuffle(shuffled_q)
    rnd.shuffle(shuffled_n)
    items = list(current.items())
    rnd.shuffle(items)
    assert balanced_assignment(shuffled_q, shuffled_n, dict(items)) == plan
    # And it is stable: planning again from the plan moves nothing.
    assert moves(plan, balanced_assignment(queues, live, plan)) == []


def test_a_node_joining_takes_an_even_share_from_the_others() -> None:
    queues = [f"q{i}" for i in range(9)]
    before = balanced_assignment(queues, ["a", "b"], {})
    assert loads(before) == {"a": 5, "b": 4}
    after = balanced_assignment(queues, ["a", "b", "c"], before)
    assert loads(after) == {"a": 3, "b": 3, "c": 3}
    assert all(m.target == "c" for m in moves(before, after))
    assert len(moves(before, after)) == 3


def test_a_node_dying_spreads_its_queues_over_the_rest() -> None:
    queues = [f"q{i}" for i in range(9)]
    before = balanced_assignment(queues, ["a", "b", "c"], {})
    after = balanced_assignment(queues, ["a", "c"], before)
    changed = moves(before, after)
    assert {m.source for m in changed} == {"b"}
    assert sorted(loads(after).values()) == [4, 5]


def test_no_queues_or_no_nodes() -> None:
    assert balanced_assignment([], [], {}) == {}
    assert balanced_assignment([], ["a"], {"gone": "a"}) == {}
    with pytest.raises(ValueError, match="no live node"):
        balanced_assignment(["q"], [], {})
    assert moves({"q": "a"}, {"q": "b"}) == [Move("q", "a", "b")]
