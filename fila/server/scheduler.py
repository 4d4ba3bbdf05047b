"""Deficit Round Robin over fairness keys (pure: no I/O, no clock).

One `DrrScheduler` holds the pending message ids of one queue, grouped by
fairness key, and decides which one is delivered next.

Reading of the spec ("Fair scheduling — Deficit Round Robin"):

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

    ``fifo`` holds ``(seq, item)`` entries; ``live`` maps each pending item to
    the seq of its one valid entry. An entry whose seq no longer matches was
    removed (or pushed again, which moves the item to the back), and is skipped
    when it reaches the head. This makes `remove` O(1) without a linked list.
    """

    __slots__ = ("credited", "deficit", "due", "fifo", "key", "live", "place", "used", "weight")

    def __init__(self, key: str, weight: int) -> None:
        self.key = key
        self.weight = weight
        self.deficit = 0
        self.fifo: deque[tuple[int, str]] = deque()
        self.live: dict[str, int] = {}
        self.place = _JOINING
        self.due = -1  # round number of the key's next turn (when _ACTIVE)
        self.used = 0  # items delivered in the current turn
        self.credited = -1  # round number of the last credit

    def compact(self) -> None:
        # Stale entries are normally dropped as they reach the head; rebuild
        # when they dominate so a key with many removals in its middle does
        # not hold memory for them.
        if len(self.fifo) > 2 * len(self.live) + 32:
            live = self.live
            self.fifo = deque(e for e in self.fifo if live.get(e[1]) == e[0])


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
        self._seq = 0

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

        Pushing an item that is already pending in `key` moves it to the back.
        """
        weight = max(weight, 1)  # 0 is treated as 1 (and negatives, defensively)
        st = self._keys.get(key)
        if st is None:
            st = _Key(key, weight)
            self._keys[key] = st
            self._append_joining(st)
        else:
            st.weight = weight
            if item in st.live:
                self._total -= 1
        self._seq += 1
        st.live[item] = self._seq
        st.fifo.append((self._seq, item))
        self._total += 1
        st.compact()

    def remove(self, key: str, item: str) -> bool:
        """Drop a pending item wherever it is in its key; False if absent."""
        st = self._keys.get(key)
        if st is None or st.live.pop(item, None) is None:
            return False
        self._total -= 1
        if not st.live:
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
            fifo, live = st.fifo, st.live
            seq, item = fifo[0]
            while live.get(item) != seq:  # skip entries removed lazily
                fifo.popleft()
                seq, item = fifo[0]
            block = check(st.key, item)
            if block is not None:
                rnd.popleft()
                st.place = _PARKED
                st.deficit = 0
                st.used = 0
                self._parked[st.key] = block
                continue
            fifo.popleft()
            del live[item]
            self._total -= 1
            st.deficit -= 1
            st.used += 1
            if not live:
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
        return 0 if st is None else len(st.live)

    def items(self, key: str) -> Iterator[str]:
        """A key's pending items in FIFO order."""
        st = self._keys.get(key)
        if st is None:
            return iter(())
        live = st.live
        return (item for seq, item in list(st.fifo) if live.get(item) == seq)

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
            pending=len(st.live),
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
