"""RowTable: in-place updates reach what is drawn, and a rebuild keeps the cursor's row."""

from __future__ import annotations

from textual.app import App, ComposeResult

from fila.tui.viewmodel import Column, Row
from fila.tui.widgets.table import RowTable

from .conftest import wait_until

COLUMNS = (Column("name", "NAME", 10, 0), Column("depth", "DEPTH", 8, 0))


def rows(depths: dict[str, int]) -> list[Row]:
    return [Row(k, {"name": k, "depth": str(v)}) for k, v in depths.items()]


class _Table(App[None]):
    def compose(self) -> ComposeResult:
        yield RowTable(COLUMNS, id="t")


async def test_in_place_update_changes_the_drawn_cells() -> None:
    app = _Table()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows({"alpha": 1, "beta": 2}))
        await pilot.pause()
        table.move_cursor(row=1)
        table.set_rows(rows({"alpha": 1, "beta": 777}))  # same keys: the in-place path
        await pilot.pause()
        assert [str(c).split() for c in table.get_row("beta")] == [["beta", "777"]]
        assert "777" in app.export_screenshot()
        assert table.current_key == "beta"  # no rebuild, no cursor jump


async def test_rebuild_when_rows_change_keeps_the_cursor_row() -> None:
    app = _Table()
    async with app.run_test(size=(40, 10)) as pilot:
        table = app.query_one(RowTable)
        table.set_rows(rows({"alpha": 1, "beta": 2, "gamma": 3}))
        await pilot.pause()
        table.move_cursor(row=2)
        table.set_rows(rows({"aardvark": 0, "alpha": 1, "gamma": 4}))
        await wait_until(pilot, lambda: table.current_key == "gamma")
        assert "aardvark" in app.export_screenshot()
