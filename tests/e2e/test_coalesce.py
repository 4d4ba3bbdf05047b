"""Client-side coalescing of concurrent enqueue() calls, against the real server.

RPCs are counted with the server's ``commit_batches`` counter (GetServerInfo): every
Enqueue or EnqueueBatch RPC writes exactly one batch, so its delta is the RPC count.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
import pytest

from fila.client import AsyncClient, Client
from fila.errors import InvalidArgumentError, QueueNotFoundError
from fila.v1 import service_pb2, service_pb2_grpc

N = 200


def listed_payloads(client: Client, queue: str) -> set[bytes]:
    page, _ = client.list_messages(queue, limit=1000)
    return {m.message.payload for m in page}


def test_concurrent_async_enqueues_share_few_rpcs(fila_server: Any) -> None:
    async def main() -> tuple[list[str], int]:
        async with AsyncClient(fila_server.addr) as client:
            await client.create_queue("q")
            before = (await client.server_info()).commit_batches
            ids = await asyncio.gather(
                *(client.enqueue("q", {"n": str(i)}, b"m%d" % i) for i in range(N))
            )
            return ids, (await client.server_info()).commit_batches - before

    ids, rpcs = asyncio.run(main())
    assert len(set(ids)) == N
    assert rpcs <= N // 10, f"{rpcs} RPCs for {N} concurrent enqueues"
    with Client(fila_server.addr) as client:
        assert listed_payloads(client, "q") == {b"m%d" % i for i in range(N)}
        seen: dict[str, bytes] = {}
        stream = client.consume("q", max_batch=100)
        for msg in stream:
            seen[msg.id] = msg.payload
            if len(seen) == N:
                break
        stream.close()
        assert set(seen) == set(ids)
        assert [seen[i] for i in ids] == [b"m%d" % n for n in range(N)]  # each its own id


def test_without_coalescing_every_enqueue_is_its_own_rpc(fila_server: Any) -> None:
    async def main() -> int:
        async with AsyncClient(fila_server.addr, enqueue_coalesce=False) as client:
            await client.create_queue("q")
            before = (await client.server_info()).commit_batches
            await asyncio.gather(*(client.enqueue("q", None, b"x") for _ in range(20)))
            return (await client.server_info()).commit_batches - before

    assert asyncio.run(main()) == 20


def test_a_bad_item_fails_only_its_caller(fila_server: Any) -> None:
    async def main() -> list[str | BaseException]:
        async with AsyncClient(fila_server.addr) as client:
            await client.create_queue("q")
            def call(i: int) -> Any:
                if i == 5:
                    return client.enqueue("missing", None, b"nowhere")
                if i == 9:
                    return client.enqueue("q", None, b"x" * (4 * 1024 * 1024 + 1))
                return client.enqueue("q", None, b"m%d" % i)

            calls = [call(i) for i in range(20)]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[5], QueueNotFoundError)
    assert isinstance(results[9], InvalidArgumentError)
    good = [r for n, r in enumerate(results) if n not in (5, 9)]
    assert all(isinstance(r, str) for r in good) and len(set(good)) == 18
    with Client(fila_server.addr) as client:
        stored = listed_payloads(client, "q")
    assert stored == {b"m%d" % i for i in range(20) if i not in (5, 9)}


def test_cancelled_waiters_lose_nobody_else(fila_server: Any) -> None:
    async def main() -> tuple[list[str], set[int]]:
        async with AsyncClient(fila_server.addr) as client:
            await client.create_queue("q")
            tasks = [asyncio.create_task(client.enqueue("q", None, b"m%d" % i))
                     for i in range(50)]
            await asyncio.sleep(0)  # one loop turn: every task has submitted (a yield, no wait)
            cancelled = set(range(10, 20))
            for n in cancelled:
                tasks[n].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            ids = [t.result() for n, t in enumerate(tasks) if n not in cancelled]
            return ids, cancelled

    ids, cancelled = asyncio.run(main())
    assert len(set(ids)) == 40
    with Client(fila_server.addr) as client:
        page, _ = client.list_messages("q", limit=1000)
    payloads = [m.message.payload for m in page]
    assert len(payloads) == len(set(payloads)), "a message was stored twice"
    kept = {b"m%d" % i for i in range(50) if i not in cancelled}
    assert kept <= set(payloads) <= {b"m%d" % i for i in range(50)}
    assert {m.message.id for m in page} >= set(ids)


def _run_threads(n: int, target: Callable[[int], None]) -> None:
    start = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(k: int) -> None:
        start.wait()
        try:
            target(k)
        except BaseException as e:  # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


def test_blocking_client_coalesces_threads(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        client.create_queue("q")
        before = client.server_info().commit_batches
        ids: dict[bytes, str | Exception] = {}
        lock = threading.Lock()

        def produce(k: int) -> None:
            for i in range(N // 8):
                payload = b"t%d-%d" % (k, i)
                queue = "missing" if (k, i) == (3, 7) else "q"
                try:
                    result: str | Exception = client.enqueue(queue, None, payload)
                except QueueNotFoundError as e:
                    result = e
                with lock:
                    ids[payload] = result

        _run_threads(8, produce)
        rpcs = client.server_info().commit_batches - before
        assert isinstance(ids.pop(b"t3-7"), QueueNotFoundError)
        assert all(isinstance(v, str) for v in ids.values())
        assert len(set(ids.values())) == N - 1
        assert listed_payloads(client, "q") == set(ids)
    # Eight threads against one client: most calls find an RPC in flight and wait for it.
    assert rpcs < N * 3 // 4, f"{rpcs} RPCs for {N} enqueues from 8 threads"


@pytest.mark.parametrize("linger", [0.05])
def test_linger_gathers_sequential_bursts(fila_server: Any, linger: float) -> None:
    async def main() -> int:
        async with AsyncClient(fila_server.addr, enqueue_linger=linger,
                               enqueue_max_batch=10) as client:
            await client.create_queue("q")
            before = (await client.server_info()).commit_batches
            ids = await asyncio.gather(*(client.enqueue("q", None, b"x") for _ in range(30)))
            assert len(set(ids)) == 30
            return (await client.server_info()).commit_batches - before

    assert asyncio.run(main()) == 3  # max_batch 10: three full batches, none unary


class _OldServer(service_pb2_grpc.FilaServiceServicer):  # type: ignore[misc]
    """A broker from before the batch RPCs: Enqueue only (the rest answer UNIMPLEMENTED)."""

    def __init__(self) -> None:
        self.unary = 0
        self.lock = threading.Lock()

    def Enqueue(self, request: Any, context: Any) -> Any:
        with self.lock:
            self.unary += 1
        return service_pb2.EnqueueResponse(message_id=uuid.uuid4().hex)


@pytest.mark.parametrize("blocking", [False, True])
def test_an_older_server_gets_unary_enqueues(blocking: bool) -> None:
    old = _OldServer()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    service_pb2_grpc.add_FilaServiceServicer_to_server(old, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    addr = f"127.0.0.1:{port}"
    try:
        if blocking:
            with Client(addr) as client:
                got: list[str] = []
                _run_threads(8, lambda k: got.extend(
                    client.enqueue("q", None, b"x") for _ in range(10)))
                got.extend(client.enqueue("q", None, b"x") for _ in range(3))
        else:
            async def main() -> list[str]:
                async with AsyncClient(addr) as client:
                    first = await asyncio.gather(
                        *(client.enqueue("q", None, b"x") for _ in range(80)))
                    more = await asyncio.gather(
                        *(client.enqueue("q", None, b"x") for _ in range(3)))
                    return first + more

            got = asyncio.run(main())
    finally:
        server.stop(None)
    assert len(set(got)) == 83
    assert old.unary == 83  # every message went through once, by unary Enqueue
