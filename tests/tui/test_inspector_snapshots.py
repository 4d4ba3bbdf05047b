"""SVG snapshots of the message inspector and its delete confirmation, in both themes.

Update after an intended change with
`pytest tests/tui/test_inspector_snapshots.py --snapshot-update` and look at the SVGs
(docs/tui.md shows them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from textual.pilot import Pilot

from fila.tui.app import FilaApp
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.message import MessageScreen

from .fakes import FakeBackend, dead_letters
from .test_snapshots import SnapCompare, on, steps

SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
THEMES = pytest.mark.parametrize("theme", ["dark", "light"])


def _rich_message(fake: FakeBackend) -> None:
    """A dead letter worth a screenshot: nested JSON, several headers, throttle keys."""
    first = dead_letters(1)[0]
    payload = (
        b'{"order": 1042, "customer": {"id": "c-77", "tier": "gold"}, '
        b'"items": [{"sku": "A-1", "qty": 2}], "express": true, "coupon": null}'
    )
    message = replace(
        first.message,
        payload=payload,
        headers={"tenant": "acme", "trace-id": "4bf92f35", "source": "checkout"},
        throttle_keys=("provider:stripe",),
        weight=2,
        last_error="payment declined: card expired (stripe code expired_card)",
    )
    fake.dlq["fair-demo.dlq"][0] = replace(first, message=message)


async def _inspect(pilot: Pilot[None], theme: str) -> None:
    if theme == "light":
        await pilot.press("ctrl+t")
    await pilot.press("d")  # fair-demo's DLQ
    await on(DlqScreen, lambda s: not getattr(s, "fetching", True))(pilot)
    await pilot.press("enter")  # its first dead letter: a JSON payload
    await on(MessageScreen)(pilot)


@SIZES
@THEMES
def test_inspector(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
    theme: str,
) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await _inspect(pilot, theme)

    _rich_message(fake)
    assert snap_compare(make_app(), terminal_size=size, run_before=steps(fake, then=run))


@SIZES
@THEMES
def test_inspector_delete_confirm(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
    theme: str,
) -> None:
    async def run(pilot: Pilot[None]) -> None:
        await _inspect(pilot, theme)
        await pilot.press("d")
        await on(ConfirmScreen)(pilot)

    _rich_message(fake)
    assert snap_compare(make_app(), terminal_size=size, run_before=steps(fake, then=run))
