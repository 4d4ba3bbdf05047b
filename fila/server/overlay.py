"""Read-your-writes over the group committer.

The core applies most changes to memory at once and commits them a few
milliseconds later. Its own reads (a message's headers at dead-lettering, a
payload at redrive) must see those not-yet-durable writes, or a redrive right
after a dead-letter would read a payload that is still in the commit queue.
:class:`OverlayStore` keeps every staged write until its batch settles and
answers reads from it first.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from fila.server.store import Store, WriteBatch

__all__ = ["OverlayStore"]


class OverlayStore:
    """A Store whose reads include staged (submitted, unsettled) batches."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: dict[bytes, tuple[int, bytes | None]] = {}
        self._seq = 0

    def stage(self, batch: WriteBatch) -> int:
        """Make ``batch`` visible to reads now; returns a ticket for :meth:`settle`."""
        self._seq += 1
        for key, value in batch.ops:
            self._pending[key] = (self._seq, value)
        return self._seq

    def settle(self, ticket: int, batch: WriteBatch) -> None:
        """The batch is durable (or failed): reads go to the store again, unless a later
        staged batch wrote the same key."""
        for key, _ in batch.ops:
            entry = self._pending.get(key)
            if entry is not None and entry[0] == ticket:
                del self._pending[key]

    @property
    def staged(self) -> int:
        return len(self._pending)

    def get(self, key: bytes) -> bytes | None:
        entry = self._pending.get(key)
        if entry is not None:
            return entry[1]
        return self._store.get(key)

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        lower = max(prefix, start) if start is not None else prefix
        staged = sorted(
            (k, v) for k, (_, v) in self._pending.items() if k.startswith(prefix) and k >= lower
        )
        if not staged:
            yield from self._store.scan(prefix, start)
            return
        overridden = {k for k, _ in staged}
        base = ((k, v) for k, v in self._store.scan(prefix, start) if k not in overridden)
        for key, value in heapq.merge(base, staged, key=lambda kv: kv[0]):
            if value is not None:
                yield key, value

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        self._store.write(batch, sync=sync)

    def wal_synced(self) -> int | None:
        return self._store.wal_synced()

    def size_bytes(self) -> int:
        return self._store.size_bytes()

    def close(self) -> None:
        self._store.close()
