"""Bounded logs: a queue group's state as one snapshot, and a replica rebuilt from one.

The owner of a group snapshots it once its log has grown by ``snapshot_entries`` entries
since the last snapshot: every store record of the group (its queues' configs, messages,
payloads and leases) as it stands after log entry ``seq``, saved to the JetStream object
store (three replicas, like the logs) under the group's digest. Then it purges the log's
entries up to ``seq``: they are all in the snapshot.

A replica that finds entries missing before the next one it needs (a standby that fell
behind a purge, a node that joins later) restores the latest snapshot, replacing all of
the group's records in its store in one batch together with the applied sequence, and
tails on from there. Restoring is only ever forward: a snapshot older than what the replica
has applied is ignored.

Layout of a snapshot object: the sequence it covers (8 bytes, big-endian), then the
records as one log entry (fila/cluster/codec.py: puts only, with its CRC).
"""

from __future__ import annotations

import contextlib

import nats.errors
import nats.js.errors
from nats.js.api import ObjectMeta, ObjectStoreConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.object_store import ObjectStore

from fila.cluster.applied import applied_key
from fila.cluster.codec import Op, decode_ops, encode_ops
from fila.cluster.names import queue_digest
from fila.server import keys
from fila.server.model import DLQ_SUFFIX
from fila.server.store import Store, WriteBatch

__all__ = ["BUCKET", "Snapshots", "decode_snapshot", "encode_snapshot", "records",
           "restore_batch"]

BUCKET = "fila_snapshots"


def _scans(group: str) -> list[tuple[bytes, bytes | None]]:
    """(prefix, exact key or None) pairs covering every record of ``group``."""
    out: list[tuple[bytes, bytes | None]] = []
    for queue in (group, group + DLQ_SUFFIX):
        out.append((keys.queue(queue), keys.queue(queue)))
        for prefix in (keys.msg_prefix(queue), keys.payload_prefix(queue),
                       keys.lease_prefix(queue)):
            out.append((prefix, None))
    return out


def records(store: Store, group: str) -> list[Op]:
    """Every record of ``group`` in ``store``, as puts."""
    ops: list[Op] = []
    for prefix, exact in _scans(group):
        if exact is not None:
            value = store.get(exact)
            if value is not None:
                ops.append((exact, value))
            continue
        ops.extend(store.scan(prefix))
    return ops


def encode_snapshot(seq: int, ops: list[Op]) -> bytes:
    return seq.to_bytes(8, "big") + encode_ops(ops)


def decode_snapshot(data: bytes) -> tuple[int, list[Op]]:
    """(sequence covered, records); DecodeError if damaged."""
    return int.from_bytes(data[:8], "big"), list(decode_ops(data[8:]))


def restore_batch(store: Store, group: str, seq: int, ops: list[Op]) -> WriteBatch:
    """One batch turning ``store``'s records of ``group`` into exactly ``ops``, applied
    through ``seq``."""
    batch = WriteBatch()
    wanted = {key for key, _ in ops}
    for key, _ in records(store, group):
        if key not in wanted:
            batch.delete(key)
    for key, value in ops:
        if value is not None:
            batch.put(key, value)
    batch.put(applied_key(group), seq.to_bytes(8, "big"))
    return batch


class Snapshots:
    """The snapshot bucket. Create with :meth:`open`."""

    def __init__(self, store: ObjectStore) -> None:
        self._obs = store

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int = 3) -> Snapshots:
        config = ObjectStoreConfig(storage=StorageType.FILE, replicas=replicas,
                                   description="Fila queue group snapshots")
        try:
            obs = await js.create_object_store(BUCKET, config=config)
        except nats.js.errors.BadRequestError:
            obs = await js.object_store(BUCKET)  # made by another node first
        return cls(obs)

    async def save(self, group: str, seq: int, ops: list[Op]) -> int:
        """Store the snapshot of ``group`` through ``seq``; returns its size in bytes, or 0
        when the bucket already holds one as new (a deposed owner's late snapshot must not
        replace its successor's: the log may be purged past it already)."""
        name = queue_digest(group)
        with contextlib.suppress(nats.js.errors.NotFoundError):
            info = await self._obs.get_info(name)
            if info.description and int(info.description) >= seq:
                return 0
        data = encode_snapshot(seq, ops)
        await self._obs.put(name, data, meta=ObjectMeta(name=name, description=str(seq)))
        return len(data)

    async def load(self, group: str) -> tuple[int, list[Op]] | None:
        """The latest snapshot of ``group`` (None if there is none)."""
        try:
            result = await self._obs.get(queue_digest(group))
        except (nats.js.errors.ObjectNotFoundError, nats.js.errors.NotFoundError):
            return None
        except nats.js.errors.ObjectDeletedError:
            return None
        if result.data is None:
            return None
        return decode_snapshot(result.data)

    async def delete(self, group: str) -> None:
        with contextlib.suppress(nats.js.errors.NotFoundError, nats.errors.Error):
            await self._obs.delete(queue_digest(group))
