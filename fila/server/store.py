"""The storage seam: an ordered byte key-value store with atomic batches.

The broker talks to storage only through :class:`Store`. ``rocks.py`` holds
the durable implementation; :class:`MemoryStore` is its in-memory twin for
tests and for running without a disk.

Key layout (all names UTF-8; ``\\x00`` separates a queue name from an id, so a
queue's records sort together and one queue is never a prefix of another's):

    q/<queue>                       queue config (JSON)
    m/<queue>\\x00<message id>       message metadata record
    p/<queue>\\x00<message id>       payload bytes (raw, never re-encoded)
    l/<queue>\\x00<message id>       lease: wall-clock deadline ms, leased-at ms
    c/<key>                         runtime config value
    k/<key id>                      API key: SHA-256 of the key, name, expiry, ACL (JSON; auth.py)
    s/<name>                        server metadata (e.g. schema version)

Values are opaque bytes here; the broker owns their encoding.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from fila.errors import StorageError

__all__ = ["MemoryStore", "Store", "WriteBatch"]


class WriteBatch:
    """An ordered list of puts and deletes applied atomically by ``Store.write``.

    Later operations on the same key win, exactly as if applied one by one.
    """

    __slots__ = ("ops",)

    def __init__(self) -> None:
        # (key, value); value None means delete.
        self.ops: list[tuple[bytes, bytes | None]] = []

    def put(self, key: bytes, value: bytes) -> None:
        self.ops.append((key, value))

    def delete(self, key: bytes) -> None:
        self.ops.append((key, None))

    def extend(self, other: WriteBatch) -> None:
        """Append ``other``'s operations after this batch's own."""
        self.ops.extend(other.ops)

    def __len__(self) -> int:
        return len(self.ops)

    def __repr__(self) -> str:
        return f"WriteBatch({len(self.ops)} ops)"


@runtime_checkable
class Store(Protocol):
    """What the broker needs from storage.

    ``write`` is atomic: after a crash either every operation of the batch is
    there or none is. With ``sync=True`` it returns only once the data is on
    stable storage. It raises ``fila.errors.OverloadedError`` ("storage
    full: ...") when the disk is full, else ``fila.errors.StorageError``.
    """

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        """Keys starting with ``prefix`` in byte order, from ``start`` (inclusive)."""
        ...

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None: ...

    def wal_synced(self) -> int | None:
        """RocksDB's ``rocksdb.wal.synced`` ticker; None when there is no WAL."""
        ...

    def size_bytes(self) -> int:
        """Approximate bytes on disk (0 when in memory)."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    """A :class:`Store` held in memory: a dict plus a sorted key list.

    Thread-safe, because the group committer writes from its own thread while
    the event loop reads. ``scan`` works on a copy of the matching range taken
    under the lock, so a write during iteration never breaks the iterator.
    """

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._keys: list[bytes] = []  # sorted; bisect keeps inserts O(log n) to find
        self._lock = threading.Lock()
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        with self._lock:
            return self._data.get(key)

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        lo_key = prefix if start is None or start < prefix else start
        with self._lock:
            lo = bisect.bisect_left(self._keys, lo_key)
            hi = lo
            n = len(self._keys)
            while hi < n and self._keys[hi].startswith(prefix):
                hi += 1
            items = [(k, self._data[k]) for k in self._keys[lo:hi]]
        return iter(items)

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        with self._lock:
            if self._closed:
                raise StorageError("storage is closed")
            for key, value in batch.ops:
                if value is None:
                    if self._data.pop(key, None) is not None:
                        del self._keys[bisect.bisect_left(self._keys, key)]
                else:
                    if key not in self._data:
                        bisect.insort(self._keys, key)
                    self._data[key] = value

    def wal_synced(self) -> int | None:
        return None

    def size_bytes(self) -> int:
        return 0

    def close(self) -> None:
        with self._lock:
            self._closed = True
