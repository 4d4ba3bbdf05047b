"""Browse a queue's messages (a dead-letter queue, or any backlog with `p`): page through
them, open one in the inspector (Enter), and for a DLQ redrive with a dry run."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.fmt import fmt_count
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.message import MessageScreen
from fila.tui.screens.redrive import RedriveScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import MESSAGE_COLUMNS, message_detail, message_rows
from fila.tui.widgets.table import RowTable
from fila.types import ListedMessage

__all__ = ["PAGE_SIZE", "DlqScreen"]

PAGE_SIZE = 50


class DlqScreen(LiveScreen):
    WRITE_ACTIONS = frozenset({"redrive", "redrive_key"})
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("r", "redrive", "Redrive"),
        Binding("k", "redrive_key", "Redrive key"),
        Binding("x", "hex", "Hex/text"),
        Binding("right_square_bracket,n", "next_page", "Next", key_display="]"),
        Binding("left_square_bracket,p", "prev_page", "Prev", key_display="["),
        Binding("g", "reload", "Reload", show=False),
    ]

    def __init__(
        self,
        backend: Backend,
        live: LiveState,
        settings: Settings,
        dlq: str,
        *,
        fairness_key: str = "",
    ) -> None:
        super().__init__(backend, live, settings)
        self.dlq = dlq
        self.fairness_key = fairness_key  # only this key's messages ("" = all)
        self.messages: list[ListedMessage] = []
        self.tokens: list[str] = [""]  # page tokens of the pages seen; last = current page
        self.next_token = ""
        self.as_hex = False
        self.fetching = True
        self.error = ""
        self.loaded_depth: int | None = None  # the DLQ depth when this page was loaded

    def needs(self, action: str) -> tuple[str, str | None] | None:
        return ("admin", self.dlq) if action in self.WRITE_ACTIONS else None

    @property
    def is_dlq(self) -> bool:
        return self.dlq.endswith(".dlq")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.WRITE_ACTIONS and not self.is_dlq:
            return False  # redrive only exists for dead-letter queues
        return super().check_action(action, parameters)

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self.dlq, id="title", classes="title", markup=False)
        yield RowTable(MESSAGE_COLUMNS, id="messages")
        with VerticalScroll(id="message-pane"):
            yield Static("", id="message", markup=False)

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()
        self._load(self.tokens[-1])

    @property
    def table(self) -> RowTable:
        return self.query_one(RowTable)

    @property
    def page(self) -> int:
        return len(self.tokens)

    def live_changed(self, live: LiveState) -> None:
        q = live.queue(self.dlq)
        if q is not None and not self.fetching:
            if self.loaded_depth is None:
                self.loaded_depth = q.depth
            elif q.depth != self.loaded_depth:
                # New dead letters (or some left): reload this page, the stream says so.
                self.loaded_depth = q.depth
                self.action_reload()
            elif self.messages and live.snapshot is not None:
                # Same messages: only their ages move (the snapshot's time is our clock).
                self.table.set_rows(message_rows(self.messages, live.snapshot.taken_at_ms))
        depth = f"depth {fmt_count(q.depth)}" if q is not None else "depth ?"
        state = "loading…" if self.fetching else f"{len(self.messages)} on this page"
        if self.error:
            state = f"error: {self.error}"
        more = "  ] next" if self.next_token else ""
        what = "dead letters" if self.is_dlq else "messages"
        if self.fairness_key:
            what += f" of key {self.fairness_key}"
        self.query_one("#title", Static).update(
            f"{self.dlq} ▸ {what}  {depth}  page {self.page}: {state}{more}"
        )

    @work(thread=True, exclusive=True, group="dlq-load")
    def _load(self, token: str) -> None:
        try:
            messages, next_token = self.backend.list_messages(
                self.dlq, fairness_key=self.fairness_key, limit=PAGE_SIZE, page_token=token
            )
        except FilaError as exc:
            self.app.call_from_thread(self._failed, exc.message or type(exc).__name__)
            return
        self.app.call_from_thread(self._loaded, messages, next_token)

    def _failed(self, error: str) -> None:
        self.fetching = False
        self.error = error
        self.refresh_live()

    def _loaded(self, messages: list[ListedMessage], next_token: str) -> None:
        self.fetching = False
        self.error = ""
        self.messages = messages
        self.next_token = next_token
        snap = self.live.snapshot
        self.table.set_rows(message_rows(messages, snap.taken_at_ms if snap else None))
        self._show_current()
        self.refresh_live()

    def current(self) -> ListedMessage | None:
        key = self.table.current_key
        return next((m for m in self.messages if m.message.id == key), None)

    def _show_current(self) -> None:
        listed = self.current()
        pane = self.query_one("#message", Static)
        if listed is None:
            empty = "No dead letters here." if self.is_dlq else "No messages waiting."
            pane.update(empty if not self.messages else "")
            return
        pane.update(message_detail(listed, self.settings.zone, as_hex=self.as_hex))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._show_current()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        listed = self.current()
        if listed is None:
            return
        inspector = MessageScreen(self.backend, self.live, self.settings, listed)

        def back(_: None) -> None:
            if inspector.changed:  # redriven or deleted: this page is out of date
                self.action_reload()

        self.app.push_screen(inspector, back)

    def action_hex(self) -> None:
        self.as_hex = not self.as_hex
        self._show_current()

    def action_next_page(self) -> None:
        if self.next_token:
            self.tokens.append(self.next_token)
            self.fetching = True
            self._load(self.next_token)

    def action_prev_page(self) -> None:
        if len(self.tokens) > 1:
            self.tokens.pop()
            self.fetching = True
            self._load(self.tokens[-1])

    def action_reload(self) -> None:
        self.fetching = True
        self._load(self.tokens[-1])

    def _redrive(self, key: str) -> None:
        def done(moved: int | None) -> None:
            if moved:
                noun = "message" if moved == 1 else "messages"
                self.notify(f"Redrive complete: {moved} {noun} moved from {self.dlq}")
                self.tokens = [""]
                self.action_reload()

        self.app.push_screen(RedriveScreen(self.backend, self.dlq, fairness_key=key), done)

    def action_redrive(self) -> None:
        self._redrive("")

    def action_redrive_key(self) -> None:
        listed = self.current()
        self._redrive(listed.message.fairness_key if listed else "")

    def action_back(self) -> None:
        self.dismiss()
