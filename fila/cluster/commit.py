"""Cluster mode's commit path: a queue's writes reach its replicated log before the disk.

:class:`ReplicatedCommitter` is the engine's committer in cluster mode. For each batch it
splits the operations by *queue group* (a queue and its ``.dlq``: one owner, one log),
appends each group's part to that group's log (fenced, grouped with concurrent appends:
fila/cluster/log.py), and only once every part is acknowledged by JetStream writes the
whole batch locally, with each group's last applied sequence (``r/<group>``), through the
ordinary group committer. The engine settles its future, and so answers the client, after
that local write. Operations of no queue (API keys, server metadata, the runtime config
cache, which cluster mode replicates through a KV bucket instead) are local only.

Local writes skip the fsync: the log is the durable copy. RocksDB keeps the write order
of its WAL after a crash, so the store always ends at some prefix of these writes, and
``r/<group>`` tells the node where to resume applying the log.

Order: the local writes of one group follow its log order. Each batch waits in the queue
of every group it touches and is written once it heads all of them and its appends are
settled, so a later batch never lands locally before an earlier one of the same group.

A part that cannot be appended (the node lost the queue: fenced, or no log here; JetStream
unreachable past the timeout) fails the batch with UNAVAILABLE. Parts of other groups that
did land are still written locally, so the engine's resync (which reads the store back)
matches the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from fila.cluster.applied import applied_key
from fila.cluster.codec import Op
from fila.cluster.log import EntryTooLargeError, FencedError, LogError, QueueLog
from fila.errors import FilaError, OverloadedError, UnavailableError
from fila.server import keys
from fila.server.commit import GroupCommitter
from fila.server.model import DLQ_SUFFIX
from fila.server.store import Store, WriteBatch

__all__ = ["ReplicatedCommitter", "group_of", "split_by_group"]

_QUEUE_KINDS = (keys.QUEUE, keys.MSG, keys.PAYLOAD, keys.LEASE)


def group_of(queue: str) -> str:
    """The queue group a queue belongs to: its base queue (``orders.dlq`` -> ``orders``)."""
    return queue[: -len(DLQ_SUFFIX)] if queue.endswith(DLQ_SUFFIX) else queue


def split_by_group(batch: WriteBatch) -> tuple[dict[str, list[Op]], bool]:
    """(group -> its operations in batch order, whether any operation is local only)."""
    parts: dict[str, list[Op]] = {}
    local = False
    for key, value in batch.ops:
        kind = key[:2]
        if kind not in _QUEUE_KINDS:
            local = True
            continue
        queue = key[2:].decode() if kind == keys.QUEUE else keys.split(key)[0]
        parts.setdefault(group_of(queue), []).append((key, value))
    return parts, local


@dataclass(eq=False)
class _Pending:
    batch: WriteBatch
    future: asyncio.Future[None]
    groups: tuple[str, ...]  # the groups it has a part in (it waits in each one's queue)
    waiting: set[str]  # groups whose append has not settled
    seqs: dict[str, int] = field(default_factory=dict)  # group -> entry holding its part
    error: FilaError | None = None


class ReplicatedCommitter(GroupCommitter):
    """See the module docstring. ``log_of(group)`` is the group's log while this node
    writes it (None otherwise); ``on_fenced(group)`` is told when a log refused this node."""

    def __init__(self, store: Store, log_of: Callable[[str], QueueLog | None],
                 on_fenced: Callable[[str], None], *, max_pending: int = 10_000,
                 observe: Callable[[float], None] | None = None) -> None:
        super().__init__(store, max_pending=max_pending, sync=False, observe=observe)
        self._log_of = log_of
        self._on_fenced = on_fenced
        self._queues: dict[str, deque[_Pending]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._max_pending = max_pending
        self._waiting = 0  # batches not handed to the local writer yet
        # group -> batches whose append started and whose local write has not returned
        self._busy: dict[str, int] = {}
        # groups held for a snapshot -> the appends to start when released
        self._held: dict[str, list[tuple[list[Op], _Pending]]] = {}
        self.replicated_batches = 0

    def submit(self, batch: WriteBatch, *, force: bool = False) -> asyncio.Future[None]:
        parts, _ = split_by_group(batch)
        if not parts:
            return super().submit(batch, force=force)
        if not force:
            self.check_room(1)
        loop = asyncio.get_running_loop()
        item = _Pending(batch, loop.create_future(), tuple(parts), set(parts))
        self._waiting += 1
        for group, ops in parts.items():
            self._queues.setdefault(group, deque()).append(item)
            held = self._held.get(group)
            if held is not None:
                held.append((ops, item))  # appended when the snapshot is taken
            else:
                self._start(group, ops, item)
        return item.future

    def _start(self, group: str, ops: list[Op], item: _Pending) -> None:
        self._busy[group] = self._busy.get(group, 0) + 1
        task = asyncio.get_running_loop().create_task(self._append(group, ops, item))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def check_room(self, batches: int) -> None:
        # Batches waiting for their log count too: a NATS stall must not let memory grow
        # without limit (the base class counts only local writes).
        if self._waiting + batches > self._max_pending:
            raise OverloadedError(f"too many pending writes ({self._max_pending}); "
                                  "try again later")
        super().check_room(batches)

    async def flush(self) -> None:
        """Until everything submitted before is settled: appended and written, or failed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30.0  # appends settle within the log's timeout
        while self._waiting and loop.time() < deadline:
            await asyncio.sleep(0.005)  # polled
        await super().flush()

    def in_flight(self, group: str) -> int:
        """Batches of ``group`` whose local write has not been handed on yet."""
        return len(self._queues.get(group, ()))

    async def settled(self, group: str) -> None:
        """Until every batch of ``group`` submitted so far is written locally (or failed):
        what a node waits for before it tails the group's log as a standby."""
        while self._queues.get(group) or self._busy.get(group):
            await asyncio.sleep(0.005)  # polled: appends settle within the log's timeout
        await self.flush()

    @contextlib.asynccontextmanager
    async def held(self, group: str) -> AsyncIterator[None]:
        """Within: every write of ``group`` submitted before is in the local store, and new
        ones wait (their appends start on exit). What a snapshot needs: the store is exactly
        "the log through r/<group>" for the group's keys, whatever other groups do."""
        if group in self._held:
            raise RuntimeError(f"group {group!r} is already held")
        self._held[group] = []
        try:
            while self._busy.get(group):
                await asyncio.sleep(0.002)  # polled: the group's last appends settle
            yield
        finally:
            for ops, item in self._held.pop(group):
                self._start(group, ops, item)

    async def _append(self, group: str, ops: list[Op], item: _Pending) -> None:
        log = self._log_of(group)
        try:
            if log is None:
                raise UnavailableError(f'queue "{group}" is not served by this node')
            item.seqs[group] = await log.append(ops)
        except FencedError:
            item.error = UnavailableError(f'queue "{group}" moved to another node')
            self._on_fenced(group)
        except EntryTooLargeError as exc:
            item.error = UnavailableError(f'queue "{group}": {exc}')
        except LogError as exc:
            # The outcome is unknown and the log refuses appends until it is re-read: give
            # the group up; the take-over path applies the log and claims it again.
            item.error = UnavailableError(f'queue "{group}": replicated log unavailable: {exc}')
            self._on_fenced(group)
        except UnavailableError as exc:
            item.error = exc
        except BaseException:
            # A bug or a cancellation: never write locally what did not reach the log.
            item.error = UnavailableError(f'queue "{group}": append failed')
            raise
        finally:
            item.waiting.discard(group)
            self._drain()

    def _drain(self) -> None:
        """Write, in order, every batch that heads all its groups' queues and is settled."""
        progress = True
        while progress:
            progress = False
            for queue in list(self._queues.values()):
                head = queue[0] if queue else None
                if head is None or head.waiting:
                    continue
                if any(self._queues[g][0] is not head for g in head.groups):
                    continue
                for g in head.groups:
                    self._queues[g].popleft()
                    if not self._queues[g]:
                        del self._queues[g]
                self._waiting -= 1
                try:
                    self._write(head)
                except FilaError as exc:  # the local writer is closed (shutting down)
                    if head.error is None:
                        head.error = UnavailableError(str(exc))
                    _fail(head)
                    self._done(head)
                progress = True

    def _applied_mark(self, group: str, seq: int) -> int:
        """The sequence ``r/<group>`` may say after this batch: one less while another batch
        of the same entry (or one not settled yet) is still to be written, so a crash
        between the two re-applies the entry instead of skipping the other's operations."""
        queue = self._queues.get(group)
        nxt = queue[0] if queue else None
        if nxt is not None and (group in nxt.waiting or nxt.seqs.get(group) == seq):
            return seq - 1
        return seq

    def _write(self, item: _Pending) -> None:
        local = WriteBatch()
        if item.error is None:
            local.extend(item.batch)
        else:
            # Only the parts that reached their logs (they will be applied everywhere).
            landed = item.seqs.keys()
            parts, _ = split_by_group(item.batch)
            for group in landed:
                local.ops.extend(parts[group])
        for group, seq in item.seqs.items():
            local.put(applied_key(group), self._applied_mark(group, seq).to_bytes(8, "big"))
        self.replicated_batches += 1
        if not len(local):
            _fail(item)
            self._done(item)
            return
        written = super().submit(local, force=True)
        written.add_done_callback(lambda done: self._written(item, done))

    def _written(self, item: _Pending, written: asyncio.Future[None]) -> None:
        self._done(item)
        if not written.cancelled() and written.exception() is not None:
            # The log has these entries and this store does not: re-tail the groups.
            for group in item.seqs:
                self._on_fenced(group)
        _settle(item, written)

    def _done(self, item: _Pending) -> None:
        for group in item.groups:
            left = self._busy.get(group, 0) - 1
            if left > 0:
                self._busy[group] = left
            else:
                self._busy.pop(group, None)


def _settle(item: _Pending, written: asyncio.Future[None]) -> None:
    if item.future.done():
        return
    exc = None if written.cancelled() else written.exception()
    if item.error is not None:
        item.future.set_exception(item.error)
    elif exc is not None:
        item.future.set_exception(exc)
    else:
        item.future.set_result(None)


def _fail(item: _Pending) -> None:
    if not item.future.done():
        assert item.error is not None
        item.future.set_exception(item.error)
