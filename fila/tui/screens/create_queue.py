"""'n' on the overview: create a queue (and its .dlq) with CreateQueue, as `fila queue create`.

Name and visibility timeout here; hooks are added afterwards in the hook editor (h), where
they can be tested first. Two steps like the config editor: Enter shows what will be
created, Enter again sends it; the server's refusal shows under the fields.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from fila.errors import FilaError
from fila.tui.backend import Backend

__all__ = ["CreateQueueScreen"]


class CreateQueueScreen(ModalScreen[str | None]):
    """Dismisses with the created queue's name, or None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, backend: Backend) -> None:
        super().__init__()
        self.backend = backend
        self.confirming = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Create queue", id="question", markup=False)
            yield Static("Name (its dead-letter queue NAME.dlq comes with it)", classes="label",
                         markup=False)
            yield Input("", placeholder="e.g. orders", id="name")
            yield Static("Visibility timeout, ms (empty = the server's default, 30000)",
                         classes="label", markup=False)
            yield Input("", placeholder="30000", id="timeout", type="integer")
            yield Static("Hooks: add them afterwards with h (test before apply).",
                         classes="hint", markup=False)
            yield Static("", id="error", classes="error", markup=False)
            yield Static("", id="confirm-line", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Create", id="create", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    def _request(self) -> tuple[str, int] | None:
        name = self.query_one("#name", Input).value.strip()
        raw = self.query_one("#timeout", Input).value.strip()
        error = ""
        if not name:
            error = "the name must not be empty"
        elif raw and (not raw.isdigit() or int(raw) < 0):
            error = "the timeout must be a whole number of milliseconds"
        if error:
            self.query_one("#error", Static).update(f"✗ {error}")
            return None
        return name, int(raw) if raw else 0

    def on_input_changed(self, event: Input.Changed) -> None:
        self._unconfirm()
        self.query_one("#error", Static).update("")

    def _unconfirm(self) -> None:
        self.confirming = False
        self.query_one("#confirm-line", Static).update("")
        self.query_one("#create", Button).label = "Create"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "name":
            self.query_one("#timeout", Input).focus()
        else:
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
        name, timeout = request
        if not self.confirming:
            vt = f", visibility timeout {timeout} ms" if timeout else ""
            self.query_one("#confirm-line", Static).update(
                f'Create "{name}" and "{name}.dlq"{vt}? Press Enter or Confirm.'
            )
            self.query_one("#create", Button).label = "Confirm"
            self.query_one("#create", Button).variant = "warning"
            self.confirming = True
            return
        self.query_one("#confirm-line", Static).update("creating…")
        self._create(name, timeout)

    @work(thread=True, exclusive=True, group="queue-create")
    def _create(self, name: str, timeout: int) -> None:
        try:
            self.backend.create_queue(name, visibility_timeout_ms=timeout)
        except FilaError as exc:
            self.app.call_from_thread(self._failed, exc.message or type(exc).__name__)
            return
        self.app.call_from_thread(self.dismiss, name)

    def _failed(self, error: str) -> None:
        self._unconfirm()
        self.query_one("#create", Button).variant = "primary"
        self.query_one("#error", Static).update(f"✗ {error}")
        self.query_one("#name", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)
