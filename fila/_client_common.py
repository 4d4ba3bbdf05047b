"""What both clients share: error mapping, protobuf -> records, request builders.

Private to :mod:`fila.client`. The per-side pieces that cannot be generated from
one source (channel factory, stream wrapper) are here too, side by side:
``_async_channel`` / ``_sync_channel`` and ``_async_stream`` / ``_sync_stream``;
``scripts/gen_sync_client.py`` swaps the names when it writes the blocking client.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import AsyncGenerator, Callable, Generator, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

import grpc

from fila import __version__, errors
from fila.addr import parse_addr
from fila.types import (
    STREAM_TOKEN_KEY,
    Acl,
    ApiKeyInfo,
    ClusterNode,
    ClusterQueue,
    ClusterStatus,
    ConsumeMessage,
    EnqueueItem,
    HookResult,
    KeyHistory,
    KeySnapshot,
    LimitSnapshot,
    ListedMessage,
    QueueDetails,
    QueueSnapshot,
    QueueStats,
    ServerInfo,
    StatsHistory,
    StatsSnapshot,
)
from fila.v1 import service_pb2

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


def _reason_of(err: grpc.RpcError) -> str:
    """The broker's machine-readable reason (trailing metadata), or "" if it sent none."""
    metadata_fn = getattr(err, "trailing_metadata", None)
    for key, value in (metadata_fn() if callable(metadata_fn) else None) or ():
        if key == errors.REASON_KEY and isinstance(value, str):
            return value
    return ""


def _map_error(err: grpc.RpcError, addr: str, *, message_scoped: bool = False) -> errors.FilaError:
    """Turn a gRPC failure into the fila.errors tree (the one client-side mapping)."""
    code_fn = getattr(err, "code", None)
    details_fn = getattr(err, "details", None)
    code = code_fn() if callable(code_fn) else None
    details = str((details_fn() if callable(details_fn) else "") or "")
    name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    reason = _reason_of(err)
    if reason:  # the broker said which error it was: its class, whatever the wording
        return errors.from_status(name, details, reason=reason, message_scoped=message_scoped)
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


def _floats(values: Any) -> tuple[float, ...]:
    # The wire carries float32: round off its noise (0.1 -> 0.10000000149).
    return tuple(round(v, 3) for v in values)


def _history(queue: str, resp: Any) -> StatsHistory:
    q = resp.queue
    keys = tuple(
        KeyHistory(k.key, k.start_ms, _floats(k.deliver_rate), _floats(k.pending),
                   _floats(k.wait_p95_ms), _floats(k.throttle_hit_rate))
        for k in resp.keys
    )
    return StatsHistory(
        queue, resp.start_ms, resp.step_ms or 1000, _floats(q.enqueue_rate),
        _floats(q.deliver_rate), _floats(q.ack_rate), _floats(q.nack_rate), _floats(q.depth),
        _floats(q.wait_p95_ms), _floats(q.throttle_hit_rate), keys,
        resp.history_seconds, resp.history_top_keys)


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
    return _record(ServerInfo, resp, features=tuple(resp.features),
                   caller_permissions=tuple((p.kind, p.pattern)
                                            for p in resp.caller_permissions))


def _cluster_status(resp: Any) -> ClusterStatus:
    return _record(ClusterStatus, resp,
                   nodes=tuple(_record(ClusterNode, n) for n in resp.nodes),
                   queues=tuple(_record(ClusterQueue, q) for q in resp.queues))


def _api_key_info(pb: Any) -> ApiKeyInfo:
    return _record(ApiKeyInfo, pb)


def _acl(resp: Any) -> Acl:
    return Acl(resp.key_id, tuple((p.kind, p.pattern) for p in resp.permissions),
               resp.is_superadmin)


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


@dataclasses.dataclass(frozen=True)
class _Tls:
    ca_cert: bytes | None
    client_cert: bytes | None
    client_key: bytes | None


def _tls_options(tls: bool, ca_cert: bytes | None, client_cert: bytes | None,
                 client_key: bytes | None) -> _Tls | None:
    """The channel's TLS settings (None: plaintext), checked as the published SDK does."""
    use_tls = tls or ca_cert is not None
    if (client_cert is not None or client_key is not None) and not use_tls:
        raise ValueError(
            "client_cert and client_key require ca_cert or tls=True to establish a TLS channel")
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together (mutual TLS needs both)")
    return _Tls(ca_cert, client_cert, client_key) if use_tls else None


def _auth_metadata(api_key: str | None) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {api_key}"),) if api_key else ()


def _channel_credentials(tls: _Tls | None) -> grpc.ChannelCredentials | None:
    if tls is None:
        return None
    return grpc.ssl_channel_credentials(root_certificates=tls.ca_cert,
                                        private_key=tls.client_key,
                                        certificate_chain=tls.client_cert)


