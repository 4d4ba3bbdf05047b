"""fila._coalesce with fake senders: who goes in which RPC, deterministically.

The first sender is held until every other caller is waiting, so the batches are
known exactly (the e2e tests in tests/e2e/test_coalesce.py use the real server).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from fila._coalesce import AsyncCoalescer, BlockingCoalescer, Result
from fila.errors import QueueNotFoundError, UnavailableError
from fila.v1.service_pb2 import EnqueueRequest


def _r(name: str) -> EnqueueRequest:
    return EnqueueRequest(queue=name)


def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)  # polling a condition under a deadline


class _Fake:
    """Senders that record each RPC; the first unary call blocks until ``release``."""

    def __init__(self) -> None:
        self.rpcs: list[list[str]] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    def one(self, req: EnqueueRequest) -> str:
        self.rpcs.append([req.queue])
        self.entered.set()
        assert self.release.wait(10)
        if req.queue == "bad":
            raise QueueNotFoundError('queue "bad" does not exist')
        return f"id-{req.queue}"

    def many(self, reqs: Sequence[EnqueueRequest]) -> list[Result]:
        self.rpcs.append([r.queue for r in reqs])
        return [QueueNotFoundError("no") if r.queue == "bad" else f"id-{r.queue}" for r in reqs]


def test_blocking_callers_wait_for_the_rpc_in_flight_then_go_together() -> None:
    fake = _Fake()
    co = BlockingCoalescer(fake.one, fake.many, max_batch=4)
    results: dict[str, Any] = {}

    def call(req: str) -> None:
        try:
            results[req] = co.submit(_r(req))
        except QueueNotFoundError as e:
            results[req] = e

    first = threading.Thread(target=call, args=("a",))
    first.start()
    assert fake.entered.wait(10)
    rest = [threading.Thread(target=call, args=(r,)) for r in "bcdefgh"]
    rest.append(threading.Thread(target=call, args=("bad",)))
    for t in rest:
        t.start()
    _until(lambda: len(co._waiting) == 8, "eight waiting callers")
    fake.release.set()
    for t in [first, *rest]:
        t.join(10)
    assert fake.rpcs[0] == ["a"]
    assert sorted(len(r) for r in fake.rpcs[1:]) == [4, 4]  # max_batch 4
    assert isinstance(results.pop("bad"), QueueNotFoundError)
    assert results == {r: f"id-{r}" for r in "abcdefgh"}


def test_async_callers_wait_then_go_together_and_cancelled_ones_drop_out() -> None:
    fake = _Fake()
    gate = asyncio.Event()

    async def one(req: EnqueueRequest) -> str:
        fake.rpcs.append([req.queue])
        await gate.wait()
        return f"id-{req.queue}"

    async def many(reqs: Sequence[EnqueueRequest]) -> list[Result]:
        return fake.many(reqs)

    async def main() -> list[Any]:
        co = AsyncCoalescer(one, many)
        tasks = [asyncio.create_task(co.submit(_r(r))) for r in "abcdefgh"]
        await asyncio.sleep(0)  # one loop turn: "a" is in flight, the rest wait
        assert len(co._waiting) == 7
        tasks[3].cancel()
        gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert fake.rpcs == [["a"], ["b", "c", "e", "f", "g", "h"]]
    assert isinstance(results[3], asyncio.CancelledError)
    assert [r for n, r in enumerate(results) if n != 3] == [f"id-{r}" for r in "abcefgh"]


def test_a_failed_batch_rpc_is_every_callers_error() -> None:
    async def one(req: EnqueueRequest) -> str:
        await asyncio.sleep(0)
        return "id"

    async def many(reqs: Sequence[EnqueueRequest]) -> list[Result]:
        raise UnavailableError("gone")

    async def main() -> list[Any]:
        co = AsyncCoalescer(one, many)
        return await asyncio.gather(*(co.submit(_r(r)) for r in "abc"), return_exceptions=True)

    first, *rest = asyncio.run(main())
    assert first == "id"
    assert all(isinstance(r, UnavailableError) for r in rest)


@pytest.mark.parametrize("answers", [0, 5])
def test_a_batch_answered_with_the_wrong_count_fails_its_callers(answers: int) -> None:
    async def one(req: EnqueueRequest) -> str:
        await asyncio.sleep(0)
        return "id"

    async def many(reqs: Sequence[EnqueueRequest]) -> list[Result]:
        return ["x"] * answers

    async def main() -> list[Any]:
        co = AsyncCoalescer(one, many)
        return await asyncio.gather(*(co.submit(_r(r)) for r in "abc"), return_exceptions=True)

    _, *rest = asyncio.run(main())
    assert all("answered" in str(r) for r in rest)
