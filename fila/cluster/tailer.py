"""A standby's end of a queue's log: apply the stream's entries, in order, to a local store.

The tailer reads the stream with an ordered consumer starting after the last sequence the
store has applied (fila/cluster/applied.py), decodes each entry and writes the entries it has
in hand as one WriteBatch together with the new last-applied sequence. A crash therefore
leaves the store at some entry boundary, and the next tailer resumes from exactly there.

An entry that does not decode, or a gap in the sequences (entries purged before this replica
applied them: it needs a snapshot, not yet built), stops the tailer with
:class:`TailError` instead of letting the replica diverge quietly.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import nats.errors
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext

from fila.cluster.applied import entries_batch, read_applied
from fila.cluster.codec import DecodeError, Op, decode_ops
from fila.cluster.names import stream_name, stream_subject
from fila.server.store import Store, WriteBatch

__all__ = ["LogGapError", "LogTailer", "TailError"]

_MAX_BATCH_ENTRIES = 512


class TailError(Exception):
    """The log cannot be applied from here (damaged entry, or entries missing)."""


class LogGapError(TailError):
    """Entries this replica needs next were purged: restore the group's snapshot
    (fila/cluster/snapshot.py) and tail on from there."""


class LogTailer:
    """Applies ``queue``'s log to ``store``. ``sync=False`` skips the fsync of each local
    write: the log itself is the durable copy, a replica can always re-apply it."""

    def __init__(
        self, js: JetStreamContext, store: Store, queue: str, *, sync: bool = True
    ) -> None:
        self._js = js
        self._store = store
        self.queue = queue
        self._sync = sync
        self._stream = stream_name(queue)
        self._subject = stream_subject(queue)
        self._applied = read_applied(store, queue)
        self._progress = asyncio.Condition()
        self._writing: asyncio.Future[None] | None = None
        # Counters for metrics and tests.
        self.entries_applied = 0
        self.writes = 0

    @property
    def applied(self) -> int:
        """The last sequence applied (and stored)."""
        return self._applied

    async def stream_end(self) -> int:
        """The stream's last sequence now."""
        info = await self._js.stream_info(self._stream)
        return int(info.state.last_seq)

    async def catch_up(self, timeout: float = 30.0, until: int | None = None) -> int:
        """Apply every entry up to ``until`` (default: all the stream holds now); returns
        the last applied sequence."""
        target = await self.stream_end() if until is None else until
        if self._applied < target:
            await asyncio.wait_for(self._follow(until=target), timeout)
        return self._applied

    async def run(self) -> None:
        """Apply entries as they arrive, until cancelled (or a TailError)."""
        await self._follow(until=None)

    async def wait_applied(self, seq: int, timeout: float) -> None:
        """Until the sequence ``seq`` has been applied (by a running :meth:`run`)."""
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(lambda: self._applied >= seq), timeout)

    async def apply_own(self, seq: int, ops: Sequence[Op]) -> None:
        """Record an entry this node appended itself (as the queue's writer) at ``seq``:
        its operations and the sequence in one local write, as if tailed. ValueError unless
        ``seq`` is the next sequence; do not run this and :meth:`run` at the same time."""
        if seq != self._applied + 1:
            raise ValueError(f"entry {seq} does not follow the applied entry {self._applied}")
        batch = entries_batch(self.queue, [(seq, ops)])
        await self._write(batch)
        self.writes += 1
        self.entries_applied += 1
        async with self._progress:
            self._applied = seq
            self._progress.notify_all()

    async def _write(self, batch: WriteBatch) -> None:
        # Shielded and remembered: cancelling the tailer cannot stop a write already in
        # the writer thread, so whoever writes this store next waits for it (quiesce).
        write = asyncio.ensure_future(
            asyncio.to_thread(self._store.write, batch, sync=self._sync))
        self._writing = write
        await asyncio.shield(write)

    async def quiesce(self) -> None:
        """Until a local write this tailer started has returned (call after cancelling
        :meth:`run`, before anything else writes the queue's keys)."""
        if self._writing is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._writing)

    async def _follow(self, until: int | None) -> None:
        start = self._applied + 1
        config = ConsumerConfig(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=start)
        # Heartbeats every second: a consumer lost with its node is noticed (and recreated
        # from the next sequence) after two missed ones, instead of the default 5 s apiece.
        sub = await self._js.subscribe(
            self._subject,
            stream=self._stream,
            ordered_consumer=True,
            config=config,
            idle_heartbeat=1.0,
        )
        try:
            while until is None or self._applied < until:
                first = await sub.next_msg(timeout=None)
                msgs = [first]
                # Whatever else is already here goes into the same local write.
                while sub.pending_msgs > 0 and len(msgs) < _MAX_BATCH_ENTRIES:
                    msgs.append(await sub.next_msg(timeout=None))
                await self._apply(msgs)
        finally:
            # Best effort: on a closed connection this raises, and would hide why we stopped.
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def _apply(self, msgs: Sequence[Msg]) -> None:
        entries: list[tuple[int, Sequence[Op]]] = []
        last = self._applied
        error: TailError | None = None
        for msg in msgs:
            seq = int(msg.metadata.sequence.stream)
            if seq <= last:
                continue  # redelivered after the ordered consumer reset
            if seq != last + 1:
                error = LogGapError(
                    f"queue {self.queue!r}: log entries {last + 1}..{seq - 1} are gone "
                    "(purged); this replica needs a snapshot"
                )
                break
            try:
                ops = decode_ops(msg.data)
            except DecodeError as exc:
                error = TailError(f"queue {self.queue!r}: log entry {seq}: {exc}")
                error.__cause__ = exc
                break
            entries.append((seq, ops))
            last = seq
        if entries:
            # The good entries before a bad one are applied: the replica stops at the damage.
            batch = entries_batch(self.queue, entries)
            await self._write(batch)
            self.writes += 1
            self.entries_applied += len(entries)
            async with self._progress:
                self._applied = last
                self._progress.notify_all()
        if error is not None:
            raise error
