"""Home: every queue with depth, rates, wait p95 and a deliver-rate trend; queues that need
attention marked; on the row: open, DLQ, purge; and create a queue."""

from __future__ import annotations

from collections.abc import Iterable

from textual import work
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.errors import FilaError
from fila.tui.attention import ATTENTION_MARK
from fila.tui.backend import Backend
from fila.tui.fmt import fmt_count
from fila.tui.messages import OpenCharts, OpenCluster, OpenConfig, OpenDlq, OpenQueue
from fila.tui.screens.attention import AttentionScreen
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.create_queue import CreateQueueScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import OVERVIEW_COLUMNS, overview_rows
from fila.tui.widgets.filter import FilterInput
from fila.tui.widgets.table import RowTable

__all__ = ["OverviewScreen"]


class OverviewScreen(LiveScreen):
    WRITE_ACTIONS = frozenset({"purge", "create"})
    BINDINGS = [
        Binding("enter", "open", "Open", show=True),
        Binding("d", "dlq", "DLQ"),
        Binding("g", "graphs", "Graphs"),
        Binding("a,exclamation_mark", "attention", "Attention", key_display="a"),
        Binding("P", "purge", "Purge"),
        Binding("n", "create", "New queue"),
        Binding("c", "config", "Config"),
        Binding("slash", "filter", "Filter", key_display="/"),
        # Off the footer, which is full at 80 columns; ? and the palette list it.
        Binding("C", "cluster", "Cluster", show=False),
    ]

    def needs(self, action: str) -> tuple[str, str | None] | None:
        if action == "purge":
            # Asked while bindings refresh, which can be before the table is composed
            # or while the screen is being rebuilt after a reconnect: no table, no queue.
            tables = self.query("#queues").results(RowTable)
            table = next(tables, None)
            return ("admin", table.current_key or "") if table is not None else None
        return None

    def denied(self, action: str) -> str | None:
        info = self.live.info
        if action == "create" and info is not None and info.auth_enabled:
            # The name is typed later: any admin grant may cover it (the server decides).
            if not info.caller_superadmin and not any(
                kind == "admin" for kind, _ in info.caller_permissions
            ):
                return "admin on the new queue"
            return None
        return super().denied(action)

    def __init__(self, backend: Backend, live: LiveState, settings: Settings) -> None:
        super().__init__(backend, live, settings)
        self.name_filter = ""

    def compose_body(self) -> Iterable[Widget]:
        yield Static("Queues", id="title", classes="title", markup=False)
        yield RowTable(OVERVIEW_COLUMNS, id="queues")
        yield FilterInput("filter queues…", id="filter")

    def on_mount(self) -> None:
        self.query_one(RowTable).focus()

    @property
    def table(self) -> RowTable:
        return self.query_one("#queues", RowTable)

    def live_changed(self, live: LiveState) -> None:
        marked = live.attention(self.settings.attention_wait_ms)
        rows = overview_rows(live.snapshot, live.history, self.name_filter, marked)
        self.table.set_rows(rows)
        title = "Queues" if live.snapshot is not None else "Queues (waiting for the server…)"
        if live.snapshot is not None and not rows:
            how = "fila queue create NAME" if self.settings.read_only else "n creates one"
            title = f"Queues — none yet ({how})"
            if self.name_filter:
                title = f"Queues — nothing matches {self.name_filter!r}"
        elif self.name_filter:
            title += f"  filter: {self.name_filter!r}"
        if marked:
            title += f"  {ATTENTION_MARK}{len(marked)} need attention (a: why)"
        self.query_one("#title", Static).update(title)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._paint_chrome()  # purge's permission (and the header's reason) depend on the row

    def on_filter_input_filter_changed(self, event: FilterInput.FilterChanged) -> None:
        self.name_filter = event.value
        self.live_changed(self.live)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(OpenQueue(event.row_key.value))

    def action_open(self) -> None:
        key = self.table.current_key
        if key is not None:
            self.post_message(OpenQueue(key))

    def action_dlq(self) -> None:
        key = self.table.current_key
        if key is None:
            return
        live = self.live.queue(key)
        if key.endswith(".dlq"):
            self.post_message(OpenDlq(key))
        else:
            dlq = (live.dead_letter_queue if live else "") or f"{key}.dlq"
            self.post_message(OpenDlq(dlq))

    def action_graphs(self) -> None:
        key = self.table.current_key
        if key is not None:
            self.post_message(OpenCharts(key))

    def action_config(self) -> None:
        self.post_message(OpenConfig())

    def action_cluster(self) -> None:
        self.post_message(OpenCluster())

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def action_attention(self) -> None:
        items = self.live.attention(self.settings.attention_wait_ms)
        self.app.push_screen(
            AttentionScreen(items, self.table.current_key, wait_ms=self.settings.attention_wait_ms)
        )

    def action_purge(self) -> None:
        name = self.table.current_key
        if name is None:
            return
        q = self.live.queue(name)
        waiting = max(0, q.depth - q.in_flight) if q is not None else 0
        leased = q.in_flight if q is not None else 0
        stays = (
            "1 leased message stays with its consumer"
            if leased == 1
            else f"{fmt_count(leased)} leased messages stay with their consumers"
        )
        detail = (
            f"Removes the ready and delayed messages of {name}: {fmt_count(waiting)} in the "
            f"latest snapshot (the server counts again when it purges).\n{stays}.\n"
            "A purged message cannot be brought back."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._purge(name)

        self.app.push_screen(
            ConfirmScreen(f'Purge "{name}"?', detail, yes=f"Purge {fmt_count(waiting)}"), answered
        )

    @work(thread=True, group="queue-purge")
    def _purge(self, name: str) -> None:
        try:
            purged = self.backend.purge_queue(name)
        except FilaError as exc:
            self.app.call_from_thread(
                self.notify, f"{name} not purged: {exc.message}", severity="error"
            )
            return
        noun = "message" if purged == 1 else "messages"
        self.app.call_from_thread(self.notify, f'Purged {purged} {noun} from "{name}"')

    def action_create(self) -> None:
        def created(name: str | None) -> None:
            if name:
                self.notify(f'Created queue "{name}" (and "{name}.dlq")')

        self.app.push_screen(CreateQueueScreen(self.backend), created)
