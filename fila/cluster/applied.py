"""A replica's local state: the log entries it applied and the last sequence applied.

A tailer writes each batch of log entries to the local store as one WriteBatch holding the
entries' operations *and* the new last-applied sequence, so after any crash the store is
exactly "every entry up to the stored sequence": it resumes from there, never applying an
entry twice or skipping one. Pure: no asyncio, no NATS.

Key: ``r/<queue>`` -> the last applied stream sequence (8 bytes, big-endian). ``r/`` is
unused by the single-node key layout (fila/server/store.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fila.cluster.codec import Op
from fila.server.store import Store, WriteBatch

__all__ = ["APPLIED_PREFIX", "applied_key", "entries_batch", "read_applied"]

APPLIED_PREFIX = b"r/"


def applied_key(queue: str) -> bytes:
    return APPLIED_PREFIX + queue.encode()


def read_applied(store: Store, queue: str) -> int:
    """The last stream sequence applied to ``store`` for ``queue`` (0: none)."""
    raw = store.get(applied_key(queue))
    return 0 if raw is None else int.from_bytes(raw, "big")


def entries_batch(queue: str, entries: Iterable[tuple[int, Sequence[Op]]]) -> WriteBatch:
    """One atomic batch applying ``entries`` ((sequence, ops), in stream order) and
    recording the last sequence; ValueError if the sequences do not increase."""
    batch = WriteBatch()
    last = 0
    for seq, ops in entries:
        if seq <= last:
            raise ValueError(f"log entries out of order: {seq} after {last}")
        last = seq
        for key, value in ops:
            if value is None:
                batch.delete(key)
            else:
                batch.put(key, value)
    if last:
        batch.put(applied_key(queue), last.to_bytes(8, "big"))
    return batch
