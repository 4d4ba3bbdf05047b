"""Stats history: a bounded ring of per-second samples per queue and per busy key.

The shell calls :meth:`History.sample` once a second; each call reads the same
cumulative counters WatchStats reads (``QueueState.counters``, key stats, the
wait rings) and writes one value per series into fixed-size ``array('f')``
rings, so memory is fixed when a queue or key starts being tracked and never
grows after. Seconds are wall-clock seconds from the injected clock: a late
timer fills the seconds it missed with the average over the gap rather than
shifting the time axis.

A queue's wait p95 is that of the messages delivered in the second (the newest
entries of its wait ring); a second without deliveries repeats the last value.

Bounds (``size`` seconds, 4 bytes a value): a queue holds 7 series, a key 4;
at 900 s that is 25.2 KB per queue and 14.4 KB per key. Queues are tracked from
their first activity until deleted; per queue at most ``top_keys`` keys are tracked (the
busiest, ranked like WatchStats ranks them), a key leaving the top giving its
place to a newcomer.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from fila.server.broker import Broker
from fila.server.queues import KeyStats, QueueState
from fila.server.stats import p95_ms, top_keys_of

__all__ = ["KEY_SERIES", "QUEUE_SERIES", "History", "Series"]

QUEUE_SERIES = ("enqueue_rate", "deliver_rate", "ack_rate", "nack_rate", "depth",
                "wait_p95_ms", "throttle_hit_rate")
KEY_SERIES = ("deliver_rate", "pending", "wait_p95_ms", "throttle_hit_rate")
# The counters behind the queue's rate series, in QUEUE_SERIES order.
_RATE_COUNTERS = ("enqueued", "delivered", "acked", "nacked")
VALUE_BYTES = 4  # array('f')
# The busiest keys are re-ranked this often (a pass over all the queue's keys, the
# sampler's main cost at 100 000 keys); the tracked ones are sampled every second.
RANK_EVERY_S = 5


@dataclass(frozen=True, slots=True)
class Series:
    """Samples of one queue or key: ``columns[name][i]`` is second ``start_s + i``."""

    start_s: int
    columns: dict[str, list[float]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))


class _Ring:
    """One fixed array per series; slot ``second % size``; valid from ``born``."""

    __slots__ = ("born", "cols")

    def __init__(self, n: int, size: int, born: int) -> None:
        zeros = bytes(VALUE_BYTES * size)
        self.cols = [array("f", zeros) for _ in range(n)]
        self.born = born

    def write(self, first: int, last: int, size: int, values: tuple[float, ...]) -> None:
        for second in range(first, last + 1):
            slot = second % size
            for col, value in zip(self.cols, values, strict=True):
                col[slot] = value

    def read(self, names: tuple[str, ...], first: int, last: int, size: int) -> Series:
        first = max(first, self.born)
        slots = [s % size for s in range(first, last + 1)]
        return Series(first, {name: [col[s] for s in slots]
                              for name, col in zip(names, self.cols, strict=True)})


class _KeyTrack:
    __slots__ = ("delivered", "last_top", "p95", "ring", "throttled")

    def __init__(self, ks: KeyStats, ring: _Ring, now: int) -> None:
        self.ring = ring
        self.delivered = ks.delivered
        self.throttled = ks.throttled
        self.p95 = p95_ms(ks.waits)
        self.last_top = now


class _QueueTrack:
    __slots__ = ("counts", "incarnation", "keys", "p95", "ranked_at", "ring")

    def __init__(self, q: QueueState, ring: _Ring) -> None:
        self.incarnation = q.incarnation
        self.ring = ring
        # Tracked from its first activity, and counters start at zero with the queue (or
        # the process): so what happened before this first sample counts in it.
        self.counts = (0,) * (len(_RATE_COUNTERS) + 1)
        self.p95 = 0.0
        self.keys: dict[str, _KeyTrack] = {}
        self.ranked_at: int | None = None


def _counts(q: QueueState) -> tuple[int, ...]:
    c = q.counters
    return (*(c[name] for name in _RATE_COUNTERS), c["throttle_hits"])


class History:
    """Per-second samples of every active queue and its busiest keys, ``size`` seconds deep."""

    def __init__(self, broker: Broker, size: int = 900, top_keys: int = 5) -> None:
        if size < 1 or top_keys < 0:
            raise ValueError("history needs size >= 1 and top_keys >= 0")
        self._broker = broker
        self.size = size
        self.top_keys = top_keys
        self._queues: dict[str, _QueueTrack] = {}
        self._last: int | None = None  # the last second sampled

    @property
    def last_second(self) -> int | None:
        return self._last

    def sample(self) -> bool:
        """Record the seconds since the last call; False if still in the same second."""
        now = self._broker.clock.wall_ms() // 1000
        last = self._last
        if last is not None and now <= last:
            return False
        # Seconds to fill (a late timer missed some) and the time the counter deltas span.
        first = now if last is None else max(last + 1, now - self.size + 1)
        dt = 1.0 if last is None else float(now - last)
        self._last = now
        broker, tracks = self._broker, self._queues
        names = broker.queue_names()
        present = set(names)
        for gone in [n for n in tracks if n not in present]:  # deleted queues
            del tracks[gone]
        for name in names:
            q = broker.stats_view(name)
            track = tracks.get(name)
            if track is None or track.incarnation != q.incarnation:
                if not (q.msgs or any(q.counters.values())):
                    continue  # never used: costs nothing until it is
                track = tracks[name] = _QueueTrack(q, _Ring(len(QUEUE_SERIES), self.size, first))
            self._sample_queue(q, track, first, now, dt)
        return True

    def _sample_queue(self, q: QueueState, track: _QueueTrack, first: int, now: int,
                      dt: float) -> None:
        counts = _counts(q)
        prev, track.counts = track.counts, counts
        fresh = min(counts[1] - prev[1], len(q.waits))
        if fresh > 0:  # the p95 of this second's deliveries (the newest waits): cheap to sort
            waits = q.waits
            track.p95 = p95_ms([waits[-i] for i in range(1, fresh + 1)])
        rates = [max(0, a - b) / dt for a, b in zip(counts, prev, strict=True)]
        track.ring.write(first, now, self.size, (
            rates[0], rates[1], rates[2], rates[3], float(len(q.msgs)), track.p95, rates[4]))
        if self.top_keys:
            self._sample_keys(q, track, first, now, dt)

    def _sample_keys(self, q: QueueState, track: _QueueTrack, first: int, now: int,
                     dt: float) -> None:
        keys, stats = track.keys, q.keys
        top: list[str] = []
        if track.ranked_at is None or now - track.ranked_at >= RANK_EVERY_S:
            track.ranked_at = now
            top = [k for k in top_keys_of(q, self.top_keys)
                   if stats[k].pending or stats[k].in_flight or k in keys]
        for key in top:
            if key in keys:
                keys[key].last_top = now
        for key in top:
            if key in keys:
                continue
            if len(keys) >= self.top_keys:  # the key out of the top longest gives its place
                del keys[min(keys, key=lambda k: keys[k].last_top)]
            keys[key] = _KeyTrack(stats[key], _Ring(len(KEY_SERIES), self.size, first), now)
        for key, kt in keys.items():
            ks = stats.get(key)
            if ks is None:  # pruned: nothing pending, in flight or delivered lately
                kt.ring.write(first, now, self.size, (0.0, 0.0, kt.p95, 0.0))
                continue
            delivered, throttled = ks.delivered - kt.delivered, ks.throttled - kt.throttled
            kt.delivered, kt.throttled = ks.delivered, ks.throttled
            if delivered:
                kt.p95 = p95_ms(ks.waits)
            kt.ring.write(first, now, self.size, (
                max(0, delivered) / dt, float(ks.pending), kt.p95, max(0, throttled) / dt))

    # ---- reads -------------------------------------------------------------

    def queue_series(self, name: str, seconds: int = 0) -> Series | None:
        """The queue's samples of the last ``seconds`` (0 = all kept); None if untracked."""
        track = self._queues.get(name)
        if track is None or self._last is None:
            return None
        return track.ring.read(QUEUE_SERIES, self._first(seconds), self._last, self.size)

    def key_series(self, name: str, seconds: int = 0) -> dict[str, Series]:
        """Each tracked key of the queue (the busiest, at most ``top_keys``) -> its samples."""
        track = self._queues.get(name)
        if track is None or self._last is None:
            return {}
        first, last = self._first(seconds), self._last
        return {key: kt.ring.read(KEY_SERIES, first, last, self.size)
                for key, kt in track.keys.items()}

    def _first(self, seconds: int) -> int:
        assert self._last is not None
        span = self.size if seconds <= 0 else min(seconds, self.size)
        return self._last - span + 1

    def memory_bytes(self) -> int:
        """Bytes held by the rings (the arrays' buffers; per-object overhead not counted)."""
        per_queue = len(QUEUE_SERIES) * self.size * VALUE_BYTES
        per_key = len(KEY_SERIES) * self.size * VALUE_BYTES
        return sum(per_queue + per_key * len(t.keys) for t in self._queues.values())
