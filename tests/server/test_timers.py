"""The deadline heap: ordering, cancel, reschedule, bounded growth."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fila.server.timers import TimerHeap


def test_pops_due_refs_earliest_first() -> None:
    t: TimerHeap[str] = TimerHeap()
    t.schedule(3.0, "c")
    t.schedule(1.0, "a")
    t.schedule(2.0, "b")
    t.schedule(9.0, "later")
    assert t.next_deadline() == 1.0
    assert t.pop_due(2.5) == ["a", "b"]
    assert t.pop_due(3.0) == ["c"]  # a deadline equal to now is due
    assert t.pop_due(5.0) == []
    assert len(t) == 1 and "later" in t and "a" not in t
    assert t.next_deadline() == 9.0


def test_equal_deadlines_keep_scheduling_order() -> None:
    t: TimerHeap[int] = TimerHeap()
    for i in range(10):
        t.schedule(1.0, i)
    assert t.pop_due(1.0) == list(range(10))


def test_cancel() -> None:
    t: TimerHeap[str] = TimerHeap()
    t.schedule(1.0, "a")
    t.schedule(2.0, "b")
    t.cancel("a")
    t.cancel("never-scheduled")
    assert "a" not in t and t.deadline("a") is None and len(t) == 1
    assert t.next_deadline() == 2.0
    assert t.pop_due(10.0) == ["b"]
    assert t.next_deadline() is None and len(t) == 0


def test_reschedule_replaces_the_deadline() -> None:
    t: TimerHeap[str] = TimerHeap()
    t.schedule(5.0, "lease")
    t.schedule(10.0, "lease")  # extended
    assert t.deadline("lease") == 10.0 and len(t) == 1
    assert t.pop_due(7.0) == []
    assert t.next_deadline() == 10.0
    t.schedule(1.0, "lease")  # brought forward
    assert t.pop_due(1.0) == ["lease"]
    assert t.pop_due(100.0) == []


def test_refs_can_be_tuples() -> None:
    t: TimerHeap[tuple[str, str]] = TimerHeap()
    t.schedule(1.0, ("lease", "q/1"))
    t.schedule(1.0, ("delay", "q/1"))
    assert t.pop_due(1.0) == [("lease", "q/1"), ("delay", "q/1")]


def test_nan_deadline_is_rejected() -> None:
    t: TimerHeap[str] = TimerHeap()
    with pytest.raises(ValueError):
        t.schedule(float("nan"), "x")


def test_repeated_reschedule_does_not_grow_the_heap() -> None:
    t: TimerHeap[int] = TimerHeap()
    for ref in range(10):
        t.schedule(0.0, ref)
    for i in range(100_000):
        t.schedule(float(i), i % 10)
    # internal size: stale entries must be compacted away, not kept forever
    assert len(t._heap) <= 2 * len(t) + 64 + 1
    assert len(t) == 10
    assert t.pop_due(float("inf")) == list(range(10))


def test_schedule_cancel_churn_does_not_grow_the_heap() -> None:
    t: TimerHeap[int] = TimerHeap()
    for i in range(100_000):
        t.schedule(float(i), i)
        t.cancel(i)
    assert len(t) == 0 and len(t._heap) <= 64 + 1
    assert t.next_deadline() is None


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["schedule", "cancel", "pop"]),
            st.integers(0, 15),
            st.floats(0.0, 100.0),
        ),
        max_size=300,
    )
)
def test_matches_a_dict_of_deadlines(ops: list[tuple[str, int, float]]) -> None:
    t: TimerHeap[int] = TimerHeap()
    model: dict[int, tuple[float, int]] = {}  # ref -> (deadline, order scheduled)
    order = 0
    for op, ref, at in ops:
        if op == "schedule":
            t.schedule(at, ref)
            order += 1
            model[ref] = (at, order)
        elif op == "cancel":
            t.cancel(ref)
            model.pop(ref, None)
        else:
            expected = sorted((v, r) for r, v in model.items() if v[0] <= at)
            assert t.pop_due(at) == [r for _, r in expected]
            for _, r in expected:
                del model[r]
        assert len(t) == len(model)
        assert t.next_deadline() == min((v[0] for v in model.values()), default=None)
        for r in range(16):
            assert (r in t) == (r in model)
            assert t.deadline(r) == (model[r][0] if r in model else None)
