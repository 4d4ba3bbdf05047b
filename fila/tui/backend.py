"""The slice of :class:`fila.client.Client` the TUI uses.

The app is written against this Protocol, not the client class, so tests can
feed it a scripted fake and the TUI never grows a hidden dependency on gRPC.
Every method is blocking: the app only calls them from thread workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from fila.types import (
    HookResult,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueStats,
    ServerInfo,
    StatsSnapshot,
)

__all__ = ["Backend"]


class Backend(Protocol):
    """Names and signatures exactly as the public client API (``fila.client.Client``)."""

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> Iterator[StatsSnapshot]: ...

    def server_info(self) -> ServerInfo: ...

    def list_queues(self) -> list[QueueInfo]: ...

    def get_queue(self, name: str) -> QueueDetails: ...

    def update_queue(
        self,
        name: str,
        *,
        on_enqueue: str | None = None,
        on_failure: str | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> QueueDetails: ...

    def test_hook(
        self,
        hook: str,
        script: str,
        *,
        headers: dict[str, str] | None = None,
        payload_size: int = 0,
        queue: str = "",
        attempts: int = 1,
        error: str = "",
        message_id: str = "",
    ) -> HookResult: ...

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]: ...

    def set_config(self, key: str, value: str) -> None: ...

    def get_config(self, key: str) -> str | None: ...

    def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]: ...

    def redrive(
        self, dlq: str, count: int = 0, *, fairness_key: str = "", dry_run: bool = False
    ) -> int: ...

    def get_stats(self, queue: str) -> QueueStats: ...

    def close(self) -> None:
        """Ends any open stream; the app calls it on exit so its stream thread stops."""
        ...
