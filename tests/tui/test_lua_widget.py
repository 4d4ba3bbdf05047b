"""The hook editor's Lua area: the grammar takes our query, and the error mark paints its row."""

from __future__ import annotations

import tree_sitter
from textual.app import App, ComposeResult

from fila.tui.widgets.lua import HIGHLIGHTS, LuaArea, lua_language

from .conftest import wait_until

SCRIPT = 'function on_enqueue(msg)\n  -- who\n  return { fairness_key = "t" }\nend\n'


def test_the_highlight_query_compiles_against_the_installed_grammar() -> None:
    language = lua_language()
    assert isinstance(language, tree_sitter.Language)
    # tree-sitter rejects a whole query over one unknown node type; this catches it.
    query = tree_sitter.Query(language, HIGHLIGHTS)
    assert query.capture_count >= 8


class _Editor(App[None]):
    def compose(self) -> ComposeResult:
        yield LuaArea(SCRIPT, id="script", soft_wrap=False)


def _row_bgs(area: LuaArea, row: int) -> set[str]:
    strip = area.render_line(row - area.scroll_offset.y)
    return {str(seg.style.bgcolor.name) for seg in strip if seg.style and seg.style.bgcolor}


async def test_highlights_keywords_and_marks_then_clears_the_error_row() -> None:
    app = _Editor()
    async with app.run_test(size=(60, 10)) as pilot:
        area = app.query_one(LuaArea)
        assert area.highlighted and area.language == "lua"
        kinds = {name for spans in area._highlights.values() for *_, name in spans}
        assert {"keyword", "comment", "string", "function"} <= kinds

        area.mark_error(3)  # 1-based: the `return` line
        await pilot.pause()
        assert area.error_row == 2
        assert "#6b1d1d" in _row_bgs(area, 2)
        assert "#6b1d1d" not in _row_bgs(area, 1)

        area.insert("  ")  # an edit: the mark may no longer point at the right line
        await wait_until(pilot, lambda: area.error_row is None)
        assert "#6b1d1d" not in _row_bgs(area, 2)


async def test_editor_theme_follows_the_app_theme() -> None:
    app = _Editor()
    async with app.run_test(size=(60, 10)) as pilot:
        area = app.query_one(LuaArea)
        app.theme = "textual-light"
        await wait_until(pilot, lambda: area.theme == "github_light")
        app.theme = "textual-dark"
        await wait_until(pilot, lambda: area.theme == "monokai")
