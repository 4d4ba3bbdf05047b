"""Messages just made durable, kept in memory until their first delivery reads them.

Most messages are delivered soon after they are enqueued, and the enqueue already holds
everything a consumer is sent: the decoded record and the payload. Reading both back from
the store (two lookups and a JSON decode) was a fifth of the broker's work per message in
an enqueue -> deliver -> ack cycle. Entries are taken (removed) by that first delivery and
otherwise fall out oldest-first under a bound on entries and payload bytes, so a backlog
costs nothing extra: older messages are read from the store as before.

Only a first delivery may use an entry: every later change to a message's record (a nack,
an expiry, a dead-letter move, a redrive) happens after it was delivered, and the
delivery took the entry. A message leased but never sent goes back unchanged in every
field a consumer sees, so its entry stays correct for the next delivery.
"""

from __future__ import annotations

from collections import OrderedDict

from fila.server.model import StoredMessage

__all__ = ["FreshMessages"]

DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 8 * 1024 * 1024


class FreshMessages:
    """Bounded map of message id -> (queue, record, payload), oldest evicted first."""

    __slots__ = ("_bytes", "_items", "_max_bytes", "_max_entries")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        # An OrderedDict, not a dict: evicting the oldest of a plain dict with
        # next(iter(d)) walks over every slot freed at its front since the last resize,
        # which made each add cost microseconds once the cache was full.
        self._items: OrderedDict[str, tuple[str, StoredMessage, bytes]] = OrderedDict()
        self._bytes = 0
        self._max_entries = max_entries
        self._max_bytes = max_bytes

    def add(self, msg_id: str, queue: str, stored: StoredMessage, payload: bytes) -> None:
        if len(payload) > self._max_bytes // 16:
            return  # a few big payloads must not flush out everything else
        items = self._items
        items[msg_id] = (queue, stored, payload)
        self._bytes += len(payload)
        while len(items) > self._max_entries or self._bytes > self._max_bytes:
            self._bytes -= len(items.popitem(last=False)[1][2])

    def take(self, msg_id: str, queue: str) -> tuple[StoredMessage, bytes] | None:
        entry = self._items.pop(msg_id, None)
        if entry is None:
            return None
        self._bytes -= len(entry[2])
        if entry[0] != queue:
            return None
        return entry[1], entry[2]

    def __len__(self) -> int:
        return len(self._items)

    @property
    def payload_bytes(self) -> int:
        return self._bytes

    def discard(self, msg_id: str) -> None:
        """Drop a message's entry (it was deleted before any delivery took it)."""
        entry = self._items.pop(msg_id, None)
        if entry is not None:
            self._bytes -= len(entry[2])
