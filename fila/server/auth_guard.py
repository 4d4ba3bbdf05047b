"""The one place auth is enforced: every Fila method handler, wrapped once at registration.

Not a grpc.aio ServerInterceptor: an interceptor runs an extra awaited pipeline step for
every call (and defeats gRPC's registered-method fast path), which is most of what auth
would cost on the enqueue path. Wrapping the handlers when the services are registered
(:func:`add_guarded`) gives the same single choke point for free when auth is off (the
handlers are not wrapped at all) and one function call when it is on.

For each RPC it reads ``authorization: Bearer <key>``, asks the :class:`Keyring` who that
is (UNAUTHENTICATED otherwise) and checks the permission table ``auth.RULES`` against the
request (PERMISSION_DENIED otherwise), before the servicer runs, so a refused call changes
nothing. ListQueues and WatchStats answers are filtered to the queues the key may see.
Streams (Consume, WatchStats) are tracked per key: revoking a key ends them.

The health and reflection services are not guarded (docs/security.md says why).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc

from fila.errors import REASON_KEY, FilaError, UnauthenticatedError
from fila.server.auth import RULES, WATCH_ONE_QUEUE, ApiKey, Keyring, authorize, bearer_key

__all__ = ["AuthGuard", "add_guarded", "caller_of"]

log = logging.getLogger("fila.auth")

if TYPE_CHECKING:
    _Handler = grpc.RpcMethodHandler[Any, Any]  # generic in the stubs only
_LIST_QUEUES = "/fila.v1.FilaAdmin/ListQueues"
_WATCH_STATS = "/fila.v1.FilaAdmin/WatchStats"

# The key the current call authenticated with (each RPC runs in its own task, so its own
# context), for servicers that answer per caller: GetServerInfo says who you are.
_CALLER: contextvars.ContextVar[ApiKey | None] = contextvars.ContextVar("fila_caller",
                                                                       default=None)


def caller_of() -> ApiKey | None:
    """The key the current call authenticated with (None when auth is off)."""
    return _CALLER.get()


def _presented(context: Any) -> str | None:
    for k, v in context.invocation_metadata() or ():
        if k == "authorization":
            return bearer_key(v if isinstance(v, str) else None)
    return None


async def _refuse(context: Any, exc: FilaError) -> None:
    await context.abort(grpc.StatusCode[exc.code_name], exc.message,
                        trailing_metadata=((REASON_KEY, exc.reason),))


class _Capture:
    """Stands in for the server while generated ``add_*_to_server`` code registers a
    servicer, to get hold of its method handlers."""

    def __init__(self) -> None:
        self.services: dict[str, dict[str, _Handler]] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # rebuilt from the registered handlers below

    def add_registered_method_handlers(self, service: str, handlers: dict[str, _Handler]
                                       ) -> None:
        self.services[service] = handlers


Wrap = Callable[[str, "_Handler"], "_Handler"]


def add_guarded(server: grpc.aio.Server, guard: AuthGuard | None,
                add: Callable[[Any, Any], None], servicer: Any,
                outer: Wrap | None = None) -> None:
    """``add(servicer, server)`` (generated code), with every handler behind ``guard``,
    and ``outer`` (cluster mode's router) in front of that."""
    if guard is None and outer is None:
        add(servicer, server)
        return
    capture = _Capture()
    add(servicer, capture)
    for service, handlers in capture.services.items():
        wrapped = {}
        for name, h in handlers.items():
            method = f"/{service}/{name}"
            guarded = h if guard is None else guard.wrap(method, h)
            wrapped[name] = guarded if outer is None else outer(method, guarded)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service,
                                                                              wrapped),))
        # Missing from the grpc stubs; the generated code calls it the same way.
        server.add_registered_method_handlers(service, wrapped)  # type: ignore[attr-defined]


