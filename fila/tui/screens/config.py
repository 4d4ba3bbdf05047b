"""Runtime config: filter, add, edit, delete; limits show their live state."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import Column, Row, config_rows
from fila.tui.widgets.filter import FilterInput
from fila.tui.widgets.table import RowTable

__all__ = ["CONFIG_COLUMNS", "ConfigScreen"]

CONFIG_COLUMNS = (
    Column("key", "KEY", 26, 0),
    Column("value", "VALUE", 12, 0),
    Column("live", "LIVE STATE", 30, 1),
)


class ConfigScreen(LiveScreen):
    WRITE_ACTIONS = frozenset({"add", "edit", "delete"})
    NEEDS = {action: ("admin", None) for action in WRITE_ACTIONS}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("n", "add", "Add"),
        Binding("e", "edit", "Edit"),
        Binding("x,delete", "delete", "Delete", key_display="x"),
        Binding("r", "reload", "Reload", show=False),
    ]

    def __init__(
        self, backend: Backend, live: LiveState, settings: Settings, key_filter: str = ""
    ) -> None:
        super().__init__(backend, live, settings)
        self.key_filter = key_filter
        self.entries: list[tuple[str, str]] | None = None

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Runtime config", id="title", classes="title", markup=False)
        yield RowTable(CONFIG_COLUMNS, id="config")
        yield FilterInput("filter keys or values…", id="filter")

    def on_mount(self) -> None:
        if self.key_filter:
            self.query_one(FilterInput).value = self.key_filter
            self.query_one(FilterInput).display = True
        self.query_one(RowTable).focus()
        self.action_reload()

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    def live_changed(self, live: LiveState) -> None:
        if self.entries is None:
            self.query_one("#title", Static).update("Runtime config — loading…")
            return
        limits = live.snapshot.limits if live.snapshot else ()
        rows = config_rows(self.entries, limits, self.key_filter)
        self.table.set_rows(
            [Row(r.key, {"key": r.key, "value": r.value, "live": r.live}, r.style) for r in rows]
        )
        title = f"Runtime config ({len(rows)} of {len(self.entries)})"
        if not self.entries:
            title = "Runtime config — empty (n adds an entry, e.g. throttle.<key> = 10,20)"
        if self.key_filter:
            title += f"  filter: {self.key_filter!r}"
        self.query_one("#title", Static).update(title)

    @work(thread=True, exclusive=True, group="config-load")
    def action_reload(self) -> None:
        try:
            entries = self.backend.list_config("")
        except FilaError as exc:
            self.app.call_from_thread(self.notify, f"config: {exc.message}", severity="error")
            return
        self.app.call_from_thread(self._loaded, entries)

    def _loaded(self, entries: list[tuple[str, str]]) -> None:
        self.entries = list(entries)
        self.refresh_live()

    def on_filter_input_filter_changed(self, event: FilterInput.FilterChanged) -> None:
        self.key_filter = event.value
        self.refresh_live()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_edit()

    def _after_write(self, changed: bool | None) -> None:
        if changed:
            self.notify("Config saved")
            self.action_reload()

    def action_add(self) -> None:
        self.app.push_screen(EditConfigScreen(self.backend), self._after_write)

    def action_edit(self) -> None:
        if self.settings.read_only:
            return
        key = self.table.current_key
        cells = self.table.row_cells(key) if key else None
        if key is None or cells is None:
            return
        self.app.push_screen(EditConfigScreen(self.backend, key, cells["value"]), self._after_write)

    def action_delete(self) -> None:
        key = self.table.current_key
        cells = self.table.row_cells(key) if key else None
        if key is None or cells is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(key)

        self.app.push_screen(
            ConfirmScreen(f'Delete config "{key}" (now "{cells["value"]}")?', yes="Delete"),
            answered,
        )

    @work(thread=True, group="config-delete")
    def _delete(self, key: str) -> None:
        try:
            self.backend.set_config(key, "")
        except FilaError as exc:
            self.app.call_from_thread(self.notify, f"not deleted: {exc.message}", severity="error")
            return
        self.app.call_from_thread(self._after_write, True)

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def action_back(self) -> None:
        self.dismiss()
