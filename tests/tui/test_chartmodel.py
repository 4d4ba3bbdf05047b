"""The charts' view model: samples by second in, axes and lines out (pure, no Textual)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta, timezone

from fila.tui.chartmodel import (
    ChartData,
    chart_title,
    panels,
    time_ticks,
    value_ticks,
)
from fila.types import KeyHistory, StatsHistory

from .fakes import T0, sample_history, sample_snapshot

NOW_S = T0 // 1000  # 2026-01-01 12:00:00 UTC


def test_server_history_fills_the_queue_series_by_second() -> None:
    data = ChartData("fair-demo")
    assert data.merge_history(sample_history(T0))
    assert len(data.samples) == 900 and data.last_s == NOW_S
    assert min(data.samples) == NOW_S - 899
    assert set(data.samples[NOW_S]) == set(data.fields)
    # A later, shorter answer replaces the seconds it covers and extends the end.
    data.merge_history(sample_history(T0 + 2000, seconds=5))
    assert data.last_s == NOW_S + 2
    assert len(data.samples) == 900  # bounded: the oldest seconds fall off


def test_a_key_takes_its_own_series_from_the_history() -> None:
    data = ChartData("fair-demo", "tenant:initech")
    assert data.merge_history(sample_history(T0))
    assert data.samples[NOW_S]["pending"] == 430.0
    other = ChartData("fair-demo", "tenant:nobody")
    assert not other.merge_history(sample_history(T0))
    assert other.last_s is None


def test_empty_history_of_an_idle_queue_adds_nothing() -> None:
    data = ChartData("orders")
    assert not data.merge_history(StatsHistory("orders", history_seconds=900))
    assert panels(data, 900, UTC, 40)[0].empty == "no samples yet"


def test_live_snapshots_give_every_series_but_throttle_hits() -> None:
    data = ChartData("fair-demo")
    data.add_snapshot(sample_snapshot(0))
    data.add_snapshot(sample_snapshot(1))
    assert data.samples[NOW_S + 1]["deliver_rate"] == 480.0
    assert data.samples[NOW_S]["depth"] == 12_477.0
    charts = panels(data, 900, UTC, 40)
    assert [p.title for p in charts] == [
        "Rates (msg/s)", "Depth (messages)", "Wait p95 (ms)", "Throttle hits (/s)"]
    assert charts[3].lines == () and "history" in charts[3].empty
    rates = charts[0]
    assert [line.label for line in rates.lines] == ["enqueue", "deliver", "ack", "nack"]
    assert rates.lines[1].xs == (-1, 0) and rates.lines[1].ys == (490.0, 480.0)
    key = ChartData("fair-demo", "tenant:acme")
    key.add_snapshot(sample_snapshot(0))
    assert key.samples[NOW_S] == {"deliver_rate": 160.0, "pending": 9870.0, "wait_p95_ms": 41}
    gone = ChartData("deleted")
    gone.add_snapshot(sample_snapshot(0))
    assert gone.last_s is None


def test_the_window_keeps_only_its_seconds_relative_to_the_newest() -> None:
    data = ChartData("fair-demo")
    data.merge_history(sample_history(T0))
    last_minute = panels(data, 60, UTC, 40)[1]
    depth = last_minute.lines[0]
    assert depth.xs[0] == -59 and depth.xs[-1] == 0 and len(depth.xs) == 60


def test_time_ticks_fall_on_round_clock_times_in_the_operators_zone() -> None:
    assert time_ticks(NOW_S, 900, UTC, 40) == ((-600, -300, 0), ("11:50", "11:55", "12:00"))
    wide = time_ticks(NOW_S, 900, UTC, 60)  # a chart on a 120-column terminal
    assert wide[1] == ("11:48", "11:51", "11:54", "11:57", "12:00")
    minute = time_ticks(NOW_S, 60, UTC, 40)
    assert minute[1] == ("11:59:20", "11:59:40", "12:00:00")
    plus_two = timezone(timedelta(hours=2))
    assert time_ticks(NOW_S, 900, plus_two, 40)[1] == ("13:50", "13:55", "14:00")


def test_value_ticks_are_round_with_short_labels() -> None:
    assert value_ticks(520) == ((0.0, 200.0, 400.0, 600.0), ("0", "200", "400", "600"))
    assert value_ticks(13_000)[1] == ("0", "5k", "10k", "15k")
    assert value_ticks(1200)[1] == ("0", "500", "1k", "1.5k")
    assert value_ticks(0.3)[1][-1] == "0.3"
    assert value_ticks(0) == ((0.0, 1.0), ("0", "1"))
    assert value_ticks(float("nan")) == ((0.0, 1.0), ("0", "1"))
    assert value_ticks(2_500_000)[1][-1] == "3M"


def test_titles_name_the_queue_key_and_window() -> None:
    assert chart_title(ChartData("q"), 900) == "q — last 15 min"
    assert chart_title(ChartData("q", "k"), 60) == "q · key k — last 1 min"


def test_a_key_history_shorter_than_the_queues_starts_later() -> None:
    hist = sample_history(T0)
    late = KeyHistory("tenant:late", T0 - 1000, (1.0, 2.0), (5.0, 6.0), (10.0, 11.0), (0.0, 0.0))
    data = ChartData("fair-demo", "tenant:late")
    assert data.merge_history(replace(hist, keys=(late,)))
    assert sorted(data.samples) == [NOW_S - 1, NOW_S]
