"""Home: every queue with depth, rates, wait p95 and a deliver-rate trend."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.tui.backend import Backend
from fila.tui.messages import OpenCharts, OpenConfig, OpenDlq, OpenQueue
from fila.tui.screens.base import LiveScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import OVERVIEW_COLUMNS, overview_rows
from fila.tui.widgets.filter import FilterInput
from fila.tui.widgets.table import RowTable

__all__ = ["OverviewScreen"]


class OverviewScreen(LiveScreen):
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("d", "dlq", "DLQ"),
        Binding("g", "graphs", "Graphs"),
        Binding("c", "config", "Config"),
        Binding("slash", "filter", "Filter", key_display="/"),
    ]

    def __init__(self, backend: Backend, live: LiveState, settings: Settings) -> None:
        super().__init__(backend, live, settings)
        self.name_filter = ""

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Queues", id="title", classes="title", markup=False)
        yield RowTable(OVERVIEW_COLUMNS, id="queues")
        yield FilterInput("filter queues…", id="filter")

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()

    @property
    def table(self) -> RowTable:
        return self.query_one("#queues", RowTable)

    def live_changed(self, live: LiveState) -> None:
        rows = overview_rows(live.snapshot, live.history, self.name_filter)
        self.table.set_rows(rows)
        title = "Queues" if live.snapshot is not None else "Queues (waiting for the server…)"
        if live.snapshot is not None and not rows:
            title = "Queues — none yet (create one: fila queue create NAME)"
            if self.name_filter:
                title = f"Queues — nothing matches {self.name_filter!r}"
        elif self.name_filter:
            title += f"  filter: {self.name_filter!r}"
        self.query_one("#title", Static).update(title)

    def on_filter_input_filter_changed(self, event: FilterInput.FilterChanged) -> None:
        self.name_filter = event.value
        self.live_changed(self.live)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenQueue(event.row_key.value))

    def action_open(self) -> None:
        key = self.table.current_key
        if key is not None:
            self.post_message(OpenQueue(key))

    def action_dlq(self) -> None:
        key = self.table.current_key
        if key is None:
            return
        live = self.live.queue(key)
        if key.endswith(".dlq"):
            self.post_message(OpenDlq(key))
        else:
            dlq = (live.dead_letter_queue if live else "") or f"{key}.dlq"
            self.post_message(OpenDlq(dlq))

    def action_graphs(self) -> None:
        key = self.table.current_key
        if key is not None:
            self.post_message(OpenCharts(key))

    def action_config(self) -> None:
        self.post_message(OpenConfig())

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()