# ---- streams ------------------------------------------------------------------




_CODE_NAMES = {sc.value[0]: sc.name for sc in grpc.StatusCode}


def _item_error(pb: Any, *, message_scoped: bool = False) -> errors.FilaError:
    """One failed item of a batch RPC (code, message, reason) as a fila error."""
    name = _CODE_NAMES.get(int(pb.code), "UNKNOWN")
    return errors.from_status(name, str(pb.message), reason=str(pb.reason),
                              message_scoped=message_scoped)


class _Delivery(NamedTuple):
    """Where a leased message came from, for the calls that settle it."""

    token: str = ""  # the consume stream's name (``fila-stream``), for the stale-ack rule
    route: str = ""  # the node a redirected stream read it from ("" = the client's address)

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        return ((STREAM_TOKEN_KEY, self.token),) if self.token else None


class _StreamTokens:
    """Which consume stream delivered which message, for the acks that settle them.

    The server names each stream (initial metadata ``fila-stream``); sending that name
    with an ack lets it tell two streams on one connection apart when it refuses a stale
    ack. A stream that followed a cluster redirect also records the node it read from,
    so the message is settled there. Bounded: the oldest entries go first (an ack
    without a token still works).
    """

    LIMIT = 65_536

    def __init__(self) -> None:
        self._by_id: dict[str, _Delivery] = {}

    def remember(self, message_id: str, token: str, route: str = "") -> None:
        if not token and not route:
            return
        if len(self._by_id) >= self.LIMIT:
            del self._by_id[next(iter(self._by_id))]
        self._by_id[message_id] = _Delivery(token, route)

    def peek(self, message_id: str) -> _Delivery:
        return self._by_id.get(message_id, _NOWHERE)

    def take(self, message_id: str) -> _Delivery:
        """Where ``message_id`` came from (empty if unknown), forgotten."""
        return self._by_id.pop(message_id, _NOWHERE)


_NOWHERE = _Delivery()


def _token_of(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == STREAM_TOKEN_KEY and isinstance(value, str):
            return value
    return ""



# Cluster mode: a Consume on a node that does not own the queue (or a stream whose node
# just lost it) ends UNAVAILABLE naming the owner (errors.LEADER_ADDR_KEY, the trailing
# metadata key the published fila-python SDK 0.2.0 follows too).
# Redirects followed in a row without a message delivered in between; past it the
# UNAVAILABLE is raised (two nodes naming each other must not loop forever).
MAX_REDIRECTS = 5


def _leader_of(err: grpc.RpcError) -> str:
    """The owner's ``host:port`` an UNAVAILABLE status names, or "" (no redirect)."""
    code_fn = getattr(err, "code", None)
    if not callable(code_fn) or code_fn() != grpc.StatusCode.UNAVAILABLE:
        return ""
    metadata_fn = getattr(err, "trailing_metadata", None)
    for key, value in (metadata_fn() if callable(metadata_fn) else None) or ():
        if key == errors.LEADER_ADDR_KEY and isinstance(value, str):
            try:
                return parse_addr(value)[0]
            except errors.InvalidArgumentError:
                return ""
    return ""


class _CurrentCall:
    """The call a consume stream reads now; following a redirect replaces it."""

    def __init__(self, call: Any) -> None:
        self.call = call

    def cancel(self) -> None:
        self.call.cancel()


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


# ---- the per-side pieces ------------------------------------------------------


def _sync_channel(target: str, tls: _Tls | None) -> grpc.Channel:
    creds = _channel_credentials(tls)
    if creds is None:
        return grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
    return grpc.secure_channel(target, creds, options=_CHANNEL_OPTIONS)


def _async_channel(target: str, tls: _Tls | None) -> Any:
    import grpc.aio  # only the asyncio client pays for it

    creds = _channel_credentials(tls)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
    return grpc.aio.secure_channel(target, creds, options=_CHANNEL_OPTIONS)


def _sync_stream(frames: Generator[T, None, None], call: Any) -> Generator[T, None, None]:
    # Closing the generator (break, del, close()) runs its finally: the call is cancelled.
    return frames


def _async_stream(frames: AsyncGenerator[T, None], call: Any) -> AsyncStream[T]:
    return AsyncStream(frames, call.cancel)


def _enqueue_batch_req(items: Sequence[EnqueueItem]) -> service_pb2.EnqueueBatchRequest:
    # Filled in place: nested constructors copy each message into the repeated field,
    # which cost the client three times as much per message (6 us against 2).
    req = service_pb2.EnqueueBatchRequest()
    add = req.messages.add
    for item in items:
        message = add(queue=item.queue, payload=item.payload, delay_ms=item.delay_ms)
        if item.headers:
            message.headers.update(item.headers)
    return req
