"""DRR scheduler: fairness, FIFO, parking, joining — the behaviour consumers see."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fila.server.scheduler import Block, CheckFn, DrrScheduler

THROTTLED = Block("throttled", "limit", 5.0)


def allow(key: str, item: str) -> Block | None:
    return None


def drain(s: DrrScheduler, n: int | None = None, check: CheckFn = allow) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while n is None or len(out) < n:
        got = s.next(check)
        if got is None:
            break
        out.append(got)
    return out


def keys_of(deliveries: list[tuple[str, str]]) -> str:
    return "".join(k for k, _ in deliveries)


def fill(s: DrrScheduler, key: str, n: int, weight: int = 1) -> None:
    for i in range(n):
        s.push(key, f"{key}-{i}", weight)


# -- worked examples -------------------------------------------------------------


def test_weights_three_to_one_interleave() -> None:
    s = DrrScheduler()
    fill(s, "A", 9, 3)
    fill(s, "B", 3, 1)
    assert keys_of(drain(s, 8)) == "AAABAAAB"


def test_weight_zero_counts_as_one() -> None:
    s = DrrScheduler()
    fill(s, "A", 4, 0)
    fill(s, "B", 4, 1)
    assert keys_of(drain(s)) == "ABABABAB"
    s.push("C", "c", 0)
    view = s.view("C")
    assert view is not None and view.weight == 1


def test_latest_push_sets_the_weight() -> None:
    s = DrrScheduler()
    fill(s, "A", 3, 1)
    s.push("A", "late", 4)
    view = s.view("A")
    assert view is not None and view.weight == 4


def test_empty_scheduler_returns_none() -> None:
    s = DrrScheduler()
    assert s.next(allow) is None
    assert len(s) == 0 and list(s.keys()) == []


def test_quantum_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DrrScheduler(0)
    s = DrrScheduler()
    s.quantum = 5
    assert s.quantum == 5
    with pytest.raises(ValueError):
        s.quantum = -1


def test_key_joining_mid_round_waits_for_next_round() -> None:
    s = DrrScheduler()
    for k in "ABC":
        fill(s, k, 3)
    assert keys_of(drain(s, 1)) == "A"
    s.push("D", "d", 1)
    view = s.view("D")
    assert view is not None and not view.in_round and view.deficit == 0
    assert keys_of(drain(s, 2)) == "BC"  # round 1 finishes without D
    assert keys_of(drain(s, 4)) == "ABCD"  # D joins round 2, after the old keys


def test_retry_goes_to_back_of_its_key() -> None:
    s = DrrScheduler()
    fill(s, "A", 3)
    assert drain(s, 1) == [("A", "A-0")]
    s.push("A", "A-0", 1)  # nacked and retried
    assert [i for _, i in drain(s)] == ["A-1", "A-2", "A-0"]


def test_remove_anywhere_and_reinsert() -> None:
    s = DrrScheduler()
    fill(s, "A", 5)
    assert s.remove("A", "A-2")
    assert not s.remove("A", "A-2")
    assert not s.remove("B", "A-1")
    assert list(s.items("A")) == ["A-0", "A-1", "A-3", "A-4"]
    assert s.pending("A") == 4 and len(s) == 4
    s.push("A", "A-2", 1)
    assert list(s.items("A")) == ["A-0", "A-1", "A-3", "A-4", "A-2"]
    assert s.remove("A", "A-0")  # the head
    assert [i for _, i in drain(s)] == ["A-1", "A-3", "A-4", "A-2"]


def test_removed_item_pushed_again_is_pending_once_at_the_back() -> None:
    # The broker removes a message before pushing it again (resync, redrive);
    # pushing an item that is still pending is not part of the contract.
    s = DrrScheduler()
    fill(s, "A", 3)
    for _ in range(2):
        assert s.remove("A", "A-0")
        s.push("A", "A-0", 1)
    assert len(s) == 3 and s.pending("A") == 3
    assert list(s.items("A")) == ["A-1", "A-2", "A-0"]
    assert s.remove("A", "A-0") and not s.remove("A", "A-0")
    s.push("A", "A-0", 1)
    assert [i for _, i in drain(s)] == ["A-1", "A-2", "A-0"]


def test_many_removals_in_the_middle_keep_fifo_and_counts() -> None:
    s = DrrScheduler()
    fill(s, "A", 200)
    for i in range(1, 199):
        if i % 10:
            assert s.remove("A", f"A-{i}")
    left = ["A-0", *(f"A-{i}" for i in range(10, 199, 10)), "A-199"]
    assert list(s.items("A")) == left and s.pending("A") == len(left) == len(s)
    assert [i for _, i in drain(s)] == left


def test_key_emptied_by_remove_leaves_and_rejoins_fresh() -> None:
    s = DrrScheduler()
    fill(s, "A", 2)
    fill(s, "B", 2)
    assert keys_of(drain(s, 1)) == "A"
    assert s.remove("A", "A-1")
    assert s.view("A") is None and "A" not in set(s.keys())
    s.push("A", "again", 1)  # a new key again: waits for the next round
    assert keys_of(drain(s)) == "BBA"


def test_key_that_empties_drops_its_deficit() -> None:
    s = DrrScheduler(quantum=10)
    fill(s, "A", 1, 2)
    fill(s, "B", 5, 1)
    drain(s, 1)
    assert s.view("A") is None
    s.push("A", "x", 2)
    view = s.view("A")
    assert view is not None and view.deficit == 0


def test_deficit_is_credited_and_capped() -> None:
    s = DrrScheduler(quantum=10)
    fill(s, "A", 100, 3)
    fill(s, "B", 100, 1)
    drain(s, 1)
    a = s.view("A")
    b = s.view("B")
    assert a is not None and a.deficit == 29 and a.in_round
    assert b is not None and b.deficit == 10 and b.in_round
    for _ in range(20):  # many rounds: never more than one round's credit
        drain(s, 4)
        for key in "AB":
            v = s.view(key)
            assert v is not None and 0 <= v.deficit <= v.weight * 10


def test_parked_key_keeps_items_and_rejoins_next_round_after_wake() -> None:
    s = DrrScheduler()
    fill(s, "A", 3)
    fill(s, "B", 3)
    fill(s, "C", 3)
    blocked = {"A"}

    def check(key: str, item: str) -> Block | None:
        return THROTTLED if key in blocked else None

    assert keys_of(drain(s, 2, check)) == "BC"
    assert dict(s.parked()) == {"A": THROTTLED}
    view = s.view("A")
    assert view is not None
    assert (view.pending, view.deficit, view.block, view.in_round) == (3, 0, THROTTLED, False)
    assert keys_of(drain(s, 1, check)) == "B"  # round 2 started without A
    blocked.clear()
    s.wake("A")
    assert s.parked() == {}
    assert keys_of(drain(s, 1, check)) == "C"  # A waits for the next round
    assert keys_of(drain(s, check=check)) == "BCAAA"


def test_wake_is_a_noop_for_unparked_or_unknown_keys() -> None:
    s = DrrScheduler()
    fill(s, "A", 2)
    fill(s, "B", 2)
    s.wake("A")
    s.wake("nope")
    assert keys_of(drain(s)) == "ABAB"


def test_parked_key_emptied_by_remove_is_forgotten() -> None:
    s = DrrScheduler()
    fill(s, "A", 1)
    assert s.next(lambda k, i: THROTTLED) is None
    assert "A" in s.parked()
    assert s.remove("A", "A-0")
    assert s.parked() == {} and s.view("A") is None and len(s) == 0


def test_only_the_head_item_is_examined() -> None:
    s = DrrScheduler()
    fill(s, "A", 3)
    seen: list[str] = []

    def check(key: str, item: str) -> Block | None:
        seen.append(item)
        return THROTTLED

    assert s.next(check) is None
    assert seen == ["A-0"]


def test_parked_and_idle_keys_are_not_scanned() -> None:
    s = DrrScheduler()
    for i in range(1000):
        s.push(f"k{i}", "x", 1)
    s.push("hot", "h0", 1)
    blocked = {f"k{i}" for i in range(1000)}
    calls = 0

    def check(key: str, item: str) -> Block | None:
        nonlocal calls
        calls += 1
        return THROTTLED if key in blocked else None

    assert drain(s, check=check) == [("hot", "h0")]
    assert calls == 1001  # each key asked once, then parked
    for i in range(100):
        s.push("hot", f"h{i + 1}", 1)
    calls = 0
    assert len(drain(s, check=check)) == 100
    assert calls == 100  # one check per delivery: the parked keys cost nothing


# -- properties --------------------------------------------------------------------

weights_st = st.lists(st.integers(1, 10), min_size=1, max_size=50)


@settings(max_examples=60, deadline=None)
@given(weights=weights_st, rounds=st.integers(1, 6), quantum=st.integers(1, 2000))
def test_backlogged_keys_get_their_weight_share_every_round(
    weights: list[int], rounds: int, quantum: int
) -> None:
    s = DrrScheduler(quantum)
    names = [f"k{i}" for i in range(len(weights))]
    for name, w in zip(names, weights, strict=True):
        fill(s, name, rounds * w + 1, w)  # still backlogged after the last round
    per_round = sum(weights)
    total = sum(weights)
    for _ in range(rounds):
        got = drain(s, per_round)
        # one complete round: every key, in order, `weight` in a row
        expected = [name for name, w in zip(names, weights, strict=True) for _ in range(w)]
        assert [k for k, _ in got] == expected
        counts = Counter(k for k, _ in got)
        for name, w in zip(names, weights, strict=True):
            assert abs(counts[name] / per_round - w / total) <= 0.01 * (w / total)


@st.composite
def workloads(draw: st.DrawFn) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Keys with fixed weights, and an interleaving of pushes and deliveries."""
    n = draw(st.integers(1, 12))
    weights = {f"k{i}": draw(st.integers(1, 5)) for i in range(n)}
    ops: list[tuple[str, str]] = []
    for _ in range(draw(st.integers(1, 200))):
        if draw(st.booleans()):
            ops.append(("push", draw(st.sampled_from(sorted(weights)))))
        else:
            ops.append(("next", ""))
    return weights, ops


