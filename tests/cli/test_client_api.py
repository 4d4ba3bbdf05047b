"""The client the CLI is built on: SDK-shaped hot path, both flavours, error mapping."""

from __future__ import annotations

from typing import Any

import pytest

import fila
from fila.client import AsyncClient, Client
from fila.errors import AlreadyExistsError, MessageNotFoundError, QueueNotFoundError


def test_package_exports_the_sdk_names() -> None:
    assert fila.Client is Client  # `from fila import Client`, as with the published SDK
    assert fila.AsyncClient is AsyncClient


def test_sync_lifecycle_and_errors(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        assert client.create_queue("q") == "q"
        with pytest.raises(AlreadyExistsError):
            client.create_queue("q")
        msg_id = client.enqueue("q", {"tenant": "acme"}, b"hello")
        stream = client.consume("q")
        msg = next(stream)
        assert (msg.id, msg.headers, msg.payload, msg.attempt_count, msg.queue) == (
            msg_id,
            {"tenant": "acme"},
            b"hello",
            0,
            "q",
        )
        assert msg.fairness_key == "default"
        client.nack("q", msg.id, "again")
        retried = next(stream)  # the retry comes back on the same stream
        assert (retried.id, retried.attempt_count) == (msg_id, 1)
        client.ack("q", retried.id)
        with pytest.raises(MessageNotFoundError):
            client.ack("q", retried.id)
        stream.close()
        with pytest.raises(fila.QueueNotFoundError):
            client.enqueue("missing", None, b"x")
        assert client.get_config("nope") is None
        client.set_config("k", "v")
        assert client.list_config("k") == [("k", "v")]


def test_consume_missing_queue_raises(fila_server: Any) -> None:
    with Client(fila_server.url) as client, pytest.raises(QueueNotFoundError):
        next(client.consume("missing"))


async def test_async_client_matches_the_sdk_shape(fila_server: Any) -> None:
    async with AsyncClient(fila_server.addr) as client:
        await client.create_queue("aq")
        msg_id = await client.enqueue("aq", {"tenant": "acme"}, b"hello async")
        stream = await client.consume("aq")  # the published SDK awaits consume()
        msg = await stream.__anext__()
        assert (msg.id, msg.payload) == (msg_id, b"hello async")
        await client.ack("aq", msg.id)
        await stream.aclose()
        queues = {q.name for q in await client.list_queues()}
        assert queues == {"aq", "aq.dlq"}
        second = await client.enqueue("aq", None, b"again")
        async for m in client.consume("aq"):  # and async-for works without await
            assert m.id == second
            await client.nack("aq", m.id, "x")
            break
        with pytest.raises(MessageNotFoundError):
            await client.ack("aq", "01a2210d-0000-7000-8000-000000000000")
