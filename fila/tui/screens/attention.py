"""'a' on the overview: why queues are marked, the selected queue's reasons first."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from fila.tui.attention import ATTENTION_MARK, NOTHING, Attention, attention_lines, attention_text

__all__ = ["AttentionScreen"]


class AttentionScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,a,q", "close", "Close")]

    def __init__(
        self, items: dict[str, Attention], selected: str | None, *, wait_ms: int
    ) -> None:
        super().__init__()
        self.items = items
        self.selected = selected
        self.wait_ms = wait_ms

    def compose(self) -> ComposeResult:
        n = len(self.items)
        title = f"Attention: {n} queue{'s' if n != 1 else ''} (esc closes)"
        with Vertical(id="dialog"):
            yield Static(title, id="question", markup=False)
            with VerticalScroll(id="detail"):
                yield Static(self._grid(), id="reasons", markup=False)

    @property
    def text(self) -> str:
        """What the dialog says, as plain text."""
        return attention_text(self.items, self.selected)

    def _grid(self) -> Table | Text:
        if not self.items:
            return Text(NOTHING)
        # Two columns, so a long reason wraps under itself, not under the mark.
        grid = Table.grid(padding=(0, 1))
        grid.add_column(width=len(ATTENTION_MARK.strip()))
        grid.add_column()
        for name, reason in attention_lines(self.items, self.selected):
            if name:
                grid.add_row(Text(ATTENTION_MARK.strip(), style="bold"), Text(name, style="bold"))
            else:
                grid.add_row("", Text("• " + reason))
        return grid

    def action_close(self) -> None:
        self.dismiss(None)
