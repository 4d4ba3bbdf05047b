"""Cluster mode: the live nodes, each queue's owner and how far the connected node lags.

``GetClusterStatus`` is a unary call, not a stream: the screen asks again every refresh
interval while it is on screen (paused while another screen covers it).
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.clustermodel import CLUSTER_COLUMNS, cluster_view
from fila.tui.messages import OpenQueue
from fila.tui.screens.base import LiveScreen
from fila.tui.state import LiveState, Settings
from fila.tui.widgets.table import RowTable
from fila.types import ClusterStatus

__all__ = ["ClusterScreen"]

# At most this often, whatever --interval-ms says: each refresh is an RPC.
MIN_REFRESH_S = 1.0


class ClusterScreen(LiveScreen):
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open", "Open queue"),
        Binding("r", "reload", "Refresh"),
    ]

    def __init__(self, backend: Backend, live: LiveState, settings: Settings) -> None:
        super().__init__(backend, live, settings)
        self.status: ClusterStatus | None = None
        self.error = ""
        self._timer: Timer | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Cluster — loading…", id="title", classes="title", markup=False)
        yield Static("", id="nodes", markup=False)
        yield RowTable(CLUSTER_COLUMNS, id="cluster")

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()
        every = max(MIN_REFRESH_S, self.live.interval_ms / 1000)
        self._timer = self.set_interval(every, self.action_reload)
        self.action_reload()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.pause()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._timer is not None:
            self._timer.resume()

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    def live_changed(self, live: LiveState) -> None:
        view = cluster_view(self.status, self.error)
        self.query_one("#title", Static).update(view.title)
        nodes = self.query_one("#nodes", Static)
        nodes.update(view.nodes)
        nodes.display = bool(view.nodes)
        self.table.display = self.status is not None and self.status.enabled
        self.table.set_rows(view.rows)

    @work(thread=True, exclusive=True, group="cluster-load")
    def action_reload(self) -> None:
        try:
            status = self.backend.cluster_status()
        except FilaError as exc:
            reason = exc.message or exc.code_name
            if exc.code_name == "UNIMPLEMENTED":
                reason = "this server does not report cluster status (older than cluster mode)"
            self.app.call_from_thread(self._loaded, self.status, reason)
            return
        self.app.call_from_thread(self._loaded, status, "")

    def _loaded(self, status: ClusterStatus | None, error: str) -> None:
        self.status, self.error = status, error
        self.refresh_live()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenQueue(event.row_key.value))

    def action_open(self) -> None:
        key = self.table.current_key
        if key is not None:
            self.post_message(OpenQueue(key))

    def action_back(self) -> None:
        self.dismiss()
