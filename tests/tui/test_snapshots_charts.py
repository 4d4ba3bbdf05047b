"""SVG snapshots of the time charts (queue and key), both themes, 80x24 and 120x30.

Fed by the fake's 15 minutes of deterministic history ending at the fixed T0, in UTC.
Update with `pytest tests/tui/test_snapshots_charts.py --snapshot-update` and look at them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from fila.tui.app import FilaApp
from fila.tui.screens.charts import ChartScreen
from fila.tui.screens.queue import QueueScreen

from .fakes import FakeBackend
from .test_snapshots import SnapCompare, on, steps

SIZES = [(80, 24), (120, 30)]
THEMES = ["textual-dark", "textual-light"]


def drawn(screen: object) -> bool:
    return isinstance(screen, ChartScreen) and screen.source != "loading"


@pytest.mark.parametrize("theme", THEMES, ids=["dark", "light"])
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x30"])
def test_queue_charts(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
    theme: str,
) -> None:
    async def open_charts(pilot: Pilot[None]) -> None:
        await pilot.press("g")  # fair-demo is the first row of the overview
        await on(ChartScreen, drawn)(pilot)
        if theme != pilot.app.theme:
            await pilot.press("ctrl+t")  # the open charts redraw in the other theme's colours

    assert snap_compare(make_app(), terminal_size=size, run_before=steps(fake, then=open_charts))


@pytest.mark.parametrize("theme", THEMES, ids=["dark", "light"])
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x30"])
def test_key_charts(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
    theme: str,
) -> None:
    async def open_charts(pilot: Pilot[None]) -> None:
        pilot.app.theme = theme  # set before opening (the queue charts toggle after)
        await pilot.press("enter")
        await on(QueueScreen)(pilot)
        await pilot.press("down", "down", "G")  # tenant:initech, the throttled one
        await on(ChartScreen, drawn)(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=steps(fake, then=open_charts))
