"""The message inspector: one message of a DLQ or a backlog, read in full and acted on.

Opened with Enter on a row of the message browser (screens/dlq.py). Shows everything the
broker keeps about the message and its payload (pretty JSON, text or hex); acts on it:
redrive it (dead-letter queues only), copy it as JSON, delete it. Every write asks first
and shows the server's answer, then returns to the browser, which reloads its page.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.highlight import highlight
from textual.widget import Widget
from textual.widgets import Static

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.fmt import DASH
from fila.tui.message_view import detail_rows, export_json, render_payload
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.state import LiveState, Settings
from fila.types import ListedMessage

__all__ = ["MessageScreen"]

_LABEL_WIDTH = 14


class MessageScreen(LiveScreen):
    DEFAULT_CSS = """
    MessageScreen #body {
        height: 1fr;
        padding: 0 1;
    }
    MessageScreen .section {
        margin-top: 1;
        color: $text-muted;
        text-style: bold;
    }
    MessageScreen #last-error {
        color: $text-error;
    }
    MessageScreen #status {
        height: auto;
        padding: 0 1;
    }
    MessageScreen #status.-error {
        color: $text-error;
    }
    """

    WRITE_ACTIONS = frozenset({"redrive", "delete"})
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "redrive", "Redrive"),
        Binding("d,delete", "delete", "Delete", key_display="d"),
        Binding("c", "copy", "Copy JSON"),
        Binding("x", "hex", "Hex/text"),
    ]

    def __init__(
        self, backend: Backend, live: LiveState, settings: Settings, listed: ListedMessage
    ) -> None:
        super().__init__(backend, live, settings)
        self.listed = listed
        self.queue = listed.message.queue
        self.as_hex = False
        self.busy = False
        # Set when a write took effect: the browser reloads its page when this screen closes.
        self.changed = False

    @property
    def is_dlq(self) -> bool:
        return self.queue.endswith(".dlq")

    def needs(self, action: str) -> tuple[str, str | None] | None:
        return ("admin", self.queue) if action in self.WRITE_ACTIONS else None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "redrive" and not self.is_dlq:
            return False  # redrive moves a dead letter back; a backlog message has nowhere to go
        if self.busy and action in self.WRITE_ACTIONS:
            return None  # one write at a time
        return super().check_action(action, parameters)

    def compose_body(self) -> Iterable[Widget]:
        m = self.listed.message
        yield Static(f"{self.queue} ▸ message {m.id}", id="title", classes="title", markup=False)
        with VerticalScroll(id="body"):
            yield Static(self._details(), id="details")
            yield Static("headers", classes="section", markup=False)
            yield Static(self._headers(), id="headers", markup=False)
            yield Static("last error", classes="section", markup=False)
            yield Static(m.last_error or DASH, id="last-error", markup=False)
            yield Static("", id="payload-title", classes="section", markup=False)
            yield Static("", id="payload", markup=False)
        yield Static("", id="status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#body").focus()
        self._show_payload()

    def live_changed(self, live: LiveState) -> None:
        # Ages are measured against the newest snapshot (the TUI reads no clock).
        self.query_one("#details", Static).update(self._details())

    # ------------------------------------------------------------------ painting

    def _details(self) -> Text:
        snap = self.live.snapshot
        out = Text()
        rows = detail_rows(self.listed, self.settings.zone, snap.taken_at_ms if snap else None)
        for n, (label, value) in enumerate(rows):
            if n:
                out.append("\n")
            out.append(label.ljust(_LABEL_WIDTH), style="bold")
            out.append(value)
        return out

    def _headers(self) -> str:
        headers = self.listed.message.headers
        if not headers:
            return DASH
        width = min(24, max(len(k) for k in headers))
        return "\n".join(f"{k.ljust(width)} = {v}" for k, v in sorted(headers.items()))

    def _show_payload(self) -> None:
        view = render_payload(self.listed.message.payload, as_hex=self.as_hex)
        self.query_one("#payload-title", Static).update(view.title)
        body: Content | str = (
            highlight(view.text, language="json") if view.kind == "json" else view.text
        )
        self.query_one("#payload", Static).update(body or DASH)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        status.set_class(error, "-error")

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        self.dismiss()

    def action_hex(self) -> None:
        self.as_hex = not self.as_hex
        self._show_payload()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(export_json(self.listed))
        self.notify("Copied the message as JSON")

    def action_redrive(self) -> None:
        parent = self.queue.removesuffix(".dlq")
        m = self.listed.message
        self._ask(
            f"Redrive this message to {parent}?",
            f"{m.id}\nkey {m.fairness_key}, {m.attempt_count} attempts; it goes back "
            "with attempt 0.",
            "Redrive",
            "redrive",
        )

    def action_delete(self) -> None:
        m = self.listed.message
        self._ask(
            f"Delete this message from {self.queue}?",
            f"{m.id}\nIts payload and headers are gone for good.",
            "Delete",
            "delete",
        )

    def _ask(self, question: str, detail: str, yes: str, what: str) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                self.busy = True
                self.refresh_bindings()
                self._status("redriving…" if what == "redrive" else "deleting…")
                self._write(what)

        self.app.push_screen(ConfirmScreen(question, detail, yes=yes), answered)

    def _write(self, what: str) -> None:
        # The app runs the call, not this screen: a screen's workers are cancelled when it
        # closes, and the operator may go back before a slow server answers.
        app, backend, queue, msg_id = self.app, self.backend, self.queue, self.listed.message.id

        def call() -> None:
            try:
                if what == "redrive":
                    moved = backend.redrive(queue, message_id=msg_id)
                    noun = "message" if moved == 1 else "messages"
                    answer = f"Redrive complete: {moved} {noun} moved from {queue}"
                else:
                    was = backend.delete_message(queue, msg_id)
                    answer = f"Deleted message {msg_id} from {queue} (it was {was})"
            except FilaError as exc:
                app.call_from_thread(self._failed, exc.message or type(exc).__name__)
                return
            app.call_from_thread(self._written, answer)

        app.run_worker(call, thread=True, group="message-write", name=f"{what} {msg_id}")

    def _written(self, answer: str) -> None:
        self.busy = False
        self.changed = True
        self.notify(answer)
        if self.is_current:  # the operator may have left while the call ran
            self.dismiss()

    def _failed(self, error: str) -> None:
        self.busy = False
        if not self.is_current:
            self.notify(error, severity="error")
            return
        self._status(f"✗ {error}", error=True)
        self.refresh_bindings()
