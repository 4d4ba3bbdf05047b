"""Message, lease and queue records, their storage encoding, and the lifecycle table.

The lifecycle words are used everywhere (code, stats, Lua, docs): enqueue,
deliver, ack, nack, expire, dead-letter, redrive, release, due.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from json.encoder import encode_basestring

from fila.errors import FailedPreconditionError

__all__ = [
    "DEFAULT_KEY",
    "DEFAULT_VISIBILITY_TIMEOUT_MS",
    "DLQ_SUFFIX",
    "Event",
    "IllegalTransition",
    "LeaseRecord",
    "MessageRecord",
    "QueueConfig",
    "State",
    "StoredMessage",
    "transition",
]

DEFAULT_KEY = "default"
DEFAULT_VISIBILITY_TIMEOUT_MS = 30_000
DLQ_SUFFIX = ".dlq"


class State(IntEnum):
    """Where a message is in its lifecycle (in memory)."""

    READY = 0  # pending in its fairness key, deliverable when the scheduler picks it
    DELAYED = 1  # waiting for deliver_after (scheduled message or delayed retry)
    LEASED = 2  # delivered, waiting for ack / nack / expiry


class IllegalTransition(FailedPreconditionError):
    """A lifecycle event that the message's current state does not allow.

    A FailedPreconditionError (status and reason FAILED_PRECONDITION): a client sees that.
    """


class Event(StrEnum):
    """The lifecycle words (the same in code, stats, Lua and docs)."""

    DELIVER = "deliver"
    DUE = "due"
    ACK = "ack"
    NACK = "nack"
    NACK_DELAYED = "nack-delayed"
    EXPIRE = "expire"
    RELEASE = "release"
    DEAD_LETTER = "dead-letter"
    REDRIVE = "redrive"
    DELETE = "delete"


# (state, event) -> next state; None means the message leaves the queue.
_TRANSITIONS: dict[tuple[State, Event], State | None] = {
    (State.READY, Event.DELIVER): State.LEASED,
    (State.READY, Event.REDRIVE): None,
    (State.DELAYED, Event.DUE): State.READY,
    (State.DELAYED, Event.REDRIVE): None,
    (State.READY, Event.DELETE): None,
    (State.DELAYED, Event.DELETE): None,
    (State.LEASED, Event.ACK): None,
    (State.LEASED, Event.NACK): State.READY,
    (State.LEASED, Event.NACK_DELAYED): State.DELAYED,
    (State.LEASED, Event.EXPIRE): State.READY,
    (State.LEASED, Event.RELEASE): State.READY,
    (State.LEASED, Event.DEAD_LETTER): None,
}


def transition(state: State, event: Event) -> State | None:
    """The state after ``event``; raises IllegalTransition and changes nothing otherwise."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise IllegalTransition(f"cannot {event} a message that is {state.name.lower()}") from None


class MessageRecord:
    """What the core keeps in memory per message: ids, keys and small metadata.

    Headers and payload stay in the store (read at delivery). ``__slots__`` keeps
    this at 96 bytes (8 slots; a 9th would put it in the allocator's 112-byte
    class); strings like keys are shared between messages. Lease deadlines live
    in the timer heap and the lease record, not here.
    """

    __slots__ = (
        "attempts",
        "deliver_after_ms",
        "fairness_key",
        "id",
        "ready_at",
        "state",
        "throttle_keys",
        "weight",
    )

    def __init__(
        self,
        id: str,
        fairness_key: str,
        weight: int,
        throttle_keys: tuple[str, ...],
        attempts: int,
        state: State,
        deliver_after_ms: int = 0,
        ready_at: float = 0.0,
    ) -> None:
        self.id = id
        self.fairness_key = fairness_key
        self.weight = weight
        self.throttle_keys = throttle_keys
        self.attempts = attempts
        self.state = state
        self.deliver_after_ms = deliver_after_ms
        self.ready_at = ready_at  # monotonic time it became eligible (for wait stats)


