"""Token buckets (``throttle.<key>``) and concurrency caps (``concurrency.<key>``).

Pure: `now` is passed in (monotonic seconds). Buckets and caps are global, so
one `Limits` serves every queue. The broker asks `check` before delivering a
message, `acquire` when it delivers, and `release` when the lease ends (ack,
nack, expiry, dead-letter).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from fila.server.scheduler import Block

__all__ = ["MAX_BURST", "MAX_CAP", "MAX_RATE", "MIN_RATE", "Limits", "parse_cap",
           "parse_throttle"]

# Bounds on runtime limit values, checked once when they are set (SetConfig), so
# nothing is stored that stats cannot encode: a rate of 1e-20 would put a token
# 1e20 s away (waiting_until_ms overflows its int64), a cap of 10**30 does not fit
# LimitSnapshot.cap (uint64). Rate 0 stays allowed: "burst N deliveries, then stop".
MIN_RATE = 0.000001  # one token every ~11.6 days
MAX_RATE = 1_000_000.0
MAX_BURST = 1_000_000
MAX_CAP = 1_000_000

# Refill arithmetic is floating point: at the exact time `check` promised a
# token, `tokens` may come out as 0.9999999999. Without this slack the broker
# would wake, be refused, and schedule a wake-up a few nanoseconds later.
_EPS = 1e-9


def parse_throttle(value: str) -> tuple[float, float]:
    """Parse ``"<rate_per_second>,<burst>"`` into ``(rate, burst)``.

    Raises:
        ValueError: with a message fit to show the user.
    """
    shape = f'throttle value must be "<rate_per_second>,<burst>" (got "{value}")'
    parts = value.split(",")
    if len(parts) != 2:
        raise ValueError(shape)
    rate = _parse_number(parts[0], "rate", shape)
    burst = _parse_number(parts[1], "burst", shape)
    if rate != 0 and not MIN_RATE <= rate <= MAX_RATE:
        raise ValueError(f"throttle rate must be 0 or {MIN_RATE:.6f}..{MAX_RATE:.0f} per second "
                         f'(got "{parts[0].strip()}")')
    if burst > MAX_BURST:
        raise ValueError(f'throttle burst must be at most {MAX_BURST} (got "{parts[1].strip()}")')
    return rate, burst


def _parse_number(text: str, what: str, shape: str) -> float:
    text = text.strip()
    try:
        number = float(text)
    except (ValueError, OverflowError):
        raise ValueError(shape) from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f'throttle {what} must be a finite number >= 0 (got "{text}")')
    return number


def parse_cap(value: str) -> int:
    """Parse a concurrency cap ``"<n>"`` (integer 0..MAX_CAP).

    Raises:
        ValueError: with a message fit to show the user.
    """
    text = value.strip()
    try:
        cap = int(text) if len(text) <= 32 else MAX_CAP + 1  # skip int() of 1000 digits
        if len(text) > 32 and not text.isdigit():
            raise ValueError
    except ValueError:
        raise ValueError(f'concurrency value must be an integer >= 0 (got "{value}")') from None
    if cap < 0:
        raise ValueError(f'concurrency value must be an integer >= 0 (got "{value}")')
    if cap > MAX_CAP:
        raise ValueError(f'concurrency value must be at most {MAX_CAP} (got "{value}")')
    return cap


class _Bucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst  # buckets start full
        self.stamp = now

    def refill(self, now: float) -> None:
        # Ignore a `now` earlier than the last one (callers should not do it,
        # but a refill must never take tokens away).
        elapsed = now - self.stamp
        if elapsed > 0:
            self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
            self.stamp = now

    def wait(self, now: float) -> float | None:
        """Time at which the bucket holds 1 token; None if it never will."""
        if self.rate <= 0 or self.burst < 1 - _EPS:
            return None
        return now + max(0.0, 1.0 - self.tokens) / self.rate


class Limits:
    """All throttle buckets and concurrency caps, plus in-flight counts."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}
        self._caps: dict[str, int] = {}
        # Leased messages per limit key, for every key (capped or not), so a
        # cap set while messages are in flight counts them. Zero entries are
        # dropped to keep memory proportional to what is in flight.
        self._in_flight: dict[str, int] = {}
        # [hits, passes] per key that has a bucket or a cap.
        self._counters: dict[str, list[int]] = {}

    # -- configuration -------------------------------------------------------

    def set_throttle(self, key: str, rate: float, burst: float, now: float) -> None:
        """Create a bucket (starts full) or update one (keeps tokens, clamped)."""
        if not (math.isfinite(rate) and math.isfinite(burst)) or rate < 0 or burst < 0:
            raise ValueError(
                f"throttle rate and burst must be finite and >= 0 (got {rate}, {burst})"
            )
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = _Bucket(rate, burst, now)
        else:
            bucket.refill(now)  # settle the time elapsed at the old rate first
            bucket.rate = rate
            bucket.burst = burst
            bucket.tokens = min(bucket.tokens, burst)
        self._counters.setdefault(key, [0, 0])

    def remove_throttle(self, key: str) -> None:
        self._buckets.pop(key, None)
        self._forget_counters(key)

    def set_cap(self, key: str, cap: int) -> None:
        if cap < 0:
            raise ValueError(f"concurrency cap must be >= 0 (got {cap})")
        self._caps[key] = cap
        self._counters.setdefault(key, [0, 0])

    def remove_cap(self, key: str) -> None:
        self._caps.pop(key, None)
        self._forget_counters(key)

    def _forget_counters(self, key: str) -> None:
        if key not in self._buckets and key not in self._caps:
            self._counters.pop(key, None)

    # -- hot path ------------------------------------------------------------

    def check(self, keys: Sequence[str], now: float) -> Block | None:
        """Whether a message naming `keys` may be delivered now (consumes nothing).

        Every key with a bucket needs >= 1 token and every capped key needs a
        free slot; keys without limits pass. When several keys refuse, the one
        reported is the one that frees last as far as can be known: a
        concurrency cap (freed only by an event), else the throttle whose
        token arrives latest, so the caller wakes once instead of repeatedly.
        """
        if not keys:
            return None
        buckets, caps = self._buckets, self._caps
        if not buckets and not caps:
            return None
        worst: Block | None = None
        seen: set[str] = set()
        for key in keys:
            if key in seen:
                continue
            seen.add(key)
            block: Block | None = None
            cap = caps.get(key)
            if cap is not None and self._in_flight.get(key, 0) >= cap:
                block = Block("concurrency", key, None)
            else:
                bucket = buckets.get(key)
                if bucket is not None:
                    bucket.refill(now)
                    if bucket.tokens < 1 - _EPS:
                        block = Block("throttled", key, bucket.wait(now))
            if block is not None:
                self._counters[key][0] += 1
                if worst is None or _later(block, worst):
                    worst = block
        return worst

    def acquire(self, keys: Sequence[str], now: float) -> None:
        """Record a delivery: 1 token from each bucket, 1 in-flight slot per key."""
        if not keys:
            return
        in_flight, buckets, counters = self._in_flight, self._buckets, self._counters
        for key in set(keys):
            in_flight[key] = in_flight.get(key, 0) + 1
            bucket = buckets.get(key)
            if bucket is not None:
                bucket.refill(now)
                bucket.tokens = max(0.0, bucket.tokens - 1.0)
            c = counters.get(key)
            if c is not None:
                c[1] += 1

    def hold(self, keys: Sequence[str]) -> None:
        """Count an existing lease (recovered or resynced): in-flight slots, no token."""
        in_flight = self._in_flight
        for key in set(keys):
            in_flight[key] = in_flight.get(key, 0) + 1

    def release(self, keys: Sequence[str]) -> None:
        """A lease ended: free 1 in-flight slot per (deduplicated) key."""
        in_flight = self._in_flight
        for key in set(keys):
            n = in_flight.get(key, 0)
            if n <= 1:
                in_flight.pop(key, None)
            else:
                in_flight[key] = n - 1

    # -- inspection ----------------------------------------------------------

    def throttle_state(self, key: str, now: float) -> tuple[float, float, float] | None:
        """``(tokens, rate, burst)`` after refilling to `now`; None without a bucket."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.refill(now)
        return bucket.tokens, bucket.rate, bucket.burst

    def cap_state(self, key: str) -> tuple[int, int] | None:
        """``(in_flight, cap)``; None without a cap."""
        cap = self._caps.get(key)
        if cap is None:
            return None
        return self._in_flight.get(key, 0), cap

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)

    def keys_in_use(self) -> set[str]:
        """Every key with a bucket, a cap, counters or leases in flight."""
        return {*self._buckets, *self._caps, *self._in_flight, *self._counters}

    def throttle_keys(self) -> list[str]:
        return sorted(self._buckets)

    def cap_keys(self) -> list[str]:
        return sorted(self._caps)

    def counters(self, key: str) -> tuple[int, int]:
        """``(hits, passes)``: checks refused on this key, deliveries that took it.

        Counted only while the key has a bucket or a cap; removing both
        forgets them.
        """
        c = self._counters.get(key)
        return (0, 0) if c is None else (c[0], c[1])


def _later(a: Block, b: Block) -> bool:
    """Whether block `a` frees no earlier than `b` (None = unknown, latest)."""
    if a.until is None:
        return b.until is not None
    return b.until is not None and a.until > b.until
