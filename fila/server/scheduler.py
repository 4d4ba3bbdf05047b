"""Deficit Round Robin over fairness keys (pure: no I/O, no clock).

One `DrrScheduler` holds the pending message ids of one queue, grouped by
fairness key, and decides which one is delivered next.

The rules (docs/concepts.md, "Delivery: fair, then limited", gives the user's view):

* A key becomes *active* (deficit 0) when it gets its first pending item and
  joins at the **next** round, never the current one.
* Round start: every key in the round is credited ``weight * quantum`` (capped,
  see `_credited_value`) and the position goes to the first key.
* A turn: the key at the position delivers up to ``weight`` items in a row,
  each costing 1 deficit, then the position advances. Weights 3:1 give
  A,A,A,B,A,A,A,B.
* A key whose pending list empties leaves (deficit dropped); a key whose head
  item is refused by the limit check is *parked* (deficit 0, items kept) until
  `wake`, after which it joins at the next round like a new key.

Cost: the rotation only ever holds keys that may deliver, so parked and empty
keys are not scanned; `next` is O(1) amortised (each extra step it takes is paid
for by an earlier push, remove, park or wake).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["Block", "CheckFn", "DrrScheduler", "KeyView"]


@dataclass(frozen=True, slots=True)
class Block:
    """Why a key's head item cannot be delivered now."""

    reason: str  # "throttled" | "concurrency"
    limit_key: str  # the limit key that said no
    until: float | None  # monotonic time it could pass; None = only an event (wake) frees it


@dataclass(frozen=True, slots=True)
class KeyView:
    """A snapshot of one fairness key, for stats and `queue inspect`."""

    key: str
    pending: int
    deficit: int
    weight: int
    block: Block | None
    in_round: bool  # True when the key still has its turn in the current round


CheckFn = Callable[[str, str], Block | None]

# Where a key sits. An _ACTIVE key is in the current round when its `due`
# round number equals the scheduler's, else it already had its turn this round.
_ACTIVE = 0
_JOINING = 1  # new or woken; first turn next round
_PARKED = 2  # head refused by a limit; out of the rotation until wake()
_GONE = 3  # emptied; any rotation entry for this object is stale


class _Key:
    """Mutable per-key state. Items live in a FIFO with lazy deletion.

    ``fifo`` holds the items themselves (8 bytes an entry, no per-item tuple,
    int or dict entry: memory per pending message is a stated goal). Removal is
    rare (queue delete, redrive, resync), so only removed items are tracked, in
    ``removed``: item -> ``2 * stale + again``, where ``stale`` counts its
    entries in ``fifo`` that no longer count and ``again`` is 1 when it was
    pushed again after them (one live entry behind the stale ones, since pushes
    append). An item absent from ``removed`` has exactly one entry, and it is
    live. Stale entries are skipped when they reach the head, so `remove` is
    O(1) without a linked list.
    """

    __slots__ = ("count", "credited", "deficit", "due", "fifo", "key", "place", "removed", "used",
                 "weight")

    def __init__(self, key: str, weight: int) -> None:
        self.key = key
        self.weight = weight
        self.deficit = 0
        self.fifo: deque[str] = deque()
        self.count = 0  # live entries in fifo: the key's pending items
        self.removed: dict[str, int] | None = None  # allocated on the first remove
        self.place = _JOINING
        self.due = -1  # round number of the key's next turn (when _ACTIVE)
        self.used = 0  # items delivered in the current turn
        self.credited = -1  # round number of the last credit

    def head(self) -> str:
        """The first live item (count > 0), dropping stale entries before it."""
        fifo, removed = self.fifo, self.removed
        item = fifo[0]
        if removed is None:
            return item
        while True:
            mark = removed.get(item)
            if mark is None or mark < 2:
                return item
            fifo.popleft()  # a stale entry: the item was removed after this push
            if mark - 2 < 2:
                del removed[item]  # no stale entry left: back to "one live entry" or gone
                if not removed:
                    self.removed = removed = None
                    return fifo[0]
            else:
                removed[item] = mark - 2
            item = fifo[0]

    def live(self) -> Iterator[str]:
        """Live items in FIFO order (walks a snapshot)."""
        removed = self.removed
        if removed is None:
            return iter(list(self.fifo))
        skip = {item: mark >> 1 for item, mark in removed.items()}
        return (item for item in list(self.fifo) if not _skipped(skip, item))

    def compact(self) -> None:
        # Stale entries are normally dropped as they reach the head; rebuild
        # when they dominate so a key with many removals in its middle does
        # not hold memory for them.
        if len(self.fifo) > 2 * self.count + 32:
            self.fifo = deque(self.live())
            self.removed = None


