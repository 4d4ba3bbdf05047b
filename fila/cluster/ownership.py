"""Queue ownership (and node liveness) as leases in a JetStream KV bucket.

One key per queue (fila/cluster/names.lease_key); its value names the owner. The bucket's
TTL is the lease TTL: JetStream drops a value that was not rewritten for that long, and then
any node may take the key.

- acquire: ``create`` (succeeds only if the key has no value: free, expired or released);
- renew: ``update`` with the revision last written (compare-and-set): refused if the key
  expired or somebody else took it, and then the lease is lost for good;
- release: ``delete`` at that revision, so the next owner need not wait out the TTL.

The holder's own view is conservative: a lease counts as valid only until the send time of
its last confirmed write plus the TTL, minus ``margin``. JetStream starts the TTL when it
stores the write, which is after the send, so the holder stops believing in its lease before
anyone else can take the key (given clocks that run at the same rate). That alone cannot
stop a holder that is paused between its check and its write; the fenced log
(fila/cluster/log.py) does.

Nodes register the same way under ``node.<id>``: the live nodes are the keys present.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import nats.errors
import nats.js.errors
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import JetStreamContext
from nats.js.kv import KeyValue

from fila.cluster.log import wait_for_leader
from fila.cluster.names import check_node_id, lease_key

__all__ = ["BUCKET", "Holder", "Lease", "LeaseKeeper", "LeaseTable", "check_node_id"]

_T = TypeVar("_T")

BUCKET = "fila_owners"
_NODE_PREFIX = "node."
_STREAM_NAME_IN_USE = 10058
_WRONG_LAST = (10071, 10164)  # wrong last sequence (the CAS was refused)


@dataclass(frozen=True)
class Holder:
    """Who holds a key now, as the bucket says."""

    name: str  # queue name, or node id for node keys
    node: str
    addr: str
    token: str  # one per acquisition
    revision: int


@dataclass
class Lease:
    """A lease this node holds (or held: see ``lost``)."""

    name: str
    key: str
    token: str
    revision: int
    confirmed_at: float  # time.monotonic() when the last confirmed write was sent
    ttl: float
    margin: float
    lost: bool = field(default=False)

    def deadline(self) -> float:
        return self.confirmed_at + self.ttl - self.margin

    def valid(self, now: float | None = None) -> bool:
        """True while this node may act as the holder (monotonic clock)."""
        return not self.lost and (time.monotonic() if now is None else now) < self.deadline()


class LeaseTable:
    """This node's door to the lease bucket. Create with :meth:`open`."""

    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        bucket: str,
        node_id: str,
        addr: str,
        ttl: float,
        margin: float,
    ) -> None:
        self._js = js
        self._kv = kv
        self.bucket = bucket
        self.node_id = check_node_id(node_id)
        self.addr = addr
        self.ttl = ttl
        self.margin = margin

    @classmethod
    async def open(
        cls,
        js: JetStreamContext,
        node_id: str,
        addr: str = "",
        *,
        ttl: float = 2.0,
        margin: float | None = None,
        replicas: int = 3,
        bucket: str = BUCKET,
    ) -> LeaseTable:
        """Open (creating if needed) the bucket with lease TTL ``ttl`` seconds. ``margin``
        (default a tenth of the TTL) is how much sooner than the TTL a holder gives up."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        config = KeyValueConfig(
            bucket=bucket, history=1, ttl=ttl, replicas=replicas, storage=StorageType.FILE
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60.0
        while True:
            try:
                kv = await js.create_key_value(config)
                break
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != _STREAM_NAME_IN_USE:
                    raise
                kv = await js.key_value(bucket)
                status = await kv.status()
                if abs((status.ttl or 0) - ttl) > 1e-3:
                    raise ValueError(
                        f"lease bucket {bucket!r} has TTL {status.ttl}s, this node wants {ttl}s"
                    ) from None
                break
            except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError):
                # Creating is idempotent: a request that timed out (busy meta leader) is
                # sent again.
                if loop.time() >= deadline:
                    raise
        await wait_for_leader(js, f"KV_{bucket}")
        return cls(js, kv, bucket, node_id, addr, ttl, ttl / 10 if margin is None else margin)

    def _value(self, name: str, token: str) -> bytes:
        return json.dumps(
            {"name": name, "node": self.node_id, "addr": self.addr, "token": token}
        ).encode()

    async def _write(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """``attempt()``, again while no server answers for the bucket's stream (just after
        it was created, or during an election), for up to half a TTL. "No responders" means
        nothing was stored, so a retry cannot write twice."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ttl / 2
        while True:
            try:
                return await attempt()
            except nats.js.errors.NoStreamResponseError:
                if loop.time() >= deadline:
                    raise
            await asyncio.sleep(0.02)  # waiting for a responder, bounded by the deadline

    async def acquire(self, queue: str) -> Lease | None:
        """The queue's lease if it was free; None if somebody holds it."""
        return await self._acquire(queue, lease_key(queue))

    async def register(self) -> Lease | None:
        """This node's liveness lease (renew it like a queue's)."""
        return await self._acquire(self.node_id, _NODE_PREFIX + self.node_id)

    async def _acquire(self, name: str, key: str) -> Lease | None:
        token = uuid.uuid4().hex
        sent = time.monotonic()
        try:
            revision = await self._write(lambda: self._kv.create(key, self._value(name, token)))
        except (nats.js.errors.KeyWrongLastSequenceError, nats.js.errors.KeyNotFoundError):
            # Held; or (not found) it expired between create's write and its look at the
            # key: nobody holds it now, try again on the next round.
            return None
        except (TimeoutError, nats.errors.TimeoutError):
            # Unknown outcome: it is ours only if the bucket shows our token.
            holder = await self._holder(key)
            if holder is None or holder.token != token:
                return None
            revision = holder.revision
        return Lease(name, key, token, revision, sent, self.ttl, self.margin)

    async def renew(self, lease: Lease) -> bool:
        """Extend ``lease``; False (and ``lease.lost``) if it is no longer ours. A renewal
        that times out leaves the lease as it was: valid until its deadline."""
        if lease.lost:
            return False
        sent = time.monotonic()
        try:
            value = self._value(lease.name, lease.token)
            lease.revision = await self._write(
                lambda: self._kv.update(lease.key, value, last=lease.revision)
            )
        except nats.js.errors.KeyWrongLastSequenceError:
            # Expired, or another holder: but a timed-out earlier renewal may have landed.
            holder = await self._holder(lease.key)
            if holder is None or holder.token != lease.token:
                lease.lost = True
                return False
            lease.revision = holder.revision
            return await self.renew(lease)
        except (TimeoutError, nats.errors.TimeoutError):
            return lease.valid()
        if not lease.valid(sent):
            # Confirmed, but sent after our own deadline: someone may have held it between.
            lease.lost = True
            return False
        lease.confirmed_at = sent
        return True

    async def release(self, lease: Lease) -> None:
        """Give the lease up now. The delete is a compare-and-set on the lease's revision,
        so releasing a lease somebody else has taken since changes nothing."""
        lease.lost = True
        try:
            await self._write(lambda: self._kv.delete(lease.key, last=lease.revision))
        except nats.js.errors.APIError as exc:
            # (kv.delete does not turn 10071 into KeyWrongLastSequenceError as update does.)
            if exc.err_code not in _WRONG_LAST:
                raise
            # Already expired or taken: nothing of ours to delete.

    async def holder(self, queue: str) -> Holder | None:
        return await self._holder(lease_key(queue))

    async def _holder(self, key: str) -> Holder | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if entry.value is None or entry.revision is None:
            return None
        return _parse(entry.value, entry.revision)

    async def holders(self) -> dict[str, Holder]:
        """queue name -> holder, for every queue lease present."""
        return {h.name: h for h in await self._scan("q.")}

    async def live_nodes(self) -> dict[str, Holder]:
        """node id -> its registration, for every node whose liveness lease is current."""
        return {h.node: h for h in await self._scan(_NODE_PREFIX)}

    async def _scan(self, prefix: str) -> list[Holder]:
        # The stream's subject list, one request answered by the stream leader: a KV key
        # watcher (kv.keys) can come back empty while keys exist, and a node that believed
        # that would plan as if nobody held anything.
        subject_prefix = f"$KV.{self.bucket}."
        info = await self._js.stream_info(
            f"KV_{self.bucket}", subjects_filter=f"{subject_prefix}{prefix}>"
        )
        found = []
        for subject in sorted(info.state.subjects or {}):
            holder = await self._holder(subject[len(subject_prefix) :])
            if holder is not None:
                found.append(holder)
        return found


def _parse(raw: bytes, revision: int) -> Holder | None:
    try:
        body = json.loads(raw)
        return Holder(
            str(body["name"]), str(body["node"]), str(body["addr"]), str(body["token"]), revision
        )
    except (ValueError, KeyError, TypeError):
        return None  # not a value this code wrote: treat the key as held by nobody known


class LeaseKeeper:
    """Renews leases in the background every ``ttl / 3`` seconds. ``on_lost(lease)`` runs
    (on the loop) for each lease that is refused or whose deadline passed unrenewed."""

    def __init__(self, table: LeaseTable, on_lost: Callable[[Lease], None]) -> None:
        self._table = table
        self._on_lost = on_lost
        self.leases: dict[str, Lease] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, lease: Lease) -> None:
        self.leases[lease.key] = lease

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        interval = self._table.ttl / 3
        while True:
            for lease in list(self.leases.values()):
                try:
                    ok = await self._table.renew(lease)
                except nats.errors.Error:
                    ok = lease.valid()  # NATS trouble: keep it only until its deadline
                if not ok or not lease.valid():
                    lease.lost = True
                    del self.leases[lease.key]
                    self._on_lost(lease)
            await asyncio.sleep(interval)  # the renewal period, not a synchronisation
