"""The hook editor's code area: Lua highlighting, the failing line marked, Esc lets go.

Highlighting comes from tree-sitter with the `tree-sitter-lua` grammar (both are
dependencies). The query below only names node types the grammar really has — a
wrong one makes tree-sitter refuse the whole query — and
``tests/tui/test_lua_widget.py`` compiles it, so a grammar upgrade that renames a
node fails a test instead of silently turning highlighting off. If the grammar
cannot load at all, the editor stays plain text, still fully usable.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.strip import Strip
from textual.widgets import TextArea

__all__ = ["HIGHLIGHTS", "LuaArea", "lua_language"]

HIGHLIGHTS = """
(comment) @comment
(string) @string
(escape_sequence) @string
(number) @number
(nil) @constant.builtin
(true) @boolean
(false) @boolean
(vararg_expression) @constant.builtin
(break_statement) @keyword
[
  "function" "end" "if" "then" "else" "elseif" "return" "local" "for" "in"
  "do" "while" "repeat" "until" "goto"
] @keyword
["and" "or" "not"] @keyword.operator
(function_declaration name: (identifier) @function)
(function_declaration name: (dot_index_expression field: (identifier) @function))
(function_call name: (identifier) @function.call)
(function_call name: (dot_index_expression field: (identifier) @function.call))
(function_call name: (method_index_expression method: (identifier) @method.call))
((identifier) @variable.builtin (#eq? @variable.builtin "fila"))
(parameters (identifier) @variable.parameter)
"""

# A red wash behind the failing line, dark or light to keep the syntax colours readable.
_ERROR_LINE = {True: Style(bgcolor="#6b1d1d"), False: Style(bgcolor="#f6c9c9")}
_THEMES = {True: "monokai", False: "github_light"}


def lua_language() -> object | None:
    """The tree-sitter Lua language, or None when the grammar cannot load here."""
    try:
        import tree_sitter
        import tree_sitter_lua

        return tree_sitter.Language(tree_sitter_lua.language())
    except Exception:  # a broken wheel must not take the TUI down: plain text instead
        return None


class LuaArea(TextArea):
    """A Lua TextArea: highlighted, themed like the app, with the failing line marked.

    Esc gives the keyboard back to the screen (so its one-letter keys work) instead of
    being swallowed by the editor.
    """

    def __init__(self, text: str = "", **kwargs: object) -> None:
        super().__init__(text, **kwargs)  # type: ignore[arg-type]
        self.error_row: int | None = None  # 0-based document row of the last test error
        self.highlighted = False

    def on_mount(self) -> None:
        language = lua_language()
        if language is not None:
            try:
                self.register_language("lua", language, HIGHLIGHTS)  # type: ignore[arg-type]
                self.language = "lua"
                self.highlighted = True
            except Exception:  # the query no longer matches the grammar: plain text
                self.language = None
        self.watch(self.app, "theme", self._follow_theme)

    def _follow_theme(self, _theme: str) -> None:
        self.theme = _THEMES[self.app.current_theme.dark]

    def mark_error(self, line: int | None) -> None:
        """Mark 1-based ``line`` as the one the last test failed on (None: clear)."""
        self.error_row = None if line is None else max(0, line - 1)
        self.refresh()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        # The mark belongs to the text that was tested; once edited it may point elsewhere.
        if self.error_row is not None:
            self.mark_error(None)

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        row = self.error_row
        if row is None or self.soft_wrap or self.scroll_offset.y + y != row:
            return strip
        if row >= self.document.line_count:
            return strip
        wash = _ERROR_LINE[self.app.current_theme.dark]
        return Strip(Segment.apply_style(iter(strip), post_style=wash), strip.cell_length)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "escape":
            event.stop()
            event.prevent_default()
            self.screen.set_focus(None)
            return
        await super()._on_key(event)