def _skipped(skip: dict[str, int], item: str) -> bool:
    left = skip.get(item, 0)
    if left:
        skip[item] = left - 1
    return left > 0


class DrrScheduler:
    """Deficit Round Robin over the fairness keys of one queue."""

    def __init__(self, quantum: int = 1000) -> None:
        self.quantum = quantum
        self._keys: dict[str, _Key] = {}  # every key with pending items
        # The rotation. Entries may be stale (key emptied by remove(), or a
        # newer _Key object replaced it); they are skipped when reached.
        self._round: deque[_Key] = deque()  # current round, position at [0]
        self._done: deque[_Key] = deque()  # finished their turn, in round order
        self._joining: deque[_Key] = deque()  # join at the next round start
        self._parked: dict[str, Block] = {}
        self._parked_view = MappingProxyType(self._parked)
        self._round_no = 0
        self._total = 0

    @property
    def quantum(self) -> int:
        return self._quantum

    @quantum.setter
    def quantum(self, value: int) -> None:
        if value <= 0:
            raise ValueError(f"quantum must be > 0 (got {value})")
        self._quantum = value

    # -- mutation ------------------------------------------------------------

    def push(self, key: str, item: str, weight: int) -> None:
        """Append `item` to the back of `key`'s FIFO; the key takes `weight`.

        `item` must not be pending in `key` already (the broker removes a
        message before pushing it again); it would then be pending twice.
        """
        weight = max(weight, 1)  # 0 is treated as 1 (and negatives, defensively)
        st = self._keys.get(key)
        if st is None:
            st = _Key(key, weight)
            self._keys[key] = st
            self._append_joining(st)
        else:
            st.weight = weight
            removed = st.removed
            if removed is not None and item in removed:
                removed[item] |= 1  # its live entry is this new one, behind the stale ones
        st.fifo.append(item)
        st.count += 1
        self._total += 1

    def remove(self, key: str, item: str) -> bool:
        """Drop a pending item wherever it is in its key.

        False when `key` has nothing pending, or `item` was removed from it and
        not pushed again since. `item` must have been pushed to `key`; one
        already delivered by `next` is not recognised as absent.
        """
        st = self._keys.get(key)
        if st is None:
            return False
        removed = st.removed
        if removed is None:
            removed = st.removed = {}
        mark = removed.get(item, 1)
        if not mark & 1:
            return False  # removed before and not pushed again
        removed[item] = mark + 1  # one more stale entry, no live one
        st.count -= 1
        self._total -= 1
        if not st.count:
            self._drop(st)
        else:
            st.compact()
        return True

    def wake(self, key: str) -> None:
        """Let a parked key rejoin; it waits for the next round like a new key."""
        st = self._keys.get(key)
        if st is None or st.place != _PARKED:
            return
        del self._parked[key]
        st.place = _JOINING
        self._append_joining(st)

    def next(self, check: CheckFn) -> tuple[str, str] | None:
        """Pick the next ``(key, item)`` by DRR and remove it from pending.

        `check(key, head_item)` is asked about each candidate head; a `Block`
        parks that key and the search goes on. None: nothing deliverable now.
        """
        keys = self._keys
        while True:
            rnd = self._round
            if not rnd:
                if not self._done and not self._joining:
                    return None
                self._start_round()
                continue  # the new round may hold only stale entries
            st = rnd[0]
            round_no = self._round_no
            if keys.get(st.key) is not st or st.place != _ACTIVE or st.due != round_no:
                rnd.popleft()  # stale entry: emptied or replaced since it was queued
                continue
            if st.credited != round_no:
                st.deficit = self._credited_value(st)
                st.credited = round_no
            item = st.head()
            block = check(st.key, item)
            if block is not None:
                rnd.popleft()
                st.place = _PARKED
                st.deficit = 0
                st.used = 0
                self._parked[st.key] = block
                continue
            st.fifo.popleft()
            st.count -= 1
            self._total -= 1
            st.deficit -= 1
            st.used += 1
            if not st.count:
                rnd.popleft()
                self._drop(st)
            elif st.used >= st.weight or st.deficit <= 0:
                rnd.popleft()
                st.used = 0
                st.due = round_no + 1
                self._done.append(st)
            return st.key, item

    # -- queries -------------------------------------------------------------

    def __len__(self) -> int:
        return self._total

    def pending(self, key: str) -> int:
        st = self._keys.get(key)
        return 0 if st is None else st.count

    def items(self, key: str) -> Iterator[str]:
        """A key's pending items in FIFO order."""
        st = self._keys.get(key)
        return iter(()) if st is None else st.live()

    def heads(self) -> list[str]:
        """The first pending item of each key (its oldest), parked keys included.

        One pass over the keys (stats call it every snapshot): the common case, a FIFO
        with nothing removed, reads its first entry without a method call.
        """
        return [st.fifo[0] if st.removed is None else st.head()
                for st in self._keys.values() if st.count > 0]

    def keys(self) -> Iterator[str]:
        """Keys with pending items (parked ones included)."""
        return iter(list(self._keys))

    def view(self, key: str) -> KeyView | None:
        st = self._keys.get(key)
        if st is None:
            return None
        deficit = st.deficit
        in_round = st.place == _ACTIVE and st.due == self._round_no
        if in_round and st.credited != self._round_no:
            # Credits are applied lazily when the position reaches the key;
            # report the value the key holds from the round start on.
            deficit = self._credited_value(st)
        return KeyView(
            key=key,
            pending=st.count,
            deficit=deficit,
            weight=st.weight,
            block=self._parked.get(key),
            in_round=in_round,
        )

    def parked(self) -> Mapping[str, Block]:
        """Parked keys and what blocks each (a read-only live view)."""
        return self._parked_view

    # -- internals -----------------------------------------------------------

    def _start_round(self) -> None:
        # Round order is stable: keys that had a turn keep their order, and
        # new or woken keys follow. Membership (`due`) and credits are applied
        # lazily, so a round start costs O(joining keys), not O(active keys).
        done = self._done
        due = self._round_no + 1
        for st in self._joining:
            if st.place == _JOINING:
                st.place = _ACTIVE
                st.due = due
                done.append(st)
        self._joining = deque()
        self._round, self._done = done, deque()
        self._round_no = due

    def _append_joining(self, st: _Key) -> None:
        joining = self._joining
        # Keys that join and empty again before any round starts (no consumer
        # calling next) leave stale entries here; drop them once they dominate.
        if len(joining) > 2 * len(self._keys) + 32:
            keys = self._keys
            self._joining = joining = deque(
                j for j in joining if j.place == _JOINING and keys.get(j.key) is j
            )
        joining.append(st)

    def _credited_value(self, st: _Key) -> int:
        # A turn can never use more than `weight` items, and weight <= weight *
        # quantum, so a key never needs more than one round's credit; without
        # the cap, unused deficit would only grow round after round.
        cap = st.weight * self._quantum
        return min(st.deficit + cap, cap)

    def _drop(self, st: _Key) -> None:
        # The key leaves the active set; any rotation entry becomes stale.
        del self._keys[st.key]
        self._parked.pop(st.key, None)
        st.place = _GONE
        st.fifo.clear()
        st.removed = None
