"""SVG snapshots of the attention marks and the row actions, at 80x24 and 120x30, dark and
light (ctrl+t): overview with marks, the reasons (a), the purge confirmation (P), the
create-queue form (n), a limit key's throttle edit (t) and a fairness key's messages (Enter).

Update with `pytest tests/tui/test_snapshots_actions.py --snapshot-update` and look at the
SVGs in tests/tui/__snapshots__/test_snapshots_actions/ (docs/tui.md shows them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from fila.tui.app import FilaApp
from fila.tui.screens.attention import AttentionScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.create_queue import CreateQueueScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, freeze_cursors, wait_until
from .fakes import FakeBackend, dead_letters, sample_snapshot

SnapCompare = Callable[..., bool]
Step = Callable[[Pilot[None]], Awaitable[None]]

SIZES = [(80, 24), (120, 30)]
THEMES = ["dark", "light"]


def select(pilot: Pilot[None], table_id: str, key: str) -> None:
    table = pilot.app.screen.query_one(table_id, RowTable)
    table.move_cursor(row=table.row_keys.index(key))


async def overview(pilot: Pilot[None]) -> None:
    select(pilot, "#queues", "orders")


async def reasons(pilot: Pilot[None]) -> None:
    select(pilot, "#queues", "orders")
    await pilot.press("a")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, AttentionScreen))


async def purge(pilot: Pilot[None]) -> None:
    select(pilot, "#queues", "orders")
    await pilot.press("P")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen))


async def create(pilot: Pilot[None]) -> None:
    await pilot.press("n")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CreateQueueScreen))
    await pilot.press(*"payments", "enter", *"60000", "enter")  # the confirmation line


async def limit(pilot: Pilot[None]) -> None:
    await pilot.press("enter")  # fair-demo
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
    await pilot.press("l")
    select(pilot, "#limits", "provider:stripe")
    await pilot.press("t")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, EditConfigScreen))
    pilot.app.screen.query_one("#value", Input).value = "20,40"
    await pilot.press("enter")  # the confirmation line


async def key_messages(pilot: Pilot[None]) -> None:
    await pilot.press("enter")  # fair-demo
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, QueueScreen))
    select(pilot, "#keys", "tenant:acme")
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: isinstance(pilot.app.screen, DlqScreen) and not pilot.app.screen.fetching,
    )


VIEWS = {
    "overview": overview,
    "reasons": reasons,
    "purge": purge,
    "create": create,
    "limit": limit,
    "key_messages": key_messages,
}


def run(fake: FakeBackend, then: Step, theme: str) -> Step:
    # Before the app starts: fair-demo's DLQ grows, orders waits and its breaker is open.
    fake._pending.clear()
    for step in range(3):
        fake.push(sample_snapshot(step, attention=True))
    fake.dlq["fair-demo"] = [  # fair-demo's own backlog, for a key's messages
        replace(m, message=replace(m.message, queue="fair-demo", last_error="", attempt_count=0))
        for m in dead_letters(3)
    ]

    async def go(pilot: Pilot[None]) -> None:
        await connected(pilot, snapshots=3)
        if theme == "light":
            await pilot.press("ctrl+t")
        await then(pilot)
        assert isinstance(pilot.app, FilaApp)
        freeze_cursors(pilot.app)
        await pilot.pause()

    return go


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("size", SIZES, ids=["80x24", "120x30"])
@pytest.mark.parametrize("view", list(VIEWS))
def test_action_views(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    view: str,
    size: tuple[int, int],
    theme: str,
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=run(fake, VIEWS[view], theme))
