"""End to end: the TUI's row actions against a real fila-server, driven by Pilot.

The marks, the purge (P), the create form (n) and a limit key's throttle (t) go through
the real client and the real broker; the test reads the result back from the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from textual.widgets import Input

from fila.client import Client
from fila.tui.app import Backoff, build_app
from fila.tui.attention import ATTENTION_MARK
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.create_queue import CreateQueueScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


async def _wait(pilot: object, cond: Callable[[], bool], timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out waiting for the dashboard"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _select(table: RowTable, key: str) -> None:
    table.move_cursor(row=table.row_keys.index(key))


@pytest.mark.timeout(90)
async def test_mark_purge_create_and_throttle_against_a_real_server(
    fila_server: ServerProcess,
) -> None:
    url = fila_server.url
    with Client(url) as admin:
        admin.create_queue("jobs")
        admin.set_config("throttle.provider:x", "5,5")
        for i in range(20):
            admin.enqueue("jobs", {}, b"j%d" % i)

    client = Client(url)
    # Any wait counts: the ready messages mark "jobs" as soon as the stats say so.
    app = build_app(client, addr=url, backoff=Backoff(first=0.1, maximum=0.5),
                    interval_ms=200, attention_wait_ms=1)
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            table = app.screen.query_one("#queues", RowTable)
            await _wait(pilot, lambda: (table.row_cells("jobs") or {}).get("name")
                        == ATTENTION_MARK + "jobs")

            _select(table, "jobs")
            await pilot.press("P")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await _wait(pilot, lambda: any('Purged 20 messages from "jobs"' in str(n.message)
                                           for n in app._notifications))
            await _wait(pilot, lambda: (table.row_cells("jobs") or {}).get("name") == "jobs")

            await pilot.press("n")
            await _wait(pilot, lambda: isinstance(app.screen, CreateQueueScreen))
            await pilot.press(*"payments", "enter", *"45000", "enter", "enter")
            await _wait(pilot, lambda: isinstance(app.screen, OverviewScreen))
            await _wait(pilot, lambda: "payments" in table.row_keys)

            _select(table, "jobs")
            await pilot.press("enter")
            await _wait(pilot, lambda: isinstance(app.screen, QueueScreen))
            limits = app.screen.query_one("#limits", RowTable)
            await _wait(pilot, lambda: "provider:x" in limits.row_keys)
            await pilot.press("l")
            _select(limits, "provider:x")
            await pilot.press("t")
            await _wait(pilot, lambda: isinstance(app.screen, EditConfigScreen))
            value = app.screen.query_one("#value", Input)
            assert value.value == "5,5"
            value.value = "7,9"
            await pilot.press("enter", "enter")
            await _wait(pilot, lambda: isinstance(app.screen, QueueScreen))
    finally:
        client.close()

    with Client(url) as admin:
        assert next(q.depth for q in admin.list_queues() if q.name == "jobs") == 0
        assert admin.get_queue("payments").visibility_timeout_ms == 45_000
        assert admin.get_config("throttle.provider:x") == "7,9"
