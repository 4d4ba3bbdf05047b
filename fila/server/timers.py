"""One deadline heap for lease expiry, delayed messages and throttle wake-ups.

Pure: deadlines are monotonic seconds chosen by the caller; the shell sleeps
until `next_deadline()` and then calls `pop_due(now)`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable
from enum import StrEnum
from typing import Generic, NamedTuple, TypeVar

__all__ = ["TimerHeap", "TimerKind", "TimerRef"]


class TimerKind(StrEnum):
    LEASE = "lease"  # a lease expires: (queue, message id)
    DUE = "due"  # a delayed message becomes ready: (queue, message id)
    WAKE = "wake"  # a token bucket can pass again: (limit key, "")


class TimerRef(NamedTuple):
    """What a deadline is for (hashable, equal to the plain tuple it replaces)."""

    kind: TimerKind
    name: str  # queue name, or limit key for WAKE
    msg_id: str = ""

T = TypeVar("T", bound=Hashable)

# Rebuild the heap when stale entries outnumber live ones by this much, so
# repeated reschedules (a lease extended over and over) do not grow it forever.
_COMPACT_MIN = 64


class TimerHeap(Generic[T]):
    """Deadlines keyed by a hashable ref; each ref has at most one live deadline.

    Cancel and reschedule are lazy: the old heap entry stays but no longer
    matches the ref's current sequence number, and is dropped when it surfaces
    or when the heap is compacted.
    """

    def __init__(self) -> None:
        # (deadline, seq, ref); seq is unique, so refs are never compared.
        self._heap: list[tuple[float, int, T]] = []
        self._live: dict[T, tuple[float, int]] = {}
        self._seq = 0

    def schedule(self, at: float, ref: T) -> None:
        """Set `ref`'s deadline to `at`, replacing any earlier one."""
        if math.isnan(at):
            raise ValueError("timer deadline must not be NaN")
        self._seq += 1
        self._live[ref] = (at, self._seq)
        heapq.heappush(self._heap, (at, self._seq, ref))
        self._maybe_compact()

    def cancel(self, ref: T) -> None:
        """Forget `ref`'s deadline, if any."""
        if self._live.pop(ref, None) is not None:
            self._maybe_compact()

    def pop_due(self, now: float) -> list[T]:
        """Remove and return the refs due at `now` (deadline <= now), earliest first."""
        heap, live = self._heap, self._live
        due: list[T] = []
        while heap and heap[0][0] <= now:
            _at, seq, ref = heapq.heappop(heap)
            current = live.get(ref)
            if current is not None and current[1] == seq:
                del live[ref]
                due.append(ref)
        return due

    def next_deadline(self) -> float | None:
        """The earliest live deadline, or None when nothing is scheduled."""
        heap, live = self._heap, self._live
        while heap:
            at, seq, ref = heap[0]
            current = live.get(ref)
            if current is not None and current[1] == seq:
                return at
            heapq.heappop(heap)  # stale: cancelled or rescheduled
        return None

    def deadline(self, ref: T) -> float | None:
        current = self._live.get(ref)
        return None if current is None else current[0]

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, ref: object) -> bool:
        return ref in self._live

    def _maybe_compact(self) -> None:
        heap, live = self._heap, self._live
        if len(heap) > 2 * len(live) + _COMPACT_MIN:
            self._heap = [(at, seq, ref) for ref, (at, seq) in live.items()]
            heapq.heapify(self._heap)
