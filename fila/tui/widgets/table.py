"""A DataTable fed with view-model rows: drops columns by priority, keeps the cursor.

The stream refreshes tables every second, so this widget updates cells in place
when the set of rows is unchanged (no flicker, no cursor jump) and rebuilds
only when rows come or go, putting the cursor back on the same row key.

Cells are rendered lazily. Each row has one :class:`_Slot` holding its current view-model
row, and the table's cells read from it when drawn, so a refresh of 2,000 rows is 2,000
assignments and only the rows on screen turn into text. Building text for every cell of
every row each second was most of the TUI's frame time at 1,000 queues.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
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


class _Slot:
    """The current view-model row of one table row; its line renders from it."""

    __slots__ = ("row",)

    def __init__(self, row: Row) -> None:
        self.row = row


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    """Cells laid out as DataTable would lay out one cell per column: each cropped or
    padded to its width, two spaces apart (one cell of padding either side); the last
    one as wide as it is."""
    parts = [v[:w].ljust(w) for v, w in zip(values[:-1], widths, strict=False)]
    return "  ".join([*parts, values[-1]]) if values else ""


class _RowLine:
    """A whole table row as one cell, drawn from its slot when it is on screen.

    DataTable renders every cell through Rich's padding pipeline; one cell per row
    instead of one per column is a ninth of that work for the overview's nine columns.
    """

    __slots__ = ("slot", "table")

    def __init__(self, slot: _Slot, table: RowTable) -> None:
        self.slot = slot
        self.table = table

    def __str__(self) -> str:
        cells = self.slot.row.cells
        shown = self.table.shown_columns_view
        return _line([cells.get(c.key, "") for c in shown], [c.width for c in shown])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(str(self), style=ROW_STYLES.get(self.slot.row.style, ""), no_wrap=True)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = cell_len(str(self))
        return Measurement(width, width)


class RowTable(DataTable[_RowLine]):
    """Row-cursor table whose columns and rows come from ``fila.tui.viewmodel``."""

    def __init__(self, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._all_columns = tuple(columns)
        self._shown: list[Column] = []
        self._rows: list[Row] = []
        self._slots: dict[str, _Slot] = {}

    @property
    def shown_columns(self) -> list[Column]:
        return list(self._shown)

    @property
    def shown_columns_view(self) -> Sequence[Column]:
        """The shown columns without a copy (read for every row drawn)."""
        return self._shown

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
        # One column whose label is every shown column's label, laid out like the rows.
        header = _line([c.label for c in wanted], [c.width for c in wanted])
        self.add_column(header, key="row")
        self._rebuild(self._rows)

    def set_rows(self, rows: Sequence[Row]) -> None:
        rows = list(rows)
        if not self._shown:
            self._rows = rows
            return
        if [r.key for r in rows] == [r.key for r in self._rows]:
            self._update_in_place(rows)
            return
        self._rebuild(rows)

    def _update_in_place(self, rows: list[Row]) -> None:
        """Point each changed row's slot at its new row, then repaint once.

        One bump of the table's update counter invalidates its render caches the way
        ``update_cell`` does for a single cell (which also repaints per cell: 18,000
        refreshes a frame at 2,000 rows). Textual is pinned (<8.3) and the tests read what
        is drawn, so a change in that private counter fails a test rather than going stale.
        """
        changed = False
        slots = self._slots
        for old, new in zip(self._rows, rows, strict=True):
            if old != new:
                slots[new.key].row = new
                changed = True
        self._rows = rows
        if changed:
            self._update_count += 1
            self.refresh()

    def _rebuild(self, rows: list[Row]) -> None:
        keep = self.current_key
        self._rows = rows
        self.clear()
        self._slots = {}
        for row in rows:
            slot = self._slots[row.key] = _Slot(row)
            self.add_row(_RowLine(slot, self), key=row.key)
        if keep is not None and keep in self.row_keys:
            self.move_cursor(row=self.row_keys.index(keep), animate=False)
