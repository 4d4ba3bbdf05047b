"""Which queues the overview marks, and the reasons 'a' shows: pure logic, no terminal."""

from __future__ import annotations

from fila.tui.attention import ATTENTION_MARK, DlqDepths, attention, attention_text
from fila.tui.viewmodel import History, limit_config_value, overview_rows
from fila.types import LimitSnapshot, QueueSnapshot, StatsSnapshot

from .fakes import T0, sample_snapshot


def _fed(*snaps: StatsSnapshot) -> DlqDepths:
    depths = DlqDepths()
    for snap in snaps:
        depths.add(snap)
    return depths


def test_a_steady_scenario_needs_no_attention() -> None:
    snaps = [sample_snapshot(step) for step in range(5)]
    assert attention(snaps[-1], _fed(*snaps)) == {}
    assert attention(None, DlqDepths()) == {}
    assert attention_text({}, None).startswith("Nothing needs attention")


def test_each_reason_in_plain_words() -> None:
    snaps = [sample_snapshot(step, attention=True) for step in range(5)]
    items = attention(snaps[-1], _fed(*snaps), wait_ms=60_000)
    assert sorted(items) == ["fair-demo", "orders"]
    assert items["fair-demo"].reasons == (
        "DLQ fair-demo.dlq grew by 4 messages in the last 4.0 s (now 7): d opens it",
    )
    assert items["orders"].reasons == (
        "oldest ready message has waited 2m09s (threshold 1m00s): "
        "Enter shows which keys wait and why",
        'hook breaker open, hooks bypassed: on_enqueue: [string "on_enqueue"]:3: attempt to '
        "index a nil value: h opens the hook editor",
    )


def test_the_wait_threshold_is_the_operators_and_zero_turns_it_off() -> None:
    snap = sample_snapshot(0)  # orders' oldest ready message: 20 s
    assert attention(snap, _fed(snap), wait_ms=60_000) == {}
    assert attention(snap, _fed(snap), wait_ms=10_000)["orders"].reasons[0].startswith(
        "oldest ready message has waited 20.0 s (threshold 10.0 s)"
    )
    assert attention(snap, _fed(snap), wait_ms=0) == {}


def test_dlq_growth_is_over_the_window_and_a_shrinking_dlq_is_fine() -> None:
    def snap(depth: int, at: int) -> StatsSnapshot:
        return StatsSnapshot(T0 + at * 1000, (QueueSnapshot("q"), QueueSnapshot("q.dlq",
                                                                                 depth=depth)))

    depths = DlqDepths(window=3)
    for at, depth in enumerate((5, 9, 9, 9)):
        depths.add(snap(depth, at))
    # 5 fell out of the 3-sample window: no growth left to report.
    assert attention(snap(9, 4), depths) == {}
    depths.add(snap(2, 5))  # redriven: shrinking is not a problem
    assert attention(snap(2, 5), depths) == {}
    depths.add(snap(3, 6))
    assert attention(snap(3, 6), depths)["q"].reasons[0].startswith(
        "DLQ q.dlq grew by 1 message in the last 2.0 s (now 3)"
    )


def test_an_orphaned_dlq_carries_its_own_mark() -> None:
    first = StatsSnapshot(T0, (QueueSnapshot("gone.dlq", depth=1),))
    later = StatsSnapshot(T0 + 1000, (QueueSnapshot("gone.dlq", depth=2),))
    assert list(attention(later, _fed(first, later))) == ["gone.dlq"]


def test_marked_rows_read_without_colour_and_reasons_list_the_selected_first() -> None:
    snaps = [sample_snapshot(step, attention=True) for step in range(3)]
    items = attention(snaps[-1], _fed(*snaps))
    rows = {r.key: r for r in overview_rows(snaps[-1], History(), marked=items)}
    assert rows["orders"].cells["name"] == ATTENTION_MARK + "orders"
    assert rows["orders"].style == "warn"
    assert rows["fair-demo"].cells["name"] == ATTENTION_MARK + "fair-demo"
    assert rows["fair-demo.dlq"].style == "alert"  # the DLQ row keeps its own red mark
    assert not rows["orders.dlq"].cells["name"].startswith(ATTENTION_MARK.strip())
    text = attention_text(items, "orders").splitlines()
    assert text[0] == ATTENTION_MARK + "orders"
    assert text[3] == ATTENTION_MARK + "fair-demo"


def test_a_limit_rows_current_value_in_config_form() -> None:
    throttle = LimitSnapshot("p", has_throttle=True, rate_per_second=10.0, burst=150.0)
    cap = LimitSnapshot("u", has_cap=True, cap=5)
    assert limit_config_value(throttle, "throttle") == "10,150"
    assert limit_config_value(throttle, "cap") == ""
    assert limit_config_value(cap, "cap") == "5"
    assert limit_config_value(LimitSnapshot("r", has_throttle=True, rate_per_second=0.5,
                                            burst=1.0), "throttle") == "0.5,1"
    assert limit_config_value(None, "throttle") == ""
