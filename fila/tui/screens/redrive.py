"""Redrive dialog: N / one key / all, a dry-run count first, then confirm."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from fila.errors import FilaError
from fila.tui.backend import Backend

__all__ = ["RedriveScreen"]

_FIRST_DRY_RUN = "Enter runs a dry run first."


class RedriveScreen(ModalScreen[int | None]):
    """Dismisses with the number of messages moved, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, backend: Backend, dlq: str, *, fairness_key: str = "") -> None:
        super().__init__()
        self.backend = backend
        self.dlq = dlq
        self.initial_key = fairness_key
        self.preview: tuple[int, str, int] | None = None  # (count, key, would move)

    def compose(self) -> ComposeResult:
        parent = self.dlq.removesuffix(".dlq")
        with Vertical(id="dialog"):
            yield Static(f"Redrive {self.dlq} → {parent}", id="question", markup=False)
            yield Static("How many (empty = all)", classes="label", markup=False)
            yield Input("", placeholder="all", id="count", type="integer")
            yield Static("Only this fairness key (empty = any)", classes="label", markup=False)
            yield Input(self.initial_key, placeholder="any key", id="key")
            yield Static("", id="error", classes="error", markup=False)
            yield Static(_FIRST_DRY_RUN, id="preview", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Dry run", id="go", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#count", Input).focus()

    def _request(self) -> tuple[int, str] | None:
        raw = self.query_one("#count", Input).value.strip()
        try:
            count = int(raw) if raw else 0
        except ValueError:
            count = -1
        if count < 0:
            self.query_one("#error", Static).update("count must be a whole number ≥ 0")
            return None
        return count, self.query_one("#key", Input).value.strip()

    def on_input_changed(self, event: Input.Changed) -> None:
        # Any change invalidates the preview: the operator must dry-run what they send,
        # and an old count must not stay on screen next to the new request.
        self.preview = None
        go = self.query_one("#go", Button)
        go.label = "Dry run"
        go.variant = "primary"
        self.query_one("#error", Static).update("")
        self.query_one("#preview", Static).update(_FIRST_DRY_RUN)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._step()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self._step()

    def _step(self) -> None:
        request = self._request()
        if request is None:
            return
        count, key = request
        if self.preview is not None and self.preview[:2] == (count, key):
            if self.preview[2] == 0:
                self.dismiss(0)
                return
            self.query_one("#preview", Static).update("redriving…")
            self._run(count, key, dry_run=False)
        else:
            self.query_one("#preview", Static).update("counting…")
            self._run(count, key, dry_run=True)

    @work(thread=True, exclusive=True, group="redrive")
    def _run(self, count: int, key: str, *, dry_run: bool) -> None:
        try:
            moved = self.backend.redrive(self.dlq, count, fairness_key=key, dry_run=dry_run)
        except FilaError as exc:
            self.app.call_from_thread(self._failed, exc.message or type(exc).__name__)
            return
        if dry_run:
            self.app.call_from_thread(self._previewed, count, key, moved)
        else:
            self.app.call_from_thread(self.dismiss, moved)

    def _previewed(self, count: int, key: str, would: int) -> None:
        self.preview = (count, key, would)
        scope = f" with key {key!r}" if key else ""
        noun = "message" if would == 1 else "messages"
        if would == 0:
            self.query_one("#preview", Static).update(f"Dry run: nothing to redrive{scope}.")
            self.query_one("#go", Button).label = "Close"
            return
        self.query_one("#preview", Static).update(
            f"Dry run: {would} {noun}{scope} would move to "
            f"{self.dlq.removesuffix('.dlq')}. Enter or Redrive to confirm."
        )
        self.query_one("#go", Button).label = f"Redrive {would}"
        self.query_one("#go", Button).variant = "warning"

    def _failed(self, error: str) -> None:
        self.preview = None
        self.query_one("#go", Button).label = "Dry run"
        self.query_one("#preview", Static).update("")
        self.query_one("#error", Static).update(f"✗ {error}")

    def action_cancel(self) -> None:
        self.dismiss(None)
