"""The Fila TUI application and the one factory that builds it.

``build_app`` is used by ``fila tui`` and by every test, so what the tests see
is what operators run. Live numbers come from a WatchStats stream of every queue's
totals, plus one of the watched queue's top keys while a screen shows them, each read
by a thread worker; the UI thread never blocks on the network.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.worker import get_current_worker

from fila.errors import FilaError
from fila.tui.attention import DEFAULT_WAIT_MS
from fila.tui.backend import Backend
from fila.tui.messages import (
    KeysArrived,
    OpenCharts,
    OpenCluster,
    OpenConfig,
    OpenDlq,
    OpenHookEditor,
    OpenQueue,
    ServerInfoArrived,
    StatsArrived,
    StreamDown,
    WatchKeys,
)
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.charts import ChartScreen
from fila.tui.screens.cluster import ClusterScreen
from fila.tui.screens.config import ConfigScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.help import HelpScreen
from fila.tui.screens.hook_editor import HookEditorScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.state import LiveState, Settings
from fila.tui.widgets import scrollbar

__all__ = ["Backoff", "FilaApp", "build_app"]


@dataclass(frozen=True, slots=True)
class Backoff:
    """Reconnect delays: first, doubling up to ``maximum`` (seconds)."""

    first: float = 0.5
    maximum: float = 10.0

    def delay(self, attempt: int) -> float:
        return float(min(self.maximum, self.first * 2.0 ** max(0, attempt - 1)))


class FilaApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Fila"
    ENABLE_COMMAND_PALETTE = True

    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+t", "toggle_dark", "Theme", show=False),
    ]

    def __init__(
        self,
        backend: Backend,
        *,
        addr: str,
        read_only: bool = False,
        tz: tzinfo | None = None,
        backoff: Backoff | None = None,
        interval_ms: int = 1000,
        top_keys: int = 100,
        attention_wait_ms: int = DEFAULT_WAIT_MS,
    ) -> None:
        super().__init__()
        scrollbar.install()  # no eighth-block thumb ends that look like sparkline bars
        self.backend = backend
        self.settings = Settings(
            addr=addr, read_only=read_only, tz=tz, attention_wait_ms=attention_wait_ms
        )
        self.backoff = backoff or Backoff()
        self.top_keys = top_keys
        # The one LiveState: the app writes it, every screen it builds is handed it to read.
        self.live = LiveState(interval_ms=interval_ms)
        self._stop = threading.Event()
        self._keys_generation = 0  # bumped when the watched queue changes; old streams end

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self.theme = "textual-dark"
        self.push_screen(OverviewScreen(self.backend, self.live, self.settings))
        self._stream_stats()

    def on_unmount(self) -> None:
        self._stop.set()
        # Ends a stream blocked waiting for the next frame, so the worker thread exits.
        with contextlib.suppress(Exception):  # shutting down; nothing useful to report
            self.backend.close()

    # ------------------------------------------------------------------ the stream

    @work(thread=True, exclusive=True, group="stats", name="watch_stats")
    def _stream_stats(self) -> None:
        worker = get_current_worker()
        attempt = 0
        while not (self._stop.is_set() or worker.is_cancelled):
            try:
                info = self.backend.server_info()
                self.post_message(ServerInfoArrived(info))
                # Every queue's totals; keys come per queue (WatchKeys). 1 is the fewest
                # the request can ask for (0 means the server's default, 50).
                stream = self.backend.watch_stats(
                    "", interval_ms=self.live.interval_ms, top_keys=1
                )
                for snap in stream:
                    if self._stop.is_set() or worker.is_cancelled:
                        return
                    attempt = 0
                    self.post_message(StatsArrived(snap))
                error = "stream ended"
            except FilaError as exc:
                error = exc.message or type(exc).__name__
            except Exception as exc:  # a dashboard must never die of a hiccup
                error = f"{type(exc).__name__}: {exc}"
            if self._stop.is_set():
                return
            attempt += 1
            delay = self.backoff.delay(attempt)
            self.post_message(StreamDown(error, delay, attempt))
            # Backoff wait that ends at once when the app quits.
            self._stop.wait(delay)

    @work(thread=True, group="keys", name="watch_keys")
    def _stream_keys(self, queue: str, generation: int) -> None:
        """The watched queue's top keys, until another queue (or none) is watched.

        Connection trouble is the every-queue stream's to report; this one just retries
        quietly. A superseded stream ends at its next frame (within one interval).
        """
        worker = get_current_worker()
        attempt = 0

        def current() -> bool:
            return not (
                self._stop.is_set() or worker.is_cancelled or generation != self._keys_generation
            )

        while current():
            try:
                stream = self.backend.watch_stats(
                    queue, interval_ms=self.live.interval_ms, top_keys=self.top_keys
                )
                for snap in stream:
                    if not current():
                        return
                    attempt = 0
                    self.post_message(KeysArrived(queue, snap))
            except Exception:  # reported by the main stream; a dashboard must not die of it
                pass
            attempt += 1
            self._stop.wait(self.backoff.delay(attempt))

    def on_watch_keys(self, message: WatchKeys) -> None:
        live = self.live
        if message.queue == live.keys_queue:
            return
        self._keys_generation += 1
        live.keys_queue, live.keys_snapshot = message.queue, None
        if message.queue is not None:
            self._stream_keys(message.queue, self._keys_generation)

    def on_keys_arrived(self, message: KeysArrived) -> None:
        live = self.live
        if message.queue != live.keys_queue:
            return  # a superseded stream's last frame
        found = next((q for q in message.snapshot.queues if q.name == message.queue), None)
        if found is None:
            return
        live.keys_snapshot = found
        live.history.add_keys(found)
        self._repaint()

    def on_server_info_arrived(self, message: ServerInfoArrived) -> None:
        self.live.info = message.info
        self.live.info_taken_at_ms = None  # set by the next snapshot
        self._repaint()

    def on_stats_arrived(self, message: StatsArrived) -> None:
        live = self.live
        live.snapshot = message.snapshot
        if live.info_taken_at_ms is None:
            live.info_taken_at_ms = message.snapshot.taken_at_ms
        live.connected = True
        live.ever_connected = True
        live.error = ""
        live.attempt = 0
        live.history.add(message.snapshot)
        live.depths.add(message.snapshot)
        self._repaint()

    def on_stream_down(self, message: StreamDown) -> None:
        live = self.live
        live.connected = False
        live.error = message.error
        live.retry_in = message.retry_in
        live.attempt = message.attempt
        self._repaint()

    def _repaint(self) -> None:
        # Only the visible screen repaints; others catch up on resume.
        for screen in reversed(self.screen_stack):
            if isinstance(screen, LiveScreen):
                screen.refresh_live()
                break

    # ------------------------------------------------------------------ actions

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen, read_only=self.settings.read_only))

    def action_toggle_dark(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"

    # ------------------------------------------------------------------ navigation
    # Screens post these messages; the app decides what to push and hands the new
    # screen the backend, the live state and the settings.

    def on_open_queue(self, message: OpenQueue) -> None:
        self._open_queue(message.queue)

    def on_open_dlq(self, message: OpenDlq) -> None:
        self._open_dlq(message.queue, message.fairness_key)

    def on_open_hook_editor(self, message: OpenHookEditor) -> None:
        self._open_hook_editor(message.queue)

    def on_open_config(self, message: OpenConfig) -> None:
        self._open_config(message.key_filter)

    def on_open_charts(self, message: OpenCharts) -> None:
        self.push_screen(
            ChartScreen(self.backend, self.live, self.settings, message.queue, message.key)
        )

    def on_open_cluster(self, message: OpenCluster) -> None:
        self._open_cluster()

    def _open_cluster(self) -> None:
        self.push_screen(ClusterScreen(self.backend, self.live, self.settings))

    def _open_queue(self, name: str) -> None:
        if name.endswith(".dlq"):
            self._open_dlq(name)
        else:
            self.push_screen(QueueScreen(self.backend, self.live, self.settings, name))

    def _open_dlq(self, name: str, fairness_key: str = "") -> None:
        self.push_screen(
            DlqScreen(self.backend, self.live, self.settings, name, fairness_key=fairness_key)
        )

    def _open_hook_editor(self, queue: str) -> None:
        self.push_screen(HookEditorScreen(self.backend, self.live, self.settings, queue))

    def _open_config(self, key_filter: str = "") -> None:
        self.push_screen(ConfigScreen(self.backend, self.live, self.settings, key_filter))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Config", "Runtime config: throttles, caps", self._open_config)
        yield SystemCommand("Cluster", "Live nodes, queue owners, replication lag",
                            self._open_cluster)
        yield SystemCommand("Toggle theme", "Switch light / dark", self.action_toggle_dark)
        snap = self.live.snapshot
        for q in sorted(snap.queues if snap else (), key=lambda q: q.name):
            name = q.name
            if name.endswith(".dlq"):
                yield SystemCommand(
                    f"DLQ {name}", f"Browse and redrive {name}", lambda n=name: self._open_dlq(n)
                )
            else:
                yield SystemCommand(
                    f"Queue {name}",
                    f"Keys and limits of {name}",
                    lambda n=name: self._open_queue(n),
                )
                if not self.settings.read_only:
                    yield SystemCommand(
                        f"Hook {name}",
                        f"Edit the Lua hooks of {name}",
                        lambda n=name: self._open_hook_editor(n),
                    )


def build_app(
    backend: Backend,
    *,
    addr: str,
    read_only: bool = False,
    tz: tzinfo | None = None,
    backoff: Backoff | None = None,
    interval_ms: int = 1000,
    top_keys: int = 100,
    attention_wait_ms: int = DEFAULT_WAIT_MS,
) -> FilaApp:
    """The one way to make the TUI: used by ``fila tui`` and by the tests."""
    return FilaApp(
        backend,
        addr=addr,
        read_only=read_only,
        tz=tz,
        backoff=backoff,
        interval_ms=interval_ms,
        top_keys=top_keys,
        attention_wait_ms=attention_wait_ms,
    )
