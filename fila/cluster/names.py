"""NATS names for Fila queues: stream, subject and KV key, derived from the queue name.

A Fila queue name is up to 260 bytes of any non-control characters; NATS stream names and
subject tokens may not contain ``.``, ``*``, ``>``, whitespace or path separators, and a
stream name becomes a directory name. So every NATS name carries a digest of the queue
name (unique in practice: 80 bits) and, for people reading ``nats stream ls``, a short
sanitised prefix of it. Pure: standard library only.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["check_node_id", "lease_key", "queue_digest", "stream_name", "stream_subject"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_READABLE_CHARS = 24
_NODE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def check_node_id(node_id: str) -> str:
    if not _NODE_ID.match(node_id):
        raise ValueError(
            f"node id {node_id!r}: use 1-64 letters, digits, '_' or '-' (it is part of a NATS key)"
        )
    return node_id


def queue_digest(queue: str) -> str:
    """20 hex characters of SHA-256 over the queue name's UTF-8 bytes."""
    return hashlib.sha256(queue.encode()).hexdigest()[:20]


def stream_name(queue: str) -> str:
    """The JetStream stream holding ``queue``'s replicated log."""
    readable = _UNSAFE.sub("_", queue)[:_READABLE_CHARS]
    return f"FILA_Q_{readable}_{queue_digest(queue)}"


def stream_subject(queue: str) -> str:
    """The one subject of ``queue``'s stream (the log is appended on it)."""
    return f"fila.log.{queue_digest(queue)}"


def lease_key(queue: str) -> str:
    """The key of ``queue``'s ownership lease in the leases KV bucket."""
    return f"q.{queue_digest(queue)}"
