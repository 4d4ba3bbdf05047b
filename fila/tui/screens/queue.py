"""One queue: per fairness key who waits and why, and the limit keys; on the row: a key's
messages (Enter), a limit key's throttle (t) or concurrency cap (m)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from fila.tui.backend import Backend
from fila.tui.messages import OpenCharts, OpenConfig, OpenDlq, OpenHookEditor
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import (
    KEY_COLUMNS,
    KEY_SORTS,
    LIMIT_COLUMNS,
    key_rows,
    keys_title,
    limit_config_value,
    limit_rows,
)
from fila.tui.widgets.filter import FilterInput
from fila.tui.widgets.table import RowTable
from fila.types import LimitSnapshot

__all__ = ["QueueScreen"]


class QueueScreen(LiveScreen):
    # Limits are runtime config (SetConfig: admin on "*"), shared by every queue.
    WRITE_ACTIONS = frozenset({"throttle", "cap"})
    NEEDS = {"throttle": ("admin", None), "cap": ("admin", None)}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("s", "sort", "Sort"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("l", "limits", "Limits"),
        Binding("enter", "key_messages", "Messages", show=False),
        Binding("t", "throttle", "Throttle"),
        Binding("m", "cap", "Cap"),
        Binding("h", "hook", "Hook"),
        Binding("d", "dlq", "DLQ"),
        Binding("p", "peek", "Peek"),
        Binding("g", "graphs", "Graphs"),
        Binding("G", "key_graphs", "Key graphs"),
        Binding("c", "config", "Config", show=False),
    ]

    def needs(self, action: str) -> tuple[str, str | None] | None:
        if action in ("peek", "key_messages"):
            return ("consume", self.queue)  # reads payloads
        return super().needs(action)

    def __init__(self, backend: Backend, live: LiveState, settings: Settings, queue: str) -> None:
        super().__init__(backend, live, settings)
        self.queue = queue
        self.sort = KEY_SORTS[0]
        self.key_filter = ""

    def keys_of(self) -> str | None:
        return self.queue

    def compose_body(self) -> Iterable[Widget]:
        yield Static(self.queue, id="title", classes="title", markup=False)
        yield RowTable(KEY_COLUMNS, id="keys")
        yield Static("Limit keys", id="limits-title", classes="title", markup=False)
        yield RowTable(LIMIT_COLUMNS, id="limits")
        yield FilterInput("filter keys…", id="filter")

    def on_mount(self) -> None:
        self.query_one("#keys", RowTable).focus()
        self.refresh_live()

    def live_changed(self, live: LiveState) -> None:
        q = live.queue(self.queue)
        limits = live.snapshot.limits if live.snapshot else ()
        rows = key_rows(
            q, limits, live.history, self.settings.zone, sort=self.sort, key_filter=self.key_filter
        )
        self.query_one("#keys", RowTable).set_rows(rows)
        title = keys_title(q, len(rows), self.sort, self.key_filter)
        if live.snapshot is not None and q is None:
            title = f'queue "{self.queue}" is not in the stats (deleted?)'
        self.query_one("#title", Static).update(title)
        lrows = limit_rows(limits, self.key_filter)
        self.query_one("#limits", RowTable).set_rows(lrows)
        self.query_one("#limits-title", Static).update(
            f"Limit keys ({len(lrows)})" if lrows else "Limit keys — none configured"
        )

    def on_filter_input_filter_changed(self, event: FilterInput.FilterChanged) -> None:
        self.key_filter = event.value
        self.refresh_live()

    def action_back(self) -> None:
        self.dismiss()

    def action_sort(self) -> None:
        self.sort = KEY_SORTS[(KEY_SORTS.index(self.sort) + 1) % len(KEY_SORTS)]
        self.refresh_live()

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    def action_limits(self) -> None:
        keys, limits = self.query_one("#keys", RowTable), self.query_one("#limits", RowTable)
        (keys if limits.has_focus else limits).focus()

    def action_hook(self) -> None:
        self.post_message(OpenHookEditor(self.queue))

    def action_dlq(self) -> None:
        q = self.live.queue(self.queue)
        self.post_message(OpenDlq((q.dead_letter_queue if q else "") or f"{self.queue}.dlq"))

    def action_peek(self) -> None:
        """Browse this queue's own messages (ready, delayed, leased) without leasing them."""
        self.post_message(OpenDlq(self.queue))

    def action_graphs(self) -> None:
        self.post_message(OpenCharts(self.queue))

    def action_key_graphs(self) -> None:
        """Charts of the fairness key under the cursor (the keys table's row)."""
        key = self.query_one("#keys", RowTable).current_key
        if key is not None:
            self.post_message(OpenCharts(self.queue, key))

    def action_config(self) -> None:
        self.post_message(OpenConfig())

    # ---- actions on the row

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.data_table.id == "limits":
            lim = self._limit(str(event.row_key.value))
            self._edit_limit("throttle" if lim is None or lim.has_throttle or not lim.has_cap
                             else "cap")
        elif self.check_action("key_messages", ()):
            self.action_key_messages()

    def action_key_messages(self) -> None:
        """The selected fairness key's messages, in the message browser (no lease taken)."""
        key = self.query_one("#keys", RowTable).current_key
        if key is not None:
            self.post_message(OpenDlq(self.queue, fairness_key=key))

    def _limit(self, key: str) -> LimitSnapshot | None:
        snap = self.live.snapshot
        return next((lim for lim in snap.limits if lim.key == key), None) if snap else None

    def _limit_key(self) -> str | None:
        """The limit key to act on: the selected limit row, or the limit a selected
        fairness key is waiting on (throttled by it, or at its cap)."""
        limits = self.query_one("#limits", RowTable)
        if limits.has_focus:
            return limits.current_key
        key = self.query_one("#keys", RowTable).current_key
        q = self.live.queue(self.queue)
        ks = next((k for k in q.keys if k.key == key), None) if q is not None else None
        return ks.waiting_on if ks is not None and ks.waiting_on else None

    def _edit_limit(self, kind: str) -> None:
        if not self.check_action(kind, ()):
            return  # read-only, or the key lacks the permission (the header says which)
        key = self._limit_key()
        if key is None:
            self.notify("Select a limit key first (l moves to the limits table)",
                        severity="warning")
            return
        config_key = f"{'throttle' if kind == 'throttle' else 'concurrency'}.{key}"

        def saved(changed: bool | None) -> None:
            if changed:
                self.notify(f'Saved "{config_key}"')

        self.app.push_screen(
            EditConfigScreen(self.backend, config_key,
                             limit_config_value(self._limit(key), kind),
                             title=f"{'Throttle' if kind == 'throttle' else 'Concurrency cap'} "
                                   f"of {key}"),
            saved,
        )

    def action_throttle(self) -> None:
        self._edit_limit("throttle")

    def action_cap(self) -> None:
        self._edit_limit("cap")
