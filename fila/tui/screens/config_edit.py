"""Add or edit one runtime config entry, confirm, set; server errors show under the field."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from fila.errors import FilaError
from fila.tui.backend import Backend

__all__ = ["EditConfigScreen"]

_HINTS = {
    "throttle.": 'token bucket: "<rate_per_second>,<burst>", e.g. "10,20"; empty removes it',
    "concurrency.": 'cap on leased messages carrying the key: "<n>"; empty removes it',
}


def hint_for(key: str) -> str:
    for prefix, hint in _HINTS.items():
        if key.startswith(prefix):
            return hint
    return "any string; Lua hooks read it with fila.get(key)"


class EditConfigScreen(ModalScreen[bool]):
    """Two steps: edit, then a confirmation line; Enter/Set saves, Esc goes back."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, backend: Backend, key: str = "", value: str = "", *, title: str = ""
    ) -> None:
        super().__init__()
        self.backend = backend
        self.title_text = title
        self.is_new = not key
        self.original_key = key
        self.original = value
        self.confirming = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(
                self.title_text or ("Add config entry" if self.is_new else "Edit config entry"),
                id="question",
                markup=False,
            )
            yield Input(
                self.original_key,
                placeholder="key, e.g. throttle.provider:stripe",
                id="key",
                disabled=not self.is_new,
            )
            yield Input(self.original, placeholder="value", id="value")
            yield Static(hint_for(self.original_key), id="hint", classes="hint", markup=False)
            yield Static("", id="error", classes="error", markup=False)
            yield Static("", id="confirm-line", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Set", id="set", variant="warning")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#key" if self.is_new else "#value", Input).focus()

    @property
    def key(self) -> str:
        return self.query_one("#key", Input).value.strip()

    @property
    def value(self) -> str:
        return self.query_one("#value", Input).value

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "key":
            self.query_one("#hint", Static).update(hint_for(event.value.strip()))
        self._unconfirm()
        self.query_one("#error", Static).update("")

    def _unconfirm(self) -> None:
        self.confirming = False
        self.query_one("#confirm-line", Static).update("")
        self.query_one("#set", Button).label = "Set"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "key":
            self.query_one("#value", Input).focus()
        else:
            self._step()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "cancel":
            self.dismiss(False)
        else:
            self._step()

    def _step(self) -> None:
        if not self.key:
            self.query_one("#error", Static).update("the key must not be empty")
            return
        if not self.confirming:
            was = "" if self.is_new or not self.original else f' (was "{self.original}")'
            action = "Remove" if self.value == "" else "Set"
            target = f'"{self.key}"' if self.value == "" else f'"{self.key}" = "{self.value}"'
            self.query_one("#confirm-line", Static).update(
                f"{action} {target}{was}? Press Enter or Confirm."
            )
            self.query_one("#set", Button).label = "Confirm"
            self.confirming = True
            return
        self.query_one("#confirm-line", Static).update("saving…")
        self._save(self.key, self.value)

    @work(thread=True, exclusive=True, group="config-set")
    def _save(self, key: str, value: str) -> None:
        try:
            self.backend.set_config(key, value)
        except FilaError as exc:
            self.app.call_from_thread(self._failed, exc.message or type(exc).__name__)
            return
        self.app.call_from_thread(self.dismiss, True)

    def _failed(self, error: str) -> None:
        self._unconfirm()
        self.query_one("#error", Static).update(f"✗ {error}")
        self.query_one("#value", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)
