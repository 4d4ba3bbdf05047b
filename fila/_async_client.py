"""The asyncio client: the one hand-written source of both clients.

``scripts/gen_sync_client.py`` writes :mod:`fila._sync_client` (the blocking
``Client``) from this file by token substitution; edit here, then run it.
Text that must read differently per side is written for the async side and
listed in the script's substitution table.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import grpc

from fila._acker import AsyncAcker
from fila._client_common import (
    MAX_REDIRECTS,
    AsyncStream,
    T,
    _acl,
    _api_key_info,
    _auth_metadata,
    _cluster_status,
    _create_req,
    _CurrentCall,
    _details,
    _dlq_of,
    _enqueue_batch_req,
    _history,
    _hook_result,
    _is_cancelled,
    _item_error,
    _leader_of,
    _listed,
    _map_error,
    _message,
    _record,
    _server_info,
    _stats,
    _stats_snapshot,
    _StreamTokens,
    _test_hook_req,
    _tls_options,
    _token_of,
    _update_req,
    admin_pb2,
    admin_pb2_grpc,
)
from fila._client_common import _async_channel as _open_channel
from fila._client_common import _async_stream as _wrap_stream
from fila._coalesce import MAX_BATCH_ITEMS, AsyncCoalescer, Result
from fila._coalesce import _async_coalescer as _new_coalescer
from fila.addr import parse_addr
from fila.errors import FilaError
from fila.types import (
    Acl,
    ApiKeyInfo,
    BackupInfo,
    ClusterStatus,
    ConsumeMessage,
    CreatedApiKey,
    EnqueueItem,
    HookResult,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueStats,
    ServerInfo,
    StatsHistory,
    StatsSnapshot,
)
from fila.v1 import service_pb2, service_pb2_grpc

__all__ = ["AsyncClient"]


class AsyncClient:
    """asyncio client for a Fila broker.

    Args:
        addr: ``host:port`` or ``http://host:port`` (``https://`` for TLS).
        timeout: Seconds allowed for each unary call (None = no limit). Streams
            (``consume``, ``watch_stats``) have no deadline.
        tls: Use TLS, verifying the broker with the system trust store (also implied by
            ``https://`` and by ``ca_cert``).
        ca_cert: PEM CA certificate that signed the broker's certificate (implies TLS).
        client_cert: PEM client certificate, for a broker that requires mTLS.
        client_key: PEM private key of ``client_cert``.
        api_key: Sent with every call as ``authorization: Bearer <key>``.
        enqueue_coalesce: Send concurrent ``enqueue()`` calls together as EnqueueBatch
            RPCs: calls made while one is in flight go in the next (a lone call is sent
            at once, as a unary Enqueue). False: one RPC per call.
        enqueue_linger: Seconds each enqueue may wait for others to join its batch
            (0 = none: coalescing then adds no latency).
        enqueue_max_batch: Most messages per coalesced batch (at most 1000).

    The TLS and ``api_key`` options are those of the published fila-python SDK.

    Every method raises :class:`fila.errors.UnavailableError` when the broker
    cannot be reached; the ``Raises:`` sections list what else each one can raise.
    """

    def __init__(
        self,
        addr: str = "localhost:5555",
        *,
        timeout: float | None = 10.0,
        tls: bool = False,
        ca_cert: bytes | None = None,
        client_cert: bytes | None = None,
        client_key: bytes | None = None,
        api_key: str | None = None,
        enqueue_coalesce: bool = True,
        enqueue_linger: float = 0.0,
        enqueue_max_batch: int = MAX_BATCH_ITEMS,
    ) -> None:
        self.addr = addr
        self._timeout = timeout
        target, https = parse_addr(addr)
        self._target = target
        self._tls = _tls_options(tls or https, ca_cert, client_cert, client_key)
        self._channel = _open_channel(target, self._tls)
        self._auth = _auth_metadata(api_key)
        self._service = service_pb2_grpc.FilaServiceStub(self._channel)
        # Nodes consume streams were redirected to (cluster mode): target -> (channel, stub).
        self._routes: dict[str, tuple[Any, Any]] = {}
        self._admin_stub: Any = None
        self._tokens = _StreamTokens()
        self._coalescer: AsyncCoalescer | None = None
        if enqueue_coalesce:
            self._coalescer = _new_coalescer(
                self._enqueue_one, self._enqueue_reqs, enqueue_max_batch, enqueue_linger
            )

    async def close(self) -> None:
        """Close the channel; open streams end."""
        for channel, _ in self._routes.values():
            await channel.close()
        await self._channel.close()

    def _service_at(self, route: str) -> Any:
        """The FilaService stub of ``route`` (a node a consume stream was sent to; "" is
        ``addr``), over a channel with this client's TLS settings, opened once."""
        if not route or route == self._target:
            return self._service
        if route not in self._routes:
            channel = _open_channel(route, self._tls)
            self._routes[route] = (channel, service_pb2_grpc.FilaServiceStub(channel))
        return self._routes[route][1]

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

    async def _unary(
        self, method: Any, request: Any, *, message_scoped: bool = False, metadata: Any = None
    ) -> Any:
        if self._auth:
            metadata = self._auth + tuple(metadata or ())
        try:
            return await method(request, timeout=self._timeout, metadata=metadata)
        except grpc.RpcError as e:
            raise _map_error(e, self.addr, message_scoped=message_scoped) from e

    async def _frames(
        self,
        call: Any,
        convert: Callable[[Any], Awaitable[T | None]],
        more: list[T] | None = None,
        *,
        raw: bool = False,
    ) -> AsyncGenerator[T, None]:
        # Closing the stream (break, del, aclose()) cancels the call, which
        # tells the server to release this stream's leases at once.
        # ``more``: items ``convert`` kept back from a frame that carried several.
        # ``raw``: a failure is raised as the grpc error (the caller may follow a redirect).
        try:
            async for frame in call:
                item = await convert(frame)
                if item is not None:
                    yield item
                while more:
                    yield more.pop(0)
        except grpc.RpcError as e:
            if _is_cancelled(e):
                return
            if raw:
                raise
            raise _map_error(e, self.addr) from e
        finally:
            call.cancel()

    # -- hot path (published SDK shape) --

    async def enqueue(
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
            InvalidArgumentError: a bad name, header or delay, or the message is too large.
            OverloadedError: the broker is overloaded or out of disk space; try again later.
        """
        req = service_pb2.EnqueueRequest(
            queue=queue, headers=headers or {}, payload=payload, delay_ms=delay_ms
        )
        if self._coalescer is not None:
            return await self._coalescer.submit(req)
        return await self._enqueue_one(req)

    async def _enqueue_one(self, req: Any) -> str:
        resp = await self._unary(self._service.Enqueue, req)
        return str(resp.message_id)

    async def _enqueue_reqs(self, reqs: Sequence[Any]) -> list[Result]:
        return await self._enqueue_batch(service_pb2.EnqueueBatchRequest(messages=reqs))

    async def _enqueue_batch(self, req: Any) -> list[Result]:
        resp = await self._unary(self._service.EnqueueBatch, req)
        return [
            str(r.message_id) if r.WhichOneof("result") == "message_id" else _item_error(r.error)
            for r in resp.results
        ]

    def consume(
        self, queue: str, *, prefetch: int = 0, max_batch: int = 0
    ) -> AsyncStream[ConsumeMessage]:
        """Stream leased messages from ``queue``; keepalive frames are skipped.

        ``max_batch`` > 1 lets the broker pack up to that many waiting messages in one
        frame (fewer round trips); the stream still yields them one by one, in order.

        In cluster mode a node that does not own ``queue`` (or stops owning it) ends the
        stream UNAVAILABLE naming the owner (``x-fila-leader-addr``); the stream then
        goes on from the owner, over a channel with the same TLS settings and API key,
        and acks and nacks of what it delivers go there too. At most 5 redirects in a
        row without a message in between.

        Raises (while iterating):
            QueueNotFoundError: the queue does not exist, or was deleted.
            OverloadedError: too many consume streams.
            UnavailableError: the broker went away.
        """
        req = service_pb2.ConsumeRequest(queue=queue, prefetch=prefetch, max_batch=max_batch)
        # Started here, not at the first read: the broker counts the consumer at once.
        current = _CurrentCall(self._service.Consume(req, metadata=self._auth or None))
        return _wrap_stream(self._consume_following(req, current), current)

    async def _consume_following(
        self, req: Any, current: _CurrentCall
    ) -> AsyncGenerator[ConsumeMessage, None]:
        """The messages of ``current``'s call, then of each owner a failure names."""
        route = ""
        redirects = 0
        while True:
            frames = self._leased(current.call, req.queue, route)
            try:
                async for message in frames:
                    redirects = 0
                    yield message
                return
            except grpc.RpcError as e:
                route = _leader_of(e)
                if not route or redirects >= MAX_REDIRECTS:
                    raise _map_error(e, self.addr) from e
            finally:
                await frames.aclose()
            redirects += 1
            call = self._service_at(route).Consume(req, metadata=self._auth or None)
            current.call = call

    def _leased(self, call: Any, queue: str, route: str) -> AsyncGenerator[ConsumeMessage, None]:
        token: list[str] = []
        pending: list[ConsumeMessage] = []  # the rest of a batched frame, in order

        async def convert(frame: Any) -> ConsumeMessage | None:
            if frame.HasField("message"):
                pbs = [frame.message]
            elif frame.messages:
                pbs = list(frame.messages)
            else:
                return None
            if not token:  # headers arrive before the first message
                token.append(_token_of(await call.initial_metadata()))
            for pb in pbs:
                message = _message(pb, queue)
                self._tokens.remember(message.id, token[0], route)
                pending.append(message)
            return pending.pop(0)

        return self._frames(call, convert, more=pending, raw=True)

    async def ack(self, queue: str, message_id: str) -> None:
        """Acknowledge a leased message (it is deleted).

        Raises:
            MessageNotFoundError: no current lease for that message.
            QueueNotFoundError: the queue does not exist.
        """
        req = service_pb2.AckRequest(queue=queue, message_id=message_id)
        came = self._tokens.take(message_id)
        rpc = self._service_at(came.route).Ack
        await self._unary(rpc, req, message_scoped=True, metadata=came.metadata())

    async def enqueue_many(self, items: Sequence[EnqueueItem]) -> list[str | FilaError]:
        """Enqueue several messages in one call and one durable commit on the broker.

        Returns one entry per item, in order: the new message id, or the error of that
        item alone (e.g. ``QueueNotFoundError``, ``InvalidArgumentError``); the other
        items are stored regardless.

        Raises:
            InvalidArgumentError: more than 1000 items (nothing is stored), or the request
                is larger than the broker accepts.
            OverloadedError: the broker is overloaded or out of disk space; try again later.
        """
        return await self._enqueue_batch(_enqueue_batch_req(items))

    async def _settle_many(
        self, method: str, request: Callable[..., Any], items: list[Any]
    ) -> list[FilaError | None]:
        # One RPC per consume stream the ids came from (normally one): the stream token
        # travels as call metadata, and the stale-ack rule needs the right one per item.
        groups: dict[Any, list[int]] = {}
        for n, item in enumerate(items):
            groups.setdefault(self._tokens.take(item.message_id), []).append(n)
        results: list[FilaError | None] = [None] * len(items)
        for came, indexes in groups.items():
            req = request(items=[items[n] for n in indexes])
            rpc = getattr(self._service_at(came.route), method)
            resp = await self._unary(rpc, req, message_scoped=True, metadata=came.metadata())
            for n, r in zip(indexes, resp.results, strict=True):
                results[n] = _item_error(r, message_scoped=True) if r.code else None
        return results

    async def ack_many(self, queue: str, message_ids: Sequence[str]) -> list[FilaError | None]:
        """Acknowledge several leased messages of ``queue`` in one call.

        Returns one entry per id, in order: None when acknowledged, else that item's
        error (``MessageNotFoundError`` for no current lease, ``InvalidArgumentError``
        for a malformed id, ``QueueNotFoundError``).

        Raises:
            InvalidArgumentError: more than 1000 ids (nothing is acknowledged).
        """
        items = [service_pb2.AckRequest(queue=queue, message_id=m) for m in message_ids]
        return await self._settle_many("AckBatch", service_pb2.AckBatchRequest, items)

    async def nack_many(
        self, queue: str, message_ids: Sequence[str], error: str
    ) -> list[FilaError | None]:
        """Report several messages of ``queue`` as failed (``error`` for each) in one call.

        Returns one entry per id, in order: None when settled, else that item's error,
        as for :meth:`ack_many`.

        Raises:
            InvalidArgumentError: more than 1000 ids (nothing is settled).
        """
        items = [
            service_pb2.NackRequest(queue=queue, message_id=m, error=error) for m in message_ids
        ]
        return await self._settle_many("NackBatch", service_pb2.NackBatchRequest, items)

    def acker(self, queue: str, *, max_batch: int = 100, max_delay: float = 0.05) -> AsyncAcker:
        """A helper that acks messages of ``queue`` in batches (AckBatch RPCs).

        ``acker.ack(id)`` records an id; they are sent together when ``max_batch`` are
        waiting, ``max_delay`` seconds after the first, on ``flush()`` and on close
        (use it as a context manager).

        Raises:
            Nothing: an id the broker refuses (or an AckBatch that fails as a whole) is
            returned by ``acker.flush()`` and kept in ``acker.failed`` as ``(id, error)``.
        """
        return AsyncAcker(self.ack_many, queue, max_batch=max_batch, max_delay=max_delay)

    async def extend_lease(self, queue: str, message_id: str, extend_ms: int) -> None:
        """Keep a lease this client holds: it now ends ``extend_ms`` from now (max 12 h).

        Raises:
            MessageNotFoundError: no current lease for that message (as for ``ack``).
            InvalidArgumentError: ``extend_ms`` outside 1..43200000, or a malformed id.
            QueueNotFoundError: the queue does not exist.
        """
        req = service_pb2.ExtendLeaseRequest(
            queue=queue, message_id=message_id, extend_ms=extend_ms
        )
        # The token stays remembered: the message is still to be acked or nacked.
        came = self._tokens.peek(message_id)
        rpc = self._service_at(came.route).ExtendLease
        await self._unary(rpc, req, message_scoped=True, metadata=came.metadata())

    async def nack(self, queue: str, message_id: str, error: str) -> None:
        """Report a failed message; the queue's on_failure hook decides retry or DLQ.

        Raises:
            MessageNotFoundError: no current lease for that message.
            QueueNotFoundError: the queue does not exist.
        """
        req = service_pb2.NackRequest(queue=queue, message_id=message_id, error=error)
        came = self._tokens.take(message_id)
        rpc = self._service_at(came.route).Nack
        await self._unary(rpc, req, message_scoped=True, metadata=came.metadata())

    # -- admin --

    async def create_queue(
        self,
        name: str,
        *,
        on_enqueue: str = "",
        on_failure: str = "",
        visibility_timeout_ms: int = 0,
    ) -> str:
        """Create a queue (and its ``.dlq``); return its id (the name).

        Raises:
            AlreadyExistsError: a queue with that name exists.
            InvalidArgumentError: a bad or reserved (``.dlq``) name, a bad timeout, or a
                script that does not compile.
            OverloadedError: the broker's queue limit is reached.
        """
        req = _create_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        resp = await self._unary(self._admin.CreateQueue, req)
        return str(resp.queue_id) or name

    async def delete_queue(self, name: str) -> None:
        """Delete a queue, its ``.dlq`` and all their messages.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        await self._unary(self._admin.DeleteQueue, admin_pb2.DeleteQueueRequest(queue=name))

    async def purge_queue(self, name: str) -> int:
        """Remove the queue's ready and delayed messages; return how many went.

        Leased messages stay with their consumers (they are acked, nacked or expire as
        usual). Messages enqueued while a large purge runs may survive it.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        resp = await self._unary(self._admin.PurgeQueue, admin_pb2.PurgeQueueRequest(queue=name))
        return int(resp.purged)

    async def list_queues(self) -> list[QueueInfo]:
        """Every queue with its depth, in-flight count and consumers.

        Raises:
            UnavailableError: the broker is shutting down.
        """
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
        """Depth, in-flight, fairness and throttle state of one queue.

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: ``queue`` is empty.
        """
        req = admin_pb2.GetStatsRequest(queue=queue)
        return _stats(await self._unary(self._admin.GetStats, req))

    async def get_queue(self, name: str) -> QueueDetails:
        """A queue's settings: hook scripts, visibility timeout, dead-letter queue.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
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
        """Change only the given settings; an empty script removes that hook.

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: a bad timeout, or a script that does not compile.
        """
        req = _update_req(name, on_enqueue, on_failure, visibility_timeout_ms)
        resp = await self._unary(self._admin.UpdateQueue, req)
        return _details(name, resp.config, _dlq_of(name))

    async def set_config(self, key: str, value: str) -> None:
        """Set a runtime config key (``throttle.*``, ``concurrency.*``, ...); "" unsets it.

        Raises:
            InvalidArgumentError: an empty key, or a value the key does not accept.
        """
        req = admin_pb2.SetConfigRequest(key=key, value=value)
        await self._unary(self._admin.SetConfig, req)

    async def get_config(self, key: str) -> str | None:
        """The value, or None when the key is not set.

        Raises:
            InvalidArgumentError: ``key`` is empty.
        """
        resp = await self._unary(self._admin.GetConfig, admin_pb2.GetConfigRequest(key=key))
        return str(resp.value) or None

    async def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        """Every ``(key, value)`` whose key starts with ``prefix``, sorted by key.

        Raises:
            UnavailableError: the broker cannot be reached.
        """
        req = admin_pb2.ListConfigRequest(prefix=prefix)
        resp = await self._unary(self._admin.ListConfig, req)
        return [(str(e.key), str(e.value)) for e in resp.entries]

    async def redrive(
        self,
        dlq: str,
        count: int = 0,
        *,
        fairness_key: str = "",
        dry_run: bool = False,
        message_id: str = "",
    ) -> int:
        """Move up to ``count`` (0 = all) messages from ``dlq`` to its parent; return how many.

        ``message_id``: only that message (``fairness_key``, if given, must match it).

        Raises:
            QueueNotFoundError: the dead-letter queue does not exist.
            MessageNotFoundError: ``message_id`` is not in the dead-letter queue.
            InvalidArgumentError: ``dlq`` is not a dead-letter queue (no ``.dlq`` suffix).
            FailedPreconditionError: its parent queue does not exist, or ``message_id``
                is leased by a consumer.
        """
        req = admin_pb2.RedriveRequest(
            dlq_queue=dlq,
            count=count,
            fairness_key=fairness_key,
            dry_run=dry_run,
            message_id=message_id,
        )
        resp = await self._unary(self._admin.Redrive, req)
        return int(resp.redriven)

    async def delete_message(self, queue: str, message_id: str) -> str:
        """Delete one message for good; returns the state it was in ("ready" or "delayed").

        Raises:
            QueueNotFoundError: the queue does not exist.
            MessageNotFoundError: no message with that id is in the queue.
            FailedPreconditionError: the message is leased by a consumer (nack it, or wait
                for its lease to expire).
            InvalidArgumentError: ``message_id`` is empty or not a UUID.
        """
        req = admin_pb2.DeleteMessageRequest(queue=queue, message_id=message_id)
        resp = await self._unary(self._admin.DeleteMessage, req)
        return str(resp.state)

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
        """Run ``script``'s ``hook`` on a sample message without touching any queue.

        A script that fails at run time is a result (``HookResult.error``), not an error.

        Raises:
            InvalidArgumentError: an unknown hook name, or a script that does not compile.
        """
        req = _test_hook_req(
            hook, script, headers, payload_size, queue, attempts, error, message_id
        )
        return _hook_result(await self._unary(self._admin.TestHook, req))

    async def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]:
        """One page of messages (not leased by looking) and the next page token ("" at end).

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        req = admin_pb2.ListMessagesRequest(
            queue=queue, fairness_key=fairness_key, limit=limit, page_token=page_token
        )
        resp = await self._unary(self._admin.ListMessages, req)
        return [_listed(m, queue) for m in resp.messages], str(resp.next_page_token)

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> AsyncStream[StatsSnapshot]:
        """Stream live snapshots every ``interval_ms`` (all queues when ``queue`` is "").

        Raises (while iterating):
            QueueNotFoundError: ``queue`` does not exist.
            OverloadedError: too many WatchStats streams are open.
            UnavailableError: the broker went away.
        """
        req = admin_pb2.WatchStatsRequest(queue=queue, interval_ms=interval_ms, top_keys=top_keys)
        call = self._admin.WatchStats(req, metadata=self._auth or None)

        async def convert(frame: Any) -> StatsSnapshot:
            return _stats_snapshot(frame)

        return _wrap_stream(self._frames(call, convert), call)

    async def server_info(self) -> ServerInfo:
        """Version, features, uptime, storage counters and data-dir size of the broker.

        Raises:
            UnavailableError: the broker cannot be reached.
        """
        resp = await self._unary(self._admin.GetServerInfo, admin_pb2.GetServerInfoRequest())
        return _server_info(resp)

    async def cluster_status(self) -> ClusterStatus:
        """The answering node's view of its cluster: live nodes, each queue's owner and
        how far this node has applied the queue's log. ``enabled`` is False on a single
        node (nothing else is set then).

        Raises:
            RPCError: ``code_name`` ``UNIMPLEMENTED`` from a server older than cluster mode.
        """
        req = admin_pb2.GetClusterStatusRequest()
        return _cluster_status(await self._unary(self._admin.GetClusterStatus, req))

    # -- API keys and ACLs (superadmin keys only, when auth is on) --

    async def create_api_key(
        self, name: str, *, expires_at_ms: int = 0, is_superadmin: bool = False
    ) -> CreatedApiKey:
        """Create an API key; the plaintext ``key`` is returned this once (the broker keeps
        only its hash). ``expires_at_ms``: wall-clock expiry in Unix ms (0 = never).

        Raises:
            InvalidArgumentError: an empty name, or an expiry in the past.
            PermissionDeniedError: the caller is not a superadmin.
        """
        req = admin_pb2.CreateApiKeyRequest(
            name=name, expires_at_ms=expires_at_ms, is_superadmin=is_superadmin
        )
        resp = await self._unary(self._admin.CreateApiKey, req)
        return CreatedApiKey(resp.key_id, resp.key, resp.is_superadmin)

    async def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key: its next call is refused and its open streams end.

        Raises:
            NotFoundError: no key with that id.
            PermissionDeniedError: the caller is not a superadmin.
        """
        await self._unary(self._admin.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id=key_id))

    async def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every stored key (never the key itself), oldest first.

        Raises:
            PermissionDeniedError: the caller is not a superadmin.
        """
        resp = await self._unary(self._admin.ListApiKeys, admin_pb2.ListApiKeysRequest())
        return [_api_key_info(k) for k in resp.keys]

    async def set_acl(self, key_id: str, permissions: Sequence[tuple[str, str]]) -> None:
        """Replace a key's permissions: (kind, pattern) pairs, kind ``produce``, ``consume``
        or ``admin``, pattern a queue name, ``*`` or a prefix such as ``orders.*``.

        Raises:
            NotFoundError: no key with that id.
            InvalidArgumentError: an unknown kind or a malformed pattern.
            PermissionDeniedError: the caller is not a superadmin.
        """
        req = admin_pb2.SetAclRequest(
            key_id=key_id,
            permissions=[admin_pb2.AclPermission(kind=k, pattern=p) for k, p in permissions],
        )
        await self._unary(self._admin.SetAcl, req)

    async def get_acl(self, key_id: str) -> Acl:
        """A key's permissions.

        Raises:
            NotFoundError: no key with that id.
            PermissionDeniedError: the caller is not a superadmin.
        """
        resp = await self._unary(self._admin.GetAcl, admin_pb2.GetAclRequest(key_id=key_id))
        return _acl(resp)
    async def backup(self, dest: str) -> BackupInfo:
        """Have the broker write a consistent checkpoint of its data into ``dest``.

        ``dest`` is a path on the server's machine: absolute, not existing yet, its parent
        existing. Traffic goes on meanwhile. Restore with ``fila-server restore DEST``.

        Raises:
            InvalidArgumentError: ``dest`` is not a new absolute path outside the data dir.
            OverloadedError: another backup is running.
            StorageError: RocksDB could not write the checkpoint.
        """
        resp = await self._unary(self._admin.Backup, admin_pb2.BackupRequest(dest=dest))
        return _record(BackupInfo, resp)

    async def stats_history(
        self, queue: str, *, fairness_key: str = "", seconds: int = 0
    ) -> StatsHistory:
        """The server's per-second samples of ``queue`` (rates, depth, wait p95, throttle
        hits) and of its busiest keys, for the last ``seconds`` (0 = all it keeps).
        ``fairness_key`` keeps only that key's series (none if the server does not track it).

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: ``queue`` is empty.
            RPCError: ``code_name`` ``UNIMPLEMENTED`` from a server older than the history.
        """
        req = admin_pb2.GetStatsHistoryRequest(
            queue=queue, fairness_key=fairness_key, seconds=seconds
        )
        return _history(queue, await self._unary(self._admin.GetStatsHistory, req))
