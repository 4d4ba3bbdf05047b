"""Lua highlighting for the hook editor, when the environment can provide it.

Textual highlights through tree-sitter, and neither tree-sitter nor a Lua
grammar is a dependency of Fila. When both are importable we register Lua with
a small highlight query; otherwise the editor stays plain text (still fully
usable), so the TUI never fails for want of an optional package.
"""

from __future__ import annotations

from textual.widgets import TextArea

__all__ = ["enable_lua"]

_HIGHLIGHTS = """
(comment) @comment
(string) @string
(number) @number
(nil) @constant.builtin
(true) @boolean
(false) @boolean
[
  "function" "end" "if" "then" "else" "elseif" "return" "local" "for" "in"
  "do" "while" "repeat" "until" "and" "or" "not" "break"
] @keyword
"""


def enable_lua(area: TextArea) -> bool:
    """Turn on Lua highlighting for ``area`` if possible; True when it worked."""
    try:
        import tree_sitter  # type: ignore[import-not-found,unused-ignore]
        import tree_sitter_lua  # type: ignore[import-not-found,unused-ignore]

        language = tree_sitter.Language(tree_sitter_lua.language())
        area.register_language("lua", language, _HIGHLIGHTS)
        area.language = "lua"
    except Exception:  # optional nicety: any failure means plain text
        area.language = None
        return False
    return True
