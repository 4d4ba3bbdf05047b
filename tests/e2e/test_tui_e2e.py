"""End to end: a real fila-server, the fairness scenario, and `fila tui` driven by Pilot.

Noisy and quiet tenants share a queue; a third tenant's messages carry a throttle
key (set by the on_enqueue hook) whose bucket (`throttle.<key>` config) is tiny.
The queue screen must show the tenants' keys and say why the throttled one waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from fila.client import Client
from fila.errors import FilaError
from fila.tui.app import Backoff, build_app
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess

HOOK = """function on_enqueue(msg)
  local tenant = msg.headers["tenant"] or "default"
  local keys = {}
  if tenant == "slow" then keys = { "provider:slowpay" } end
  return { fairness_key = tenant, throttle_keys = keys }
end
"""


def _consume(client: Client, stop: threading.Event) -> None:
    try:
        for msg in client.consume("fair", prefetch=4):
            if stop.is_set():
                return
            stop.wait(0.01)  # a slow consumer keeps a backlog for the dashboard
            client.ack("fair", msg.id)
    except (FilaError, ValueError):
        return  # ValueError: the channel was closed under us at the end of the test


async def _wait(pilot: object, cond: Callable[[], bool], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out waiting for the dashboard"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
async def test_queue_screen_shows_keys_and_why_the_throttled_one_waits(
    fila_server: ServerProcess,
) -> None:
    url = fila_server.url
    with Client(url) as admin:
        admin.create_queue("fair", on_enqueue=HOOK)
        admin.set_config("throttle.provider:slowpay", "1,1")
        for i in range(300):
            admin.enqueue("fair", {"tenant": "noisy"}, b"n%d" % i)
        for i in range(30):
            admin.enqueue("fair", {"tenant": "quiet"}, b"q%d" % i)
        for i in range(30):
            admin.enqueue("fair", {"tenant": "slow"}, b"s%d" % i)

    stop = threading.Event()
    consumer_client = Client(url)
    consumer = threading.Thread(target=_consume, args=(consumer_client, stop), daemon=True)
    consumer.start()
    client = Client(url)
    app = build_app(client, addr=url, backoff=Backoff(first=0.1, maximum=0.5))
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await _wait(pilot, lambda: app.live.queue("fair") is not None, 20)
            await pilot.press("enter")  # "fair" is the first row
            await _wait(pilot, lambda: isinstance(app.screen, QueueScreen), 5)
            table = app.screen.query_one("#keys", RowTable)

            def throttled_shown() -> bool:
                cells = table.row_cells("slow")
                return cells is not None and cells["why"].startswith("throttled: provider:slowpay")

            await _wait(pilot, lambda: {"noisy", "quiet"} <= set(table.row_keys), 20)
            await _wait(pilot, throttled_shown, 20)
            limits = app.screen.query_one("#limits", RowTable)
            assert "provider:slowpay" in limits.row_keys
    finally:
        stop.set()
        consumer_client.close()  # ends the blocked consume stream
        client.close()
        consumer.join(timeout=5)
