"""One queue: per fairness key who waits and why, and the limit keys."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Static

from fila.tui.backend import Backend
from fila.tui.messages import OpenCharts, OpenConfig, OpenDlq, OpenHookEditor
from fila.tui.screens.base import LiveScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import (
    KEY_COLUMNS,
    KEY_SORTS,
    LIMIT_COLUMNS,
    key_rows,
    keys_title,
    limit_rows,
)
from fila.tui.widgets.filter import FilterInput
from fila.tui.widgets.table import RowTable

__all__ = ["QueueScreen"]


class QueueScreen(LiveScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("s", "sort", "Sort"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("l", "limits", "Limits"),
        Binding("h", "hook", "Hook"),
        Binding("d", "dlq", "DLQ"),
        Binding("p", "peek", "Peek"),
        Binding("g", "graphs", "Graphs"),
        Binding("G", "key_graphs", "Key graphs"),
        Binding("c", "config", "Config", show=False),
    ]

    def needs(self, action: str) -> tuple[str, str | None] | None:
        return ("consume", self.queue) if action == "peek" else None  # reads payloads

    def __init__(self, backend: Backend, live: LiveState, settings: Settings, queue: str) -> None:
        super().__init__(backend, live, settings)
        self.queue = queue
        self.sort = KEY_SORTS[0]
        self.key_filter = ""

    def keys_of(self) -> str | None:
        return self.queue

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self.queue, id="title", classes="title", markup=False)
        yield RowTable(KEY_COLUMNS, id="keys")
        yield Static("Limit keys", id="limits-title", classes="title", markup=False)
        yield RowTable(LIMIT_COLUMNS, id="limits")
        yield FilterInput("filter keys…", id="filter")

    def on_mount(self) -> None:
        self.query_one("#keys", RowTable).focus()
        self.refresh_live()

    def live_changed(self, live: LiveState) -> None:
        q = live.queue(self.queue)
        limits = live.snapshot.limits if live.snapshot else ()
        rows = key_rows(
            q, limits, live.history, self.settings.zone, sort=self.sort, key_filter=self.key_filter
        )
        self.query_one("#keys", RowTable).set_rows(rows)
        title = keys_title(q, len(rows), self.sort, self.key_filter)
        if live.snapshot is not None and q is None:
            title = f'queue "{self.queue}" is not in the stats (deleted?)'
        self.query_one("#title", Static).update(title)
        lrows = limit_rows(limits, self.key_filter)
        self.query_one("#limits", RowTable).set_rows(lrows)
        self.query_one("#limits-title", Static).update(
            f"Limit keys ({len(lrows)})" if lrows else "Limit keys — none configured"
        )

    def on_filter_input_filter_changed(self, event: FilterInput.FilterChanged) -> None:
        self.key_filter = event.value
        self.refresh_live()

    def action_back(self) -> None:
        self.dismiss()

    def action_sort(self) -> None:
        self.sort = KEY_SORTS[(KEY_SORTS.index(self.sort) + 1) % len(KEY_SORTS)]
        self.refresh_live()

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def action_limits(self) -> None:
        keys, limits = self.query_one("#keys", RowTable), self.query_one("#limits", RowTable)
        (keys if limits.has_focus else limits).focus()

    def action_hook(self) -> None:
        self.post_message(OpenHookEditor(self.queue))

    def action_dlq(self) -> None:
        q = self.live.queue(self.queue)
        self.post_message(OpenDlq((q.dead_letter_queue if q else "") or f"{self.queue}.dlq"))

    def action_peek(self) -> None:
        """Browse this queue's own messages (ready, delayed, leased) without leasing them."""
        self.post_message(OpenDlq(self.queue))

    def action_graphs(self) -> None:
        self.post_message(OpenCharts(self.queue))

    def action_key_graphs(self) -> None:
        """Charts of the fairness key under the cursor (the keys table's row)."""
        key = self.query_one("#keys", RowTable).current_key
        if key is not None:
            self.post_message(OpenCharts(self.queue, key))

    def action_config(self) -> None:
        self.post_message(OpenConfig())
