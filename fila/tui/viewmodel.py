"""Turns the broker's stats stream into what the screens show. Pure: no Textual.

The screens hand this module snapshots, a sort, a filter and a width; it hands
back rows of plain strings plus a style hint. Keeping the arithmetic here makes
it testable without a terminal and keeps the widgets thin.
"""

from __future__ import annotations

import difflib
import re
from collections import deque
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from fila.tui.attention import ATTENTION_MARK
from fila.tui.fmt import (
    DASH,
    bucketed,
    fmt_bytes,
    fmt_clock,
    fmt_count,
    fmt_duration_ms,
    fmt_rate,
    fmt_uptime,
    gauge,
    hex_dump,
    share_bar,
    sparkline,
)
from fila.types import (
    HookResult,
    KeySnapshot,
    LimitSnapshot,
    ListedMessage,
    QueueSnapshot,
    ServerInfo,
    StatsSnapshot,
)

__all__ = [
    "KEY_COLUMNS",
    "KEY_SORTS",
    "LIMIT_COLUMNS",
    "MESSAGE_COLUMNS",
    "OVERVIEW_COLUMNS",
    "Column",
    "ConfigRow",
    "History",
    "Row",
    "config_rows",
    "error_line",
    "fit_columns",
    "header_text",
    "hook_result_rows",
    "key_rows",
    "keys_title",
    "limit_config_value",
    "limit_rows",
    "message_detail",
    "message_rows",
    "overview_rows",
    "parse_sample_headers",
    "script_diff",
    "why_waiting",
]


# --------------------------------------------------------------------------- columns


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    priority: int  # 0 = never dropped; higher numbers go first when space is short


# DataTable pads each cell by one column either side.
_CELL_PADDING = 2


def fit_columns(columns: Sequence[Column], width: int, *, grow: int = 0) -> list[Column]:
    """Drop the least important columns until the rest fit in ``width`` cells.

    Spare room (up to ``grow`` cells) widens the first column, where long names live.
    """
    kept = list(columns)

    def used(cols: Sequence[Column]) -> int:
        return sum(c.width + _CELL_PADDING for c in cols)

    while used(kept) > width:
        droppable = [c for c in kept if c.priority > 0]
        if not droppable:
            break
        worst = max(droppable, key=lambda c: (c.priority, kept.index(c)))
        kept.remove(worst)
    spare = min(grow, width - used(kept))
    if kept and spare > 0:
        first = kept[0]
        kept[0] = Column(first.key, first.label, first.width + spare, first.priority)
    return kept


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    cells: dict[str, str]
    style: str = ""  # "", "alert", "warn", "muted": a hint the screen maps to colour


# --------------------------------------------------------------------------- history

TREND_CELLS = 10
TREND_SAMPLES = 300  # five minutes at the default 1 s interval


