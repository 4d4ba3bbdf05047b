"""The checker's verdict (fila.cluster.history): what counts as lost, unexpected and
duplicated, and how a fault's failover time is measured."""

from __future__ import annotations

import json

import pytest

from fila.cluster.history import History, percentile, render_markdown


def _run(acked: list[str], failed: tuple[str, ...] | list[str] = (),
         delivered: tuple[str, ...] | list[str] = ()) -> History:
    h = History()
    t = 0.0
    for uid in [*acked, *failed]:
        h.sent(uid, t)
        t += 1
    for uid in acked:
        h.acked(uid, f"id-{uid}")
    for uid in failed:
        h.failed(uid, "UNAVAILABLE")
    for uid in delivered:
        h.delivered(uid, f"id-{uid}", "n1", t)
        t += 1
    return h


def test_everything_acknowledged_and_delivered_once_is_ok() -> None:
    v = _run(["a", "b"], delivered=["a", "b"]).verdict()
    assert (v.acknowledged, v.delivered_unique, v.deliveries) == (2, 2, 2)
    assert (v.lost, v.unexpected, v.duplicates, v.extra_deliveries) == ([], [], 0, 0)
    assert v.ok


def test_an_acknowledged_message_never_delivered_is_lost() -> None:
    h = _run(["a", "b", "c"], delivered=["a"])
    assert h.outstanding() == {"b", "c"}
    v = h.verdict()
    assert v.lost == ["b", "c"]
    assert not v.ok


def test_a_failed_enqueue_may_or_may_not_come_out() -> None:
    v = _run(["a"], failed=["x", "y"], delivered=["a", "x"]).verdict()
    assert (v.failed, v.failed_but_delivered) == (2, 1)
    assert v.lost == [] and v.unexpected == []
    assert v.ok


def test_a_delivery_never_sent_is_unexpected() -> None:
    v = _run(["a"], delivered=["a", "ghost"]).verdict()
    assert v.unexpected == ["ghost"]
    assert not v.ok


def test_redeliveries_are_duplicates_not_failures() -> None:
    v = _run(["a", "b"], delivered=["a", "a", "a", "b", "b"]).verdict()
    assert (v.delivered_unique, v.deliveries) == (2, 5)
    assert (v.duplicates, v.extra_deliveries) == (2, 3)
    assert v.ok


def test_ids_must_be_unique() -> None:
    h = History()
    h.sent("a", 0.0)
    with pytest.raises(ValueError, match="sent twice"):
        h.sent("a", 1.0)


def test_failover_is_the_first_delivery_by_another_node_after_the_fault() -> None:
    h = History()
    for i in range(6):
        h.sent(f"m{i}", float(i))
        h.acked(f"m{i}", f"id{i}")
    h.delivered("m0", "id0", "owner:1", 1.0)
    fault = h.fault("kill", "n1", "owner:1", at=10.0)
    h.delivered("m1", "id1", "owner:1", 10.5)  # already in flight on the victim: not recovery
    h.delivered("m2", "id2", "other:2", 9.0)  # before the fault (clock order): not recovery
    assert fault.recovered_at is None
    h.delivered("m3", "id3", "other:2", 13.25)
    h.delivered("m4", "id4", "other:3", 14.0)
    assert fault.failover_s == pytest.approx(3.25)
    assert fault.recovered_by == "other:2"


def test_a_fault_without_a_victim_recovers_on_a_message_sent_after_it() -> None:
    h = History()
    h.sent("old", 1.0)
    h.acked("old", "i-old")
    fault = h.fault("nats", "nats n2", None, at=5.0)
    h.delivered("old", "i-old", "owner:1", 6.0)  # sent before the fault: proves nothing
    assert fault.recovered_at is None
    h.sent("new", 7.0)
    h.acked("new", "i-new")
    h.delivered("new", "i-new", "owner:1", 8.5)
    assert fault.failover_s == pytest.approx(3.5)


def test_failover_statistics_and_unrecovered_faults() -> None:
    h = History()
    for i, (at, back) in enumerate([(0.0, 2.0), (10.0, 11.0), (20.0, 24.0), (30.0, None)]):
        h.fault("kill", f"n{i}", f"victim{i}", at)
        if back is not None:
            h.sent(f"m{i}", at)
            h.delivered(f"m{i}", f"id{i}", "survivor", back)
    v = h.verdict()
    assert v.failover_p50_s == pytest.approx(2.0)
    assert v.failover_max_s == pytest.approx(4.0)
    assert v.not_recovered == 1
    assert [f["failover_s"] for f in v.faults] == [2.0, 1.0, 4.0, None]


def test_percentile_by_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.5) == 3.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([5.0, 1.0, 4.0, 2.0, 3.0], 0.5) == 3.0
    assert percentile([1.0, 2.0, 3.0], 1.0) == 3.0


def test_markdown_and_json_carry_the_verdict() -> None:
    h = _run(["a", "b"], failed=["c"], delivered=["a", "a", "zz"])
    h.fault("pause", "n2", "127.0.0.1:5", at=100.0)
    v = h.verdict()
    text = render_markdown(v)
    assert "| **lost** (acknowledged, never delivered) | 1 |" in text
    assert "| **unexpected** (delivered, never sent) | 1 |" in text
    assert "| duplicates (ids delivered more than once) | 1 (1 extra deliveries) |" in text
    assert "| 1 | pause | n2 | — | — |" in text
    assert "lost: b" in text and "unexpected: zz" in text
    assert "| verdict | FAIL |" in text
    data = json.loads(v.to_json())
    assert data["lost"] == ["b"] and data["unexpected"] == ["zz"]
    assert data["acknowledged"] == 2 and data["ok"] is False


def test_a_delivery_after_a_confirmed_ack_is_an_ack_lost() -> None:
    h = _run(["a", "b"], delivered=["a", "b"])
    h.settled("id-a", 10.0)  # confirmed at t=10
    h.delivered("b", "id-b", "n2", 11.0)  # b's ack was never confirmed: a duplicate
    assert h.verdict().ok
    h.delivered("a", "id-a", "n2", 12.0)  # a came back after its confirmed ack
    v = h.verdict()
    assert v.acks_lost == ["a"] and not v.ok
    assert "**acks lost** (delivered again after a confirmed ack) | 1 |" in render_markdown(v)


def test_another_copy_of_an_acked_uid_is_a_duplicate_not_an_ack_lost() -> None:
    # A forwarded enqueue retried after its answer was lost stores the uid twice.
    h = _run(["a"], delivered=["a"])
    h.settled("id-a", 10.0)
    h.delivered("a", "id-a-copy", "n2", 11.0)
    v = h.verdict()
    assert v.ok and v.acks_lost == [] and v.duplicates == 1
