"""A replicated name -> value map on a JetStream KV bucket, read by polling.

Cluster mode keeps two of these: the queue registry (which queue groups exist) and the
runtime config (SetConfig keys). Fila's names may hold characters a KV key may not, so the
key is a digest and the value carries the name (JSON ``{"name": ..., "value": ...}``).

Reading is a poll, not a watch: one ``stream_info`` per round tells whether anything changed
(the stream's last sequence), and only then are the keys listed (the stream's subjects,
answered by its leader) and read. A watch's consumer can stall when its NATS node dies; a
poll simply asks again on the reconnected connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from fila.cluster.log import wait_for_leader

__all__ = ["KvMap"]

_STREAM_NAME_IN_USE = 10058


def _key(name: str) -> str:
    return "k" + hashlib.sha256(name.encode()).hexdigest()[:32]


class KvMap:
    """See the module docstring. Create with :meth:`open`."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str) -> None:
        self._js = js
        self._kv = kv
        self.bucket = bucket
        self._seen_seq = -1
        self._values: dict[str, str] = {}

    @classmethod
    async def open(cls, js: JetStreamContext, bucket: str, *, replicas: int = 3,
                   timeout: float = 60.0) -> KvMap:
        config = KeyValueConfig(bucket=bucket, history=1, replicas=replicas,
                                storage=StorageType.FILE)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                kv = await js.create_key_value(config)
                break
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_NAME_IN_USE:
                    raise
                kv = await js.key_value(bucket)  # made by another node first
                break
            except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
                if loop.time() >= deadline:  # creating is idempotent: ask again until then
                    raise
        await wait_for_leader(js, f"KV_{bucket}")
        return cls(js, kv, bucket)

    async def put(self, name: str, value: str) -> None:
        data = json.dumps({"name": name, "value": value}).encode()
        await self._retried(lambda: self._kv.put(_key(name), data))
        self._values[name] = value

    async def delete(self, name: str) -> None:
        await self._retried(lambda: self._kv.delete(_key(name)))
        self._values.pop(name, None)

    @staticmethod
    async def _retried(write: Callable[[], Awaitable[object]], timeout: float = 10.0) -> None:
        """``write()``, again while the bucket's stream has no leader to answer (just
        created, or electing one after a node's loss): "no responders" stored nothing."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await write()
                return
            except (nats.js.errors.NoStreamResponseError, nats.errors.NoRespondersError,
                    nats.js.errors.ServiceUnavailableError):
                if loop.time() >= deadline:
                    raise
            await asyncio.sleep(0.05)  # a retry pause during an election

    async def read(self) -> dict[str, str]:
        """Every name and its value now (cached while the bucket has not changed)."""
        stream = f"KV_{self.bucket}"
        info = await self._js.stream_info(stream)
        if info.state.last_seq == self._seen_seq:
            return dict(self._values)
        prefix = f"$KV.{self.bucket}."
        info = await self._js.stream_info(stream, subjects_filter=f"{prefix}>")
        values: dict[str, str] = {}
        for subject in info.state.subjects or {}:
            try:
                entry = await self._kv.get(subject[len(prefix):])
            except nats.js.errors.KeyNotFoundError:
                continue  # deleted since the listing
            if entry.value is None:
                continue
            try:
                body = json.loads(entry.value)
                values[str(body["name"])] = str(body["value"])
            except (ValueError, KeyError, TypeError):
                continue  # not written by Fila: ignore
        self._values = values
        self._seen_seq = info.state.last_seq
        return dict(values)