@dataclass
class History:
    """Recent deliver rates per queue and per key, bounded in memory.

    Queue series come from the every-queue stream. Key series are kept for one queue at
    a time, the one whose keys are on screen (:meth:`add_keys`), and only for keys in its
    newest snapshot (the server's top-N), so 100 000 keys never turn into 100 000 deques.
    """

    samples: int = TREND_SAMPLES
    key_samples: int = 30
    queues: dict[str, deque[float]] = field(default_factory=dict)
    keys: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def add(self, snap: StatsSnapshot) -> None:
        seen: set[str] = set()
        for q in snap.queues:
            seen.add(q.name)
            self.queues.setdefault(q.name, deque(maxlen=self.samples)).append(q.deliver_rate)
        for name in set(self.queues) - seen:
            del self.queues[name]

    def add_keys(self, q: QueueSnapshot) -> None:
        """One snapshot of the watched queue's keys; other queues' key series go."""
        seen: set[tuple[str, str]] = set()
        for k in q.keys:
            ident = (q.name, k.key)
            seen.add(ident)
            self.keys.setdefault(ident, deque(maxlen=self.key_samples)).append(k.deliver_rate)
        for ident in set(self.keys) - seen:
            del self.keys[ident]

    def queue_trend(self, name: str, cells: int = TREND_CELLS) -> str:
        series = self.queues.get(name, ())
        # Fill the column early on, then settle at samples/cells per cell (5 minutes wide).
        per_cell = min(max(1, self.samples // cells), max(1, -(-len(series) // cells)))
        return sparkline(bucketed(list(series), cells, per_cell), cells)

    def key_trend(self, queue: str, key: str, cells: int = 6) -> str:
        return sparkline(list(self.keys.get((queue, key), ())), cells)


# --------------------------------------------------------------------------- header


def header_text(
    addr: str,
    info: ServerInfo | None,
    *,
    elapsed_ms: int = 0,
) -> str:
    """'127.0.0.1:5555  v0.3.0  up 2h14m  data 1.2 GiB' (uptime advanced by snapshot time)."""
    if info is None:
        return f"{addr}  connecting…"
    parts = [addr, f"v{info.version}", f"up {fmt_uptime(info.uptime_ms + elapsed_ms)}"]
    if info.data_dir_bytes:
        parts.append(f"data {fmt_bytes(info.data_dir_bytes)}")
    if info.auth_enabled:  # who we are connected as
        who = info.caller_name or info.caller_key_id
        parts.append(f"as {who}" + (" (superadmin)" if info.caller_superadmin else ""))
    return "  ".join(parts)


# --------------------------------------------------------------------------- overview

OVERVIEW_COLUMNS: tuple[Column, ...] = (
    Column("name", "NAME", 16, 0),
    Column("depth", "DEPTH", 7, 0),
    Column("in_flight", "IN-FLIGHT", 9, 1),
    Column("consumers", "CONS", 4, 2),
    Column("enq", "ENQ/s", 6, 3),
    Column("dlv", "DLV/s", 6, 0),
    Column("ack", "ACK/s", 6, 3),
    Column("wait", "WAIT p95", 8, 2),
    Column("trend", "DLV 5 MIN", TREND_CELLS, 4),
)


def overview_rows(
    snap: StatsSnapshot | None,
    history: History,
    name_filter: str = "",
    marked: Collection[str] = (),
) -> list[Row]:
    """One row per queue, each DLQ right after its parent; a DLQ holding messages is an alert.

    Queues in ``marked`` (they need attention, see fila.tui.attention) get a mark before
    their name and the warning colour, so the mark reads without colour too.
    """
    if snap is None:
        return []
    needle = name_filter.lower()
    by_name = {q.name: q for q in snap.queues}
    ordered: list[QueueSnapshot] = []
    for q in sorted(snap.queues, key=lambda q: q.name):
        if q.name.endswith(".dlq") and q.name[: -len(".dlq")] in by_name:
            continue  # placed after its parent below
        ordered.append(q)
        child = by_name.get(q.dead_letter_queue or f"{q.name}.dlq")
        if child is not None and child is not q:
            ordered.append(child)
    rows = []
    for q in ordered:
        if needle and needle not in q.name.lower():
            continue
        is_dlq = q.name.endswith(".dlq")
        # A DLQ listed under its parent only needs its suffix; the tree shows whose it is.
        name = "  ↳ .dlq" if is_dlq and q.name[: -len(".dlq")] in by_name else q.name
        style = "alert" if is_dlq and q.depth > 0 else ("muted" if is_dlq else "")
        if q.hook_breaker_open:
            style = "warn"
        if q.name in marked:
            name = ATTENTION_MARK + name.lstrip()
            style = style if style == "alert" else "warn"
        cells = {
            "name": name + (" (!)" if style == "alert" else ""),
            "depth": fmt_count(q.depth),
            "in_flight": fmt_count(q.in_flight),
            "consumers": fmt_count(q.consumers),
            "enq": fmt_rate(q.enqueue_rate),
            "dlv": fmt_rate(q.deliver_rate),
            "ack": fmt_rate(q.ack_rate),
            "wait": fmt_duration_ms(q.wait_p95_ms),
            "trend": history.queue_trend(q.name),
        }
        rows.append(Row(q.name, cells, style))
    return rows


# --------------------------------------------------------------------------- queue keys

KEY_COLUMNS: tuple[Column, ...] = (
    Column("key", "KEY", 14, 0),
    Column("pending", "PEND", 6, 0),
    Column("in_flight", "FLIGHT", 6, 3),
    Column("weight", "W", 2, 2),
    Column("deficit", "DEFICIT", 7, 5),
    Column("dlv", "DLV/s", 6, 1),
    Column("trend", "TREND", 6, 7),
    Column("share", "SHARE vs WEIGHT", 18, 4),
    Column("wait", "WAIT p95", 8, 6),
    # Wide enough for "throttled: provider:slowpay until 12:00:03": the reason is the point.
    Column("why", "STATE / WHY", 42, 0),
)

KEY_SORTS: tuple[str, ...] = ("backlog", "rate", "waiting", "unfair", "key")

# Most urgent first when sorting by state.
_WAIT_RANK = {"throttled": 0, "concurrency": 1, "no_consumer": 2, "busy": 3, "turn": 4,
              "delayed": 5}


def why_waiting(k: KeySnapshot, limits: dict[str, LimitSnapshot], tz: tzinfo) -> tuple[str, str]:
    """Plain words for why a key is not being delivered, and a style hint."""
    until = f" until {fmt_clock(k.waiting_until_ms, tz)}" if k.waiting_until_ms else ""
    on = k.waiting_on
    if k.waiting == "throttled":
        return f"throttled: {on or '?'}{until}", "warn"
    if k.waiting == "concurrency":
        lim = limits.get(on)
        cap = f" {lim.in_flight}/{lim.cap}" if lim is not None and lim.has_cap else ""
        return f"at cap: concurrency.{on}{cap}", "warn"
    if k.waiting == "no_consumer":
        return "no consumer", "alert"
    if k.waiting == "busy":
        return "consumers busy (prefetch full)", ""
    if k.waiting == "turn":
        return "backlogged, waiting its turn", ""
    if k.waiting == "delayed":
        return f"delayed{until}", "muted"
    if k.waiting == "idle" or (k.pending == 0 and k.in_flight == 0):
        return "idle", "muted"
    if k.pending == 0:
        return "all in flight", ""
    return "flowing" if k.deliver_rate > 0 else "ready", ""


def _sort_key(mode: str) -> object:
    if mode == "rate":
        return lambda k: (-k.deliver_rate, k.key)
    if mode == "waiting":
        return lambda k: (_WAIT_RANK.get(k.waiting, 9), -k.pending, k.key)
    if mode == "unfair":
        return lambda k: (-abs(k.delivered_share - k.weight_share), k.key)
    if mode == "key":
        return lambda k: k.key
    return lambda k: (-k.pending, -k.in_flight, k.key)


def key_rows(
    q: QueueSnapshot | None,
    limits: Iterable[LimitSnapshot],
    history: History,
    tz: tzinfo,
    *,
    sort: str = "backlog",
    key_filter: str = "",
) -> list[Row]:
    if q is None:
        return []
    by_key = {lim.key: lim for lim in limits}
    needle = key_filter.lower()
    keys = [k for k in q.keys if not needle or needle in k.key.lower()]
    keys.sort(key=_sort_key(sort))  # type: ignore[arg-type]
    rows = []
    for k in keys:
        why, style = why_waiting(k, by_key, tz)
        cells = {
            "key": k.key,
            "pending": fmt_count(k.pending),
            "in_flight": fmt_count(k.in_flight),
            "weight": str(k.weight),
            "deficit": fmt_count(k.deficit),
            "dlv": fmt_rate(k.deliver_rate),
            "trend": history.key_trend(q.name, k.key),
            "share": share_bar(k.delivered_share, k.weight_share),
            "wait": fmt_duration_ms(k.wait_p95_ms),
            "why": why,
        }
        rows.append(Row(k.key, cells, style))
    return rows


def keys_title(q: QueueSnapshot | None, shown: int, sort: str, key_filter: str) -> str:
    """'orders ▸ keys (1 204 active, top 50)  quantum 1000  sort: backlog'."""
    if q is None:
        return "waiting for stats…"
    active = max(q.active_keys, len(q.keys))
    scope = f"{fmt_count(active)} active"
    if len(q.keys) < active:
        scope += f", top {fmt_count(len(q.keys))}"
    flt = f"  filter: {key_filter!r} ({shown})" if key_filter else ""
    breaker = ""
    if q.hook_breaker_open:
        why = q.hook_error
        breaker = "  HOOK BREAKER OPEN" + (f": {why[:60]}{'…' if len(why) > 60 else ''}"
                                           if why else "")
    return (
        f"{q.name} ▸ keys ({scope})  sort: {sort}{flt}{breaker}  "
        f"depth {fmt_count(q.depth)}  quantum {q.quantum}"
    )


LIMIT_COLUMNS: tuple[Column, ...] = (
    Column("key", "LIMIT KEY", 18, 0),
    Column("tokens", "TOKENS/BURST", 18, 0),
    Column("rate", "RATE/s", 7, 1),
    Column("cap", "IN-FLIGHT/CAP", 13, 0),
    Column("decisions", "HIT / PASS", 15, 2),
)


def limit_rows(limits: Iterable[LimitSnapshot], key_filter: str = "") -> list[Row]:
    needle = key_filter.lower()
    rows = []
    for lim in sorted(limits, key=lambda lim: lim.key):
        if needle and needle not in lim.key.lower():
            continue
        empty = lim.has_throttle and lim.tokens < 1
        full_cap = lim.has_cap and lim.in_flight >= lim.cap
        cells = {
            "key": lim.key,
            "tokens": gauge(lim.tokens, lim.burst) if lim.has_throttle else DASH,
            "rate": fmt_rate(lim.rate_per_second) if lim.has_throttle else DASH,
            "cap": f"{lim.in_flight} / {lim.cap}" if lim.has_cap else DASH,
            "decisions": f"{fmt_count(lim.hits)} / {fmt_count(lim.passes)}",
        }
        rows.append(Row(lim.key, cells, "warn" if empty or full_cap else ""))
    return rows


def limit_config_value(lim: LimitSnapshot | None, kind: str) -> str:
    """The config value that gives a limit key its current throttle ("rate,burst") or cap
    ("n"), from the live snapshot; "" when it has none (so Set adds one)."""
    if lim is None:
        return ""
    if kind == "throttle":
        return f"{lim.rate_per_second:g},{lim.burst:g}" if lim.has_throttle else ""
    return str(lim.cap) if lim.has_cap else ""


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class ConfigRow:
    key: str
    value: str
    live: str  # live state of the limit this entry controls, or ""
    style: str = ""


def limit_for_config_key(key: str) -> tuple[str, str] | None:
    """'throttle.provider:x' -> ('throttle', 'provider:x'); other keys -> None."""
    for kind in ("throttle", "concurrency"):
        prefix = kind + "."
        if key.startswith(prefix) and len(key) > len(prefix):
            return kind, key[len(prefix) :]
    return None


def config_rows(
    entries: Iterable[tuple[str, str]],
    limits: Iterable[LimitSnapshot],
    key_filter: str = "",
) -> list[ConfigRow]:
    by_key = {lim.key: lim for lim in limits}
    needle = key_filter.lower()
    rows = []
    for key, value in sorted(entries):
        if needle and needle not in key.lower() and needle not in value.lower():
            continue
        live, style = "", ""
        target = limit_for_config_key(key)
        if target is not None:
            kind, limit_key = target
            lim = by_key.get(limit_key)
            if lim is None:
                live = "no traffic yet"
                style = "muted"
            elif kind == "throttle" and lim.has_throttle:
                live = (
                    f"{gauge(lim.tokens, lim.burst)} @ {fmt_rate(lim.rate_per_second)}/s  "
                    f"hits {fmt_count(lim.hits)}"
                )
                style = "warn" if lim.tokens < 1 else ""
            elif kind == "concurrency" and lim.has_cap:
                live = f"in flight {lim.in_flight} / {lim.cap}"
                style = "warn" if lim.in_flight >= lim.cap else ""
        rows.append(ConfigRow(key, value, live, style))
    return rows


# --------------------------------------------------------------------------- hooks

_LINE_RE = re.compile(r"(?::|line )(\d+)(?::|\b)")


def error_line(error: str) -> int | None:
    """The script line a Lua error points at ('[string "…"]:3: …' -> 3), if any."""
    match = _LINE_RE.search(error)
    return int(match.group(1)) if match else None


def parse_sample_headers(text: str) -> tuple[dict[str, str], list[str]]:
    """'k=v' per line (blank lines and '#' comments skipped); problems listed by line."""
    headers: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            problems.append(f"line {number}: expected key=value, got {line!r}")
            continue
        headers[key.strip()] = value.strip()
    return headers, problems


def hook_result_rows(hook: str, result: HookResult) -> list[tuple[str, str]]:
    """The table the hook returned, as (field, value) pairs in a fixed order."""
    if hook == "on_failure":
        rows = [
            ("action", result.action or "retry"),
            ("delay_ms", str(result.delay_ms)),
        ]
    else:
        rows = [
            ("fairness_key", result.fairness_key or "default"),
            ("weight", str(result.weight)),
            ("throttle_keys", ", ".join(result.throttle_keys) or DASH),
            ("delay_ms", str(result.delay_ms)),
        ]
    if result.raw:
        rows.append(("raw", result.raw))
    return rows


def script_diff(running: str, edited: str) -> list[str]:
    """Unified diff lines (no trailing newlines) of the running script vs the edit."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            running.splitlines(),
            edited.splitlines(),
            fromfile="running",
            tofile="edited",
            lineterm="",
        )
    ]


# --------------------------------------------------------------------------- DLQ

MESSAGE_COLUMNS: tuple[Column, ...] = (
    Column("id", "ID", 13, 0),
    Column("key", "KEY", 14, 0),
    Column("attempts", "TRIES", 5, 1),
    Column("age", "AGE", 7, 2),
    Column("error", "LAST ERROR", 24, 0),
)


def _age(then_ms: int, now_ms: int | None) -> str:
    if not then_ms or now_ms is None:
        return DASH
    return fmt_duration_ms(max(0, now_ms - then_ms)).replace(" ms", "ms")


def message_rows(messages: Iterable[ListedMessage], now_ms: int | None) -> list[Row]:
    """DLQ list rows; ``now_ms`` is the newest snapshot's time (no clock in the TUI)."""
    rows = []
    for listed in messages:
        m = listed.message
        cells = {
            "id": m.id[-12:] if len(m.id) > 12 else m.id,
            "key": m.fairness_key,
            "attempts": str(m.attempt_count),
            "age": _age(m.enqueued_at_ms, now_ms),
            "error": m.last_error.splitlines()[0] if m.last_error else DASH,
        }
        rows.append(Row(m.id, cells, "muted" if listed.state == "leased" else ""))
    return rows


def _is_text(payload: bytes) -> bool:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(ch.isprintable() or ch in "\n\r\t" for ch in text)


def message_detail(
    listed: ListedMessage, tz: tzinfo, *, as_hex: bool = False, max_bytes: int = 4096
) -> str:
    """The message pane: ids, headers, attempts, last error and the payload."""
    m = listed.message
    lines = [
        f"id        {m.id}",
        f"queue     {m.queue}   state {listed.state}",
        f"key       {m.fairness_key}   weight {m.weight}",
        f"attempts  {m.attempt_count}",
    ]
    if m.throttle_keys:
        lines.append(f"throttle  {', '.join(m.throttle_keys)}")
    if m.enqueued_at_ms:
        lines.append(f"enqueued  {fmt_clock(m.enqueued_at_ms, tz)}")
    lines.append("headers")
    lines.extend(f"  {k} = {v}" for k, v in sorted(m.headers.items()))
    if not m.headers:
        lines.append(f"  {DASH}")
    lines.append("last error")
    lines.extend(f"  {ln}" for ln in (m.last_error or DASH).splitlines())
    body = m.payload[:max_bytes]
    more = f" (first {fmt_count(max_bytes)} shown)" if len(m.payload) > max_bytes else ""
    if as_hex or not _is_text(body):
        lines.append(f"payload   {fmt_count(len(m.payload))} bytes, hex{more}")
        lines.append(hex_dump(body))
    else:
        lines.append(f"payload   {fmt_count(len(m.payload))} bytes, text{more}")
        lines.append(body.decode("utf-8"))
    return "\n".join(lines)