class AuthGuard:
    def __init__(self, keyring: Keyring, wall_ms: Callable[[], int] | None = None) -> None:
        self._keyring = keyring
        self._wall_ms = wall_ms or (lambda: int(time.time() * 1000))
        # key id -> the tasks serving its open streams (cancelled on revocation).
        self._streams: dict[str, set[asyncio.Task[Any]]] = {}
        # Streams being ended by the guard -> why (the status text the client gets).
        self._ended: dict[asyncio.Task[Any], str] = {}
        keyring.revoked_listeners.append(self._close_streams)

    def _check(self, method: str, request: Any, context: Any) -> ApiKey:
        """The caller's key; FilaError (UNAUTHENTICATED, PERMISSION_DENIED) otherwise.
        Plain, not async: on the hot path it costs no coroutine of its own."""
        key = self._keyring.authenticate(_presented(context), self._wall_ms())
        rule = RULES.get(method)
        if method == _WATCH_STATS and request.queue:
            rule = WATCH_ONE_QUEUE
        authorize(rule, key, request)
        return key

    @staticmethod
    async def _refused(method: str, context: Any, exc: FilaError) -> None:
        # Never log the key itself: only who asked for what, and why it was refused.
        log.warning("refused %s from %s: %s", method.rpartition("/")[2], context.peer(),
                    exc.message)
        await _refuse(context, exc)

    def wrap(self, method: str, handler: _Handler) -> _Handler:
        if handler.unary_unary is not None:
            inner = handler.unary_unary
            filtered = method == _LIST_QUEUES

            async def unary(request: Any, context: Any) -> Any:
                try:
                    key = self._check(method, request, context)
                except FilaError as exc:
                    await self._refused(method, context, exc)  # aborts the call
                    return None
                _CALLER.set(key)
                response = await inner(request, context)
                if filtered and not key.superadmin:
                    visible = [q for q in response.queues if key.sees(q.name)]
                    del response.queues[:]
                    response.queues.extend(visible)
                return response

            return grpc.unary_unary_rpc_method_handler(
                unary, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream is not None:
            inner_stream: Any = handler.unary_stream
            watch = method == _WATCH_STATS

            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                try:
                    key = self._check(method, request, context)
                except FilaError as exc:
                    await self._refused(method, context, exc)  # aborts the call
                    return
                task = asyncio.current_task()
                assert task is not None
                tasks = self._streams.setdefault(key.key_id, set())
                tasks.add(task)
                expiry = None
                if key.expires_at_ms:
                    # An expiring key's stream ends when the key does, like a revoked one's.
                    delay = max(0.0, (key.expires_at_ms - self._wall_ms()) / 1000)
                    expiry = asyncio.get_running_loop().call_later(
                        delay, self._end, task, f'API key "{key.key_id}" has expired')
                try:
                    async for item in inner_stream(request, context):
                        if watch and not key.superadmin:
                            visible = [q for q in item.queues if key.sees(q.name)]
                            del item.queues[:]
                            item.queues.extend(visible)
                        yield item
                except asyncio.CancelledError:
                    why = self._ended.pop(task, None)
                    if why is not None:
                        await _refuse(context, UnauthenticatedError(why))
                    raise
                finally:
                    if expiry is not None:
                        expiry.cancel()
                    tasks.discard(task)
                    self._ended.pop(task, None)
                    if not tasks:
                        self._streams.pop(key.key_id, None)

            return grpc.unary_stream_rpc_method_handler(
                stream, request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return handler  # Fila has no client- or bidi-streaming RPCs

    def _close_streams(self, key_id: str) -> None:
        """A revocation is durable: end that key's open streams now."""
        for task in list(self._streams.get(key_id, ())):
            self._end(task, f'API key "{key_id}" was revoked')

    def _end(self, task: asyncio.Task[Any], why: str) -> None:
        """Cancel a stream's task; its wrapper turns that into UNAUTHENTICATED ``why``.

        A stream waits for its next message or tick almost all the time, so the
        cancellation lands in the wrapped generator. In the rare case it lands while gRPC
        is writing a frame, the client sees CANCELLED instead; the stream ends either way.
        """
        if task not in self._ended:
            self._ended[task] = why
            task.cancel()