@settings(max_examples=100, deadline=None)
@given(workloads())
def test_fifo_and_no_backlogged_key_waits_more_than_one_round(
    workload: tuple[dict[str, int], list[tuple[str, str]]],
) -> None:
    weights, ops = workload
    s = DrrScheduler()
    pushed: dict[str, list[str]] = defaultdict(list)
    delivered: list[tuple[str, str]] = []
    still_backlogged: list[bool] = []  # did the key keep pending items after this delivery?

    def deliver() -> bool:
        got = s.next(allow)
        if got is not None:
            delivered.append(got)
            still_backlogged.append(s.pending(got[0]) > 0)
        return got is not None

    for op, key in ops:
        if op == "push":
            item = f"{key}#{len(pushed[key])}"
            pushed[key].append(item)
            s.push(key, item, weights[key])
        else:
            anything_pending = len(delivered) < sum(map(len, pushed.values()))
            assert deliver() == anything_pending
    while deliver():
        pass
    # every item delivered exactly once, FIFO per key
    by_key: dict[str, list[str]] = defaultdict(list)
    for k, item in delivered:
        by_key[k].append(item)
    assert by_key == pushed
    # between two deliveries of a continuously backlogged key, every other key
    # gets at most one turn (at most `weight` deliveries)
    last_seen: dict[str, int] = {}
    for pos, (k, _) in enumerate(delivered):
        if k in last_seen:
            gap = Counter(j for j, _ in delivered[last_seen[k] + 1 : pos])
            for other, n in gap.items():
                assert n <= weights[other], (k, other, gap)
        if still_backlogged[pos]:
            last_seen[k] = pos
        else:
            last_seen.pop(k, None)


