"""Clients for a Fila broker: ``Client`` (blocking) and ``AsyncClient`` (asyncio).

The hot path (enqueue, consume, ack, nack) keeps the published ``fila-python``
0.2.0 SDK's shape, so code written for that SDK runs unchanged; the admin
methods serve the CLI and the TUI. Protobuf stays inside this module: callers
get the plain records of :mod:`fila.types`, and every gRPC failure leaves as a
:class:`fila.errors.FilaError` subclass (the one client-side mapping boundary).

    with Client("localhost:5555") as client:
        client.enqueue("orders", {"tenant": "acme"}, b"hello")
        for msg in client.consume("orders"):
            client.ack("orders", msg.id)
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

import grpc

from fila import __version__, errors
from fila.addr import parse_addr
from fila.types import (
    STREAM_TOKEN_KEY,
    ConsumeMessage,
    HookResult,
    KeySnapshot,
    LimitSnapshot,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueSnapshot,
    QueueStats,
    ServerInfo,
    StatsSnapshot,
)
from fila.v1 import service_pb2, service_pb2_grpc

__all__ = ["CONNECT_FAILURE_PREFIX", "AsyncClient", "AsyncStream", "Client", "parse_addr"]

T = TypeVar("T")
R = TypeVar("R")


class _Lazy:
    """A module imported on first attribute access.

    The admin stubs (and their message classes) cost a one-shot ``fila enqueue``
    ~15 ms of imports it never uses; they load when an admin method first runs.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        self.__dict__.update(module.__dict__)
        return getattr(module, attr)


admin_pb2: Any = _Lazy("fila.v1.admin_pb2")
admin_pb2_grpc: Any = _Lazy("fila.v1.admin_pb2_grpc")

# An UnavailableError whose text starts with this never reached the broker
# (refused, unresolvable), as opposed to a broker that went away mid-call.
CONNECT_FAILURE_PREFIX = "cannot connect to broker at "

_CONNECT_MARKERS = (
    "failed to connect",
    "connection refused",
    "dns resolution failed",
    "name resolution",
    "unable to resolve",
    "no address",
    "errors resolving",
    "domain name not found",
)

# Keepalive: an idle consume stream must notice a dead broker (or a NAT that
# dropped the flow) instead of waiting forever. 60 s stays well clear of the
# server's ping-abuse policy; gRPC limits pings without data to 2 by default.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.keepalive_permit_without_calls", 0),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.primary_user_agent", f"fila-python/{__version__}"),
]


# ---- errors -------------------------------------------------------------------


