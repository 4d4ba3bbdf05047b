"""Store key layout (documented in full in store.py): builders and one parser."""

from __future__ import annotations

__all__ = ["CONFIG", "LEASE", "MSG", "PAYLOAD", "QUEUE", "config", "lease", "lease_prefix", "msg",
           "msg_prefix", "payload", "payload_prefix", "queue", "split"]

QUEUE = b"q/"
MSG = b"m/"
PAYLOAD = b"p/"
LEASE = b"l/"
CONFIG = b"c/"
SEP = b"\x00"


def queue(name: str) -> bytes:
    return QUEUE + name.encode()


def config(key: str) -> bytes:
    return CONFIG + key.encode()


def msg_prefix(qname: str) -> bytes:
    return MSG + qname.encode() + SEP


def payload_prefix(qname: str) -> bytes:
    return PAYLOAD + qname.encode() + SEP


def lease_prefix(qname: str) -> bytes:
    return LEASE + qname.encode() + SEP


def msg(qname: str, msg_id: str) -> bytes:
    return MSG + qname.encode() + SEP + msg_id.encode()


def payload(qname: str, msg_id: str) -> bytes:
    return PAYLOAD + qname.encode() + SEP + msg_id.encode()


def lease(qname: str, msg_id: str) -> bytes:
    return LEASE + qname.encode() + SEP + msg_id.encode()


def split(key: bytes) -> tuple[str, str]:
    """``m/<queue>\\0<id>`` (any 2-byte kind prefix) -> (queue, id)."""
    qname, _, msg_id = key[2:].partition(SEP)
    return qname.decode(), msg_id.decode()
