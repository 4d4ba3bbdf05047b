"""What every screen reads: the live stats state the app writes, and the session settings.

The app builds one :class:`LiveState` and one :class:`Settings` and hands both to each
screen it makes (attributes down); screens never reach up to the app for them. No Textual
here, so this module sits below both the app and the screens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from fila.tui.attention import DEFAULT_WAIT_MS, Attention, DlqDepths, attention
from fila.tui.viewmodel import History, header_text
from fila.types import QueueSnapshot, ServerInfo, StatsSnapshot

__all__ = ["LiveState", "Settings"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Fixed for the session: where we look, whether writes are allowed, which clock zone."""

    addr: str
    read_only: bool = False
    # None = the operator's local zone; tests pass UTC so screenshots are stable.
    tz: tzinfo | None = None
    # A queue whose oldest ready message waited longer than this is marked (0 = never).
    attention_wait_ms: int = DEFAULT_WAIT_MS

    @property
    def zone(self) -> tzinfo:
        if self.tz is not None:
            return self.tz
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local


@dataclass
class LiveState:
    """Everything the stream has told us; screens read it, only the app writes it."""

    snapshot: StatsSnapshot | None = None
    info: ServerInfo | None = None
    info_taken_at_ms: int | None = None
    connected: bool = False
    ever_connected: bool = False
    error: str = ""
    retry_in: float = 0.0
    attempt: int = 0
    interval_ms: int = 1000
    history: History = field(default_factory=History)
    # The queue whose keys are on screen, and its latest snapshot from the per-queue stream.
    keys_queue: str | None = None
    keys_snapshot: QueueSnapshot | None = None
    depths: DlqDepths = field(default_factory=DlqDepths)

    def attention(self, wait_ms: int) -> dict[str, Attention]:
        """Queues that need the operator's attention now, and why (fila.tui.attention)."""
        return attention(self.snapshot, self.depths, wait_ms=wait_ms,
                         interval_ms=self.interval_ms)

    def queue(self, name: str) -> QueueSnapshot | None:
        """The latest snapshot of ``name``: with its top keys if it is the watched queue."""
        if self.keys_snapshot is not None and self.keys_snapshot.name == name:
            return self.keys_snapshot
        if self.snapshot is None:
            return None
        for q in self.snapshot.queues:
            if q.name == name:
                return q
        return None

    def header(self, addr: str) -> str:
        elapsed = 0
        if self.snapshot is not None and self.info_taken_at_ms is not None:
            elapsed = max(0, self.snapshot.taken_at_ms - self.info_taken_at_ms)
        return "Fila  " + header_text(addr, self.info, elapsed_ms=elapsed)

    def indicator(self) -> str:
        if self.connected:
            return f"● live {self.interval_ms / 1000:g}s"
        return "○ offline" if self.ever_connected else "○ connecting"

    def banner(self, addr: str) -> str | None:
        if self.connected or (not self.error and not self.ever_connected):
            return None
        reason = self.error or "connection lost"
        if addr in reason:  # the client's text often names the address already
            reason = reason.split(f"{addr}: ", 1)[-1]
        return (
            f"Server unavailable at {addr}: {reason} — "
            f"retrying in {self.retry_in:g}s (attempt {self.attempt}); numbers are stale"
        )
