"""Storage health: degraded after a failed write, healthy again after one that lands.

The engine reports the result of every batch it submits. The first failure turns
the state *degraded* (one log line); the next successful write turns it back
(one log line). While degraded, background work does not retry at once: the
engine waits :meth:`StorageHealth.next_delay` between probes (50 ms doubling to
5 s), so a full disk costs a handful of write attempts per second, not a spin.
Listeners (gRPC health, the engine) hear about every state change, never about
individual failures. Plain state, no I/O, no asyncio: tested with a fake clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["PROBE_KEY", "StorageHealth"]

log = logging.getLogger("fila.storage")

# The probe deletes this key (server metadata, see store.py): a WAL record that
# needs the disk like any write, leaving nothing behind.
PROBE_KEY = b"s/probe"

FIRST_DELAY_S = 0.05
MAX_DELAY_S = 5.0


class StorageHealth:
    """Degraded / healthy, with a bounded exponential backoff for retries.

    A failure shortly after a recovery (within ``max_delay``) continues the
    backoff where it stopped instead of starting again at ``first_delay``, so a
    disk that flaps between full and almost full cannot drive a fast cycle.
    """

    def __init__(self, *, first_delay: float = FIRST_DELAY_S, max_delay: float = MAX_DELAY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < first_delay <= max_delay:
            raise ValueError("need 0 < first_delay <= max_delay")
        self._first = first_delay
        self._max = max_delay
        self._clock = clock
        self._degraded = False
        self._reason = ""
        self._since = 0.0
        self._recovered_at: float | None = None
        self._delay = first_delay
        self._listeners: list[Callable[[bool], None]] = []
        # Counters for metrics and tests.
        self.failures = 0  # failed writes seen, ever
        self._episode_failures = 0
        self.episodes = 0  # times the state turned degraded

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def reason(self) -> str:
        """The error text of the write that turned the state degraded ("" when healthy)."""
        return self._reason

    def add_listener(self, listener: Callable[[bool], None]) -> None:
        """``listener(degraded)`` is called on every state change."""
        self._listeners.append(listener)

    def write_failed(self, error: BaseException) -> None:
        self.failures += 1
        self._episode_failures += 1
        if self._degraded:
            return
        now = self._clock()
        if self._recovered_at is None or now - self._recovered_at >= self._max:
            self._delay = self._first
        self._degraded = True
        self._episode_failures = 1
        self._reason = str(error)
        self._since = now
        self.episodes += 1
        log.error("storage degraded: %s; writes fail and health is NOT_SERVING until a "
                  "write succeeds again (retrying with backoff up to %.0f s)", error, self._max)
        self._notify()

    def write_ok(self) -> None:
        if not self._degraded:
            return
        now = self._clock()
        self._degraded = False
        self._reason = ""
        self._recovered_at = now
        log.warning("storage recovered after %.1f s (%d failed write(s) meanwhile): writes "
                    "succeed again, health is SERVING", now - self._since, self._episode_failures)
        self._notify()

    def next_delay(self) -> float:
        """Seconds to wait before the next background retry; doubles up to the cap."""
        delay = self._delay
        self._delay = min(self._delay * 2, self._max)
        return delay

    def _notify(self) -> None:
        for listener in list(self._listeners):
            try:
                listener(self._degraded)
            except Exception:  # pragma: no cover - a listener bug must not break writes
                log.exception("storage health listener failed")
