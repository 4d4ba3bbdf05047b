"""Failover on the log: a new writer takes over from one that keeps writing (paused past its
lease, then resumed) and no acknowledged append of the old writer is lost."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from fila.server.rocks import RocksStore

from .conftest import JS_TIMEOUT, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.applied import read_applied  # noqa: E402
from fila.cluster.codec import Op  # noqa: E402
from fila.cluster.log import FencedError, QueueLog, ensure_stream  # noqa: E402
from fila.cluster.tailer import LogTailer  # noqa: E402
from fila.cluster.takeover import take_over  # noqa: E402

_names = itertools.count()


class CountingLog(QueueLog):
    """Counts claim attempts: above one, the old writer won a round of the race."""

    claims = 0

    async def claim(self, applied_seq: int) -> int:
        self.claims += 1
        return await super().claim(applied_seq)


def put(i: int, writer: str) -> list[Op]:
    return [(f"m/{writer}/{i:05}".encode(), f"{writer} {i}".encode())]


async def test_take_over_applies_everything_then_fences_the_old_writer(
    nc: Any, tmp_path: Path
) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = f"takeover.{next(_names)}"
    await ensure_stream(js, queue)
    old = QueueLog(js, queue)
    await old.open()
    for i in range(5):
        await old.append(put(i, "old"))

    store = RocksStore(tmp_path / "new")
    try:
        tailer = LogTailer(js, store, queue)
        new = QueueLog(js, queue)
        claim = await take_over(new, tailer)
        assert claim == 6
        assert read_applied(store, queue) == 6  # the claim is recorded locally too
        assert len(dict(store.scan(b"m/old/"))) == 5
        with pytest.raises(FencedError):
            await old.append(put(5, "old"))
        seq = await new.append(put(0, "new"))
        await tailer.apply_own(seq, put(0, "new"))
        assert read_applied(store, queue) == 7
        with pytest.raises(ValueError, match="does not follow"):
            await tailer.apply_own(9, [])
    finally:
        store.close()


async def test_no_acknowledged_append_is_lost_when_the_old_writer_races_the_takeover(
    nc: Any, tmp_path: Path
) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = f"takeover.{next(_names)}"
    await ensure_stream(js, queue)
    old = QueueLog(js, queue)
    await old.open()
    acked: list[int] = []

    async def old_writer() -> FencedError:
        # Writes as fast as it can, many appends in flight, until it is fenced.
        i = 0
        while True:
            batch = [old.append(put(i + j, "old")) for j in range(8)]
            i += 8
            for outcome in await asyncio.gather(*batch, return_exceptions=True):
                if isinstance(outcome, FencedError):
                    return outcome
                assert isinstance(outcome, int), outcome
                acked.append(outcome)

    writer = asyncio.create_task(old_writer())
    while len(acked) < 40:
        await asyncio.sleep(0.01)  # waiting for the old writer to be busy; test-bounded
    store = RocksStore(tmp_path / "new")
    try:
        tailer = LogTailer(js, store, queue, sync=False)
        new = CountingLog(js, queue)
        claim = await take_over(new, tailer)
        assert new.claims >= 1  # more when the old writer got in first (the race under test)
        fenced = await asyncio.wait_for(writer, timeout=JS_TIMEOUT)
        assert fenced.actual is not None and fenced.actual >= claim
        assert old.last_seq is not None and old.last_seq < claim
        # Every append the old writer had acknowledged is in the new writer's state.
        # (old.appends counts exactly the appends acknowledged to their callers.)
        keys = {k for k, _ in store.scan(b"m/old/")}
        assert len(keys) == old.appends == len(acked)
        assert read_applied(store, queue) == claim
    finally:
        store.close()