# A JSON string literal (quotes and escapes) as json.dumps(ensure_ascii=False) writes it.
_str = encode_basestring


@dataclass(slots=True)
class StoredMessage:
    """The durable metadata record of a message (key ``m/<queue>\\0<id>``)."""

    headers: dict[str, str]
    fairness_key: str
    weight: int
    throttle_keys: tuple[str, ...]
    attempts: int
    enqueued_at_ms: int
    seq: int  # position in its key: enqueue and every requeue take a new, larger seq
    deliver_after_ms: int = 0
    last_error: str = ""

    def encode(self) -> bytes:
        # JSON written by hand, byte for byte what json.dumps(separators=(",", ":"),
        # ensure_ascii=False) gives (a test holds it to that): json.dumps builds a
        # C encoder per call, which made it 3x the cost of this on every enqueue.
        parts = ['{"h":{', ",".join([_str(k) + ":" + _str(v) for k, v in self.headers.items()]),
                 '},"k":', _str(self.fairness_key),
                 f',"w":{self.weight},"a":{self.attempts},"e":{self.enqueued_at_ms},'
                 f'"s":{self.seq}']
        if self.throttle_keys:
            parts.append(',"t":[' + ",".join(map(_str, self.throttle_keys)) + "]")
        if self.deliver_after_ms:
            parts.append(f',"d":{self.deliver_after_ms}')
        if self.last_error:
            parts.append(',"r":' + _str(self.last_error))
        parts.append("}")
        return "".join(parts).encode()

    @classmethod
    def decode(cls, raw: bytes) -> StoredMessage:
        doc = json.loads(raw.decode())  # str: skips json's encoding detection for bytes
        return cls(
            headers=doc["h"],
            fairness_key=doc["k"],
            weight=doc["w"],
            throttle_keys=tuple(doc.get("t", ())),
            attempts=doc["a"],
            enqueued_at_ms=doc["e"],
            seq=doc["s"],
            deliver_after_ms=doc.get("d", 0),
            last_error=doc.get("r", ""),
        )


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """A durable lease (key ``l/<queue>\\0<id>``): wall-clock deadline, lease time, and the
    span granted when the deadline was last set (the visibility timeout, an ExtendLease's
    ``extend_ms``, or the release grace). Recovery clamps the deadline to that span from
    the restart, so a wall-clock jump cannot stretch a lease, and an extension survives.
    Records written before the span was stored have ``span_ms`` 0: the timeout applies."""

    deadline_ms: int
    leased_at_ms: int
    span_ms: int = 0

    def encode(self) -> bytes:
        return b"%d,%d,%d" % (self.deadline_ms, self.leased_at_ms, self.span_ms)

    @classmethod
    def decode(cls, raw: bytes) -> LeaseRecord:
        parts = raw.split(b",")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]) if len(parts) > 2 else 0)


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """A queue's durable configuration (key ``q/<queue>``)."""

    name: str
    on_enqueue_script: str = ""
    on_failure_script: str = ""
    visibility_timeout_ms: int = DEFAULT_VISIBILITY_TIMEOUT_MS
    dead_letter_queue: str = ""  # "" for a .dlq queue
    created_at_ms: int = 0

    @property
    def is_dlq(self) -> bool:
        return self.name.endswith(DLQ_SUFFIX)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "name": self.name,
                "on_enqueue": self.on_enqueue_script,
                "on_failure": self.on_failure_script,
                "visibility_timeout_ms": self.visibility_timeout_ms,
                "dlq": self.dead_letter_queue,
                "created_at_ms": self.created_at_ms,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> QueueConfig:
        doc = json.loads(raw)
        return cls(
            name=doc["name"],
            on_enqueue_script=doc.get("on_enqueue", ""),
            on_failure_script=doc.get("on_failure", ""),
            visibility_timeout_ms=doc.get("visibility_timeout_ms", DEFAULT_VISIBILITY_TIMEOUT_MS),
            dead_letter_queue=doc.get("dlq", ""),
            created_at_ms=doc.get("created_at_ms", 0),
        )
