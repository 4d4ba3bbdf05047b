"""A screen that shows the live header and banner and is told when stats change."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from fila.tui.backend import Backend
from fila.tui.messages import WatchKeys
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
    # Action -> the permission it needs, (kind, queue); queue None = every queue ("*").
    # With auth on, an action the connected key may not do is shown disabled, and the
    # header says why (GetServerInfo tells the TUI what its key may do).
    NEEDS: dict[str, tuple[str, str | None]] = {}

    def __init__(self, backend: Backend, live: LiveState, settings: Settings) -> None:
        super().__init__()
        self.backend = backend
        self.live = live
        self.settings = settings
        self._bindings_info: object = None  # the ServerInfo the footer's bindings reflect

    def compose(self) -> ComposeResult:
        yield InfoBar(id="infobar", markup=False)
        yield ConnectionBanner(id="banner", markup=False)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> Iterable[Widget]:
        return ()

    def on_screen_resume(self) -> None:
        # Keys travel on a stream of their own, for the one queue a screen shows them for:
        # with 1,000 queues, converting every queue's top keys each second cost more than
        # the rest of the TUI together (docs/benchmarks.md, "TUI at scale").
        self.post_message(WatchKeys(self.keys_of()))
        self.refresh_live()

    def keys_of(self) -> str | None:
        """The queue whose fairness keys this screen shows (None: it shows none)."""
        return None

    def on_resize(self) -> None:
        if self._composed():
            self._paint_chrome()

    def refresh_live(self) -> None:
        if self._composed():
            self._paint_chrome()
            self.live_changed(self.live)

    def _composed(self) -> bool:
        # A stream message can still be handled while the app quits and the screen's
        # widgets are being removed: then there is nothing to paint (and no traceback).
        return self.is_mounted and len(self.query(InfoBar)) > 0

    def needs(self, action: str) -> tuple[str, str | None] | None:
        """The permission ``action`` needs here (screens with a queue override)."""
        return self.NEEDS.get(action)

    def denied(self, action: str) -> str | None:
        """Why the connected key may not do ``action`` ("admin on orders"), else None."""
        need, info = self.needs(action), self.live.info
        if need is None or info is None or info.may(*need):
            return None
        kind, queue = need
        return f"{kind} on {queue if queue is not None else '*'}"

    def _paint_chrome(self) -> None:
        live, addr = self.live, self.settings.addr
        self.set_class(not live.connected, "-stale")
        header = live.header(addr)
        if not self.settings.read_only:
            missing = sorted({d for a in self.WRITE_ACTIONS if (d := self.denied(a))})
            if missing:
                header += f"  · key lacks {', '.join(missing)}: actions off"
        if live.info is not self._bindings_info:
            # The key's permissions may have just arrived. Only then: a bindings refresh
            # rebuilds the footer, a real cost when it happened on every snapshot.
            self._bindings_info = live.info
            self.refresh_bindings()
        self.query_one(InfoBar).show(header, live.indicator(), self.size.width)
        self.query_one(ConnectionBanner).show(live.banner(addr))

    def live_changed(self, live: LiveState) -> None:
        """Repaint live numbers; subclasses override."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.settings.read_only and action in self.WRITE_ACTIONS:
            return False
        if self.denied(action) is not None:
            return None  # shown, but disabled: the header says which permission is missing
        return True
