"""Becoming a queue's writer without losing what the previous writer had acknowledged.

A node that just acquired a queue's lease appends a claim entry fenced on the stream's end
as it last saw it. If the previous writer (still believing it owns the queue: paused,
partitioned) appended meanwhile, the claim is refused with the stream's new end, and the
claim is retried there: one round trip per retry, so an old writer that is still going does
not starve the new one. Once the claim lands, the stream order settles it: every entry the
old writer got acknowledged precedes the claim, and every later append of the old writer is
refused (fenced). The new writer then applies the stream up to and including its claim
before it serves the queue, so its state holds everything acknowledged before.
"""

from __future__ import annotations

from fila.cluster.log import FencedError, LogError, QueueLog
from fila.cluster.tailer import LogTailer

__all__ = ["take_over"]


async def take_over(
    log: QueueLog, tailer: LogTailer, *, attempts: int = 20, timeout: float = 30.0
) -> int:
    """Make ``log``'s writer the queue's only writer, with ``tailer``'s store caught up
    through the claim. Returns the claim's sequence. LogError if another writer kept
    appending through ``attempts`` claims."""
    if log.queue != tailer.queue:
        raise ValueError("the log and the tailer are for different queues")
    expected = await tailer.stream_end()
    for _ in range(attempts):
        try:
            seq = await log.claim(expected)
        except FencedError as exc:
            # The old writer appended meanwhile: claim after its entries instead.
            expected = exc.actual if exc.actual is not None else await tailer.stream_end()
            continue
        applied = await tailer.catch_up(timeout=timeout, until=seq)
        if applied != seq:
            raise LogError(f"queue {log.queue!r}: applied {applied}, claimed {seq}")
        return seq
    raise LogError(
        f"queue {log.queue!r}: could not claim the log in {attempts} attempts "
        "(another writer keeps appending)"
    )
