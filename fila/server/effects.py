"""What a core call returns for the shell to carry out: batches and deliveries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fila.server.model import MessageRecord, StoredMessage
from fila.server.store import WriteBatch

__all__ = ["Delivered", "Delivery", "Effects", "PreparedEnqueue", "merge"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The core leased ``msg_id`` to ``consumer``; the shell sends it once durable."""

    consumer: int
    queue: str
    msg_id: str
    leased_at_ms: int = 0  # what the lease record says; saves reading it back to send


@dataclass(frozen=True, slots=True)
class Delivered:
    """A leased message with everything a consumer sees (read from the store)."""

    id: str
    queue: str
    headers: dict[str, str]
    payload: bytes
    fairness_key: str
    weight: int
    throttle_keys: tuple[str, ...]
    attempts: int
    enqueued_at_ms: int
    leased_at_ms: int
    deliver_after_ms: int = 0
    last_error: str = ""
    state: str = "leased"


@dataclass(slots=True)
class Effects:
    """What one core call wants done: a batch to commit, then deliveries to send.

    ``batch`` belongs to the call itself (its reply waits for it);
    ``lease_batch`` holds the leases of ``deliveries`` (sent once it is durable).
    ``touched`` lists (queue, id) pairs to resync if a commit fails;
    ``closed`` lists consumers whose stream must end (their queue was deleted).
    ``on_commit`` runs once ``batch`` is durable, in commit order: admin changes
    (queues, runtime config) reach memory only then, so no read sees a change that a
    failed commit would take back. ``undo`` runs instead if ``batch`` fails. Each
    returns effects of its own (streams to close, deliveries).
    """

    batch: WriteBatch = field(default_factory=WriteBatch)
    lease_batch: WriteBatch = field(default_factory=WriteBatch)
    deliveries: list[Delivery] = field(default_factory=list)
    touched: list[tuple[str, str]] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    on_commit: list[Callable[[], Effects]] = field(default_factory=list)
    undo: list[Callable[[], Effects]] = field(default_factory=list)


def merge(parts: list[Effects]) -> Effects:
    """One Effects doing what all of ``parts`` do, in order (one commit for a batch call)."""
    if len(parts) == 1:
        return parts[0]
    out = Effects()
    for part in parts:
        out.batch.extend(part.batch)
        out.lease_batch.extend(part.lease_batch)
        out.deliveries.extend(part.deliveries)
        out.touched.extend(part.touched)
        out.closed.extend(part.closed)
        out.on_commit.extend(part.on_commit)
        out.undo.extend(part.undo)
    return out


@dataclass(slots=True)
class PreparedEnqueue:
    """An enqueue whose batch is built but not yet durable."""

    queue: str
    record: MessageRecord
    batch: WriteBatch
    incarnation: int  # the queue's; a queue deleted and re-created meanwhile is another one
    stored: StoredMessage  # kept for the first delivery (fresh.py)
    payload: bytes
