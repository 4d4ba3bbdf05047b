"""A queue's replicated log: one JetStream stream (three replicas by default) per queue.

The owner of a queue appends each commit group (the RocksDB operations the core produced,
fila/cluster/codec.py) as one message, and acknowledges its clients only after JetStream
acknowledged the append, i.e. after a majority of the replicas stored (and, with
``sync_interval: always``, fsynced) it.

Fencing: every append carries ``Nats-Expected-Last-Sequence``, the last sequence this writer
knows of. JetStream refuses it (error 10071, "wrong last sequence") if anybody else appended
meanwhile, so an owner that was deposed (lease lost while it was paused, say) cannot write
once its successor has written. A successor writes first of all a *claim* entry (no
operations) fenced on the last entry it applied: from then on the old owner is refused.
A refusal raises :class:`FencedError`, and this log refuses every later append: the owner
must stop serving the queue.

Concurrent appends share one publish (group commit): while one entry is in flight, the
appends arriving meanwhile are merged, in arrival order, into the next entry. Each caller
gets the sequence of the entry holding its operations. A caller that is cancelled does not
withdraw its operations.

Retries: a publish that times out or finds no stream leader (an election after a node's
loss) is retried with the same ``Nats-Msg-Id``, so JetStream's duplicate window turns a
retry of an append that did land into its original acknowledgement, never a second copy.
If the deadline passes first, the outcome is unknown: :class:`LogUnavailableError`, and the
log refuses appends until :meth:`QueueLog.open` reads the stream's end again (the caller must
first apply whatever the stream holds beyond its state).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.client import JetStreamContext

from fila.cluster.codec import Op, encode_ops, encoded_size
from fila.cluster.names import stream_name, stream_subject

__all__ = [
    "ENTRY_CLAIM",
    "ENTRY_HEADER",
    "ENTRY_OPS",
    "EntryTooLargeError",
    "FencedError",
    "LogError",
    "LogUnavailableError",
    "QueueLog",
    "ensure_stream",
    "wait_for_leader",
]

# Header naming an entry's kind; absent means ENTRY_OPS.
ENTRY_HEADER = "Fila-Entry"
ENTRY_OPS = "ops"
ENTRY_CLAIM = "claim"

_WRONG_LAST_SEQUENCE = 10071
_STREAM_NAME_IN_USE = 10058
_NO_PEERS = 10005  # "no suitable peers for placement"
_ACTUAL_SEQ = re.compile(r"wrong last sequence: (\d+)")
# JetStream refuses a message over max_payload; keep room for headers and protocol.
_PAYLOAD_HEADROOM = 4096
_RETRY_PAUSE = 0.05


class LogError(Exception):
    """The replicated log could not take an append."""


class FencedError(LogError):
    """The stream moved past the sequence this writer expected: another writer appended,
    so this one is deposed and must stop writing the queue."""

    def __init__(self, queue: str, expected: int, actual: int | None) -> None:
        self.queue = queue
        self.expected = expected
        self.actual = actual
        seen = "" if actual is None else f", the stream is at {actual}"
        super().__init__(f"queue {queue!r}: fenced: expected the log to end at {expected}{seen}")


class LogUnavailableError(LogError):
    """NATS did not confirm an append in time; whether it landed is unknown."""


class EntryTooLargeError(LogError):
    """One append's operations do not fit in one NATS message."""