@settings(max_examples=60, deadline=None)
@given(
    weights=st.lists(st.integers(1, 6), min_size=1, max_size=20),
    delivered_first=st.integers(0, 200),
    new_weight=st.integers(0, 6),
)
def test_key_joining_mid_round_is_not_served_in_that_round(
    weights: list[int], delivered_first: int, new_weight: int
) -> None:
    s = DrrScheduler()
    per_round = sum(weights)
    for i, w in enumerate(weights):
        fill(s, f"k{i}", (delivered_first // per_round + 3) * w, w)
    drain(s, delivered_first)
    s.push("new", "n0", new_weight)
    s.push("new", "n1", new_weight)
    # a round ends after its last turn; with none in progress, "new" is in the next one
    rest_of_round = -delivered_first % per_round
    assert "new" not in [k for k, _ in drain(s, rest_of_round)]
    new_turn = min(max(new_weight, 1), 2)  # its weight, or both its items
    got = [k for k, _ in drain(s, per_round + new_turn)]
    assert got[per_round:] == ["new"] * new_turn  # served at the end of the next round


@settings(max_examples=60, deadline=None)
@given(
    backlogs=st.lists(st.integers(1, 8), min_size=1, max_size=30),
    weights=st.lists(st.integers(1, 10), min_size=30, max_size=30),
    blocked_mask=st.lists(st.booleans(), min_size=30, max_size=30),
)
def test_parked_key_never_blocks_other_keys(
    backlogs: list[int], weights: list[int], blocked_mask: list[bool]
) -> None:
    s = DrrScheduler()
    names = [f"k{i}" for i in range(len(backlogs))]
    blocked = {n for n, b in zip(names, blocked_mask, strict=False) if b}
    for name, n, w in zip(names, backlogs, weights, strict=False):
        fill(s, name, n, w)

    def check(key: str, item: str) -> Block | None:
        return Block("concurrency", "cap", None) if key in blocked else None

    got = drain(s, check=check)
    free = [n for n in names if n not in blocked]
    assert Counter(k for k, _ in got) == {
        n: b for n, b in zip(names, backlogs, strict=False) if n in free
    }
    assert set(s.parked()) == blocked
    assert len(s) == sum(b for n, b in zip(names, backlogs, strict=False) if n in blocked)
    # once the limit frees and the keys are woken, they drain too
    blocked.clear()
    for name in names:
        s.wake(name)
    got = drain(s, check=check)
    assert len(s) == 0 and s.parked() == {}
    for items in _group(got).values():
        assert items == sorted(items, key=lambda i: int(i.rsplit("-", 1)[1]))


def _group(deliveries: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for k, item in deliveries:
        out[k].append(item)
    return out


@st.composite
def random_ops(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    keys = ["a", "b", "c", "d", "e"]
    ops: list[tuple[str, str, int]] = []
    for _ in range(draw(st.integers(1, 100))):
        kind = draw(st.sampled_from(["push", "push", "remove", "next", "next", "wake", "block"]))
        ops.append((kind, draw(st.sampled_from(keys)), draw(st.integers(0, 12))))
    return ops


@settings(max_examples=100, deadline=None)
@given(random_ops())
def test_matches_a_simple_model_of_pending_items(ops: list[tuple[str, str, int]]) -> None:
    """Under any mix of operations, pending items, FIFO heads and counts agree."""
    s = DrrScheduler(quantum=3)
    model: dict[str, list[str]] = defaultdict(list)
    blocked: set[str] = set()
    counter = 0

    def check(key: str, item: str) -> Block | None:
        assert item == model[key][0]  # the head, and only the head
        return THROTTLED if key in blocked else None

    for kind, key, n in ops:
        if kind == "push":
            counter += 1
            item = f"i{counter}"
            s.push(key, item, n % 4)
            model[key].append(item)
        elif kind == "remove":
            if model[key]:
                item = model[key][n % len(model[key])]
                assert s.remove(key, item)
                model[key].remove(item)
            else:
                assert not s.remove(key, "missing")
        elif kind == "next":
            got = s.next(check)
            if got is None:
                assert all(k in blocked or not v for k, v in model.items())
            else:
                k, item = got
                assert k not in blocked and model[k][0] == item
                model[k].pop(0)
        elif kind == "wake":
            blocked.discard(key)
            s.wake(key)
        else:
            blocked.add(key)
        for k, v in model.items():
            assert list(s.items(k)) == v
            assert s.pending(k) == len(v)
            view = s.view(k)
            assert (view is None) == (not v)
            if view is not None:
                assert view.block == s.parked().get(k)
        assert len(s) == sum(map(len, model.values()))
        assert set(s.keys()) == {k for k, v in model.items() if v}
        assert set(s.parked()) <= set(s.keys())
