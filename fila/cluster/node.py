"""One fila-server in cluster mode: which queue groups it serves, and the logs behind them.

A *queue group* is a queue and its dead-letter queue: one owner, one replicated log
(fila/cluster/commit.py). For every group in the registry this node either

- **serves** it: it holds the group's lease, has claimed its log (take-over: everything the
  previous owner had acknowledged is in the local store), loaded it into the engine, and
  appends its writes to the log (the committer asks :meth:`ClusterNode.log_of`); or
- **stands by**: a tailer applies the group's log to the local store as it grows, so a
  take-over is a short catch-up.

Ownership changes arrive from the coordinator (fila/cluster/coordinator.py):
``on_acquired`` -> take over, load, serve; ``on_lost`` -> stop serving at once (the engine
drops the queue, its consumers are sent to the new owner), let the writes in flight settle,
then stand by. A log that refuses an append (fenced: another node claimed it) gives the
group up the same way.

The registry of groups and the runtime config are KV buckets (fila/cluster/kvmap.py),
polled once per coordinator round; each node applies config changes to its own engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.js.client import JetStreamContext

from fila.cluster.applied import read_applied
from fila.cluster.commit import ReplicatedCommitter, group_of
from fila.cluster.coordinator import Coordinator
from fila.cluster.kvmap import KvMap
from fila.cluster.log import QueueLog, ensure_stream
from fila.cluster.names import stream_name
from fila.cluster.ownership import Holder, Lease, LeaseTable
from fila.cluster.replicated import SharedSettings
from fila.cluster.snapshot import Snapshots, records, restore_batch
from fila.cluster.tailer import LogGapError, LogTailer, TailError
from fila.cluster.takeover import take_over
from fila.errors import FilaError, UnavailableError
from fila.server.auth import Keyring
from fila.server.engine import Engine
from fila.server.store import Store
from fila.v1 import admin_pb2

__all__ = ["ClusterNode", "ClusterSettings"]

log = logging.getLogger("fila.cluster")

REGISTRY_BUCKET = "fila_queues"
# How long a request waits for a group to get an owner (a failover, a new queue) before
# it is answered UNAVAILABLE.
OWNER_WAIT_S = 10.0
# A standby tailer that stopped (its NATS node died, the stream is not there yet) restarts
# after this pause.
TAIL_RETRY_S = 0.5


# How long start-up waits for a NATS server to accept the connection.
CONNECT_WAIT_S = 15.0


_last_nats_error = [0.0]


async def _nats_error(exc: Exception) -> None:
    # One line, at most every 5 s: nats-py's default logs a traceback for every failed
    # reconnect attempt (five a second while a server is down).
    now = time.monotonic()
    if now - _last_nats_error[0] >= 5.0:
        _last_nats_error[0] = now
        log.warning("NATS: %s: %s", type(exc).__name__, exc)


async def _nats_reconnected() -> None:
    log.info("NATS: reconnected")


@dataclass(frozen=True)
class ClusterSettings:
    nats_urls: tuple[str, ...]
    node_id: str
    addr: str  # where clients reach this node (advertise_addr)
    lease_ttl_s: float = 2.0
    replicas: int = 3
    # The owner snapshots a group (and purges its log) after this many new log entries.
    snapshot_entries: int = 10_000
    # How long start() waits for a NATS server before it gives up.
    connect_timeout_s: float = CONNECT_WAIT_S


class ClusterNode:
    """See the module docstring. ``start`` after the engine exists, before serving."""

    def __init__(self, settings: ClusterSettings, store: Store) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        self.addr = settings.addr
        self._store = store
        self._engine: Engine | None = None
        self.committer: ReplicatedCommitter | None = None
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None
        self._table: LeaseTable | None = None
        self._registry: KvMap | None = None
        self._shared: SharedSettings | None = None  # runtime config and API keys
        self._snapshots: Snapshots | None = None
        # Auth's keyring (set by the server when auth is on): API keys and ACLs are
        # replicated like the runtime config.
        self.keyring: Keyring | None = None
        self._snapshot_seq: dict[str, int] = {}  # group -> sequence of its last snapshot
        self.snapshots_taken = 0
        self.snapshots_restored = 0
        self.coordinator: Coordinator | None = None
        self.groups: set[str] = set()
        self._logs: dict[str, QueueLog] = {}  # groups whose log this node claimed
        self._ready: set[str] = set()  # ... and loaded: served
        # Held by anything that changes runtime config or API keys here, and by the poll
        # that applies the replicated ones, so a poll never undoes a change in flight.
        self.shared_lock = asyncio.Lock()
        self._tailers: dict[str, tuple[LogTailer, asyncio.Task[None]]] = {}  # standbys
        self._restoring: dict[str, asyncio.Future[None]] = {}  # snapshot writes under way
        self._locks: dict[str, asyncio.Lock] = {}
        self._changed = asyncio.Event()  # a group was taken or lost somewhere (this node)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._holders: dict[str, Holder] = {}
        self._holders_at = 0.0
        self._closing = False
        self._peers: list[str] = []  # live nodes' addresses, as of the last poll

    # ---- start and stop ---------------------------------------------------------

    def make_committer(self, max_pending: int, observe: Callable[[float], None] | None
                       ) -> ReplicatedCommitter:
        self.committer = ReplicatedCommitter(self._store, self.log_of, self._fenced,
                                             max_pending=max_pending, observe=observe)
        return self.committer

    async def start(self, engine: Engine) -> None:
        self._engine = engine
        engine.moved_to = self.moved_to
        s = self.settings
        try:
            self._nc = await asyncio.wait_for(nats.connect(
                servers=list(s.nats_urls), name=f"fila-{s.node_id}", connect_timeout=2,
                max_reconnect_attempts=-1, reconnect_time_wait=0.2, allow_reconnect=True,
                error_cb=_nats_error, disconnected_cb=self._nats_disconnected,
                reconnected_cb=_nats_reconnected), s.connect_timeout_s)
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            raise OSError(f"cannot reach NATS at {', '.join(s.nats_urls)} within "
                          f"{s.connect_timeout_s:g} s ({type(exc).__name__}: {exc})") from None
        self._js = self._nc.jetstream(timeout=10.0)
        self._table = await LeaseTable.open(self._js, s.node_id, s.addr, ttl=s.lease_ttl_s,
                                            replicas=s.replicas)
        self._registry = await KvMap.open(self._js, REGISTRY_BUCKET, replicas=s.replicas)
        self._shared = await SharedSettings.open(self._js, replicas=s.replicas)
        self._snapshots = await Snapshots.open(self._js, replicas=s.replicas)
        await self._poll()
        self.coordinator = Coordinator(self._table, lambda: sorted(self.groups),
                                       on_acquired=self._acquired, on_lost=self._lost)
        self.coordinator.start()
        self._poller = asyncio.create_task(self._poll_forever())
        log.info("cluster mode: node %s (%s), %d queue group(s), NATS %s", s.node_id, s.addr,
                 len(self.groups), ",".join(s.nats_urls))

    def begin_shutdown(self) -> None:
        """From now on, consume streams that end are sent to another node."""
        self._closing = True

    async def stop(self) -> None:
        """Give every lease up (other nodes take over at once) and stop tailing."""
        self._closing = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.coordinator is not None:
            # Bounded: with NATS out of reach the leases simply run out on their own.
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await asyncio.wait_for(self.coordinator.stop(release=True),
                                       self.settings.lease_ttl_s)
        for task in list(self._tasks):
            task.cancel()
        for _, task in list(self._tailers.values()):
            task.cancel()
        await asyncio.gather(*self._tasks, *(t for _, t in self._tailers.values()),
                             return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(nats.errors.Error, OSError, TimeoutError):
                await asyncio.wait_for(self._nc.close(), 2.0)

    async def _nats_disconnected(self) -> None:
        if not self._closing:  # (closing the connection at shutdown also lands here)
            log.warning("NATS: disconnected; reconnecting")

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- what serves what -------------------------------------------------------

    def serves(self, queue: str) -> bool:
        """True while this node serves ``queue``'s group (lease valid, log claimed)."""
        group = group_of(queue)
        return (group in self._ready and self.coordinator is not None
                and self.coordinator.owns(group))

    def log_of(self, group: str) -> QueueLog | None:
        """The group's log while this node writes it (from the claim on, so the take-over
        itself may write, e.g. finish a deleted queue's purge)."""
        if group in self._logs and self.coordinator is not None and self.coordinator.owns(group):
            return self._logs[group]
        return None

    def moved_to(self, queue: str) -> str | None:
        """For a consume stream that ended because this node stopped serving ``queue``: the
        address to reconnect to. This node's own: it redirects to the owner once one is
        known (the stream ended before the new owner existed)."""
        if group_of(queue) not in self.groups:
            return None  # deleted
        if self._closing:  # shutting down: any other live node will redirect it
            others = [addr for addr in self._peers if addr != self.addr]
            return others[0] if others else None
        return self.addr

    async def owner(self, queue: str, wait: float = OWNER_WAIT_S) -> Holder:
        """The node serving ``queue``'s group (waits for one through a failover).
        UnavailableError if none within ``wait`` seconds."""
        group = group_of(queue)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        fresh = False
        while True:
            if self.serves(group):
                assert self._table is not None
                return Holder(group, self.node_id, self.addr, "", 0)
            holder = await self._holder(group, fresh)
            if holder is not None and holder.node != self.node_id:
                return holder
            if loop.time() >= deadline:
                raise UnavailableError(f'queue "{queue}" has no serving node right now '
                                       f"(failover in progress?); try again")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.1)
            fresh = True

    async def _holder(self, group: str, fresh: bool) -> Holder | None:
        assert self._table is not None
        now = time.monotonic()
        if fresh or now - self._holders_at > self.settings.lease_ttl_s / 4:
            try:
                self._holders = await self._table.holders()
            except (nats.errors.Error, OSError):
                return None
            self._holders_at = now
        return self._holders.get(group)

    async def owner_addr(self, queue: str) -> str:
        """The serving node's address ("" = this node)."""
        holder = await self.owner(queue)
        return "" if holder.node == self.node_id else holder.addr

    async def known(self, queue: str) -> bool:
        """Whether ``queue``'s group exists in the cluster (the registry is read again when
        this node has not seen it yet: it may have been created a moment ago elsewhere)."""
        group = group_of(queue)
        if group in self.groups:
            return True
        assert self._registry is not None
        with contextlib.suppress(nats.errors.Error, OSError):
            self.groups.update(await self._registry.read())
        return group in self.groups

    async def peer_addrs(self) -> list[str]:
        """The addresses of the live nodes (this one included)."""
        assert self._table is not None
        try:
            return sorted(h.addr for h in (await self._table.live_nodes()).values())
        except (nats.errors.Error, OSError):
            return [self.addr]

    async def forget(self, queue: str) -> None:
        """``queue`` was deleted here: once its records are purged (through its log, so no
        replica keeps them), its group leaves the registry and its owner releases it."""
        assert self._engine is not None
        if await self._engine.purged(queue):
            await self.unregister(queue)
        # else: this node lost the group mid-purge; its next owner finishes it and then
        # unregisters it (_finish_purges).

    def forget_owner(self, queue: str) -> None:
        """A forwarded call found ``queue`` not served there: ask the bucket next time."""
        self._holders.pop(group_of(queue), None)

    # ---- queue registry and runtime config --------------------------------------

    async def register(self, queue: str) -> bool:
        """A queue is being created on this node: its group exists from now on, and this
        node takes it (if free) so the create can run here. True if the group is new."""
        assert self._registry is not None and self._js is not None
        group = group_of(queue)
        new = not await self.known(group)
        if new:
            await ensure_stream(self._js, group, replicas=self.settings.replicas, timeout=10.0)
            await self._registry.put(group, "")
            self.groups.add(group)
        if self.coordinator is not None and not self.serves(group):
            with contextlib.suppress(nats.errors.Error, OSError):
                await self.coordinator.take(group)
        return new

    async def unregister(self, queue: str) -> None:
        """The queue was deleted: its group leaves the registry (its owner releases it)."""
        assert self._registry is not None
        group = group_of(queue)
        await self._registry.delete(group)
        self.groups.discard(group)

    async def set_config(self, key: str, value: str) -> None:
        """Replicate a runtime config change (already applied here) to every node."""
        assert self._shared is not None
        await self._shared.set_config(key, value)

    async def push_key(self, key_id: str) -> None:
        """Replicate API key ``key_id`` as this node has it now to every node."""
        assert self._shared is not None
        await self._shared.push_key(self._store, key_id)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl_s / 3)  # the round period
            try:
                async with self.shared_lock:
                    await self._poll()
            except (nats.errors.Error, OSError, FilaError):
                pass  # NATS failing over: next round
            except Exception:  # never let one bad record stop the polling
                log.exception("cluster poll failed")
            for group, qlog in list(self._logs.items()):
                try:
                    await self._maybe_snapshot(group, qlog)
                except (nats.errors.Error, OSError, FilaError):
                    pass
                except Exception:
                    log.exception("queue group %r: snapshot failed", group)

    async def _poll(self) -> None:
        assert self._registry is not None
        assert self._engine is not None
        self.groups = set(await self._registry.read())
        self._peers = await self.peer_addrs()
        for group in self.groups:
            # Not while a take-over or a drop runs (they start and stop the tailer), nor for
            # a group this node holds: two writers of one group's keys would interleave.
            held = self.coordinator is not None and group in self.coordinator.owned
            if (group not in self._tailers and group not in self._logs and not held
                    and not self._lock(group).locked() and not self._closing):
                self._stand_by(group)
        for group in [g for g in self._tailers if g not in self.groups]:
            self._tailers.pop(group)[1].cancel()
        assert self._shared is not None
        await self._shared.pull(self._engine, self._store, self.keyring)

    # ---- snapshots --------------------------------------------------------------

    async def _maybe_snapshot(self, group: str, qlog: QueueLog) -> bool:
        """Snapshot ``group`` and purge its log through the snapshot, once the log grew
        by ``snapshot_entries`` since the last one. Taken when every write of the group
        is in the local store (nothing in flight), so the store is exactly "the log
        through r/<group>"; otherwise tried again next round."""
        assert self._js is not None and self._snapshots is not None
        assert self.committer is not None
        last = qlog.last_seq or 0
        since = self._snapshot_seq.get(group)
        if since is None:
            info = await self._js.stream_info(stream_name(group))
            since = self._snapshot_seq[group] = max(0, int(info.state.first_seq) - 1)
        if last - since < self.settings.snapshot_entries or not self.serves(group):
            return False
        started = time.monotonic()
        # Held: the group's earlier writes are all in the store, later ones wait, so the
        # store is exactly "the log through r/<group>" for its keys while it is read (in a
        # thread: a large group must not stall the loop, or this node's leases).
        async with self.committer.held(group):
            seq = read_applied(self._store, group)
            ops = await asyncio.to_thread(records, self._store, group)
        if not self.serves(group):
            return False
        size = await self._snapshots.save(group, seq, ops)
        if size == 0 or not self.serves(group):
            return False  # a newer snapshot exists, or this node lost the group meanwhile
        # Entries before seq + 1 are all in the snapshot.
        await self._js.purge_stream(stream_name(group), seq=seq + 1)
        self._snapshot_seq[group] = seq
        self.snapshots_taken += 1
        log.info("queue group %r: snapshot through entry %d (%d records, %d bytes, %.0f ms); "
                 "log purged up to it", group, seq, len(ops), size,
                 (time.monotonic() - started) * 1000)
        return True

    async def _restore(self, group: str) -> None:
        """Rebuild ``group``'s records from its latest snapshot (a gap in its log)."""
        assert self._snapshots is not None
        snap = await self._snapshots.load(group)
        if snap is None:
            raise TailError(f"queue group {group!r}: its log has a gap and no snapshot")
        seq, ops = snap
        if seq <= read_applied(self._store, group):
            raise TailError(f"queue group {group!r}: the snapshot (through {seq}) does not "
                            "cover the log's gap")
        batch = await asyncio.to_thread(restore_batch, self._store, group, seq, ops)
        # Shielded and remembered, like a tailer's writes (_stop_tailing waits for it).
        write = asyncio.ensure_future(asyncio.to_thread(self._store.write, batch))
        self._restoring[group] = write
        try:
            await asyncio.shield(write)
        finally:
            if self._restoring.get(group) is write:
                del self._restoring[group]
        self.snapshots_restored += 1
        log.info("queue group %r: restored from its snapshot through entry %d (%d records)",
                 group, seq, len(ops))

    # ---- ownership changes ------------------------------------------------------

    def _lock(self, group: str) -> asyncio.Lock:
        return self._locks.setdefault(group, asyncio.Lock())

    def _acquired(self, group: str, lease: Lease) -> None:
        self._spawn(self._take(group))

    def _lost(self, group: str) -> None:
        # At once, before anything awaits: no new write of this group may start here.
        self._ready.discard(group)
        self._logs.pop(group, None)
        self._changed.set()
        self._spawn(self._drop(group))

    def _fenced(self, group: str) -> None:
        log.warning("queue group %r: the log refused this node's append (another node "
                    "claimed it); stopping serving it", group)
        if self.coordinator is not None:
            self._spawn(self.coordinator.give_up(group))

    async def _take(self, group: str) -> None:
        assert self._js is not None and self._engine is not None
        async with self._lock(group):
            if self.coordinator is None or not self.coordinator.owns(group):
                return  # lost again before we started
            await self._stop_tailing(group)
            started = time.monotonic()
            try:
                await ensure_stream(self._js, group, replicas=self.settings.replicas)
                qlog = QueueLog(self._js, group, writer_id=self.node_id)
                tailer = LogTailer(self._js, self._store, group, sync=False)
                try:
                    claim = await take_over(qlog, tailer)
                except LogGapError:  # behind a purge: from the snapshot, then again
                    await self._restore(group)
                    tailer = LogTailer(self._js, self._store, group, sync=False)
                    claim = await take_over(qlog, tailer)
            except Exception as exc:  # NATS, a damaged entry or snapshot: try again later
                log.warning("queue group %r: take-over failed (%s: %s); releasing it", group,
                            type(exc).__name__, exc)
                self._spawn(self.coordinator.give_up(group))
                return
            if not self.coordinator.owns(group):
                log.warning("queue group %r: lease ran out during the take-over", group)
                return
            await self._stop_tailing(group)  # none may have started meanwhile; be sure
            self._logs[group] = qlog
            try:
                loaded = await self._engine.load_queue(group)
            except Exception as exc:  # a damaged record: never serve half a queue
                log.error("queue group %r: cannot load it (%s); releasing it", group, exc)
                self._logs.pop(group, None)
                self._spawn(self.coordinator.give_up(group))
                return
            if not self.coordinator.owns(group) or self._logs.get(group) is not qlog:
                return  # lost while loading: the drop that follows unloads it
            self._ready.add(group)
            self._changed.set()
            # A deleted queue whose purge its previous owner did not finish: finish it here.
            self._spawn(self._finish_purges(group))
            log.info("serving queue group %r (log claimed at %d, %d message(s), %.0f ms)",
                     group, claim, loaded, (time.monotonic() - started) * 1000)

    async def _drop(self, group: str) -> None:
        assert self._engine is not None and self.committer is not None
        async with self._lock(group):
            await self._engine.unload_queue(group)
            # Writes already handed to the log either land (and are written here) or fail;
            # only then may a tailer write this group's keys.
            await self.committer.settled(group)
            log.info("stopped serving queue group %r", group)
            if group in self.groups and not self._closing:
                self._stand_by(group)

    async def _finish_purges(self, group: str) -> None:
        assert self._engine is not None
        try:
            if await self._engine.purge_orphans(group) and not self._engine.has_queue(group):
                await self.unregister(group)  # the group's queue was deleted: it is gone
        except (nats.errors.Error, OSError, FilaError) as exc:
            log.warning("queue group %r: finishing a deleted queue's purge failed: %s",
                        group, exc)

    def _stand_by(self, group: str) -> None:
        assert self._js is not None
        if group in self._tailers:
            return
        tailer = LogTailer(self._js, self._store, group, sync=False)
        task = asyncio.ensure_future(self._tail(group, tailer))
        self._tailers[group] = (tailer, task)

    async def _tail(self, group: str, tailer: LogTailer) -> None:
        try:
            await self._tail_loop(group, tailer)
        finally:
            # Stopped for good (an error): forget it, so the next poll starts a new one.
            entry = self._tailers.get(group)
            if entry is not None and entry[1] is asyncio.current_task():
                del self._tailers[group]

    async def _tail_loop(self, group: str, tailer: LogTailer) -> None:
        assert self._js is not None
        while True:
            try:
                await tailer.run()
            except asyncio.CancelledError:
                raise
            except LogGapError:
                try:
                    await self._restore(group)
                except Exception as exc:  # no usable snapshot yet: the next poll retries
                    log.error("queue group %r: cannot restore its snapshot (%s)", group, exc)
                    await asyncio.sleep(TAIL_RETRY_S * 4)  # a retry pause
                    return
                entry = self._tailers.get(group)
                if entry is None:
                    return  # stopped meanwhile (a take-over)
                tailer = LogTailer(self._js, self._store, group, sync=False)
                self._tailers[group] = (tailer, entry[1])
                continue
            except (TailError, ValueError) as exc:  # a damaged entry
                log.error("%s: this node stops standing by for it", exc)
                await asyncio.sleep(TAIL_RETRY_S * 4)  # then the next poll tries again
                return
            except (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError):
                pass  # the stream is not there yet, or NATS is failing over: again
            await asyncio.sleep(TAIL_RETRY_S)  # a retry pause, not a synchronisation

    async def _stop_tailing(self, group: str) -> None:
        """Stop the group's standby tailer, and wait for any store write it (or a snapshot
        restore) had started: a cancelled task's write still lands."""
        entry = self._tailers.pop(group, None)
        if entry is not None:
            entry[1].cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await entry[1]
            await entry[0].quiesce()
        restoring = self._restoring.get(group)
        if restoring is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(restoring)

    # ---- status -----------------------------------------------------------------

    async def status(self) -> admin_pb2.GetClusterStatusResponse:
        assert self._table is not None and self._js is not None
        try:
            nodes = await self._table.live_nodes()
            holders = await self._table.holders()
        except (nats.errors.Error, OSError) as exc:
            raise UnavailableError(f"cannot read the cluster's state from NATS: {exc}"
                                   ) from None
        reply = admin_pb2.GetClusterStatusResponse(
            enabled=True, node_id=self.node_id, addr=self.addr,
            lease_ttl_ms=int(self.settings.lease_ttl_s * 1000))
        for node in sorted(nodes.values(), key=lambda h: h.node):
            reply.nodes.add(node_id=node.node, addr=node.addr)
        for group in sorted(self.groups):
            holder = holders.get(group)
            last = 0
            with contextlib.suppress(nats.errors.Error, nats.js.errors.Error, OSError):
                info = await self._js.stream_info(stream_name(group))
                last = int(info.state.last_seq)
            reply.queues.add(queue=group, owner_node_id=holder.node if holder else "",
                             owner_addr=holder.addr if holder else "", log_last_seq=last,
                             applied_seq=read_applied(self._store, group))
        return reply
