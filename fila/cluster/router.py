"""Cluster mode's front door: every queue call reaches the node that serves the queue.

Like the auth guard (fila/server/auth_guard.py), this wraps the Fila method handlers once at
registration, outside the guard: a call this node serves runs here (auth, then the
servicer); any other is sent on, with the caller's metadata (its API key included, checked
by the serving node), to the owner, and the owner's answer or error goes back as is.

- Unary calls on one queue (Enqueue, Ack, GetStats, ...): forwarded to the owner.
- Batches (EnqueueBatch, AckBatch, NackBatch): split by owner, forwarded per owner, and the
  results put back in request order.
- Consume on a node that does not serve the queue: UNAVAILABLE with ``x-fila-leader-addr``
  (the owner's address), which the clients follow. Streams are not proxied.
- CreateQueue: the queue's group is registered (its log stream created) and taken by this
  node if free, then the call goes to the owner. DeleteQueue: forwarded, then unregistered.
- SetConfig: applied here, then replicated to every node (fila/cluster/node.py).
- ListQueues: every live node's own queues, merged.

A call that arrives forwarded is never sent on again: if this node no longer serves the
queue (it moved meanwhile), it answers UNAVAILABLE and the forwarding node asks the bucket
for the owner again and retries, until the owner wait runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
import nats.errors
import nats.js.errors
from google.protobuf.message import Message

from fila.cluster.log import LogError
from fila.cluster.node import OWNER_WAIT_S, ClusterNode
from fila.errors import (
    LEADER_ADDR_KEY,
    REASON_KEY,
    AlreadyExistsError,
    FilaError,
    UnavailableError,
)
from fila.server.auth import RULES, authorize, bearer_key
from fila.server.model import DLQ_SUFFIX
from fila.server.queues import check_name
from fila.v1 import admin_pb2, service_pb2

__all__ = ["ClusterRouter"]

log = logging.getLogger("fila.cluster")

if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]

FORWARDED_KEY = "x-fila-forwarded"
_SVC = "/fila.v1.FilaService/"
_ADM = "/fila.v1.FilaAdmin/"

# Method -> the request field naming its queue.
_ONE: dict[str, str] = {
    _SVC + "Enqueue": "queue", _SVC + "Ack": "queue", _SVC + "Nack": "queue",
    _SVC + "ExtendLease": "queue",
    _ADM + "DeleteQueue": "queue", _ADM + "UpdateQueue": "name", _ADM + "GetQueue": "name",
    _ADM + "Redrive": "dlq_queue", _ADM + "DeleteMessage": "queue",
    _ADM + "PurgeQueue": "queue", _ADM + "ListMessages": "queue", _ADM + "GetStats": "queue",
    _ADM + "GetStatsHistory": "queue", _ADM + "TestHook": "queue",
    _ADM + "CreateQueue": "name",
}
# Batch method -> (request's repeated field, response's repeated field, response class).
_EACH: dict[str, tuple[str, str, type[Message]]] = {
    _SVC + "EnqueueBatch": ("messages", "results", service_pb2.EnqueueBatchResponse),
    _SVC + "AckBatch": ("items", "results", service_pb2.AckBatchResponse),
    _SVC + "NackBatch": ("items", "results", service_pb2.NackBatchResponse),
}
_CONSUME = _SVC + "Consume"
_CREATE = _ADM + "CreateQueue"
_DELETE = _ADM + "DeleteQueue"
_SET_CONFIG = _ADM + "SetConfig"
_LIST_QUEUES = _ADM + "ListQueues"
# API key changes: made here, then replicated (the response or request names the key).
_KEY_CHANGES = {_ADM + "CreateApiKey": "response", _ADM + "RevokeApiKey": "request",
                _ADM + "SetAcl": "request"}


def _response_class(method: str) -> type[Message]:
    service, _, name = method.strip("/").partition("/")
    module = service_pb2 if service.endswith("FilaService") else admin_pb2
    desc = module.DESCRIPTOR.services_by_name[service.rpartition(".")[2]]
    out = desc.methods_by_name[name].output_type
    cls: type[Message] = getattr(module, out.name)
    return cls


_NATS_TROUBLE = (nats.errors.Error, nats.js.errors.Error, OSError, TimeoutError, LogError)
# A forwarded call answered with these found the owner gone or moved: ask again.
_MOVED = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# The longest a forwarded call may take when the caller set no deadline (a paused owner
# must not hold the call for ever).
FORWARD_TIMEOUT_S = 10.0


def _relayed(exc: grpc.aio.AioRpcError) -> tuple[tuple[str, str | bytes], ...]:
    """The owner's trailing metadata, as the abort of this call takes it (a tuple)."""
    trailing: Any = exc.trailing_metadata() or ()
    return tuple((str(k), v) for k, v in trailing)


