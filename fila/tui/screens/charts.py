"""Time charts of one queue or one fairness key: rates, depth, wait p95, throttle hits.

On open the screen asks the server for its history (GetStatsHistory, a thread worker),
so the charts show the last 15 minutes at once; then, with each live snapshot, it asks
for the newest seconds. A server without the RPC still gets charts, from the live
snapshots since the screen opened, and one line says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from textual import work
from textual.binding import Binding
from textual.containers import Grid
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.chartmodel import WINDOWS, ChartData, Panel, chart_title, panels
from fila.tui.screens.base import LiveScreen
from fila.tui.state import LiveState, Settings
from fila.types import StatsHistory, StatsSnapshot

__all__ = ["ChartScreen"]

# Line colours (RGB) by legend label, one set per theme so both stay readable.
_COLOURS = {
    True: {"enqueue": (90, 170, 255), "deliver": (80, 210, 120), "ack": (230, 190, 70),
           "nack": (255, 105, 105)},
    False: {"enqueue": (20, 90, 200), "deliver": (20, 130, 50), "ack": (160, 110, 0),
            "nack": (200, 30, 30)},
}
# Seconds asked for on each live tick: enough to cover a missed tick or two.
_CATCH_UP_S = 5


class ChartScreen(LiveScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("w", "window", "Window"),
    ]

    def __init__(self, backend: Backend, live: LiveState, settings: Settings, queue: str,
                 key: str = "") -> None:
        super().__init__(backend, live, settings)
        self.queue = queue
        self.key = key
        self.window = WINDOWS[0]
        self.data = ChartData(queue, key)
        # "loading" until the first answer; then "history" (the server's samples, refreshed
        # each tick) or "live" (the live snapshots: no RPC, or a key the server does not track).
        self.source = "loading"
        self.note = "loading the server's history…"
        self._fetching = False

    def compose_body(self) -> Iterable[Widget]:
        yield Static(chart_title(self.data, self.window), id="title", classes="title",
                     markup=False)
        yield Static(self.note, id="note", markup=False)
        with Grid(id="charts"):
            for i in range(4):
                yield PlotextPlot(id=f"chart-{i}")

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._draw())
        self._fetch(0)

    # ---- data ----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="history")
    def _fetch(self, seconds: int) -> None:
        try:
            history = self.backend.stats_history(self.queue, fairness_key=self.key,
                                                 seconds=seconds)
        except FilaError as exc:
            self.app.call_from_thread(self._failed, exc)
            return
        self.app.call_from_thread(self._arrived, history)

    def _arrived(self, history: StatsHistory) -> None:
        self._fetching = False
        got = self.data.merge_history(history)
        self.source = "history"
        if self.key and not got and self.data.last_s is None:
            self._go_live(f"the server keeps history for the {history.history_top_keys} "
                          "busiest keys only; not this one yet: live from now")
        else:
            keep = history.history_seconds or 900
            self.note = f"server history ({keep // 60} min at 1 s), updating live"
        self._draw()

    def _failed(self, exc: FilaError) -> None:
        self._fetching = False
        if self.source != "loading":
            return  # a refresh failed (the banner says if the server is gone): keep what we have
        if getattr(exc, "code_name", "") == "UNIMPLEMENTED":
            self._go_live("this server keeps no history (older version): live since opened")
        else:
            self._go_live(f"history unavailable ({exc.message or type(exc).__name__}): live")
        self._draw()

    def keys_of(self) -> str | None:
        # A key's live fallback needs that queue's keys, which stream only while watched.
        return self.queue if self.key else None

    def _live_snapshot(self) -> StatsSnapshot | None:
        """The newest snapshot, this queue's entry taken with its keys when they stream."""
        snap, q = self.live.snapshot, self.live.queue(self.queue)
        return snap if snap is None or q is None else replace(snap, queues=(q,))

    def _go_live(self, note: str) -> None:
        """Chart the live snapshots from now on, starting with the one on screen."""
        self.source = "live"
        self.note = note
        snap = self._live_snapshot()
        if snap is not None:
            self.data.add_snapshot(snap)

    def live_changed(self, live: LiveState) -> None:
        snap = self._live_snapshot()
        if snap is not None and self.source == "live":
            self.data.add_snapshot(snap)
        elif snap is not None and self.source == "history" and not self._fetching:
            self._fetching = True
            self._fetch(_CATCH_UP_S)
        self._draw()

    # ---- drawing -------------------------------------------------------------

    def _draw(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#title", Static).update(chart_title(self.data, self.window))
        self.query_one("#note", Static).update(self.note)
        width = self.size.width // 2 or 40
        for i, panel in enumerate(panels(self.data, self.window, self.settings.zone, width)):
            self._plot(self.query_one(f"#chart-{i}", PlotextPlot), panel)

    def _plot(self, widget: PlotextPlot, panel: Panel) -> None:
        plt = widget.plt
        plt.clear_figure()
        plt.title(f"{panel.title} — {panel.empty}" if panel.empty else panel.title)
        colours = _COLOURS[self.app.current_theme.dark]
        for line in panel.lines:
            label = line.label if len(panel.lines) > 1 else None
            plt.plot(list(line.xs), list(line.ys), marker="braille", label=label,
                     color=colours.get(line.label, colours["enqueue"]))
        plt.xlim(-(self.window - 1), 0)
        if panel.x_ticks[0]:
            plt.xticks(list(panel.x_ticks[0]), list(panel.x_ticks[1]))
        if panel.y_ticks[0]:
            plt.yticks(list(panel.y_ticks[0]), list(panel.y_ticks[1]))
            plt.ylim(0, panel.y_ticks[0][-1])
        widget.refresh()

    def on_resize(self) -> None:
        super().on_resize()
        self._draw()

    # ---- actions -------------------------------------------------------------

    def action_back(self) -> None:
        self.dismiss()

    def action_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]
        self._draw()
