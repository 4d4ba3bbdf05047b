"""Scrollbars drawn in whole cells.

Textual draws the ends of a scrollbar thumb with eighth-block glyphs (``▁▂▃▆``) for
smooth positions. In a table whose rows carry sparklines, and in a dialog whose track
is the dialog's own colour, a thumb end reads as a stray sparkline glyph. Whole-cell
thumbs cannot be mistaken for data.
"""

from __future__ import annotations

from typing import ClassVar

from textual.scrollbar import ScrollBar, ScrollBarRender

__all__ = ["WholeCellScrollBarRender", "install"]


class WholeCellScrollBarRender(ScrollBarRender):
    # A blank end glyph means "no partial cell": the thumb covers whole cells only.
    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


def install() -> None:
    """Use whole-cell scrollbars for every widget (a class-wide Textual setting)."""
    ScrollBar.renderer = WholeCellScrollBarRender
