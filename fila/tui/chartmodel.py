"""Time charts of a queue or a fairness key: samples by second -> what a chart draws.

Pure (no Textual, no plotting library): the chart screen hands these panels to
the plot widget as they are. Samples come from the server's history
(GetStatsHistory, one per second, kept 15 minutes by default) and, from a
server without it, from the live WatchStats snapshots the app already streams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from fila.types import KeyHistory, StatsHistory, StatsSnapshot

__all__ = [
    "KEY_PANELS",
    "QUEUE_PANELS",
    "WINDOWS",
    "ChartData",
    "Line",
    "Panel",
    "PanelSpec",
    "chart_title",
    "panels",
    "time_ticks",
    "value_ticks",
]

# Windows the screen cycles through (seconds); the server keeps 900 by default.
WINDOWS = (900, 300, 60)


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str  # with its unit: every chart says what its y axis counts
    series: tuple[tuple[str, str], ...]  # (legend label, sample field)


QUEUE_PANELS = (
    PanelSpec("Rates (msg/s)", (("enqueue", "enqueue_rate"), ("deliver", "deliver_rate"),
                                ("ack", "ack_rate"), ("nack", "nack_rate"))),
    PanelSpec("Depth (messages)", (("depth", "depth"),)),
    PanelSpec("Wait p95 (ms)", (("wait p95", "wait_p95_ms"),)),
    PanelSpec("Throttle hits (/s)", (("hits", "throttle_hit_rate"),)),
)
KEY_PANELS = (
    PanelSpec("Deliver rate (msg/s)", (("deliver", "deliver_rate"),)),
    PanelSpec("Pending (messages)", (("pending", "pending"),)),
    PanelSpec("Wait p95 (ms)", (("wait p95", "wait_p95_ms"),)),
    PanelSpec("Throttle hits (/s)", (("hits", "throttle_hit_rate"),)),
)
_QUEUE_FIELDS = ("enqueue_rate", "deliver_rate", "ack_rate", "nack_rate", "depth",
                 "wait_p95_ms", "throttle_hit_rate")
_KEY_FIELDS = ("deliver_rate", "pending", "wait_p95_ms", "throttle_hit_rate")


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    xs: tuple[int, ...]  # seconds relative to the newest sample (<= 0)
    ys: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    lines: tuple[Line, ...]
    x_ticks: tuple[tuple[int, ...], tuple[str, ...]]
    y_ticks: tuple[tuple[float, ...], tuple[str, ...]]
    empty: str = ""  # why there is nothing to draw, else ""


class ChartData:
    """Samples of one queue (``key`` "") or one key, by wall-clock second, bounded."""

    def __init__(self, queue: str, key: str = "", capacity: int = max(WINDOWS)) -> None:
        self.queue = queue
        self.key = key
        self.capacity = capacity
        self.samples: dict[int, dict[str, float]] = {}

    @property
    def fields(self) -> tuple[str, ...]:
        return _KEY_FIELDS if self.key else _QUEUE_FIELDS

    @property
    def last_s(self) -> int | None:
        return max(self.samples) if self.samples else None

    def put(self, second: int, values: Mapping[str, float]) -> None:
        self.samples.setdefault(second, {}).update(values)
        if len(self.samples) > self.capacity:
            newest = max(self.samples)
            for s in [s for s in self.samples if s <= newest - self.capacity]:
                del self.samples[s]

    def merge_history(self, history: StatsHistory) -> bool:
        """Take the server's samples (newer ones replace older copies); False if none."""
        source: StatsHistory | KeyHistory | None = history
        start_ms = history.start_ms
        if self.key:
            source = next((k for k in history.keys if k.key == self.key), None)
            start_ms = source.start_ms if source is not None else 0
        if source is None or not start_ms:
            return False
        columns = {f: getattr(source, f) for f in self.fields}
        n = min(len(c) for c in columns.values())
        first = start_ms // 1000
        for i in range(n):
            self.put(first + i, {f: c[i] for f, c in columns.items()})
        return n > 0

    def add_snapshot(self, snap: StatsSnapshot) -> None:
        """One live WatchStats snapshot (no throttle hits there: that series stays empty)."""
        q = next((q for q in snap.queues if q.name == self.queue), None)
        if q is None:
            return
        second = snap.taken_at_ms // 1000
        if not self.key:
            self.put(second, {"enqueue_rate": q.enqueue_rate, "deliver_rate": q.deliver_rate,
                              "ack_rate": q.ack_rate, "nack_rate": q.nack_rate,
                              "depth": float(q.depth), "wait_p95_ms": q.wait_p95_ms})
            return
        k = next((k for k in q.keys if k.key == self.key), None)
        if k is not None:
            self.put(second, {"deliver_rate": k.deliver_rate, "pending": float(k.pending),
                              "wait_p95_ms": k.wait_p95_ms})


