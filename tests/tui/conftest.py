"""Fixtures for the TUI tests: the real app factory fed by the scripted fake."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import UTC

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from fila.tui.app import Backoff, FilaApp, build_app

from .fakes import FakeBackend


@pytest.fixture()
def fake() -> Iterator[FakeBackend]:
    backend = FakeBackend()
    yield backend
    backend.close()


@pytest.fixture()
def make_app(fake: FakeBackend) -> Callable[..., FilaApp]:
    def make(**kwargs: object) -> FilaApp:
        # Same factory as `fila tui`; UTC and a fast backoff keep tests deterministic and quick.
        return build_app(
            fake,
            addr="127.0.0.1:5555",
            tz=UTC,
            backoff=Backoff(first=0.01, maximum=0.05),
            **kwargs,  # type: ignore[arg-type]
        )

    return make


async def wait_until(pilot: Pilot[None], cond: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the app run until ``cond()`` holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {cond}")
        await pilot.pause(0.01)


async def connected(pilot: Pilot[None], snapshots: int = 1) -> None:
    """Wait until the app has taken ``snapshots`` stats snapshots from the stream."""
    app = pilot.app
    assert isinstance(app, FilaApp)
    await wait_until(
        pilot,
        lambda: (
            app.live.connected and len(app.live.history.queues.get("fair-demo", ())) >= snapshots
        ),
    )
    await pilot.pause()


def freeze_cursors(app: FilaApp) -> None:
    """No blinking cursors in screenshots: a blink must not change the picture."""
    for widget in app.screen.query("*"):
        if isinstance(widget, Input | TextArea):
            widget.cursor_blink = False
