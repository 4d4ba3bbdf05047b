"""A screen that shows the live header and banner and is told when stats change."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from fila.tui.backend import Backend
from fila.tui.state import LiveState, Settings
from fila.tui.widgets.status import ConnectionBanner, InfoBar

__all__ = ["LiveScreen"]


class LiveScreen(Screen[None]):
    """Base for every full screen: header, banner, body, footer.

    The app builds each screen with the backend, the shared :class:`LiveState` (which only
    the app writes) and the session :class:`Settings`, and calls :meth:`refresh_live` on the
    visible screen after each snapshot; a screen coming back into view refreshes itself from
    the latest state, so hidden screens cost nothing while covered.
    """

    # Actions that change the broker; hidden and disabled with --read-only.
    WRITE_ACTIONS: frozenset[str] = frozenset()

    def __init__(self, backend: Backend, live: LiveState, settings: Settings) -> None:
        super().__init__()
        self.backend = backend
        self.live = live
        self.settings = settings

    def compose(self) -> ComposeResult:
        yield InfoBar(id="infobar", markup=False)
        yield ConnectionBanner(id="banner", markup=False)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_screen_resume(self) -> None:
        self.refresh_live()

    def on_resize(self) -> None:
        self._paint_chrome()

    def refresh_live(self) -> None:
        if self.is_mounted:
            self._paint_chrome()
            self.live_changed(self.live)

    def _paint_chrome(self) -> None:
        live, addr = self.live, self.settings.addr
        self.set_class(not live.connected, "-stale")
        self.query_one(InfoBar).show(live.header(addr), live.indicator(), self.size.width)
        self.query_one(ConnectionBanner).show(live.banner(addr))

    def live_changed(self, live: LiveState) -> None:
        """Repaint live numbers; subclasses override."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (self.settings.read_only and action in self.WRITE_ACTIONS)
