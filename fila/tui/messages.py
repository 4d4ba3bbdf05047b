"""Messages the stats worker posts up to the app (attributes go down, messages go up)."""

from __future__ import annotations

from textual.message import Message

from fila.types import ServerInfo, StatsSnapshot

__all__ = ["ServerInfoArrived", "StatsArrived", "StreamDown"]


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