def _map_error(err: grpc.RpcError, addr: str, *, message_scoped: bool = False) -> errors.FilaError:
    """Turn a gRPC failure into the fila.errors tree (the one client-side mapping)."""
    code_fn = getattr(err, "code", None)
    details_fn = getattr(err, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = str((details_fn() if callable(details_fn) else "") or "")
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    if name == "UNAVAILABLE":
        lowered = details.lower()
        if any(marker in lowered for marker in _CONNECT_MARKERS):
            reason = "connection refused" if "connection refused" in lowered else details
            return errors.UnavailableError(f"{CONNECT_FAILURE_PREFIX}{addr}: {reason}")
        return errors.UnavailableError(details or "broker unavailable")
    if name == "RESOURCE_EXHAUSTED" and "larger than max" in details:
        # gRPC's own size limit, not an overloaded broker: retrying cannot help.
        return errors.InvalidArgumentError(f"message too large: {details}")
    return errors.from_status(name, details, message_scoped=message_scoped)


def _is_cancelled(err: grpc.RpcError) -> bool:
    code_fn = getattr(err, "code", None)
    return callable(code_fn) and code_fn() == grpc.StatusCode.CANCELLED


# ---- protobuf -> records ------------------------------------------------------


def _ms(ts: Any) -> int:
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


def _record(cls: Callable[..., R], pb: Any, **override: object) -> R:
    """Build a record from a protobuf message whose fields share the record's names."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in override:
            values[f.name] = override[f.name]
        elif f.name in pb.DESCRIPTOR.fields_by_name:
            values[f.name] = getattr(pb, f.name)
    return cls(**values)


def _message(msg: Any, queue: str = "") -> ConsumeMessage:
    md = msg.metadata
    ts = msg.timestamps
    return ConsumeMessage(
        id=str(msg.id),
        headers=dict(msg.headers),
        payload=bytes(msg.payload),
        fairness_key=str(md.fairness_key),
        attempt_count=int(md.attempt_count),
        # Older servers leave queue_id empty; the queue we read from is the truth then.
        queue=str(md.queue_id) or queue,
        weight=int(md.weight) or 1,
        throttle_keys=tuple(md.throttle_keys),
        last_error=str(md.last_error),
        enqueued_at_ms=_ms(ts.enqueued_at) if ts.HasField("enqueued_at") else 0,
        leased_at_ms=_ms(ts.leased_at) if ts.HasField("leased_at") else 0,
    )


def _listed(item: Any, queue: str) -> ListedMessage:
    ts = item.message.timestamps
    after = _ms(ts.deliver_after) if ts.HasField("deliver_after") else 0
    return ListedMessage(
        message=_message(item.message, queue), state=str(item.state), deliver_after_ms=after
    )


def _queue_snapshot(pb: Any) -> QueueSnapshot:
    keys = tuple(_record(KeySnapshot, k) for k in pb.keys)
    return _record(QueueSnapshot, pb, keys=keys)


def _stats_snapshot(pb: Any) -> StatsSnapshot:
    return StatsSnapshot(
        taken_at_ms=int(pb.taken_at_ms),
        queues=tuple(_queue_snapshot(q) for q in pb.queues),
        limits=tuple(_record(LimitSnapshot, lim) for lim in pb.limits),
    )


def _stats(resp: Any) -> QueueStats:
    return QueueStats(
        depth=int(resp.depth),
        in_flight=int(resp.in_flight),
        active_fairness_keys=int(resp.active_fairness_keys),
        active_consumers=int(resp.active_consumers),
        quantum=int(resp.quantum),
        per_key=tuple(
            (str(k.key), int(k.pending_count), int(k.current_deficit), int(k.weight))
            for k in resp.per_key_stats
        ),
        per_throttle=tuple(
            (str(t.key), float(t.tokens), float(t.rate_per_second), float(t.burst))
            for t in resp.per_throttle_stats
        ),
        snapshot=_queue_snapshot(resp.snapshot) if resp.HasField("snapshot") else None,
    )


def _details(name: str, config: Any, dead_letter_queue: str) -> QueueDetails:
    return QueueDetails(
        name=name,
        on_enqueue_script=str(config.on_enqueue_script),
        on_failure_script=str(config.on_failure_script),
        visibility_timeout_ms=int(config.visibility_timeout_ms),
        dead_letter_queue=dead_letter_queue,
    )


def _dlq_of(name: str) -> str:
    # UpdateQueue does not echo the DLQ; by the queue model it is always <name>.dlq.
    return "" if name.endswith(".dlq") else f"{name}.dlq"


def _hook_result(resp: Any) -> HookResult:
    # The weight a queue would use: the scheduler counts 0 (or none given) as 1.
    return _record(HookResult, resp, throttle_keys=tuple(resp.throttle_keys),
                   weight=max(1, int(resp.weight)))


def _server_info(resp: Any) -> ServerInfo:
    return _record(ServerInfo, resp, features=tuple(resp.features))


# ---- requests shared by both clients ------------------------------------------


def _create_req(name: str, on_enqueue: str, on_failure: str, vt_ms: int) -> Any:
    config = admin_pb2.QueueConfig(
        on_enqueue_script=on_enqueue, on_failure_script=on_failure, visibility_timeout_ms=vt_ms
    )
    return admin_pb2.CreateQueueRequest(name=name, config=config)


def _update_req(
    name: str, on_enqueue: str | None, on_failure: str | None, vt_ms: int | None
) -> Any:
    # Only fields the caller named are set: unset means "keep" on the server.
    fields: dict[str, Any] = {"name": name}
    if on_enqueue is not None:
        fields["on_enqueue_script"] = on_enqueue
    if on_failure is not None:
        fields["on_failure_script"] = on_failure
    if vt_ms is not None:
        fields["visibility_timeout_ms"] = vt_ms
    return admin_pb2.UpdateQueueRequest(**fields)


def _test_hook_req(
    hook: str,
    script: str,
    headers: dict[str, str] | None,
    payload_size: int,
    queue: str,
    attempts: int,
    error: str,
    message_id: str,
) -> Any:
    return admin_pb2.TestHookRequest(
        hook=hook,
        script=script,
        headers=headers or {},
        payload_size=payload_size,
        queue=queue,
        attempts=attempts,
        error=error,
        message_id=message_id,
    )


def _channel_credentials(tls: bool) -> grpc.ChannelCredentials | None:
    return grpc.ssl_channel_credentials() if tls else None


# ---- blocking client ----------------------------------------------------------


class _StreamTokens:
    """Which consume stream delivered which message, for the acks that settle them.

    The server names each stream (initial metadata ``fila-stream``); sending that name
    with an ack lets it tell two streams on one connection apart when it refuses a stale
    ack. Bounded: the oldest entries go first (an ack without a token still works).
    """

    LIMIT = 65_536

    def __init__(self) -> None:
        self._by_id: dict[str, str] = {}

    def remember(self, message_id: str, token: str) -> None:
        if not token:
            return
        if len(self._by_id) >= self.LIMIT:
            del self._by_id[next(iter(self._by_id))]
        self._by_id[message_id] = token

    def metadata(self, message_id: str) -> tuple[tuple[str, str], ...] | None:
        token = self._by_id.pop(message_id, None)
        return ((STREAM_TOKEN_KEY, token),) if token else None


def _token_of(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == STREAM_TOKEN_KEY and isinstance(value, str):
            return value
    return ""


class Client:
    """Blocking client for a Fila broker.

    Args:
        addr: ``host:port`` or ``http://host:port`` (``https://`` for TLS).
        timeout: Seconds allowed for each unary call (None = no limit). Streams
            (``consume``, ``watch_stats``) have no deadline.
    """

    def __init__(self, addr: str = "localhost:5555", *, timeout: float | None = 10.0) -> None:
        self.addr = addr
        self._timeout = timeout
        target, tls = parse_addr(addr)
        creds = _channel_credentials(tls)
        if creds is None:
            self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        else:
            self._channel = grpc.secure_channel(target, creds, options=_CHANNEL_OPTIONS)
        self._service = service_pb2_grpc.FilaServiceStub(self._channel)
        self._admin_stub: Any = None
        self._tokens = _StreamTokens()

    def close(self) -> None:
        """Close the channel; open streams end."""
        self._channel.close()

    @property
    def _admin(self) -> Any:
        if self._admin_stub is None:
            self._admin_stub = admin_pb2_grpc.FilaAdminStub(self._channel)
        return self._admin_stub

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _unary(self, method: Any, request: Any, *, message_scoped: bool = False,
               metadata: Any = None) -> Any:
        try:
            return method(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as e:
            raise _map_error(e, self.addr, message_scoped=message_scoped) from e

    def _stream(self, call: Any, convert: Callable[[Any], T | None]) -> Generator[T, None, None]:
        # Closing the generator (break, del, close()) cancels the call, which
        # tells the server to release this stream's leases at once.
        try:
            for frame in call:
                item = convert(frame)
                if item is not None:
                    yield item
        except grpc.RpcError as e:
            if _is_cancelled(e):
                return
            raise _map_error(e, self.addr) from e
        finally:
            call.cancel()

    # -- hot path (published SDK shape) --

    def enqueue(
        self,
        queue: str,
        headers: dict[str, str] | None,
        payload: bytes,
        *,
        delay_ms: int = 0,
    ) -> str:
        """Enqueue a message and return its id (UUIDv7).

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        req = service_pb2.EnqueueRequest(
            queue=queue, headers=headers or {}, payload=payload, delay_ms=delay_ms
        )
        return str(self._unary(self._service.Enqueue, req).message_id)

    def consume(
        self, queue: str, *, prefetch: int = 0
    ) -> Generator[ConsumeMessage, None, None]:
        """Stream leased messages from ``queue``; keepalive frames are skipped.

        Raises (while iterating):
            QueueNotFoundError: the queue does not exist.
            UnavailableError: the broker went away.
        """
        call = self._service.Consume(service_pb2.ConsumeRequest(queue=queue, prefetch=prefetch))
        token: list[str] = []

        def convert(frame: Any) -> ConsumeMessage | None:
            if not frame.HasField("message"):
                return None
            if not token:  # headers arrive before the first message
                token.append(_token_of(call.initial_metadata()))
            message = _message(frame.message, queue)
            self._tokens.remember(message.id, token[0])
            return message

        return self._stream(call, convert)

    def ack(self, queue: str, message_id: str) -> None:
        """Acknowledge a leased message (it is deleted).

        Raises:
            MessageNotFoundError: no current lease for that message.
        """
        req = service_pb2.AckRequest(queue=queue, message_id=message_id)
        self._unary(self._service.Ack, req, message_scoped=True,
                    metadata=self._tokens.metadata(message_id))

    def nack(self, queue: str, message_id: str, error: str) -> None:
        """Report a failed message; the queue's on_failure hook decides retry or DLQ.

        Raises:
            MessageNotFoundError: no current lease for that message.
        """
        req = service_pb2.NackRequest(queue=queue, message_id=message_id, error=error)
        self._unary(self._service.Nack, req, message_scoped=True,
                    metadata=self._tokens.metadata(message_id))

    # -- admin --

    def create_queue(
        self,
        name: str,
        *,
        on_enqueue: str = "",
        on_failure: str = "",
        visibility_timeout_ms: int = 0,
    ) -> str:
        """Create a queue (and its ``.dlq``); return its id (the name)."""
        req = _create_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        return str(self._unary(self._admin.CreateQueue, req).queue_id) or name

    def delete_queue(self, name: str) -> None:
        """Delete a queue, its ``.dlq`` and all their messages."""
        self._unary(self._admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=name))

    def list_queues(self) -> list[QueueInfo]:
        resp = self._unary(self._admin.ListQueues, admin_pb2.ListQueuesRequest())
        return [
            QueueInfo(
                name=str(q.name),
                depth=int(q.depth),
                in_flight=int(q.in_flight),
                active_consumers=int(q.active_consumers),
            )
            for q in resp.queues
        ]

    def get_stats(self, queue: str) -> QueueStats:
        return _stats(self._unary(self._admin.GetStats, admin_pb2.GetStatsRequest(queue=queue)))

    def get_queue(self, name: str) -> QueueDetails:
        resp = self._unary(self._admin.GetQueue, admin_pb2.GetQueueRequest(name=name))
        return _details(str(resp.name) or name, resp.config, str(resp.dead_letter_queue))

    def update_queue(
        self,
        name: str,
        *,
        on_enqueue: str | None = None,
        on_failure: str | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> QueueDetails:
        """Change only the given settings; an empty script removes that hook."""
        req = _update_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        resp = self._unary(self._admin.UpdateQueue, req)
        return _details(name, resp.config, _dlq_of(name))

    def set_config(self, key: str, value: str) -> None:
        self._unary(self._admin.SetConfig, admin_pb2.SetConfigRequest(key=key, value=value))

    def get_config(self, key: str) -> str | None:
        """The value, or None when the key is not set."""
        resp = self._unary(self._admin.GetConfig, admin_pb2.GetConfigRequest(key=key))
        return str(resp.value) or None

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        resp = self._unary(self._admin.ListConfig, admin_pb2.ListConfigRequest(prefix=prefix))
        return [(str(e.key), str(e.value)) for e in resp.entries]

    def redrive(
        self, dlq: str, count: int = 0, *, fairness_key: str = "", dry_run: bool = False
    ) -> int:
        """Move up to ``count`` (0 = all) messages from ``dlq`` to its parent; return how many."""
        req = admin_pb2.RedriveRequest(
            dlq_queue=dlq, count=count, fairness_key=fairness_key, dry_run=dry_run
        )
        return int(self._unary(self._admin.Redrive, req).redriven)

    def test_hook(
        self,
        hook: str,
        script: str,
        *,
        headers: dict[str, str] | None = None,
        payload_size: int = 0,
        queue: str = "",
        attempts: int = 1,
        error: str = "",
        message_id: str = "",
    ) -> HookResult:
        """Run ``script``'s ``hook`` on a sample message without touching any queue."""
        req = _test_hook_req(
            hook, script, headers, payload_size, queue, attempts, error, message_id
        )
        return _hook_result(self._unary(self._admin.TestHook, req))

    def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]:
        """One page of messages (not leased by looking) and the next page token ("" at end)."""
        req = admin_pb2.ListMessagesRequest(
            queue=queue, fairness_key=fairness_key, limit=limit, page_token=page_token
        )
        resp = self._unary(self._admin.ListMessages, req)
        return [_listed(m, queue) for m in resp.messages], str(resp.next_page_token)

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> Generator[StatsSnapshot, None, None]:
        """Stream live snapshots every ``interval_ms`` (all queues when ``queue`` is "")."""
        req = admin_pb2.WatchStatsRequest(queue=queue, interval_ms=interval_ms, top_keys=top_keys)
        return self._stream(self._admin.WatchStats(req), _stats_snapshot)

    def server_info(self) -> ServerInfo:
        resp = self._unary(self._admin.GetServerInfo, admin_pb2.GetServerInfoRequest())
        return _server_info(resp)


