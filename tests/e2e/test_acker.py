"""client.acker(): acks collected and sent as AckBatch RPCs, against the real server."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from e2e.helpers import wait_for
from fila.client import AsyncClient, Client
from fila.errors import MessageNotFoundError
from fila.types import EnqueueItem


def _fill(client: Client, queue: str, n: int) -> None:
    client.create_queue(queue)
    results = client.enqueue_many([EnqueueItem(queue, b"m%d" % i) for i in range(n)])
    assert all(isinstance(r, str) for r in results)


def test_blocking_acker_flushes_when_full_and_on_close(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        _fill(client, "q", 250)
        stream = client.consume("q", max_batch=100, prefetch=250)
        with client.acker("q", max_batch=100, max_delay=60) as acker:
            for n, msg in enumerate(stream, 1):
                acker.ack(msg.id)
                if n == 100:  # the 100th id filled a batch: sent before ack() returned
                    assert client.get_stats("q").depth == 150
                if n == 250:
                    break
            stream.close()
            assert client.get_stats("q").depth == 50  # the rest waits for close
        assert acker.failed == []
        stats = client.get_stats("q")
        assert (stats.depth, stats.in_flight) == (0, 0)


def test_blocking_acker_flushes_after_max_delay(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        _fill(client, "q", 3)
        stream = client.consume("q")
        acker = client.acker("q", max_batch=100, max_delay=0.05)
        for n, msg in enumerate(stream, 1):
            acker.ack(msg.id)
            if n == 3:
                break
        # Nobody calls flush(): the timer sends them while the consumer holds the stream.
        wait_for(lambda: client.get_stats("q").depth == 0, what="the timer's AckBatch")
        stream.close()
        acker.close()
        assert acker.failed == []


def test_refused_ids_are_reported_alone(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        _fill(client, "q", 1)
        stream = client.consume("q")
        msg = next(iter(stream))
        stranger = str(uuid.UUID(int=uuid.uuid4().int & ~(0xF << 76) | (7 << 76)))
        with client.acker("q") as acker:
            acker.ack(stranger)
            acker.ack(msg.id)
            failed = acker.flush()
        stream.close()
        assert [i for i, _ in failed] == [stranger]
        assert isinstance(failed[0][1], MessageNotFoundError)
        assert client.get_stats("q").depth == 0


def test_async_acker(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        _fill(client, "q", 120)

    async def main() -> None:
        async with AsyncClient(fila_server.addr) as client:
            stream = client.consume("q", max_batch=50, prefetch=120)
            async with client.acker("q", max_batch=50, max_delay=0.05) as acker:
                n = 0
                async for msg in stream:
                    await acker.ack(msg.id)
                    n += 1
                    if n == 120:
                        break
                await stream.aclose()
            assert acker.failed == []
            stats = await client.get_stats("q")
            assert (stats.depth, stats.in_flight) == (0, 0)

    asyncio.run(main())
