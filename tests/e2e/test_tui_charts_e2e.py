"""End to end: `fila tui`'s charts read a real fila-server's stats history over gRPC."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from fila.client import Client
from fila.tui.app import Backoff, build_app
from fila.tui.screens.charts import ChartScreen

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


async def _wait(pilot: object, cond: Callable[[], bool], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out waiting for the charts"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
async def test_charts_open_with_the_servers_past_and_keep_up(
    fila_server: ServerProcess,
) -> None:
    url = fila_server.url
    with Client(url) as admin:
        admin.create_queue("jobs")
        for i in range(40):
            admin.enqueue("jobs", {}, b"%d" % i)
    client = Client(url)
    app = build_app(client, addr=url, backoff=Backoff(first=0.1, maximum=0.5))
    try:
        async with app.run_test(size=(120, 30)) as pilot:
            await _wait(pilot, lambda: app.live.queue("jobs") is not None, 20)
            await pilot.press("g")  # "jobs" is the only row
            await _wait(pilot, lambda: isinstance(app.screen, ChartScreen)
                        and app.screen.source == "history" and app.screen.data.samples, 20)
            screen = app.screen
            assert isinstance(screen, ChartScreen)

            def enqueued() -> float:
                return sum(v.get("enqueue_rate", 0.0) for v in screen.data.samples.values())

            # The enqueues happened before the TUI started: they come from the history.
            await _wait(pilot, lambda: enqueued() == 40, 15)
            with Client(url) as producer:
                for i in range(10):
                    producer.enqueue("jobs", {}, b"later%d" % i)
            # ...and the screen keeps fetching the newest seconds while it is open.
            await _wait(pilot, lambda: enqueued() == 50, 15)
            last = screen.data.samples[max(screen.data.samples)]
            assert last["depth"] == 50
    finally:
        client.close()
