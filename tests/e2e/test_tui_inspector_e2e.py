"""End to end: `fila tui` on a real server opens a dead-lettered message, reads its last
error and redrives it.

The message is dead-lettered the real way (consumed, nacked, the queue's on_failure hook
says "dlq"); the TUI runs on a real fila.client.Client, built by build_app and driven by
Pilot key presses; the result is checked through the client.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from textual.widgets import Static

from fila.client import Client
from fila.tui.app import Backoff, build_app
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.message import MessageScreen
from fila.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess

TO_DLQ = 'function on_failure(m) return { action = "dlq" } end'


async def _wait(pilot: object, cond: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


def _ids(client: Client, queue: str) -> list[str]:
    return [m.message.id for m in client.list_messages(queue)[0]]


@pytest.mark.timeout(90)
async def test_open_a_dead_letter_read_its_error_and_redrive_it(
    fila_server: ServerProcess,
) -> None:
    with Client(fila_server.url) as producer:
        producer.create_queue("jobs", on_failure=TO_DLQ)
        msg_id = producer.enqueue("jobs", {"tenant": "acme"}, b'{"order": 7, "express": true}')
        stream = producer.consume("jobs")
        try:
            delivered = next(stream)
            producer.nack("jobs", delivered.id, "card expired (stripe expired_card)")
        finally:
            stream.close()
        assert _ids(producer, "jobs.dlq") == [msg_id]

    client = Client(fila_server.url)
    app = build_app(client, addr=fila_server.url, backoff=Backoff(first=0.1, maximum=0.5))
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await _wait(
                pilot,
                lambda: (
                    app.live.queue("jobs.dlq") is not None
                    and "jobs.dlq" in app.screen.query_one(RowTable).row_keys
                ),
                20,
                "the overview to list jobs.dlq",
            )
            rows = app.screen.query_one(RowTable).row_keys
            await pilot.press(*["down"] * rows.index("jobs.dlq"), "enter")
            await _wait(
                pilot,
                lambda: (
                    isinstance(app.screen, DlqScreen)
                    and app.screen.query_one(RowTable).row_keys == [msg_id]
                ),
                10,
                "the DLQ browser to list the dead letter",
            )
            browser = app.screen
            await pilot.press("enter")
            await _wait(pilot, lambda: isinstance(app.screen, MessageScreen), 10, "the inspector")

            def shown(selector: str) -> str:
                return str(app.screen.query_one(selector, Static).render())

            assert shown("#last-error") == "card expired (stripe expired_card)"
            assert shown("#payload-title") == "payload  29 bytes, JSON"
            assert "attempts      1" in shown("#details")
            assert "tenant = acme" in shown("#headers")

            await pilot.press("r")
            await _wait(pilot, lambda: isinstance(app.screen, ConfirmScreen), 10, "the question")
            await pilot.press("y")
            await _wait(pilot, lambda: app.screen is browser, 10, "the browser again")
            await _wait(
                pilot,
                lambda: browser.query_one(RowTable).row_keys == [] and not browser.fetching,
                10,
                "the browser to reload an empty DLQ",
            )
    finally:
        client.close()

    with Client(fila_server.url) as check:
        assert _ids(check, "jobs.dlq") == []
        back = check.list_messages("jobs")[0]
        assert [m.message.id for m in back] == [msg_id]
        assert back[0].message.attempt_count == 0  # a redrive starts the attempts over
        assert back[0].message.last_error == "card expired (stripe expired_card)"
