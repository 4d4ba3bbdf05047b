"""View-model unit tests: what the screens will show for given snapshots."""

from __future__ import annotations

from datetime import UTC

from fila.tui.fmt import (
    bucketed,
    fmt_bytes,
    fmt_count,
    fmt_duration_ms,
    fmt_rate,
    fmt_uptime,
    gauge,
    hex_dump,
    share_bar,
    sparkline,
)
from fila.tui.viewmodel import (
    KEY_COLUMNS,
    OVERVIEW_COLUMNS,
    History,
    config_rows,
    error_line,
    fit_columns,
    header_text,
    hook_result_rows,
    key_rows,
    keys_title,
    limit_rows,
    message_detail,
    message_rows,
    overview_rows,
    parse_sample_headers,
    script_diff,
    why_waiting,
)
from fila.types import HookResult, KeySnapshot, LimitSnapshot, QueueSnapshot, StatsSnapshot

from .fakes import T0, dead_letters, sample_snapshot


def test_numbers_read_like_the_sketch() -> None:
    assert fmt_count(12408) == "12 408"
    assert fmt_rate(0) == "0"
    assert fmt_rate(0.4) == "0.4"
    assert fmt_rate(3210.4) == "3 210"
    assert fmt_duration_ms(0) == "—"
    assert fmt_duration_ms(41) == "41 ms"
    assert fmt_duration_ms(1200) == "1.2 s"
    assert fmt_duration_ms(123_000) == "2m03s"
    assert fmt_uptime(8_040_000) == "2h14m"
    assert fmt_uptime(3 * 86_400_000 + 4 * 3_600_000) == "3d04h"
    assert fmt_bytes(1_288_490_189) == "1.2 GiB"
    assert fmt_bytes(512) == "512 B"


def test_sparkline_scales_to_its_peak_and_right_aligns() -> None:
    assert sparkline([0, 1, 2, 4], 4) == "▁▃▅█"
    assert sparkline([0, 0], 4) == "  ▁▁"
    assert sparkline([], 3) == "   "
    # five-minute history squeezed into 3 cells, newest bucket last
    assert bucketed([1, 1, 3, 3, 5, 5], 3, 2) == [1, 3, 5]
    assert bucketed([7], 3, 2) == [7]


def test_share_bar_and_gauge() -> None:
    assert share_bar(0.33, 0.33) == "███░░░░░  33%│ 33%"
    assert share_bar(0.01, 0.33).startswith("░░░░░░░░")
    assert gauge(0.4, 150) == "▕░░░░░░▏ 0.4/150"
    assert gauge(150, 150) == "▕██████▏ 150/150"


def test_fit_columns_drops_least_important_first() -> None:
    wide = fit_columns(KEY_COLUMNS, 200)
    assert [c.key for c in wide] == [c.key for c in KEY_COLUMNS]
    narrow = [c.key for c in fit_columns(KEY_COLUMNS, 78)]
    assert narrow[0] == "key" and narrow[-1] == "why"
    assert {"pending", "dlv", "why"} <= set(narrow)
    assert "trend" not in narrow and "deficit" not in narrow
    assert [c.key for c in fit_columns(OVERVIEW_COLUMNS, 10)] == ["name", "depth", "dlv"]


def test_overview_puts_each_dlq_under_its_parent_and_flags_dead_letters() -> None:
    snap = sample_snapshot()
    history = History()
    history.add(snap)
    rows = overview_rows(snap, history)
    assert [r.key for r in rows] == ["fair-demo", "fair-demo.dlq", "orders", "orders.dlq"]
    dlq = rows[1]
    assert dlq.style == "alert" and dlq.cells["name"] == "  ↳ .dlq (!)"
    assert rows[3].style == "muted"  # empty DLQ: quiet, not alarming
    assert rows[0].cells["depth"] == "12 477" and rows[0].cells["wait"] == "41 ms"
    assert [r.key for r in overview_rows(snap, history, "ORD")] == ["orders", "orders.dlq"]
    assert overview_rows(None, history) == []


def test_history_keeps_series_for_current_keys_only() -> None:
    history = History(samples=3, key_samples=2)
    for step in range(5):
        snap = sample_snapshot(step)
        history.add(snap)
        history.add_keys(snap.queues[0])
    assert list(history.queues["fair-demo"]) == [470.0, 460.0, 450.0]
    assert len(history.keys[("fair-demo", "tenant:acme")]) == 2
    # Keys are kept for the watched queue only: watching another drops them.
    history.add_keys(QueueSnapshot("orders"))
    assert history.keys == {}
    history.add(StatsSnapshot(taken_at_ms=T0, queues=(QueueSnapshot("orders"),)))
    assert set(history.queues) == {"orders"}


def test_why_waiting_in_plain_words() -> None:
    limits = {lim.key: lim for lim in sample_snapshot().limits}
    throttled = KeySnapshot(
        "k",
        pending=3,
        waiting="throttled",
        waiting_on="provider:stripe",
        waiting_until_ms=T0 + 3000,
    )
    assert why_waiting(throttled, limits, UTC) == (
        "throttled: provider:stripe until 12:00:03",
        "warn",
    )
    capped = KeySnapshot("k", pending=1, waiting="concurrency", waiting_on="umbrella")
    assert why_waiting(capped, limits, UTC) == ("at cap: concurrency.umbrella 5/5", "warn")
    assert why_waiting(KeySnapshot("k", pending=1, waiting="no_consumer"), limits, UTC) == (
        "no consumer",
        "alert",
    )
    assert why_waiting(KeySnapshot("k", pending=1, waiting="turn"), limits, UTC)[0] == (
        "backlogged, waiting its turn"
    )
    assert why_waiting(KeySnapshot("k"), limits, UTC)[0] == "idle"
    assert why_waiting(KeySnapshot("k", pending=2, deliver_rate=3), limits, UTC)[0] == "flowing"


