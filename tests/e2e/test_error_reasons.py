"""Errors round-trip by reason: the server raises a class, the client raises the same one.

In-process: the real service layer (fila/server/service.py) on a grpc.aio server, fed an
engine that raises the error under test, and both real clients. The texts are chosen to
mislead the old text rule ('queue ...' on Ack), so only the reason can get them right.
Against fila-server: the classes a real RPC raises today, and the reason on the wire.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from e2e.helpers import Stubs
from fila import errors
from fila.client import AsyncClient, Client
from fila.errors import (
    AlreadyExistsError,
    FilaError,
    InvalidArgumentError,
    MessageNotFoundError,
    OverloadedError,
    QueueNotFoundError,
    RPCError,
)
from fila.server.service import HotPathService
from fila.v1 import service_pb2, service_pb2_grpc

CLASSES = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, FilaError)]
TEXT = 'queue "q" says so, whatever the error'  # the old rule reads this as a missing queue
UUID = "01a2210d-0000-7000-8000-000000000000"


class RaisingEngine:
    """Just enough of Engine for HotPathService: every call raises ``error``."""

    closing = False
    metrics = None  # metrics off: the servicers record nothing

    def __init__(self, error: FilaError) -> None:
        self.error = error

    async def enqueue(self, *args: Any) -> str:
        raise self.error

    async def ack(self, *args: Any) -> None:
        raise self.error

    async def nack(self, *args: Any) -> None:
        raise self.error

    async def open_consumer(self, *args: Any) -> Any:
        raise self.error


@pytest.fixture()
async def serve() -> AsyncIterator[Callable[[FilaError], Awaitable[str]]]:
    """Start a server whose every hot-path RPC fails with the given error; its address."""
    servers: list[grpc.aio.Server] = []

    async def start(error: FilaError) -> str:
        server = grpc.aio.server()
        service_pb2_grpc.add_FilaServiceServicer_to_server(
            HotPathService(RaisingEngine(error)), server)  # type: ignore[arg-type]
        port = server.add_insecure_port("127.0.0.1:0")
        servers.append(server)
        await server.start()
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        await server.stop(None)


def expected_class(cls: type[FilaError]) -> type[FilaError]:
    # The bases send no reason: a bare FilaError is an RPCError (code UNKNOWN) to a
    # client, as every failure that is not a missing queue or message must be.
    return RPCError if cls is FilaError else cls


def make(cls: type[FilaError]) -> FilaError:
    return cls(TEXT, "ABORTED") if cls is RPCError else cls(TEXT)


CALLS = {
    "enqueue": (lambda c: c.enqueue("q", None, b"x")),
    "ack": (lambda c: c.ack("q", UUID)),
    "nack": (lambda c: c.nack("q", UUID, "boom")),
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("rpc", list(CALLS))
async def test_every_error_class_round_trips_through_both_clients(
        serve: Any, cls: type[FilaError], rpc: str) -> None:
    addr = await serve(make(cls))
    async with AsyncClient(addr) as aclient:
        with pytest.raises(FilaError) as aio:
            await CALLS[rpc](aclient)

    def blocking() -> FilaError:
        with Client(addr) as client, pytest.raises(FilaError) as sync:
            CALLS[rpc](client)
        return sync.value

    sync_err = await asyncio.to_thread(blocking)
    for err in (aio.value, sync_err):
        assert type(err) is expected_class(cls)
        assert err.message == TEXT
    if cls is RPCError:
        assert aio.value.code == sync_err.code == grpc.StatusCode.ABORTED


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
async def test_every_error_class_round_trips_through_a_stream(
        serve: Any, cls: type[FilaError]) -> None:
    addr = await serve(make(cls))
    async with AsyncClient(addr) as aclient:
        with pytest.raises(FilaError) as aio:
            async for _ in aclient.consume("q"):
                pass

    def blocking() -> FilaError:
        with Client(addr) as client, pytest.raises(FilaError) as sync:
            next(client.consume("q"))
        return sync.value

    sync_err = await asyncio.to_thread(blocking)
    for err in (aio.value, sync_err):
        assert type(err) is expected_class(cls)
        assert err.message == TEXT


# ---- against fila-server ------------------------------------------------------------


def test_the_server_names_the_error_in_trailing_metadata(fila_server: Any) -> None:
    stubs = Stubs(fila_server.addr)
    try:
        with pytest.raises(grpc.RpcError) as exc:
            stubs.svc.Enqueue(service_pb2.EnqueueRequest(queue="missing", payload=b"x"),
                              timeout=10)
        err: Any = exc.value
        assert err.code() == grpc.StatusCode.NOT_FOUND
        assert (errors.REASON_KEY, "QUEUE_NOT_FOUND") in tuple(err.trailing_metadata())
    finally:
        stubs.close()


def test_real_rpcs_raise_the_servers_class(make_server: Any) -> None:
    server = make_server({"server": {"max_watch_streams": 1}})
    with Client(server.addr) as client:
        with pytest.raises(QueueNotFoundError, match='queue "missing" does not exist'):
            client.enqueue("missing", None, b"x")
        with pytest.raises(QueueNotFoundError):
            next(client.consume("missing"))
        with pytest.raises(QueueNotFoundError):  # an Ack, yet the queue is what is missing
            client.ack("missing", UUID)
        client.create_queue("q")
        with pytest.raises(MessageNotFoundError):
            client.ack("q", UUID)
        with pytest.raises(MessageNotFoundError):
            client.nack("q", UUID, "x")
        with pytest.raises(AlreadyExistsError, match='queue "q" already exists'):
            client.create_queue("q")
        with pytest.raises(InvalidArgumentError, match="reserved for dead-letter queues"):
            client.create_queue("x.dlq")
        with pytest.raises(InvalidArgumentError, match="not a dead-letter queue"):
            client.redrive("q")
        first = client.watch_stats(interval_ms=100)
        next(first)
        with pytest.raises(OverloadedError, match="too many WatchStats streams"):
            next(client.watch_stats())
        first.close()
