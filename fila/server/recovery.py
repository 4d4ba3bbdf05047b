"""Reading the store back into core records at start-up (``Broker.recover`` places them).

Pure reading and decoding, no scheduling: runtime config, queue configs, leases, then each
queue's messages in ``seq`` order (exact FIFO per key). Records that belong to no queue (a
delete racing an in-flight write, a lease whose message is gone, what a crash left of a
purge) are collected in :attr:`RecoveryScan.cleanup` for the shell to delete.

Memory: RSS keeps the peak of recovery, so each record is decoded and turned at once into
the ``MessageRecord`` the core keeps; the decoded ``StoredMessage`` (headers and all) is
dropped right away. A queue's records arrive together (key order), and only its seqs are
held on the side (8 bytes each) to order it once its last record is read.
"""

from __future__ import annotations

import itertools
import operator
from array import array
from collections.abc import Callable, Iterator
from typing import NamedTuple

from fila.server import keys
from fila.server.model import LeaseRecord, MessageRecord, QueueConfig, State, StoredMessage
from fila.server.store import Store, WriteBatch

__all__ = ["Recovered", "RecoveryScan", "to_record"]


class Recovered(NamedTuple):
    """What recovery did: messages loaded, and records of nothing to delete."""

    loaded: int
    cleanup: WriteBatch


def to_record(msg_id: str, stored: StoredMessage, leased: bool, wall_ms: int,
              intern: Callable[[str], str]) -> MessageRecord:
    """The in-memory record of a stored message (not indexed yet)."""
    if leased:
        state = State.LEASED
    elif stored.deliver_after_ms > wall_ms:
        state = State.DELAYED
    else:
        state = State.READY
    return MessageRecord(msg_id, intern(stored.fairness_key), stored.weight,
                         tuple(intern(k) for k in stored.throttle_keys), stored.attempts, state,
                         stored.deliver_after_ms if state == State.DELAYED else 0)


class RecoveryScan:
    """One pass over the store, in the order recovery needs it."""

    def __init__(self, store: Store, wall_ms: int, intern: Callable[[str], str]) -> None:
        self._store = store
        self._wall_ms = wall_ms
        self._intern = intern
        self._leases: dict[tuple[str, str], LeaseRecord] = {}
        self.cleanup = WriteBatch()
        self.max_seq = 0

    def config(self) -> Iterator[tuple[str, str]]:
        for key, raw in self._store.scan(keys.CONFIG):
            yield key[len(keys.CONFIG):].decode(), raw.decode()

    def queues(self) -> Iterator[QueueConfig]:
        for _, raw in self._store.scan(keys.QUEUE):
            yield QueueConfig.decode(raw)

    def messages(self, has_queue: Callable[[str], bool]
                 ) -> Iterator[tuple[str, list[MessageRecord]]]:
        """Each known queue's records in seq order; leases are taken with take_lease."""
        for key, raw in self._store.scan(keys.LEASE):
            self._leases[keys.split(key)] = LeaseRecord.decode(raw)
        qname = ""
        known = False
        recs: list[MessageRecord] = []
        seqs = array("q")
        for key, raw in self._store.scan(keys.MSG):
            name, msg_id = keys.split(key)
            if name != qname:
                if recs:
                    yield qname, _in_seq_order(recs, seqs)
                qname, known, recs, seqs = name, has_queue(name), [], array("q")
            stored = StoredMessage.decode(raw)
            self.max_seq = max(self.max_seq, stored.seq)
            if not known:
                self.cleanup.delete(keys.msg(qname, msg_id))
                self.cleanup.delete(keys.payload(qname, msg_id))
                continue
            recs.append(to_record(msg_id, stored, (qname, msg_id) in self._leases,
                                  self._wall_ms, self._intern))
            seqs.append(stored.seq)
        if recs:
            yield qname, _in_seq_order(recs, seqs)
        for lease_of in self._leases:  # leases of messages that are gone
            self.cleanup.delete(keys.lease(*lease_of))
        self._leases.clear()

    def take_lease(self, queue: str, msg_id: str) -> LeaseRecord | None:
        return self._leases.pop((queue, msg_id), None)


def _in_seq_order(recs: list[MessageRecord], seqs: array[int]) -> list[MessageRecord]:
    # Ids are UUIDv7 and seqs grow with them, so a queue is usually already in seq
    # order; only requeued or moved messages break it.
    if all(map(operator.lt, seqs, itertools.islice(seqs, 1, None))):
        return recs
    return [recs[i] for i in sorted(range(len(recs)), key=seqs.__getitem__)]


def scan_queue(store: Store, name: str, wall_ms: int, intern: Callable[[str], str]
               ) -> tuple[QueueConfig | None, list[tuple[MessageRecord, LeaseRecord | None]], int]:
    """One queue's config and records, in seq order, each with its lease, and the highest
    seq seen: what cluster mode loads when a node starts serving a queue it took over."""
    raw = store.get(keys.queue(name))
    if raw is None:
        return None, [], 0
    leases = {keys.split(key)[1]: LeaseRecord.decode(value)
              for key, value in store.scan(keys.lease_prefix(name))}
    recs: list[MessageRecord] = []
    seqs: array[int] = array("q")
    for key, value in store.scan(keys.msg_prefix(name)):
        msg_id = keys.split(key)[1]
        stored = StoredMessage.decode(value)
        recs.append(to_record(msg_id, stored, msg_id in leases, wall_ms, intern))
        seqs.append(stored.seq)
    ordered = _in_seq_order(recs, seqs)
    return (QueueConfig.decode(raw), [(rec, leases.get(rec.id)) for rec in ordered],
            max(seqs, default=0))