def _forward_timeout(context: Any) -> float:
    remaining = context.time_remaining()
    return FORWARD_TIMEOUT_S if remaining is None else min(remaining, FORWARD_TIMEOUT_S)


def _item_failure(method: str, exc: grpc.aio.AioRpcError) -> Any:
    """One item's failure in a batch's results, from the error its node answered."""
    code = exc.code().value[0]
    trailing: Any = exc.trailing_metadata() or ()
    reason = next((str(v) for k, v in trailing if k == REASON_KEY), "")
    message = exc.details() or ""
    if method.endswith("EnqueueBatch"):
        return service_pb2.EnqueueResult(
            error=service_pb2.ItemError(code=code, message=message, reason=reason))
    return service_pb2.SettleResult(code=code, message=message, reason=reason)


def _unavailable(exc: BaseException) -> UnavailableError:
    return UnavailableError(f"the cluster's shared state (NATS) did not answer: "
                            f"{type(exc).__name__}: {exc}; try again")


def _creatable(name: str) -> bool:
    """Whether CreateQueue could accept ``name`` (else it is refused here, registering
    nothing in the cluster)."""
    try:
        check_name(name)
    except FilaError:
        return False
    return not name.endswith(DLQ_SUFFIX)


def _passed_on(context: Any, node_id: str) -> list[tuple[str, str]]:
    """The caller's metadata for the owner (its API key, stream token), marked forwarded."""
    kept = [(k, v) for k, v in context.invocation_metadata() or ()
            if not k.startswith((":", "grpc-")) and k not in ("user-agent", FORWARDED_KEY)
            and isinstance(v, str)]
    kept.append((FORWARDED_KEY, node_id))
    return kept


def _forwarded(context: Any) -> bool:
    return any(k == FORWARDED_KEY for k, _ in context.invocation_metadata() or ())


