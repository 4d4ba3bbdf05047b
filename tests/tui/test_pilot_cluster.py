"""Pilot: the cluster view, reached with C from the overview, fed by the fake's
GetClusterStatus (a single node until the test gives it a cluster)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from textual.widgets import Static

from fila.tui.app import FilaApp
from fila.tui.screens.cluster import ClusterScreen
from fila.tui.screens.help import HelpScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import FakeBackend, sample_cluster

MakeApp = Callable[..., FilaApp]


def text_of(app: FilaApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_single_node_says_cluster_mode_is_off(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ClusterScreen))
        await wait_until(pilot, lambda: "single node" in text_of(app, "#nodes"))
        assert text_of(app, "#nodes") == "Cluster mode is off: this broker runs as a single node."
        assert not app.screen.query_one(RowTable).display
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_owners_and_lag_refresh_and_enter_opens_the_queue(
        make_app: MakeApp, fake: FakeBackend) -> None:
    fake.cluster = sample_cluster()
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("C")
        await wait_until(pilot, lambda: isinstance(app.screen, ClusterScreen))
        screen = app.screen
        table = screen.query_one(RowTable)
        await wait_until(pilot, lambda: len(table.row_keys) == 5)
        assert text_of(app, "#title") == "Cluster — node n1 at 10.0.0.1:5555 · lease TTL 2 s"
        assert "n3 10.0.0.3:5555" in text_of(app, "#nodes")
        orders = table.row_cells("orders")
        assert orders is not None and (orders["owner"], orders["lag"]) == ("n2", "2")
        # The node catches up; the screen asks again by itself (no key pressed).
        fake.cluster = sample_cluster(applied_orders=120)
        await wait_until(pilot, lambda: (table.row_cells("orders") or {}).get("lag") == "0")
        # The server goes away: the last answer stays, the title says why it is old.
        fake.fail()
        await wait_until(pilot, lambda: "not refreshed" in text_of(app, "#title"))
        assert len(table.row_keys) == 5
        fake.recover()
        fake.cluster = replace(sample_cluster(), queues=sample_cluster().queues[:2])
        await pilot.press("r")
        await wait_until(pilot, lambda: table.row_keys == ["fair-demo", "fair-demo.dlq"])
        assert "not refreshed" not in text_of(app, "#title")
        await pilot.press("enter")  # the cursor is on fair-demo
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        calls = fake.cluster_calls
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is screen)
        await wait_until(pilot, lambda: fake.cluster_calls > calls)


async def test_help_lists_the_cluster_key(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await connected(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        assert "C       Cluster" in str(app.screen.query_one("#detail Static", Static).render())
