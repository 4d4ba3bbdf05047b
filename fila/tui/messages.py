"""Messages up to the app (attributes go down, messages go up): from the stats worker, and
from screens asking to navigate."""

from __future__ import annotations

from textual.message import Message

from fila.types import ServerInfo, StatsSnapshot

__all__ = [
    "KeysArrived",
    "OpenCharts",
    "OpenCluster",
    "OpenConfig",
    "OpenDlq",
    "OpenHookEditor",
    "OpenQueue",
    "ServerInfoArrived",
    "StatsArrived",
    "StreamDown",
    "WatchKeys",
]


class StatsArrived(Message):
    """One WatchStats snapshot; the only source of live numbers."""

    def __init__(self, snapshot: StatsSnapshot) -> None:
        super().__init__()
        self.snapshot = snapshot


class ServerInfoArrived(Message):
    def __init__(self, info: ServerInfo) -> None:
        super().__init__()
        self.info = info


class StreamDown(Message):
    """The stream broke (or never opened); the worker retries after ``retry_in`` seconds."""

    def __init__(self, error: str, retry_in: float, attempt: int) -> None:
        super().__init__()
        self.error = error
        self.retry_in = retry_in
        self.attempt = attempt


class WatchKeys(Message):
    """A screen showing one queue's keys came into view (``queue``), or one that shows
    none (None): the app streams that queue's top keys, or stops."""

    def __init__(self, queue: str | None) -> None:
        super().__init__()
        self.queue = queue


class KeysArrived(Message):
    """A snapshot of the watched queue with its top keys (the second, per-queue stream)."""

    def __init__(self, queue: str, snapshot: StatsSnapshot) -> None:
        super().__init__()
        self.queue = queue
        self.snapshot = snapshot


# Navigation: a screen posts one of these and the app decides which screen to push.


class OpenQueue(Message):
    """Show one queue (the app opens the message browser for a ``.dlq`` name)."""

    def __init__(self, queue: str) -> None:
        super().__init__()
        self.queue = queue


class OpenDlq(Message):
    """Browse the messages of ``queue``: a dead-letter queue, or any queue's backlog
    (only those of ``fairness_key`` when given)."""

    def __init__(self, queue: str, fairness_key: str = "") -> None:
        super().__init__()
        self.queue = queue
        self.fairness_key = fairness_key


class OpenHookEditor(Message):
    def __init__(self, queue: str) -> None:
        super().__init__()
        self.queue = queue


class OpenConfig(Message):
    def __init__(self, key_filter: str = "") -> None:
        super().__init__()
        self.key_filter = key_filter


class OpenCharts(Message):
    """Time charts of ``queue``, or of its fairness key ``key`` when given."""

    def __init__(self, queue: str, key: str = "") -> None:
        super().__init__()
        self.queue = queue
        self.key = key


class OpenCluster(Message):
    """Show the cluster: live nodes, queue owners, replication lag."""