def test_key_rows_sort_and_filter() -> None:
    snap = sample_snapshot()
    q = snap.queues[0]
    history = History()
    history.add(snap)

    def order(sort: str, flt: str = "") -> list[str]:
        return [r.key for r in key_rows(q, snap.limits, history, UTC, sort=sort, key_filter=flt)]

    assert order("backlog") == ["tenant:acme", "tenant:globex", "tenant:initech", "tenant:umbrella"]
    assert order("rate")[0] == "tenant:globex"
    assert order("waiting")[:2] == ["tenant:initech", "tenant:umbrella"]
    assert order("unfair")[0] == "tenant:initech"
    assert order("key", "INI") == ["tenant:initech"]
    assert keys_title(q, 4, "backlog", "").startswith(
        "fair-demo ▸ keys (1 204 active, top 4)  sort: backlog"
    )


def test_key_rows_of_a_huge_queue_stay_at_top_n() -> None:
    # The server sends the top-N keys; the view model never sees 100 000 rows.
    keys = tuple(KeySnapshot(f"k{i}", pending=i) for i in range(100))
    q = QueueSnapshot("big", active_keys=100_000, keys=keys)
    rows = key_rows(q, (), History(), UTC)
    assert len(rows) == 100 and rows[0].key == "k99"
    assert "100 000 active, top 100" in keys_title(q, 100, "backlog", "")


def test_limit_rows_and_config_rows_show_live_state() -> None:
    snap = sample_snapshot()
    rows = limit_rows(snap.limits)
    assert rows[0].cells["tokens"] == "▕░░░░░░▏ 0.4/150" and rows[0].style == "warn"
    assert rows[1].cells["cap"] == "5 / 5"
    entries = [
        ("throttle.provider:stripe", "10,150"),
        ("concurrency.umbrella", "5"),
        ("throttle.unused", "1,1"),
        ("feature.x", "on"),
    ]
    by_key = {r.key: r for r in config_rows(entries, snap.limits)}
    assert by_key["throttle.provider:stripe"].live.startswith("▕░░░░░░▏ 0.4/150 @ 10/s")
    assert by_key["concurrency.umbrella"].live == "in flight 5 / 5"
    assert by_key["throttle.unused"].live == "no traffic yet"
    assert by_key["feature.x"].live == ""
    assert [r.key for r in config_rows(entries, (), "stripe")] == ["throttle.provider:stripe"]


def test_hook_helpers() -> None:
    assert error_line('[string "on_enqueue"]:3: attempt to index a nil value') == 3
    assert error_line("syntax error at line 7") == 7
    assert error_line("out of memory") is None
    headers, problems = parse_sample_headers("tenant = acme\n# note\n\nbad line\n")
    assert headers == {"tenant": "acme"}
    assert problems == ["line 4: expected key=value, got 'bad line'"]
    rows = hook_result_rows(
        "on_enqueue", HookResult(fairness_key="t:a", weight=2, throttle_keys=("p:x", "p:y"))
    )
    assert rows == [
        ("fairness_key", "t:a"),
        ("weight", "2"),
        ("throttle_keys", "p:x, p:y"),
        ("delay_ms", "0"),
    ]
    assert hook_result_rows("on_failure", HookResult(action="dlq"))[0] == ("action", "dlq")
    diff = script_diff("a\nb\n", "a\nc\n")
    assert "-b" in diff and "+c" in diff and diff[0] == "--- running"
    assert script_diff("same", "same") == []


def test_dlq_rows_and_message_pane() -> None:
    msgs = dead_letters()
    rows = message_rows(msgs, T0)
    assert rows[0].cells["age"] == "1m30s" and rows[0].cells["attempts"] == "3"
    assert rows[0].cells["error"] == "payment declined (#0)"
    text = message_detail(msgs[0], UTC)
    assert "payload   12 bytes, text" in text and '{"order": 0}' in text
    assert "tenant = acme" in text and "payment declined (#0)" in text
    binary = message_detail(msgs[1], UTC)
    assert "hex" in binary and "00 01 02 ff 01" in binary
    assert "7b 22 6f" in message_detail(msgs[0], UTC, as_hex=True)
    assert hex_dump(b"AB") == "000000  41 42" + " " * 42 + "  |AB|"


def test_header_text() -> None:
    from fila.types import ServerInfo

    info = ServerInfo(version="0.3.0", uptime_ms=60_000, data_dir_bytes=2048)
    assert header_text("h:1", info, elapsed_ms=5000) == "h:1  v0.3.0  up 1m05s  data 2.0 KiB"
    assert header_text("h:1", None) == "h:1  connecting…"


def test_limit_rows_filter() -> None:
    lims = (LimitSnapshot("a:b", has_throttle=True, tokens=5, burst=5), LimitSnapshot("c"))
    assert [r.key for r in limit_rows(lims, "A:")] == ["a:b"]


def test_keys_title_says_why_the_hook_breaker_is_open() -> None:
    q = QueueSnapshot("jobs", hook_breaker_open=True,
                      hook_error="on_enqueue of queue 'jobs' ran past the hook watchdog (1000 ms)")
    assert "HOOK BREAKER OPEN: on_enqueue of queue 'jobs' ran past the hook watchdog" in \
        keys_title(q, 0, "backlog", "")
    assert "HOOK BREAKER OPEN  depth" in keys_title(
        QueueSnapshot("jobs", hook_breaker_open=True), 0, "backlog", "")
