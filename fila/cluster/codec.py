"""The bytes of one replicated-log entry: a commit group's RocksDB operations.

A commit group is the ordered list of puts and deletes the core hands the group committer
for one queue (fila.server.store.WriteBatch.ops). One group is one JetStream message; a
tailer decodes it and applies the operations in order, so the replica ends up with exactly
the keys and values the owner wrote.

Layout (integers are unsigned LEB128 varints)::

    version (1 byte, 1) | op count | op* | CRC-32 of everything before it (4 bytes, big-endian)
    op = kind (1 byte: 0 put, 1 delete) | key length | key | [value length | value]  (puts only)

The CRC is belt and braces over JetStream's own checks: a replica that applied a damaged
entry would diverge silently, one that refuses it stops loudly. Pure: standard library only.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

__all__ = ["FORMAT_VERSION", "DecodeError", "Op", "decode_ops", "encode_ops", "encoded_size"]

FORMAT_VERSION = 1
_PUT = 0
_DELETE = 1

# (key, value); value None means delete, as in fila.server.store.WriteBatch.ops
Op = tuple[bytes, bytes | None]


class DecodeError(ValueError):
    """The bytes are not a well-formed log entry of a version this code reads."""


def _varint(n: int, out: bytearray) -> None:
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def encoded_size(ops: Sequence[Op]) -> int:
    """``len(encode_ops(ops))``, without building it (to size commit groups)."""
    size = 1 + _varint_len(len(ops)) + 4
    for key, value in ops:
        size += 1 + _varint_len(len(key)) + len(key)
        if value is not None:
            size += _varint_len(len(value)) + len(value)
    return size


def encode_ops(ops: Sequence[Op]) -> bytes:
    """Encode ``ops`` (in order) as one log entry."""
    out = bytearray([FORMAT_VERSION])
    _varint(len(ops), out)
    for key, value in ops:
        out.append(_DELETE if value is None else _PUT)
        _varint(len(key), out)
        out += key
        if value is not None:
            _varint(len(value), out)
            out += value
    out += zlib.crc32(out).to_bytes(4, "big")
    return bytes(out)


class _Reader:
    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes, end: int) -> None:
        self.data = data
        self.pos = 0
        self.end = end

    def byte(self) -> int:
        if self.pos >= self.end:
            raise DecodeError("log entry is truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        n = shift = 0
        while True:
            b = self.byte()
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                return n
            shift += 7
            if shift > 63:
                raise DecodeError("log entry has an oversized length")

    def take(self, n: int) -> bytes:
        if n > self.end - self.pos:
            raise DecodeError("log entry is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def decode_ops(data: bytes) -> list[Op]:
    """The operations of one log entry, in order; DecodeError if it is not one."""
    if len(data) < 5:
        raise DecodeError("log entry is truncated")
    body_end = len(data) - 4
    if zlib.crc32(data[:body_end]) != int.from_bytes(data[body_end:], "big"):
        raise DecodeError("log entry checksum mismatch")
    reader = _Reader(data, body_end)
    version = reader.byte()
    if version != FORMAT_VERSION:
        raise DecodeError(f"log entry format version {version} is not supported")
    count = reader.varint()
    # Each op takes at least two bytes: a count beyond that is damage, not a huge allocation.
    if count > body_end:
        raise DecodeError("log entry has an impossible op count")
    ops: list[Op] = []
    for _ in range(count):
        kind = reader.byte()
        key = reader.take(reader.varint())
        if kind == _PUT:
            ops.append((key, reader.take(reader.varint())))
        elif kind == _DELETE:
            ops.append((key, None))
        else:
            raise DecodeError(f"log entry has an unknown op kind {kind}")
    if reader.pos != body_end:
        raise DecodeError("log entry has trailing bytes")
    return ops
