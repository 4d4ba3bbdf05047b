"""SVG snapshots of each screen, built by the same factory as `fila tui`, fed by the fake.

Update after an intended change with `pytest tests/tui/test_snapshots.py --snapshot-update`
and look at the SVGs in tests/tui/__snapshots__/ (docs/tui.md shows them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from fila.tui.app import FilaApp
from fila.tui.screens.config import ConfigScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.hook_editor import HookEditorScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.screens.redrive import RedriveScreen

from .conftest import connected, freeze_cursors, wait_until
from .fakes import HOOK, FakeBackend, sample_snapshot

SnapCompare = Callable[..., bool]
Step = Callable[[Pilot[None]], Awaitable[None]]


def steps(fake: FakeBackend, *, history: int = 1, then: Step | None = None) -> Step:
    """Feed ``history`` snapshots (for the trend columns), run ``then``, freeze cursors."""

    async def run(pilot: Pilot[None]) -> None:
        for step in range(1, history):
            fake.push(sample_snapshot(step))
        await connected(pilot, snapshots=history)
        if then is not None:
            await then(pilot)
        assert isinstance(pilot.app, FilaApp)
        freeze_cursors(pilot.app)
        await pilot.pause()

    return run


def on(
    screen_type: type, pred: Callable[[object], bool] = lambda s: True
) -> Callable[[Pilot[None]], Awaitable[None]]:
    async def wait(pilot: Pilot[None]) -> None:
        await wait_until(
            pilot, lambda: isinstance(pilot.app.screen, screen_type) and pred(pilot.app.screen)
        )

    return wait


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_overview(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=steps(fake, history=12))


@pytest.mark.parametrize("size", [(80, 24), (120, 30)], ids=["80x24", "120x30"])
def test_queue(
    snap_compare: SnapCompare,
    make_app: Callable[..., FilaApp],
    fake: FakeBackend,
    size: tuple[int, int],
) -> None:
    async def open_queue(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await on(QueueScreen)(pilot)

    assert snap_compare(
        make_app(), terminal_size=size, run_before=steps(fake, history=6, then=open_queue)
    )


def test_queue_light_theme(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def open_queue(pilot: Pilot[None]) -> None:
        pilot.app.theme = "textual-light"
        await pilot.press("enter")
        await on(QueueScreen)(pilot)

    assert snap_compare(
        make_app(), terminal_size=(120, 30), run_before=steps(fake, then=open_queue)
    )


def test_hook_editor_with_error(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def edit(pilot: Pilot[None]) -> None:
        await pilot.press("enter", "h")
        await on(HookEditorScreen, lambda s: getattr(s, "loaded", False))(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, HookEditorScreen)
        screen.editor.load_text(HOOK.replace("local keys = {}", 'error("no tenant")'))
        await pilot.press("t")  # the editor opens without focus: t tests
        await wait_until(pilot, lambda: "Error" in str(screen.query_one("#result").render()))

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=steps(fake, then=edit))


def test_hook_editor_light_theme_80x24(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    """Highlighting and the error mark stay readable on the light theme and a small terminal."""

    async def edit(pilot: Pilot[None]) -> None:
        pilot.app.theme = "textual-light"
        await pilot.press("enter", "h")
        await on(HookEditorScreen, lambda s: getattr(s, "loaded", False))(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, HookEditorScreen)
        screen.editor.load_text(HOOK.replace("local keys = {}", 'error("no tenant")'))
        await pilot.press("t")
        await wait_until(pilot, lambda: screen.editor.error_row is not None)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps(fake, then=edit))


def test_hook_apply_diff(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def apply(pilot: Pilot[None]) -> None:
        await pilot.press("enter", "h")
        await on(HookEditorScreen, lambda s: getattr(s, "loaded", False))(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, HookEditorScreen)
        screen.editor.load_text(HOOK.replace('"default"', '"anonymous"'))
        await pilot.press("ctrl+s")
        await on(ConfirmScreen)(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=steps(fake, then=apply))


def test_config(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def open_config(pilot: Pilot[None]) -> None:
        await pilot.press("c")
        await on(ConfigScreen, lambda s: getattr(s, "entries", None) is not None)(pilot)

    assert snap_compare(
        make_app(), terminal_size=(100, 24), run_before=steps(fake, then=open_config)
    )


def test_config_edit_rejected(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def edit(pilot: Pilot[None]) -> None:
        await pilot.press("c")
        await on(ConfigScreen, lambda s: getattr(s, "entries", None) is not None)(pilot)
        await pilot.press("e")
        await on(EditConfigScreen)(pilot)
        dialog = pilot.app.screen
        dialog.query_one("#value", Input).value = "abc"
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: "✗" in str(dialog.query_one("#error").render()))

    assert snap_compare(make_app(), terminal_size=(100, 24), run_before=steps(fake, then=edit))


def test_dlq(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def open_dlq(pilot: Pilot[None]) -> None:
        await pilot.press("d")
        await on(DlqScreen, lambda s: not getattr(s, "fetching", True))(pilot)

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=steps(fake, then=open_dlq))


def test_redrive_dry_run(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def preview(pilot: Pilot[None]) -> None:
        await pilot.press("d")
        await on(DlqScreen, lambda s: not getattr(s, "fetching", True))(pilot)
        await pilot.press("r")
        await on(RedriveScreen)(pilot)
        dialog = pilot.app.screen
        assert isinstance(dialog, RedriveScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: dialog.preview is not None)

    assert snap_compare(make_app(), terminal_size=(100, 30), run_before=steps(fake, then=preview))


def test_server_gone(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def fail(pilot: Pilot[None]) -> None:
        assert isinstance(pilot.app, FilaApp)
        app = pilot.app
        # A slow backoff here so the banner's "attempt 1, retrying in 30s" text is stable.
        from fila.tui.app import Backoff

        app.backoff = Backoff(first=30.0, maximum=30.0)
        fake.fail()
        await wait_until(pilot, lambda: not app.live.connected)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=steps(fake, then=fail))


def test_help_read_only(
    snap_compare: SnapCompare, make_app: Callable[..., FilaApp], fake: FakeBackend
) -> None:
    async def help_(pilot: Pilot[None]) -> None:
        await pilot.press("enter")
        await on(QueueScreen)(pilot)
        await pilot.press("question_mark")

    assert snap_compare(
        make_app(read_only=True), terminal_size=(80, 24), run_before=steps(fake, then=help_)
    )
