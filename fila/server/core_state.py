"""The core's state and the primitives every part of it uses.

The broker core is one object owned by one thread, built in layers, each in its own
module: :class:`CoreState` (this file: the state, indexing a message, reading one back),
``dispatch.Dispatcher`` (consumers, delivery, leases, timers), ``queue_admin.QueueAdmin``
(queues and runtime config, applied once durable) and ``broker.Broker`` (enqueue, settle,
redrive, recovery). Synchronous and free of I/O: no grpc, asyncio, rocksdict, lupa or
time; time comes from an injected :class:`Clock` and storage is read through an injected
:class:`~fila.server.store.Store`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fila.errors import (
    MessageNotFoundError,
    QueueNotFoundError,
)
from fila.server import keys
from fila.server.effects import Delivered
from fila.server.fresh import FreshMessages
from fila.server.hookguard import (
    HookGuard,
    Hooks,
    HookSettings,
)
from fila.server.ids import Uuid7Generator
from fila.server.leases import LeaseTable
from fila.server.limits import Limits
from fila.server.model import (
    LeaseRecord,
    MessageRecord,
    QueueConfig,
    State,
    StoredMessage,
)
from fila.server.queues import (
    ConsumerState,
    QueueState,
    check_name,
)
from fila.server.store import Store
from fila.server.timers import TimerHeap, TimerKind, TimerRef

__all__ = [
    "KEY_IDLE_S",
    "MAX_DELAY_MS",
    "MAX_ERROR_BYTES",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_PAGE_BYTES",
    "MAX_PAYLOAD_BYTES",
    "BrokerSettings",
    "Clock",
    "CoreState",
]

MAX_HEADERS = 256
MAX_HEADER_BYTES = 64 * 1024
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_DELAY_MS = 365 * 24 * 3600 * 1000
MAX_ERROR_BYTES = 4096
# Items in one EnqueueBatch / AckBatch / NackBatch request.
MAX_BATCH_ITEMS = 1000
# The longest lease ExtendLease grants (the visibility timeout maximum, 12 h).
MAX_LEASE_MS = 12 * 3600 * 1000
# Per-key stats idle this long (nothing pending, delayed or in flight) are pruned.
KEY_IDLE_S = 60.0
# ListMessages stops a page before this many encoded bytes (the send limit is 16 MiB).
MAX_PAGE_BYTES = 8 * 1024 * 1024



class Clock(Protocol):
    """Time as the core sees it: monotonic seconds for timers, wall ms for records."""

    def monotonic(self) -> float: ...

    def wall_ms(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    quantum: int = 1000
    hooks: HookSettings = field(default_factory=HookSettings)
    default_prefetch: int = 256
    release_grace_ms: int = 1000
    max_consumers: int = 1000
    max_queues: int = 10_000
    max_config_entries: int = 10_000
    max_prefetch: int = 1000
    max_streams_per_client: int = 100
    # A stream holding this many unsent payload bytes gets no more credit until it reads.
    max_outbox_bytes: int = 16 * 1024 * 1024


class CoreState:
    """All scheduling state of one broker, owned by one thread."""

    # ---- state and helpers ------------------------------------------------------

    def __init__(self, store: Store, clock: Clock, settings: BrokerSettings | None = None,
                 *, id_seed: bytes | None = None) -> None:
        self._store = store
        self._clock = clock
        self.settings = settings or BrokerSettings()
        self._queues: dict[str, QueueState] = {}
        self._config: dict[str, str] = {}
        self._limits = Limits()
        self._timers: TimerHeap[TimerRef] = TimerHeap()
        # limit key -> (queue, fairness key) parked on it
        self._waiters: dict[str, set[tuple[str, str]]] = {}
        self._consumers: dict[int, ConsumerState] = {}
        self._leases = LeaseTable()  # holders, and stale holders for the stale-ack rule
        self._creating: set[str] = set()  # queues whose create batch is not durable yet
        self._purging: set[str] = set()  # deleted queues whose records are being removed
        self._next_consumer = 1
        self._seq = 0
        # id_seed: tests that replay examples need the same ids each run (see ids.py).
        self._ids = Uuid7Generator(id_seed)
        self._fresh = FreshMessages()  # just enqueued, until first delivered
        self._interned: dict[str, str] = {}
        self._incarnations = 0

    def _intern(self, text: str) -> str:
        # Fairness and limit keys repeat across many messages: share one string.
        return self._interned.setdefault(text, text)

    def _queue(self, name: str) -> QueueState:
        q = self._queues.get(name)
        if q is None:
            check_name(name)
            raise QueueNotFoundError(f'queue "{name}" does not exist')
        return q

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_queue(self, config: QueueConfig, hooks: Hooks | None) -> QueueState:
        self._incarnations += 1
        q = QueueState(self._incarnations, config, self.settings.quantum,
                       HookGuard(hooks, self.settings.hooks))
        self._queues[config.name] = q
        return q

    def _index(self, qname: str, q: QueueState, rec: MessageRecord,
               now: float | None = None) -> None:
        """Put a message record into memory in its state (ready, delayed or leased)."""
        if now is None:
            now = self._clock.monotonic()
        q.msgs[rec.id] = rec
        q.tally(rec.state, rec.fairness_key, +1).last_active = now
        if rec.state == State.READY:
            rec.ready_at = now
            q.sched.push(rec.fairness_key, rec.id, rec.weight)
        elif rec.state == State.DELAYED:
            wait_s = max(0.0, (rec.deliver_after_ms - self._clock.wall_ms()) / 1000)
            self._timers.schedule(now + wait_s, TimerRef(TimerKind.DUE, qname, rec.id))

    def _load(self, qname: str, msg_id: str) -> StoredMessage:
        raw = self._store.get(keys.msg(qname, msg_id))
        if raw is None:  # pragma: no cover - memory says it exists; the store must agree
            raise MessageNotFoundError(f'message "{msg_id}" is missing from storage')
        return StoredMessage.decode(raw)

    def _read(self, qname: str, rec: MessageRecord, state: str, leased_at_ms: int = 0
              ) -> Delivered:
        """Everything a client sees of a message. ``leased_at_ms``: known by the caller
        (a delivery just made, which may also take the message from the fresh cache),
        else read from the lease record."""
        fresh = self._fresh.take(rec.id, qname) if leased_at_ms else None
        if fresh is not None:
            stored, payload = fresh
        else:
            stored = self._load(qname, rec.id)
            payload = self._store.get(keys.payload(qname, rec.id)) or b""
        leased_at = leased_at_ms
        if rec.state == State.LEASED and not leased_at:
            raw = self._store.get(keys.lease(qname, rec.id))
            leased_at = LeaseRecord.decode(raw).leased_at_ms if raw else self._clock.wall_ms()
        return Delivered(rec.id, qname, stored.headers, payload, stored.fairness_key,
                         stored.weight, stored.throttle_keys, rec.attempts,
                         stored.enqueued_at_ms, leased_at, rec.deliver_after_ms,
                         stored.last_error, state)

    # ---- reads ------------------------------------------------------------------

    def queue_names(self) -> list[str]:
        return sorted(self._queues)

    def queue_config(self, name: str) -> QueueConfig:
        return self._queue(name).config

    def get_config(self, key: str) -> str | None:
        return self._config.get(key)

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        # Sorted by key in byte order (UTF-8 byte order equals code point order).
        return sorted((k, v) for k, v in self._config.items() if k.startswith(prefix))

    @property
    def config_lookup(self) -> Callable[[str], str | None]:
        """``fila.get`` for hooks: a plain dict lookup (safe from the hook thread)."""
        return self._config.get

    def queue_counts(self, name: str) -> tuple[int, int, int]:
        """(depth, in_flight, consumers) of a queue."""
        q = self._queue(name)
        return len(q.msgs), q.leased, len(q.consumers)

    def stats_view(self, name: str) -> QueueState:
        """The live queue object, for the stats module (read-only by convention)."""
        return self._queue(name)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def limits(self) -> Limits:
        return self._limits
