"""A DataTable fed with view-model rows: drops columns by priority, keeps the cursor.

The stream refreshes tables every second, so this widget updates cells in place
when the set of rows is unchanged (no flicker, no cursor jump) and rebuilds
only when rows come or go, putting the cursor back on the same row key.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.widgets import DataTable

from fila.tui.viewmodel import Column, Row, fit_columns

__all__ = ["ROW_STYLES", "RowTable"]

# Style hints from the view model -> Rich styles readable in dark and light themes.
ROW_STYLES = {
    "": "",
    "alert": "bold red",
    "warn": "bold dark_orange",
    "muted": "dim",
}


class RowTable(DataTable[Text]):
    """Row-cursor table whose columns and rows come from ``fila.tui.viewmodel``."""

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._all_columns = tuple(columns)
        self._shown: list[Column] = []
        self._rows: list[Row] = []

    @property
    def shown_columns(self) -> list[Column]:
        return list(self._shown)

    @property
    def row_keys(self) -> list[str]:
        return [r.key for r in self._rows]

    @property
    def current_key(self) -> str | None:
        """Key of the row under the cursor, if any."""
        if not self._rows or not 0 <= self.cursor_row < len(self._rows):
            return None
        return self._rows[self.cursor_row].key

    def row_cells(self, key: str) -> dict[str, str] | None:
        for row in self._rows:
            if row.key == key:
                return row.cells
        return None

    def on_mount(self) -> None:
        self._fit(self.size.width or 80)

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width)

    def _fit(self, width: int) -> None:
        wanted = fit_columns(self._all_columns, max(20, width - 2), grow=16)
        if wanted == self._shown:
            return
        self._shown = wanted
        self.clear(columns=True)
        for i, col in enumerate(wanted):
            last = i == len(wanted) - 1
            self.add_column(col.label, key=col.key, width=None if last else col.width)
        self._rebuild(self._rows)

    def _cells(self, row: Row) -> list[Text]:
        style = ROW_STYLES.get(row.style, "")
        return [Text(row.cells.get(c.key, ""), style=style, no_wrap=True) for c in self._shown]

    def set_rows(self, rows: Sequence[Row]) -> None:
        rows = list(rows)
        if not self._shown:
            self._rows = rows
            return
        if [r.key for r in rows] == [r.key for r in self._rows]:
            for old, new in zip(self._rows, rows, strict=True):
                if old == new:
                    continue
                for col, cell in zip(self._shown, self._cells(new), strict=True):
                    self.update_cell(old.key, col.key, cell)
            self._rows = rows
            return
        self._rebuild(rows)

    def _rebuild(self, rows: list[Row]) -> None:
        keep = self.current_key
        self._rows = rows
        self.clear()
        for row in rows:
            self.add_row(*self._cells(row), key=row.key)
        if keep is not None and keep in self.row_keys:
            self.move_cursor(row=self.row_keys.index(keep), animate=False)