async def ensure_stream(
    js: JetStreamContext, queue: str, *, replicas: int = 3, timeout: float = 60.0
) -> None:
    """Create ``queue``'s stream if it does not exist (file storage, ``replicas`` copies,
    nothing expires: entries leave only by an explicit purge after a snapshot), and wait
    until it has a leader. Creating is idempotent, so a request that timed out (a busy
    meta leader) is sent again until ``timeout``."""
    config = StreamConfig(
        name=stream_name(queue),
        subjects=[stream_subject(queue)],
        num_replicas=replicas,
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.NEW,
        duplicate_window=120.0,
        allow_direct=True,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await js.add_stream(config)
            break
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code == _STREAM_NAME_IN_USE:
                break  # exists with another configuration (an older replica count): use it
            if exc.err_code != _NO_PEERS or loop.time() >= deadline:
                raise
            # A peer counted offline (restarting, or too busy to report in): it may be back.
            await asyncio.sleep(_RETRY_PAUSE)
        except (nats.errors.TimeoutError, nats.js.errors.ServiceUnavailableError) as exc:
            if loop.time() >= deadline:
                raise LogUnavailableError(f"could not create stream for {queue!r}: {exc}") from exc
    await wait_for_leader(js, stream_name(queue), max(1.0, deadline - loop.time()))


async def wait_for_leader(js: JetStreamContext, stream: str, timeout: float = 30.0) -> None:
    """Until ``stream`` has a leader: a new replicated stream answers "no responders" to
    publishes until its Raft group has elected one. LogUnavailableError after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            info = await js.stream_info(stream)
            if info.cluster is None or info.cluster.leader:
                return  # standalone server, or a leader is known
        except (nats.errors.Error, OSError):
            pass  # the request itself may find no responder during the election
        if loop.time() >= deadline:
            raise LogUnavailableError(f"stream {stream} has no leader after {timeout:.0f}s")
        await asyncio.sleep(_RETRY_PAUSE)  # polling a condition, bounded by the deadline


class QueueLog:
    """The writer's end of ``queue``'s log. Use from one event loop; call :meth:`open` first."""

    def __init__(
        self,
        js: JetStreamContext,
        queue: str,
        *,
        timeout: float = 10.0,
        max_entry_bytes: int = 1 << 20,
        writer_id: str | None = None,
    ) -> None:
        self._js = js
        self.queue = queue
        self._stream = stream_name(queue)
        self._subject = stream_subject(queue)
        self._timeout = timeout
        self._max_entry = max_entry_bytes
        self.writer_id = writer_id or uuid.uuid4().hex[:16]
        self._last: int | None = None  # None: not open, or unknown after a failed append
        self._fenced: FencedError | None = None
        self._pending: list[tuple[Sequence[Op], asyncio.Future[int]]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Counters for metrics and tests.
        self.entries_appended = 0
        self.appends = 0

    @property
    def last_seq(self) -> int | None:
        """The last sequence this writer knows the stream to end at (None: unknown)."""
        return self._last

    @property
    def fenced(self) -> bool:
        return self._fenced is not None

    async def open(self) -> int:
        """Read the stream's last sequence and fence appends on it; returns it."""
        info = await self._js.stream_info(self._stream)
        self._last = int(info.state.last_seq)
        return self._last

    async def claim(self, applied_seq: int) -> int:
        """Take over as writer: append a claim entry fenced on ``applied_seq``, the last
        entry the caller has applied. FencedError means the stream holds entries beyond
        it: apply them and claim again. Returns the claim's sequence."""
        if self._pending:
            raise LogError("claim while appends are pending")
        self._fenced = None
        self._last = applied_seq
        return await self._publish(encode_ops([]), ENTRY_CLAIM)

    async def append(self, ops: Sequence[Op]) -> int:
        """Append ``ops`` (one commit group); returns the sequence of the entry holding them
        once JetStream acknowledged it. Raises FencedError, LogUnavailableError,
        EntryTooLargeError."""
        self._check_writable()
        if encoded_size(ops) > self._entry_limit():
            raise EntryTooLargeError(
                f"queue {self.queue!r}: a commit group of {encoded_size(ops)} bytes "
                f"is over the {self._entry_limit()}-byte entry limit"
            )
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((ops, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    def _entry_limit(self) -> int:
        server_max = int(getattr(self._js._nc, "max_payload", 0) or 0)
        limit = self._max_entry
        if server_max:
            limit = min(limit, server_max - _PAYLOAD_HEADROOM)
        return limit

    def _check_writable(self) -> None:
        if self._fenced is not None:
            raise FencedError(self.queue, self._fenced.expected, self._fenced.actual)
        if self._last is None:
            raise LogUnavailableError(
                f"queue {self.queue!r}: log not open (or an append's outcome is unknown)"
            )

    async def _flush(self) -> None:
        limit = self._entry_limit()
        while self._pending:
            group: list[tuple[Sequence[Op], asyncio.Future[int]]] = []
            size = 0
            while self._pending:
                ops = self._pending[0][0]
                grown = encoded_size(ops)
                if group and size + grown > limit:
                    break
                group.append(self._pending.pop(0))
                size += grown
            merged = [op for ops, _ in group for op in ops]
            try:
                self._check_writable()
                seq = await self._publish(encode_ops(merged), ENTRY_OPS)
            except LogError as exc:
                # A failed entry fails everything behind it too: their fencing position
                # is gone with it.
                rest, self._pending = self._pending, []
                _fail([f for _, f in group + rest], exc)
                return
            except BaseException as exc:  # never leave a caller waiting on a bug
                rest, self._pending = self._pending, []
                self._last = None
                _fail([f for _, f in group + rest], LogError(f"append failed: {exc!r}"))
                raise
            self.entries_appended += 1
            self.appends += len(group)
            for _, future in group:
                if not future.done():
                    future.set_result(seq)

    async def _publish(self, payload: bytes, kind: str) -> int:
        assert self._last is not None
        expected = self._last
        headers = {
            "Nats-Expected-Last-Sequence": str(expected),
            # Same id on every retry of this entry: a retry of one that landed is a duplicate.
            "Nats-Msg-Id": f"{self.writer_id}:{expected + 1}",
            ENTRY_HEADER: kind,
        }
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        last_error: Exception | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._last = None
                raise LogUnavailableError(
                    f"queue {self.queue!r}: append not confirmed within {self._timeout:.1f}s"
                    f" ({last_error!r}); its outcome is unknown"
                )
            try:
                ack = await self._js.publish(
                    self._subject,
                    payload,
                    timeout=min(remaining, 2.0),
                    stream=self._stream,
                    headers=dict(headers),
                )
            except nats.js.errors.APIError as exc:
                if exc.err_code == _WRONG_LAST_SEQUENCE:
                    match = _ACTUAL_SEQ.search(exc.description or "")
                    fenced = FencedError(
                        self.queue, expected, int(match.group(1)) if match else None
                    )
                    self._fenced = fenced
                    raise fenced from None
                if not _transient(exc):
                    self._last = None
                    raise LogError(f"queue {self.queue!r}: append refused: {exc}") from exc
                last_error = exc
            except (nats.errors.Error, OSError) as exc:
                last_error = exc  # timeout, no responders, reconnecting: retry
            else:
                if ack.seq != expected + 1:
                    self._last = None
                    raise LogError(
                        f"queue {self.queue!r}: acknowledged at {ack.seq}, expected {expected + 1}"
                    )
                self._last = int(ack.seq)
                return self._last
            await asyncio.sleep(min(_RETRY_PAUSE, max(0.0, deadline - loop.time())))


def _transient(exc: nats.js.errors.APIError) -> bool:
    # 503: no stream leader right now (election); 500 may be a leader change mid-request.
    return isinstance(exc, nats.js.errors.ServiceUnavailableError | nats.js.errors.ServerError)


def _fail(futures: list[asyncio.Future[Any]], exc: LogError) -> None:
    for future in futures:
        if not future.done():
            future.set_exception(_copy(exc))


def _copy(exc: LogError) -> LogError:
    # One instance per waiter: re-raising a shared exception in many tasks grows its traceback.
    if isinstance(exc, FencedError):
        return FencedError(exc.queue, exc.expected, exc.actual)
    return type(exc)(*exc.args)