class ClusterRouter:
    """See the module docstring."""

    def __init__(self, node: ClusterNode) -> None:
        self._node = node
        self._channels: dict[str, grpc.aio.Channel] = {}
        self.forwarded = 0  # calls sent on (for tests and metrics)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)
        self._channels.clear()

    def _channel(self, addr: str) -> grpc.aio.Channel:
        channel = self._channels.get(addr)
        if channel is None:
            channel = grpc.aio.insecure_channel(addr, options=[
                ("grpc.max_receive_message_length", 32 * 1024 * 1024),
                ("grpc.max_send_message_length", 32 * 1024 * 1024),
                # A paused or cut-off node is noticed in seconds, not at TCP's pace.
                # (Not below the servers' minimum ping interval, 5 s: fila/server/main.py.)
                ("grpc.keepalive_time_ms", 5000),
                ("grpc.keepalive_timeout_ms", 3000),
                ("grpc.keepalive_permit_without_calls", 1)])
            self._channels[addr] = channel
        return channel

    # ---- wrapping -------------------------------------------------------------------

    def wrap(self, method: str, handler: _Handler) -> _Handler:
        if handler.unary_stream is not None and method == _CONSUME:
            return grpc.unary_stream_rpc_method_handler(
                self._consume(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        unary: Callable[[Any, Any], Awaitable[Any]]
        if method in _EACH:
            unary = self._batch(method, inner)
        elif method == _SET_CONFIG:
            unary = self._set_config(inner)
        elif method == _LIST_QUEUES:
            unary = self._list_queues(inner)
        elif method in _KEY_CHANGES:
            unary = self._key_change(method, inner)
        elif method in _ONE:
            unary = self._one(method, inner)
        else:
            return handler  # node-local: keys, ACLs, server info, backups, cluster status
        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    def _authorize(self, method: str, request: Any, context: Any) -> None:
        """The auth guard's check, for work done before the guarded handler runs."""
        keyring = self._node.keyring
        if keyring is None or not keyring.enabled:
            return
        presented = next((bearer_key(v) for k, v in context.invocation_metadata() or ()
                          if k == "authorization" and isinstance(v, str)), None)
        key = keyring.authenticate(presented, int(time.time() * 1000))
        authorize(RULES.get(method), key, request)

    @staticmethod
    async def _abort(context: Any, exc: FilaError) -> None:
        reason = ((REASON_KEY, exc.reason),) if exc.reason else ()
        await context.abort(grpc.StatusCode[exc.code_name], exc.message,
                            trailing_metadata=reason)

    # ---- one queue ------------------------------------------------------------------

    def _one(self, method: str, inner: Callable[[Any, Any], Awaitable[Any]]
             ) -> Callable[[Any, Any], Awaitable[Any]]:
        field = _ONE[method]
        response_class = _response_class(method)
        node = self._node

        async def unary(request: Any, context: Any) -> Any:
            queue = getattr(request, field)
            try:
                if method == _CREATE and queue:
                    if not _creatable(queue):
                        return await inner(request, context)  # its one-line refusal
                    # Auth before anything is registered cluster-wide (the guard runs
                    # again on the node that creates it).
                    self._authorize(method, request, context)
                    registered = await node.register(queue)
                    try:
                        return await self._route(method, request, response_class, queue,
                                                 inner, context)
                    except BaseException as exc:
                        if registered and not isinstance(exc, AlreadyExistsError):
                            with contextlib.suppress(*_NATS_TROUBLE):
                                await node.unregister(queue)  # nothing was created
                        raise
                elif not queue or not await node.known(queue):
                    return await inner(request, context)  # local: NOT_FOUND, or no queue
                if _forwarded(context) and not node.serves(queue):
                    raise UnavailableError(f'queue "{queue}" is not served by this node '
                                           "(it moved)")
                return await self._route(method, request, response_class, queue, inner,
                                         context)
            except _NATS_TROUBLE as exc:
                await self._abort(context, _unavailable(exc))
            except FilaError as exc:
                await self._abort(context, exc)
                return None

        return unary

    async def _route(self, method: str, request: Any, response_class: type[Message],
                     queue: str, inner: Callable[[Any, Any], Awaitable[Any]], context: Any
                     ) -> Any:
        """Run here if this node serves ``queue``, else at its owner; again (asking the
        bucket anew) while the owner answers that the queue moved, until the owner wait
        runs out. The owner's own error goes back to the caller as is."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + OWNER_WAIT_S
        payload = request.SerializeToString()
        metadata = _passed_on(context, self._node.node_id)
        while True:
            holder = await self._node.owner(queue, max(0.1, deadline - loop.time()))
            if holder.node == self._node.node_id:
                response = await inner(request, context)
                if method == _DELETE:
                    await self._node.forget(queue)
                return response
            call = self._channel(holder.addr).unary_unary(
                method, request_serializer=None, response_deserializer=response_class.FromString)
            self.forwarded += 1
            try:
                return await call(payload, metadata=metadata, timeout=_forward_timeout(context))
            except grpc.aio.AioRpcError as exc:
                retry = exc.code() in _MOVED and loop.time() < deadline
                if not retry:
                    await context.abort(exc.code(), exc.details() or "",
                                        trailing_metadata=_relayed(exc))
                self._node.forget_owner(queue)
                await asyncio.sleep(0.05)  # a retry pause while ownership settles

    # ---- batches --------------------------------------------------------------------

    def _batch(self, method: str, inner: Callable[[Any, Any], Awaitable[Any]]
               ) -> Callable[[Any, Any], Awaitable[Any]]:
        items_field, results_field, response_class = _EACH[method]
        node = self._node

        async def unary(request: Any, context: Any) -> Any:
            items = getattr(request, items_field)
            try:
                here = {q: node.serves(q) or not await node.known(q)
                        for q in {item.queue for item in items}}
                if all(here.values()):
                    return await inner(request, context)
                if _forwarded(context):
                    # Some queue moved away from here: the forwarding node asks again.
                    raise UnavailableError("a queue of this batch is not served by this "
                                           "node (it moved)")
                deadline = asyncio.get_running_loop().time() + OWNER_WAIT_S
                results = await self._spread(method, items, list(range(len(items))), inner,
                                             context, deadline)
                reply = response_class()
                getattr(reply, results_field).extend(results[i] for i in range(len(items)))
                return reply
            except _NATS_TROUBLE as exc:
                await self._abort(context, _unavailable(exc))
            except FilaError as exc:
                await self._abort(context, exc)
                return None

        return unary

    async def _spread(self, method: str, items: Any, idx: list[int],
                      inner: Callable[[Any, Any], Awaitable[Any]], context: Any,
                      deadline: float) -> dict[int, Any]:
        """The results of the items at ``idx``: split by the node serving each queue, sent
        concurrently; a part whose node answers UNAVAILABLE (the queue moved) is split and
        sent again while time is left, else its items fail alone (the others stand)."""
        node = self._node
        items_field, results_field, response_class = _EACH[method]
        request_class: type[Message] = getattr(service_pb2,
                                               method.rpartition("/")[2] + "Request")
        dests: dict[str, str] = {}
        for i in idx:
            q = items[i].queue
            if q not in dests:
                local = node.serves(q) or not await node.known(q)
                dests[q] = "" if local else await node.owner_addr(q)
        parts: dict[str, list[int]] = {}
        for i in idx:
            parts.setdefault(dests[items[i].queue], []).append(i)
        results: dict[int, Any] = {}

        async def send(dest: str, pidx: list[int]) -> None:
            part = request_class()
            getattr(part, items_field).extend(items[i] for i in pidx)
            if not dest:
                answer = await inner(part, context)
            else:
                call = self._channel(dest).unary_unary(
                    method, request_serializer=None,
                    response_deserializer=response_class.FromString)
                self.forwarded += 1
                try:
                    answer = await call(part.SerializeToString(),
                                        metadata=_passed_on(context, node.node_id),
                                        timeout=_forward_timeout(context))
                except grpc.aio.AioRpcError as exc:
                    loop = asyncio.get_running_loop()
                    if exc.code() in _MOVED and loop.time() < deadline:
                        for i in pidx:
                            node.forget_owner(items[i].queue)
                        await asyncio.sleep(0.05)  # a retry pause while ownership settles
                        results.update(await self._spread(method, items, pidx, inner,
                                                          context, deadline))
                        return
                    for i in pidx:
                        results[i] = _item_failure(method, exc)
                    return
            for i, result in zip(pidx, getattr(answer, results_field), strict=True):
                results[i] = result

        await asyncio.gather(*(send(dest, pidx) for dest, pidx in parts.items()))
        return results

    # ---- consume --------------------------------------------------------------------

    def _consume(self, inner: Any) -> Callable[[Any, Any], AsyncIterator[Any]]:
        node = self._node

        async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
            queue = request.queue
            try:
                if queue and await node.known(queue) and not node.serves(queue):
                    holder = await node.owner(queue)
                    if holder.node != node.node_id:
                        await context.abort(
                            grpc.StatusCode.UNAVAILABLE,
                            f'queue "{queue}" is served by node {holder.node} at '
                            f"{holder.addr}; reconnect there",
                            trailing_metadata=((LEADER_ADDR_KEY, holder.addr),))
            except _NATS_TROUBLE as exc:
                await self._abort(context, _unavailable(exc))
            except FilaError as exc:
                await self._abort(context, exc)
                return
            async for item in inner(request, context):
                yield item

        return stream

    # ---- cluster-wide -----------------------------------------------------------------

    def _set_config(self, inner: Callable[[Any, Any], Awaitable[Any]]
                    ) -> Callable[[Any, Any], Awaitable[Any]]:
        node = self._node

        async def unary(request: Any, context: Any) -> Any:
            # Held: the poll must not undo the change before it reaches the bucket.
            async with node.shared_lock:
                response = await inner(request, context)  # validates, applies here
                await self._replicate(context, f"config {request.key!r}",
                                      node.set_config(request.key, request.value))
            return response

        return unary

    def _key_change(self, method: str, inner: Callable[[Any, Any], Awaitable[Any]]
                    ) -> Callable[[Any, Any], Awaitable[Any]]:
        node = self._node
        from_response = _KEY_CHANGES[method] == "response"

        async def unary(request: Any, context: Any) -> Any:
            async with node.shared_lock:
                response = await inner(request, context)  # auth, validation, durable here
                key_id = response.key_id if from_response else request.key_id
                await self._replicate(context, f"API key {key_id!r}", node.push_key(key_id))
            return response

        return unary

    @staticmethod
    async def _replicate(context: Any, what: str, push: Awaitable[None]) -> None:
        try:
            await push
        except Exception as exc:  # NATS trouble: changed on this node only
            log.warning("%s changed on this node but not replicated: %s", what, exc)
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f"{what} was changed on this node but could not be "
                                f"replicated to the cluster ({exc}); try again")

    def _list_queues(self, inner: Callable[[Any, Any], Awaitable[Any]]
                     ) -> Callable[[Any, Any], Awaitable[Any]]:
        node = self._node

        async def unary(request: Any, context: Any) -> Any:
            response = await inner(request, context)
            if _forwarded(context):
                return response
            addrs = [addr for addr in await node.peer_addrs() if addr != node.addr]
            calls = []
            for addr in addrs:
                call = self._channel(addr).unary_unary(
                    _LIST_QUEUES, request_serializer=None,
                    response_deserializer=admin_pb2.ListQueuesResponse.FromString)
                calls.append(call(request.SerializeToString(),
                                  metadata=_passed_on(context, node.node_id), timeout=5.0))
            seen = {q.name for q in response.queues}
            for answer in await asyncio.gather(*calls, return_exceptions=True):
                if isinstance(answer, BaseException):
                    continue  # a node down: its queues show once another node serves them
                for q in answer.queues:
                    if q.name not in seen:
                        seen.add(q.name)
                        response.queues.append(q)
            ordered = sorted(response.queues, key=lambda q: q.name)
            del response.queues[:]
            response.queues.extend(ordered)
            response.cluster_node_count = max(1, len(addrs) + 1)
            return response

        return unary
