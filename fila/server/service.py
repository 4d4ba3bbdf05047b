"""gRPC servicers: decode the request, call the engine, encode the answer.

Errors from the core are FilaError subclasses; :func:`_rpc` maps them to a
status with the one table in ``fila.errors``. Anything else is a bug: it is
logged with its traceback here and the client sees INTERNAL with a short text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import grpc

from fila import __version__
from fila.errors import (
    LEADER_ADDR_KEY,
    REASON_KEY,
    FailedPreconditionError,
    FilaError,
    InvalidArgumentError,
    OverloadedError,
    QueueNotFoundError,
    UnavailableError,
)
from fila.server import convert
from fila.server.auth import ApiKey, Keyring
from fila.server.auth_guard import AuthGuard, Wrap, add_guarded, caller_of
from fila.server.broker import MAX_BATCH_ITEMS, Broker, Delivered
from fila.server.engine import Engine
from fila.server.logfmt import audit
from fila.server.stats import RateTracker, SnapshotCache, limit_snapshots, queue_snapshot
from fila.types import STREAM_TOKEN_KEY
from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2, service_pb2_grpc

if TYPE_CHECKING:
    from fila.server.backup import BackupResult
    from fila.server.metrics import Metrics

__all__ = ["AdminService", "HotPathService", "ServerFacts", "register_services"]

log = logging.getLogger("fila.service")
R = TypeVar("R")


@dataclass
class ServerFacts:
    """What GetServerInfo reports about the process."""

    listen_addr: str
    data_dir: str
    started_monotonic: float
    size_bytes: Callable[[], int]
    monotonic: Callable[[], float]
    # () -> (wal syncs, commit groups, commit batches, fsync on)
    storage_counters: Callable[[], tuple[int, int, int, bool]] = lambda: (0, 0, 0, True)
    # "" while storage is healthy, else the error that made it degraded
    storage_error: Callable[[], str] = lambda: ""
    features: tuple[str, ...] = field(default=("fairness", "throttling", "lua", "dlq",
                                               "delayed", "watch_stats"))
    max_watch_streams: int = 64
    # Online backup into a new directory on the server (backup.py); None = not offered.
    backup: Callable[[str], Awaitable[BackupResult]] | None = None
    # Cluster mode's GetClusterStatus answer (fila/cluster/node.py); None = a single node.
    cluster_status: Callable[[], Awaitable[admin_pb2.GetClusterStatusResponse]] | None = None


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: Exception) -> NoReturn:
    """End the RPC with ``exc``'s status; a FilaError also names its class (REASON_KEY)."""
    if isinstance(exc, FilaError):
        reason = ((REASON_KEY, exc.reason),) if exc.reason else ()
        await context.abort(grpc.StatusCode[exc.code_name], exc.message,
                            trailing_metadata=reason)
    log.exception("unexpected error in RPC", exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")


def _rpc(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """Map errors raised by a unary handler to gRPC statuses."""

    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> R:
        metrics = self._engine.metrics
        if metrics is not None:
            return await _timed(metrics, name, method(self, request, context), context)
        try:
            return await method(self, request, context)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await _abort(context, exc)
            raise AssertionError("unreachable") from exc  # abort always raises

    return wrapper


async def _timed(metrics: Metrics, name: str, call: Awaitable[R],
                 context: grpc.aio.ServicerContext[Any, Any]) -> R:
    """``_rpc`` with metrics on: the same error mapping, and the latency by status code."""
    started = time.perf_counter()
    code = "OK"
    try:
        return await call
    except asyncio.CancelledError:
        code = "CANCELLED"
        raise
    except Exception as exc:
        code = exc.code_name if isinstance(exc, FilaError) else "INTERNAL"
        await _abort(context, exc)
        raise AssertionError("unreachable") from exc  # abort always raises
    finally:
        metrics.rpc(name, code, time.perf_counter() - started)


def _item_error(exc: FilaError) -> service_pb2.ItemError:
    return service_pb2.ItemError(code=grpc.StatusCode[exc.code_name].value[0],
                                 message=exc.message, reason=exc.reason)


def _settle_result(exc: FilaError | None) -> service_pb2.SettleResult:
    if exc is None:
        return service_pb2.SettleResult()
    return service_pb2.SettleResult(code=grpc.StatusCode[exc.code_name].value[0],
                                     message=exc.message, reason=exc.reason)


# A batched Consume frame stops adding messages past this many payload + header bytes
# (the first message always goes; the send limit is 16 MiB).
MAX_FRAME_BYTES = 8 * 1024 * 1024


def _stream_token(context: Any) -> str:
    """The consume stream an ack or nack speaks for (metadata our client sends), or ""."""
    for key, value in context.invocation_metadata() or ():
        if key == STREAM_TOKEN_KEY:
            return value if isinstance(value, str) else ""
    return ""


def _frame_bytes(m: Delivered) -> int:
    return len(m.payload) + sum(len(k) + len(v) for k, v in m.headers.items())


class HotPathService(service_pb2_grpc.FilaServiceServicer):  # type: ignore[misc]
    """fila.v1.FilaService: Enqueue, Consume, Ack, Nack and their batch forms, ExtendLease."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @_rpc
    async def Enqueue(self, request: service_pb2.EnqueueRequest, context: Any
                      ) -> service_pb2.EnqueueResponse:
        message_id = await self._engine.enqueue(request.queue, dict(request.headers),
                                                request.payload, request.delay_ms)
        return service_pb2.EnqueueResponse(message_id=message_id)

    async def Consume(self, request: service_pb2.ConsumeRequest,
                      context: grpc.aio.ServicerContext[Any, Any]
                      ) -> AsyncIterator[service_pb2.ConsumeResponse]:
        # The stream's own identity: our client sends it back with its acks, so two streams
        # on one connection are told apart by the stale-ack rule.
        token = uuid.uuid4().hex
        try:
            consumer = await self._engine.open_consumer(request.queue, request.prefetch,
                                                        context.peer(), token)
        except Exception as exc:
            await _abort(context, exc)
            return
        max_batch = min(request.max_batch, MAX_BATCH_ITEMS)
        outbox = consumer.outbox
        carry: Delivered | None = None  # taken off the outbox, goes first in the next frame
        try:
            await context.send_initial_metadata(((STREAM_TOKEN_KEY, token),))
            while True:
                if carry is not None:
                    message, carry = carry, None
                else:
                    item = await outbox.get()
                    if item is None:
                        await self._ended(context, request.queue)
                        return
                    if not self._engine.take(consumer, item):
                        continue  # its lease ended while it waited here: not sent
                    message = item
                if max_batch <= 1:
                    single = service_pb2.ConsumeResponse()
                    convert.fill_message(single.message, message)
                    yield single
                    continue
                # Batched: the next messages already waiting, in outbox (= DRR) order;
                # never wait to fill a frame.
                frame = [message]
                size = _frame_bytes(message)
                ended = False
                while len(frame) < max_batch and not outbox.empty():
                    item = outbox.get_nowait()
                    if item is None:
                        ended = True
                        break
                    if not self._engine.take(consumer, item):
                        continue
                    size += _frame_bytes(item)
                    if size > MAX_FRAME_BYTES:
                        carry = item
                        break
                    frame.append(item)
                batched = service_pb2.ConsumeResponse()
                add = batched.messages.add
                for m in frame:
                    convert.fill_message(add(), m)
                yield batched
                if ended:
                    await self._ended(context, request.queue)
                    return
        finally:
            # Also runs on client cancel / disconnect: leases go back at once.
            if carry is not None:  # taken for the next frame, never sent
                consumer.sending.add(carry.id)
            await self._engine.close_consumer(consumer)

    async def _ended(self, context: grpc.aio.ServicerContext[Any, Any], queue: str) -> None:
        """The outbox said the stream is over: shutdown or the queue was deleted."""
        moved = self._engine.moved_to(queue)
        if moved is None and self._engine.closing:
            await _abort(context, UnavailableError("broker is shutting down"))
        if moved is not None:  # cluster mode: another node serves (or will serve) it
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                f'queue "{queue}" moved to another node; reconnect to {moved}',
                                trailing_metadata=((LEADER_ADDR_KEY, moved),))
        await _abort(context, QueueNotFoundError(f'queue "{queue}" was deleted'))

    @_rpc
    async def EnqueueBatch(self, request: service_pb2.EnqueueBatchRequest, context: Any
                           ) -> service_pb2.EnqueueBatchResponse:
        results = await self._engine.enqueue_batch(
            [(m.queue, dict(m.headers), m.payload, m.delay_ms) for m in request.messages])
        return service_pb2.EnqueueBatchResponse(results=[
            service_pb2.EnqueueResult(message_id=r) if isinstance(r, str)
            else service_pb2.EnqueueResult(error=_item_error(r)) for r in results])

    @_rpc
    async def AckBatch(self, request: service_pb2.AckBatchRequest, context: Any
                       ) -> service_pb2.AckBatchResponse:
        results = await self._engine.ack_batch(
            [(i.queue, i.message_id) for i in request.items], context.peer(),
            _stream_token(context))
        return service_pb2.AckBatchResponse(results=[_settle_result(r) for r in results])

    @_rpc
    async def NackBatch(self, request: service_pb2.NackBatchRequest, context: Any
                        ) -> service_pb2.NackBatchResponse:
        results = await self._engine.nack_batch(
            [(i.queue, i.message_id, i.error) for i in request.items], context.peer(),
            _stream_token(context))
        return service_pb2.NackBatchResponse(results=[_settle_result(r) for r in results])

    @_rpc
    async def ExtendLease(self, request: service_pb2.ExtendLeaseRequest, context: Any
                          ) -> service_pb2.ExtendLeaseResponse:
        await self._engine.extend_lease(request.queue, request.message_id, request.extend_ms,
                                        context.peer(), _stream_token(context))
        return service_pb2.ExtendLeaseResponse()

    @_rpc
    async def Ack(self, request: service_pb2.AckRequest, context: Any) -> service_pb2.AckResponse:
        await self._engine.ack(request.queue, request.message_id, context.peer(),
                               _stream_token(context))
        return service_pb2.AckResponse()

    @_rpc
    async def Nack(self, request: service_pb2.NackRequest, context: Any
                   ) -> service_pb2.NackResponse:
        await self._engine.nack(request.queue, request.message_id, request.error, context.peer(),
                                _stream_token(context))
        return service_pb2.NackResponse()


class AdminService(admin_pb2_grpc.FilaAdminServicer):  # type: ignore[misc]
    """fila.v1.FilaAdmin: queues, runtime config, stats, redrive, hooks."""

    def __init__(self, engine: Engine, facts: ServerFacts, keyring: Keyring) -> None:
        self._engine = engine
        self._facts = facts
        self._keyring = keyring
        # Key changes one at a time: a SetAcl computed before a revocation landed must not
        # write the revoked key's record back after it.
        self._keys_lock = asyncio.Lock()
        self._snapshots = SnapshotCache(engine.broker)
        self._watchers = 0

    @property
    def _broker(self) -> Broker:
        return self._engine.broker

    @_rpc
    async def CreateQueue(self, request: admin_pb2.CreateQueueRequest, context: Any
                          ) -> admin_pb2.CreateQueueResponse:
        c = request.config
        await self._engine.create_queue(request.name, c.on_enqueue_script, c.on_failure_script,
                                        c.visibility_timeout_ms)
        _audit("create queue", context, queue=request.name)
        return admin_pb2.CreateQueueResponse(queue_id=request.name)

    @_rpc
    async def DeleteQueue(self, request: admin_pb2.DeleteQueueRequest, context: Any
                          ) -> admin_pb2.DeleteQueueResponse:
        await self._engine.delete_queue(request.queue)
        _audit("delete queue", context, queue=request.queue)
        return admin_pb2.DeleteQueueResponse()

    @_rpc
    async def ListQueues(self, request: admin_pb2.ListQueuesRequest, context: Any
                         ) -> admin_pb2.ListQueuesResponse:
        if self._engine.closing:
            raise UnavailableError("broker is shutting down")
        queues = []
        for name in self._broker.queue_names():
            depth, in_flight, consumers = self._broker.queue_counts(name)
            queues.append(admin_pb2.QueueInfo(name=name, depth=depth, in_flight=in_flight,
                                              active_consumers=consumers))
        return admin_pb2.ListQueuesResponse(queues=queues, cluster_node_count=1)

    @_rpc
    async def GetStats(self, request: admin_pb2.GetStatsRequest, context: Any
                       ) -> admin_pb2.GetStatsResponse:
        broker = self._broker
        snap = queue_snapshot(broker, request.queue, 1000) if request.queue else None
        if snap is None:
            raise InvalidArgumentError("queue name must not be empty")
        q = broker.stats_view(request.queue)
        per_key = [
            admin_pb2.PerFairnessKeyStats(key=k.key, pending_count=k.pending,
                                          current_deficit=k.deficit, weight=k.weight)
            for k in snap.keys if k.pending > 0 or k.in_flight > 0
        ]
        throttles = [
            admin_pb2.PerThrottleKeyStats(key=lim.key, tokens=lim.tokens,
                                          rate_per_second=lim.rate_per_second, burst=lim.burst)
            for lim in limit_snapshots(broker, broker.clock.monotonic()) if lim.has_throttle
        ]
        return admin_pb2.GetStatsResponse(
            depth=snap.depth, in_flight=snap.in_flight, active_fairness_keys=snap.active_keys,
            active_consumers=snap.consumers, quantum=q.sched.quantum, per_key_stats=per_key,
            per_throttle_stats=throttles, leader_node_id=0, replication_count=1,
            snapshot=convert.queue_snapshot(snap),
        )

    @_rpc
    async def SetConfig(self, request: admin_pb2.SetConfigRequest, context: Any
                        ) -> admin_pb2.SetConfigResponse:
        await self._engine.set_config(request.key, request.value)
        _audit("set config" if request.value else "delete config", context,
              key=request.key, detail=request.value)
        return admin_pb2.SetConfigResponse()

    @_rpc
    async def GetConfig(self, request: admin_pb2.GetConfigRequest, context: Any
                        ) -> admin_pb2.GetConfigResponse:
        if not request.key:
            raise InvalidArgumentError("config key must not be empty")
        return admin_pb2.GetConfigResponse(value=self._broker.get_config(request.key) or "")

    @_rpc
    async def ListConfig(self, request: admin_pb2.ListConfigRequest, context: Any
                         ) -> admin_pb2.ListConfigResponse:
        entries = [admin_pb2.ConfigEntry(key=k, value=v)
                   for k, v in self._broker.list_config(request.prefix)]
        return admin_pb2.ListConfigResponse(entries=entries, total_count=len(entries))

    @_rpc
    async def Redrive(self, request: admin_pb2.RedriveRequest, context: Any
                      ) -> admin_pb2.RedriveResponse:
        moved = await self._engine.redrive(request.dlq_queue, request.count,
                                           request.fairness_key, request.dry_run,
                                           request.message_id)
        if not request.dry_run:
            _audit("redrive", context, queue=request.dlq_queue, count=moved,
                   detail=request.message_id)
        return admin_pb2.RedriveResponse(redriven=moved)

    @_rpc
    async def DeleteMessage(self, request: admin_pb2.DeleteMessageRequest, context: Any
                            ) -> admin_pb2.DeleteMessageResponse:
        state = await self._engine.delete_message(request.queue, request.message_id)
        _audit("delete message", context, queue=request.queue, detail=request.message_id)
        return admin_pb2.DeleteMessageResponse(state=state)

    @_rpc
    async def PurgeQueue(self, request: admin_pb2.PurgeQueueRequest, context: Any
                         ) -> admin_pb2.PurgeQueueResponse:
        purged = await self._engine.purge_queue(request.queue)
        _audit("purge queue", context, queue=request.queue, count=purged)
        return admin_pb2.PurgeQueueResponse(purged=purged)

    @_rpc
    async def GetQueue(self, request: admin_pb2.GetQueueRequest, context: Any
                       ) -> admin_pb2.GetQueueResponse:
        config = self._broker.queue_config(request.name)
        return admin_pb2.GetQueueResponse(name=config.name, config=convert.queue_config(config),
                                          dead_letter_queue=config.dead_letter_queue)

    @_rpc
    async def UpdateQueue(self, request: admin_pb2.UpdateQueueRequest, context: Any
                          ) -> admin_pb2.UpdateQueueResponse:
        def opt(field_name: str) -> Any:
            return getattr(request, field_name) if request.HasField(field_name) else None

        config = await self._engine.update_queue(
            request.name, opt("on_enqueue_script"), opt("on_failure_script"),
            opt("visibility_timeout_ms"))
        _audit("update queue", context, queue=request.name, detail=",".join(
            f for f in ("on_enqueue_script", "on_failure_script", "visibility_timeout_ms")
            if request.HasField(f)))
        return admin_pb2.UpdateQueueResponse(config=convert.queue_config(config))

    @_rpc
    async def TestHook(self, request: admin_pb2.TestHookRequest, context: Any
                       ) -> admin_pb2.TestHookResponse:
        result = await self._engine.test_hook(
            request.hook, request.script, dict(request.headers), request.payload_size,
            request.queue, request.attempts, request.error, request.message_id)
        return admin_pb2.TestHookResponse(
            error=result.error, fairness_key=result.fairness_key, weight=result.weight,
            throttle_keys=result.throttle_keys, delay_ms=result.delay_ms, action=result.action,
            raw=result.raw)

    @_rpc
    async def ListMessages(self, request: admin_pb2.ListMessagesRequest, context: Any
                           ) -> admin_pb2.ListMessagesResponse:
        items, token = self._broker.list_messages(request.queue, request.fairness_key,
                                                  request.limit, request.page_token)
        return admin_pb2.ListMessagesResponse(
            messages=[admin_pb2.ListedMessage(message=convert.message(m), state=m.state)
                      for m in items],
            next_page_token=token)

    async def WatchStats(self, request: admin_pb2.WatchStatsRequest,
                         context: grpc.aio.ServicerContext[Any, Any]
                         ) -> AsyncIterator[admin_pb2.StatsSnapshot]:
        interval = max(100, request.interval_ms or 1000) / 1000.0
        top = min(request.top_keys or 50, 10_000)
        tracker = RateTracker()
        limit = self._facts.max_watch_streams
        if self._watchers >= limit:
            await _abort(context, OverloadedError(f"too many WatchStats streams (limit {limit})"))
            return
        self._watchers += 1
        try:
            if request.queue:
                self._broker.stats_view(request.queue)  # NOT_FOUND early
            while not self._engine.closing:
                snap = tracker.update(self._snapshots.get(request.queue, top))
                yield convert.stats_snapshot(snap)
                await asyncio.sleep(interval)  # the stream's cadence, not synchronisation
        except FilaError as exc:
            await _abort(context, exc)
        finally:
            self._watchers -= 1

    @_rpc
    async def GetServerInfo(self, request: admin_pb2.GetServerInfoRequest, context: Any
                            ) -> admin_pb2.GetServerInfoResponse:
        f = self._facts
        syncs, groups, batches, fsync = f.storage_counters()
        return admin_pb2.GetServerInfoResponse(
            version=__version__, features=f.features,
            uptime_ms=int((f.monotonic() - f.started_monotonic) * 1000),
            data_dir_bytes=f.size_bytes(), data_dir=f.data_dir, listen_addr=f.listen_addr,
            wal_syncs=syncs, commit_groups=groups, commit_batches=batches, fsync=fsync,
            storage_error=f.storage_error(), auth_enabled=self._keyring.enabled,
            **_caller_fields(caller_of()))

    @_rpc
    async def GetClusterStatus(self, request: admin_pb2.GetClusterStatusRequest, context: Any
                               ) -> admin_pb2.GetClusterStatusResponse:
        if self._facts.cluster_status is None:
            return admin_pb2.GetClusterStatusResponse(enabled=False)
        return await self._facts.cluster_status()

    @_rpc
    async def Backup(self, request: admin_pb2.BackupRequest, context: Any
                     ) -> admin_pb2.BackupResponse:
        if self._facts.backup is None:
            raise FailedPreconditionError("this server does not take backups")
        result = await self._facts.backup(request.dest)
        _audit("backup", context, detail=result.path)
        return admin_pb2.BackupResponse(path=result.path, bytes=result.bytes,
                                        elapsed_ms=result.elapsed_ms)

    @_rpc
    async def GetStatsHistory(self, request: admin_pb2.GetStatsHistoryRequest, context: Any
                              ) -> admin_pb2.GetStatsHistoryResponse:
        if not request.queue:
            raise InvalidArgumentError("queue name must not be empty")
        self._broker.stats_view(request.queue)  # NOT_FOUND for an unknown queue
        history = self._engine.history
        keys = history.key_series(request.queue, request.seconds)
        if request.fairness_key:
            keys = {k: v for k, v in keys.items() if k == request.fairness_key}
        return convert.stats_history(history.queue_series(request.queue, request.seconds),
                                     keys, history.size, history.top_keys)

    # ---- API keys and ACLs (who may call these: auth_guard.py, auth.RULES) ----------

    @_rpc
    async def CreateApiKey(self, request: admin_pb2.CreateApiKeyRequest, context: Any
                           ) -> admin_pb2.CreateApiKeyResponse:
        async with self._keys_lock:
            key, plaintext, batch = self._keyring.create(
                request.name, request.expires_at_ms, request.is_superadmin,
                self._broker.clock.wall_ms())
            await self._engine.write(batch)
            self._keyring.apply_put(key)
        _audit("create api key", context, detail=f"{key.key_id} {key.name}"
               + (" superadmin" if key.superadmin else ""))
        return admin_pb2.CreateApiKeyResponse(key_id=key.key_id, key=plaintext,
                                              is_superadmin=key.superadmin)

    @_rpc
    async def RevokeApiKey(self, request: admin_pb2.RevokeApiKeyRequest, context: Any
                           ) -> admin_pb2.RevokeApiKeyResponse:
        async with self._keys_lock:
            await self._engine.write(self._keyring.revoke(request.key_id))
            self._keyring.apply_revoke(request.key_id)
        _audit("revoke api key", context, detail=request.key_id)
        return admin_pb2.RevokeApiKeyResponse()

    @_rpc
    async def ListApiKeys(self, request: admin_pb2.ListApiKeysRequest, context: Any
                          ) -> admin_pb2.ListApiKeysResponse:
        return admin_pb2.ListApiKeysResponse(keys=[
            admin_pb2.ApiKeyInfo(key_id=k.key_id, name=k.name, created_at_ms=k.created_at_ms,
                                 expires_at_ms=k.expires_at_ms, is_superadmin=k.superadmin)
            for k in self._keyring.list()])

    @_rpc
    async def SetAcl(self, request: admin_pb2.SetAclRequest, context: Any
                     ) -> admin_pb2.SetAclResponse:
        async with self._keys_lock:
            key, batch = self._keyring.set_acl(
                request.key_id, [(p.kind, p.pattern) for p in request.permissions])
            await self._engine.write(batch)
            self._keyring.apply_put(key)
        _audit("set acl", context, detail=request.key_id + " " + ",".join(
            f"{p.kind}:{p.pattern}" for p in request.permissions))
        return admin_pb2.SetAclResponse()

    @_rpc
    async def GetAcl(self, request: admin_pb2.GetAclRequest, context: Any
                     ) -> admin_pb2.GetAclResponse:
        key = self._keyring.get(request.key_id)
        return admin_pb2.GetAclResponse(key_id=key.key_id, permissions=_permissions(key),
                                        is_superadmin=key.superadmin)


def _audit(action: str, context: Any, **fields: Any) -> None:
    """An audit line for a change that took effect: who is the caller's API key when auth
    is on (its name and id), and always the client's address."""
    key = caller_of()
    audit(action, context.peer(), caller=key.name if key else "",
          caller_key_id=key.key_id if key else "", **fields)


def _caller_fields(key: ApiKey | None) -> dict[str, Any]:
    if key is None:
        return {}
    return {"caller_key_id": key.key_id, "caller_name": key.name,
            "caller_superadmin": key.superadmin, "caller_permissions": _permissions(key)}


def _permissions(key: ApiKey) -> list[admin_pb2.AclPermission]:
    return [admin_pb2.AclPermission(kind=p.kind, pattern=p.pattern) for p in key.permissions]


def register_services(server: grpc.aio.Server, engine: Engine, facts: ServerFacts,
                      keyring: Keyring | None = None, router: Wrap | None = None
                      ) -> tuple[str, str]:
    """Add both Fila services to ``server``; returns their full names (for reflection).

    With auth on (``keyring.enabled``), every handler is registered behind the one
    AuthGuard (auth_guard.py); with it off, as generated. ``router``: cluster mode's
    (fila/cluster/router.py), in front of everything."""
    keyring = keyring or Keyring()
    guard = AuthGuard(keyring) if keyring.enabled else None
    add_guarded(server, guard, service_pb2_grpc.add_FilaServiceServicer_to_server,
                HotPathService(engine), router)
    add_guarded(server, guard, admin_pb2_grpc.add_FilaAdminServicer_to_server,
                AdminService(engine, facts, keyring), router)
    return (
        service_pb2.DESCRIPTOR.services_by_name["FilaService"].full_name,
        admin_pb2.DESCRIPTOR.services_by_name["FilaAdmin"].full_name,
    )
