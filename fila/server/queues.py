"""In-memory state of queues, consumers and fairness keys, and name validation."""

from __future__ import annotations

from collections import deque

from fila.errors import InvalidArgumentError
from fila.server.hookguard import HookGuard
from fila.server.model import (
    DEFAULT_VISIBILITY_TIMEOUT_MS,
    DLQ_SUFFIX,
    MessageRecord,
    QueueConfig,
    State,
)
from fila.server.scheduler import DrrScheduler

__all__ = ["MAX_NAME_BYTES", "ConsumerState", "KeyStats", "QueueState", "check_name",
           "check_visibility"]

MAX_NAME_BYTES = 256


class ConsumerState:
    __slots__ = ("credit", "held", "id", "leases", "paused", "peer", "queue", "token", "unsent")

    def __init__(self, cid: int, queue: str, credit: int, peer: str = "",
                 token: str = "") -> None:
        self.id = cid
        self.queue = queue
        self.credit = credit
        # The client connection and the stream's own token, to recognise stale acks.
        self.peer = peer
        self.token = token
        self.leases: set[str] = set()
        # Leases waiting in the stream's outbox (the shell says so), not taken by it yet.
        self.unsent: set[str] = set()
        # Outbox entries whose lease ended while unsent: each keeps its credit until the
        # stream takes the entry off its outbox (and skips it), so a stream that stops
        # reading is not leased more than its prefetch.
        self.held = 0
        self.paused = False  # the shell holds too many unsent bytes for it: no credit


class KeyStats:
    """Per fairness key counters for live stats (not persisted)."""

    __slots__ = ("delayed", "delivered", "in_flight", "last_active", "pending", "throttled",
                 "waits", "waits_at")

    def __init__(self) -> None:
        self.pending = 0  # mirrors the scheduler's count, so ranking keys is attribute reads
        self.delivered = 0
        self.in_flight = 0
        self.delayed = 0
        self.throttled = 0  # times its head message was refused by a limit (history)
        self.last_active = 0.0
        self.waits: list[float] = []
        self.waits_at = 0

    def add_wait(self, seconds: float) -> None:
        # A small ring: enough for a p95 over recent deliveries at bounded memory.
        if len(self.waits) < 32:
            self.waits.append(seconds)
        else:
            self.waits[self.waits_at] = seconds
            self.waits_at = (self.waits_at + 1) % 32


class QueueState:
    """In-memory state of one queue."""

    def __init__(self, incarnation: int, config: QueueConfig, quantum: int,
                 guard: HookGuard) -> None:
        self.incarnation = incarnation
        self.config = config
        self.sched = DrrScheduler(quantum)
        self.msgs: dict[str, MessageRecord] = {}
        self.guard = guard  # its compiled hooks, breaker and last failure
        self.consumers: dict[int, ConsumerState] = {}
        self.ready: deque[int] = deque()  # consumers with credit, round robin
        self.delayed = 0
        self.leased = 0
        self.counters = {"enqueued": 0, "delivered": 0, "acked": 0, "nacked": 0,
                         "dead_lettered": 0, "hook_failures": 0, "expired": 0,
                         "redriven": 0, "throttle_hits": 0, "purged": 0}
        self.keys: dict[str, KeyStats] = {}
        self.waits: deque[float] = deque(maxlen=512)

    def tally(self, state: State, key: str, delta: int) -> KeyStats:
        """The one place the per-state counters change: ``delta`` messages of ``key`` enter
        (+1) or leave (-1) ``state``. Pending is mirrored from the scheduler, so callers
        tally READY exactly when they push to or remove from it."""
        ks = self.key_stats(key)
        if state == State.READY:
            ks.pending += delta
        elif state == State.DELAYED:
            self.delayed += delta
            ks.delayed += delta
        else:
            self.leased += delta
            ks.in_flight += delta
        return ks

    def key_stats(self, key: str) -> KeyStats:
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyStats()
        return ks


def check_name(name: str, what: str = "queue name") -> None:
    if not name:
        raise InvalidArgumentError(f"{what} must not be empty")
    # A dead-letter queue is its parent's name plus ".dlq", so it may be that much longer.
    limit = MAX_NAME_BYTES + (len(DLQ_SUFFIX) if name.endswith(DLQ_SUFFIX) else 0)
    if len(name.encode()) > limit:
        raise InvalidArgumentError(f"{what} is longer than {limit} bytes")
    if any(ord(c) < 32 or c == "\x7f" for c in name):
        raise InvalidArgumentError(f"{what} must not contain control characters")


def check_visibility(ms: int) -> int:
    if ms == 0:
        return DEFAULT_VISIBILITY_TIMEOUT_MS
    if ms < 1000:
        raise InvalidArgumentError("visibility_timeout_ms must be 0 (default) or >= 1000")
    if ms > 12 * 3600 * 1000:
        raise InvalidArgumentError("visibility_timeout_ms must be at most 43200000 (12 h)")
    return ms