# ---- asyncio client -----------------------------------------------------------


class AsyncStream(Generic[T]):
    """An async iterator that may also be awaited first (``await client.consume(q)``).

    The published SDK's ``consume`` is a coroutine returning the stream;
    ``async for m in client.consume(q)`` works too.
    """

    def __init__(self, gen: AsyncGenerator[T, None], cancel: Callable[[], object]) -> None:
        self._gen = gen
        self._cancel = cancel

    def __aiter__(self) -> AsyncStream[T]:
        return self

    async def __anext__(self) -> T:
        return await self._gen.__anext__()

    def __await__(self) -> Generator[Any, None, AsyncStream[T]]:
        return self._ready().__await__()

    async def _ready(self) -> AsyncStream[T]:
        return self

    async def aclose(self) -> None:
        """Cancel the underlying call (the server releases the stream's leases)."""
        self._cancel()
        await self._gen.aclose()


class AsyncClient:
    """asyncio client for a Fila broker; same methods as :class:`Client`, awaited."""

    def __init__(self, addr: str = "localhost:5555", *, timeout: float | None = 10.0) -> None:
        self.addr = addr
        self._timeout = timeout
        target, tls = parse_addr(addr)
        creds = _channel_credentials(tls)
        if creds is None:
            import grpc.aio  # only the asyncio client pays for it

            self._channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
        else:
            import grpc.aio

            self._channel = grpc.aio.secure_channel(target, creds, options=_CHANNEL_OPTIONS)
        self._service = service_pb2_grpc.FilaServiceStub(self._channel)
        self._admin_stub: Any = None
        self._tokens = _StreamTokens()

    async def close(self) -> None:
        await self._channel.close(None)

    @property
    def _admin(self) -> Any:
        if self._admin_stub is None:
            self._admin_stub = admin_pb2_grpc.FilaAdminStub(self._channel)
        return self._admin_stub

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _unary(self, method: Any, request: Any, *, message_scoped: bool = False,
                     metadata: Any = None) -> Any:
        try:
            return await method(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as e:
            raise _map_error(e, self.addr, message_scoped=message_scoped) from e

    def _stream(self, call: Any, convert: Callable[[Any], T | None],
                before: Callable[[Any], Awaitable[None]] | None = None) -> AsyncStream[T]:
        async def frames() -> AsyncGenerator[T, None]:
            try:
                async for frame in call:
                    if before is not None:
                        await before(frame)
                    item = convert(frame)
                    if item is not None:
                        yield item
            except grpc.RpcError as e:
                if _is_cancelled(e):
                    return
                raise _map_error(e, self.addr) from e
            finally:
                call.cancel()

        return AsyncStream(frames(), call.cancel)

    # -- hot path --

    async def enqueue(
        self,
        queue: str,
        headers: dict[str, str] | None,
        payload: bytes,
        *,
        delay_ms: int = 0,
    ) -> str:
        req = service_pb2.EnqueueRequest(
            queue=queue, headers=headers or {}, payload=payload, delay_ms=delay_ms
        )
        return str((await self._unary(self._service.Enqueue, req)).message_id)

    def consume(self, queue: str, *, prefetch: int = 0) -> AsyncStream[ConsumeMessage]:
        call = self._service.Consume(service_pb2.ConsumeRequest(queue=queue, prefetch=prefetch))
        token: list[str] = []

        def convert(frame: Any) -> ConsumeMessage | None:
            if not frame.HasField("message"):
                return None
            message = _message(frame.message, queue)
            self._tokens.remember(message.id, token[0] if token else "")
            return message

        async def named(frame: Any) -> None:
            if not token:  # headers arrive before the first message
                token.append(_token_of(await call.initial_metadata()))

        return self._stream(call, convert, before=named)

    async def ack(self, queue: str, message_id: str) -> None:
        req = service_pb2.AckRequest(queue=queue, message_id=message_id)
        await self._unary(self._service.Ack, req, message_scoped=True,
                          metadata=self._tokens.metadata(message_id))

    async def nack(self, queue: str, message_id: str, error: str) -> None:
        req = service_pb2.NackRequest(queue=queue, message_id=message_id, error=error)
        await self._unary(self._service.Nack, req, message_scoped=True,
                          metadata=self._tokens.metadata(message_id))

    # -- admin --

    async def create_queue(
        self,
        name: str,
        *,
        on_enqueue: str = "",
        on_failure: str = "",
        visibility_timeout_ms: int = 0,
    ) -> str:
        req = _create_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        return str((await self._unary(self._admin.CreateQueue, req)).queue_id) or name

    async def delete_queue(self, name: str) -> None:
        await self._unary(self._admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=name))

    async def list_queues(self) -> list[QueueInfo]:
        resp = await self._unary(self._admin.ListQueues, admin_pb2.ListQueuesRequest())
        return [
            QueueInfo(
                name=str(q.name),
                depth=int(q.depth),
                in_flight=int(q.in_flight),
                active_consumers=int(q.active_consumers),
            )
            for q in resp.queues
        ]

    async def get_stats(self, queue: str) -> QueueStats:
        req = admin_pb2.GetStatsRequest(queue=queue)
        return _stats(await self._unary(self._admin.GetStats, req))

    async def get_queue(self, name: str) -> QueueDetails:
        resp = await self._unary(self._admin.GetQueue, admin_pb2.GetQueueRequest(name=name))
        return _details(str(resp.name) or name, resp.config, str(resp.dead_letter_queue))

    async def update_queue(
        self,
        name: str,
        *,
        on_enqueue: str | None = None,
        on_failure: str | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> QueueDetails:
        req = _update_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        resp = await self._unary(self._admin.UpdateQueue, req)
        return _details(name, resp.config, _dlq_of(name))

    async def set_config(self, key: str, value: str) -> None:
        req = admin_pb2.SetConfigRequest(key=key, value=value)
        await self._unary(self._admin.SetConfig, req)

    async def get_config(self, key: str) -> str | None:
        resp = await self._unary(self._admin.GetConfig, admin_pb2.GetConfigRequest(key=key))
        return str(resp.value) or None

    async def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        req = admin_pb2.ListConfigRequest(prefix=prefix)
        resp = await self._unary(self._admin.ListConfig, req)
        return [(str(e.key), str(e.value)) for e in resp.entries]

    async def redrive(
        self, dlq: str, count: int = 0, *, fairness_key: str = "", dry_run: bool = False
    ) -> int:
        req = admin_pb2.RedriveRequest(
            dlq_queue=dlq, count=count, fairness_key=fairness_key, dry_run=dry_run
        )
        return int((await self._unary(self._admin.Redrive, req)).redriven)

    async def test_hook(
        self,
        hook: str,
        script: str,
        *,
        headers: dict[str, str] | None = None,
        payload_size: int = 0,
        queue: str = "",
        attempts: int = 1,
        error: str = "",
        message_id: str = "",
    ) -> HookResult:
        req = _test_hook_req(
            hook, script, headers, payload_size, queue, attempts, error, message_id
        )
        return _hook_result(await self._unary(self._admin.TestHook, req))

    async def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]:
        req = admin_pb2.ListMessagesRequest(
            queue=queue, fairness_key=fairness_key, limit=limit, page_token=page_token
        )
        resp = await self._unary(self._admin.ListMessages, req)
        return [_listed(m, queue) for m in resp.messages], str(resp.next_page_token)

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> AsyncStream[StatsSnapshot]:
        req = admin_pb2.WatchStatsRequest(queue=queue, interval_ms=interval_ms, top_keys=top_keys)
        return self._stream(self._admin.WatchStats(req), _stats_snapshot)

    async def server_info(self) -> ServerInfo:
        resp = await self._unary(self._admin.GetServerInfo, admin_pb2.GetServerInfoRequest())
        return _server_info(resp)
