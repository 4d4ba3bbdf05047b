"""Pilot tests of the time charts: open them from the overview and a key row, follow the
stream, change the window, go back, and cope with a server that keeps no history."""

from __future__ import annotations

from collections.abc import Callable

from textual_plotext import PlotextPlot

from fila.tui.app import FilaApp
from fila.tui.screens.charts import ChartScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import T0, FakeBackend, sample_snapshot
from .test_pilot import text_of

MakeApp = Callable[..., FilaApp]


def charts(app: FilaApp) -> ChartScreen:
    screen = app.screen
    assert isinstance(screen, ChartScreen)
    return screen


async def test_g_on_the_overview_opens_the_queue_history_and_escape_goes_back(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.source == "history")
        screen = charts(app)
        assert fake.history_calls[0] == ("fair-demo", "", 0)
        assert text_of(app, "#title") == "fair-demo — last 15 min"
        assert "server history (15 min at 1 s)" in text_of(app, "#note")
        # 15 minutes are there at once, ending at the server's newest second.
        assert len(screen.data.samples) == 900 and screen.data.last_s == T0 // 1000
        assert len(screen.query(PlotextPlot)) == 4
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_each_live_snapshot_fetches_the_newest_seconds(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.source == "history")
        screen = charts(app)
        fake.push(sample_snapshot(1))
        await wait_until(pilot, lambda: screen.data.last_s == T0 // 1000 + 1)
        assert ("fair-demo", "", 5) in fake.history_calls
        assert len(screen.data.samples) == 900  # the window slides; memory stays bounded


async def test_w_cycles_the_window(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen))
        for title in ("last 5 min", "last 1 min", "last 15 min"):
            await pilot.press("w")
            assert text_of(app, "#title").endswith(title)


async def test_shift_g_on_a_key_row_opens_that_keys_history(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        keys = app.screen.query_one("#keys", RowTable)
        keys.move_cursor(row=keys.row_keys.index("tenant:initech"))
        await pilot.press("G")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.source == "history")
        screen = charts(app)
        assert screen.key == "tenant:initech"
        assert fake.history_calls[-1] == ("fair-demo", "tenant:initech", 0)
        assert text_of(app, "#title") == "fair-demo · key tenant:initech — last 15 min"
        # The throttle bit from 11:53 to 11:56: the key's hits show it.
        hits = [v["throttle_hit_rate"] for v in screen.data.samples.values()]
        assert max(hits) == 25.0 and min(hits) == 0.0
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))


async def test_g_on_the_queue_screen_opens_the_queue_charts(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen))
        assert charts(app).key == "" and charts(app).queue == "fair-demo"


async def test_a_key_the_server_does_not_track_is_charted_live(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        keys = app.screen.query_one("#keys", RowTable)
        keys.move_cursor(row=keys.row_keys.index("tenant:globex"))
        await pilot.press("G")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.source == "live")
        screen = charts(app)
        assert "5 busiest keys only" in text_of(app, "#note")
        fake.push(sample_snapshot(1))
        await wait_until(pilot, lambda: screen.data.last_s == T0 // 1000 + 1)
        assert screen.data.samples[T0 // 1000 + 1]["deliver_rate"] == 320.0


async def test_an_older_server_without_history_still_gets_live_charts(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake.has_history = False
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen)
                         and app.screen.source == "live")
        screen = charts(app)
        assert text_of(app, "#note") == (
            "this server keeps no history (older version): live since opened")
        for step in (1, 2):
            fake.push(sample_snapshot(step))
        await wait_until(pilot, lambda: screen.data.last_s == T0 // 1000 + 2)
        assert screen.data.samples[T0 // 1000 + 2]["deliver_rate"] == 470.0
        assert len(fake.history_calls) == 1  # asked once, not on every tick


async def test_help_on_the_charts_lists_their_keys_and_what_they_show(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("g")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen))
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: not isinstance(app.screen, ChartScreen))
        text = " ".join(str(s.render()) for s in app.screen.query("Static"))
        assert "Chart keys" in text and "Window" in text and "throttle hits" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ChartScreen))
