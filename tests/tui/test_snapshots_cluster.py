"""SVG snapshots of the cluster view (C on the overview), fed by the fake.

Update with `pytest tests/tui/test_snapshots_cluster.py --snapshot-update` and look at the
SVGs (docs/tui.md shows them).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from fila.tui.app import FilaApp
from fila.tui.screens.cluster import ClusterScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import FakeBackend, sample_cluster

SnapCompare = Callable[..., bool]


async def open_cluster(pilot: Pilot[None], rows: int) -> None:
    await connected(pilot)
    await pilot.press("C")
    app = pilot.app
    await wait_until(pilot, lambda: isinstance(app.screen, ClusterScreen))
    screen = app.screen
    assert isinstance(screen, ClusterScreen)
    await wait_until(pilot, lambda: screen.status is not None
                     and len(screen.query_one(RowTable).row_keys) == rows)
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_cluster(snap_compare: SnapCompare, make_app: Callable[..., FilaApp],
                 fake: FakeBackend, size: tuple[int, int]) -> None:
    fake.cluster = sample_cluster()

    async def run(pilot: Pilot[None]) -> None:
        await open_cluster(pilot, 5)

    assert snap_compare(make_app(), terminal_size=size, run_before=run)


def test_cluster_single_node(snap_compare: SnapCompare, make_app: Callable[..., FilaApp]) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await open_cluster(pilot, 0)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run)