def _nice_step(span: float, most: int) -> float:
    """The smallest 1/2/5 x 10^n step that cuts ``span`` into at most ``most`` parts."""
    if span <= 0:
        return 1.0
    raw = span / max(1, most)
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * base >= raw:
            return float(m * base)
    return float(10 * base)  # pragma: no cover - the loop always returns


def _short(v: float) -> str:
    """Axis numbers: 0, 2.5, 480, 1.2k, 12k, 3.4M (a y axis is narrow)."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def value_ticks(top: float, most: int = 4) -> tuple[tuple[float, ...], tuple[str, ...]]:
    """Y ticks from 0 to just over ``top``: at most ``most`` + 1 round values."""
    if not math.isfinite(top) or top <= 0:
        return (0.0, 1.0), ("0", "1")
    step = _nice_step(top, most)
    count = math.ceil(top / step - 1e-9)
    values = tuple(i * step for i in range(count + 1))
    return values, tuple(_short(v) for v in values)


_TIME_STEPS = (5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)


def time_ticks(last_s: int, window: int, zone: tzinfo, width: int
               ) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """X ticks at round wall-clock times (positions relative to ``last_s``), as many as
    fit ``width`` cells; HH:MM, or HH:MM:SS when the steps are under a minute."""
    first = last_s - window + 1
    for step in _TIME_STEPS:
        label_w = 8 if step >= 60 else 10  # the label and some air around it
        if window / step * label_w <= max(1, width - 8):
            break
    positions = [s for s in range(first + (-first) % step, last_s + 1, step)]
    form = "%H:%M" if step >= 60 else "%H:%M:%S"
    labels = [datetime.fromtimestamp(s, zone).strftime(form) for s in positions]
    return tuple(s - last_s for s in positions), tuple(labels)


def panels(data: ChartData, window: int, zone: tzinfo, width: int,
           specs: Sequence[PanelSpec] | None = None) -> list[Panel]:
    """Each chart of ``data``'s last ``window`` seconds, ready to draw ``width`` cells wide."""
    specs = specs if specs is not None else (KEY_PANELS if data.key else QUEUE_PANELS)
    last = data.last_s
    out: list[Panel] = []
    for spec in specs:
        if last is None:
            out.append(Panel(spec.title, (), ((), ()), ((), ()), "no samples yet"))
            continue
        seconds = sorted(s for s in data.samples if s > last - window)
        lines: list[Line] = []
        top = 0.0
        for label, name in spec.series:
            points = [(s - last, data.samples[s][name]) for s in seconds
                      if name in data.samples[s]]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            top = max(top, *ys)
            lines.append(Line(label, tuple(xs), tuple(float(y) for y in ys)))
        empty = "" if lines else "not in the live stats: needs the server's history"
        out.append(Panel(spec.title, tuple(lines), time_ticks(last, window, zone, width),
                         value_ticks(top), empty))
    return out


def chart_title(data: ChartData, window: int) -> str:
    what = f"{data.queue} · key {data.key}" if data.key else data.queue
    span = f"{window // 60} min" if window >= 60 else f"{window} s"
    return f"{what} — last {span}"
