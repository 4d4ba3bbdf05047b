"""The replicated per-queue log against real NATS JetStream (3 nodes, 3 replicas, fsync always):
appends are fenced and acknowledged in order, and a tailer rebuilds the owner's writes in a
real RocksDB, resuming exactly where it stopped."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path
from typing import Any

import pytest

from fila.cluster.harness import NatsCluster
from fila.server.rocks import RocksStore

from .conftest import JS_TIMEOUT, SKIP_REASON, connect, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.applied import read_applied  # noqa: E402
from fila.cluster.codec import Op  # noqa: E402
from fila.cluster.log import (  # noqa: E402
    EntryTooLargeError,
    FencedError,
    LogUnavailableError,
    QueueLog,
    ensure_stream,
)
from fila.cluster.names import stream_subject  # noqa: E402
from fila.cluster.tailer import LogTailer, TailError  # noqa: E402

_names = itertools.count()


def fresh_queue() -> str:
    # Each test its own queue (and stream) on the module's shared cluster.
    return f"orders.{next(_names)} é"


def apply_locally(groups: list[list[Op]]) -> dict[bytes, bytes]:
    state: dict[bytes, bytes] = {}
    for ops in groups:
        for key, value in ops:
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
    return state


def store_state(store: RocksStore, prefix: bytes = b"m/") -> dict[bytes, bytes]:
    return dict(store.scan(prefix))


def group(i: int) -> list[Op]:
    # Puts a new key each time and deletes the one two groups back.
    ops: list[Op] = [(f"m/{i:04}".encode(), f"value {i}".encode() * 3)]
    if i >= 2:
        ops.append((f"m/{i - 2:04}".encode(), None))
    return ops


async def test_appends_round_trip_through_a_tailer(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    await ensure_stream(js, queue)  # idempotent
    log = QueueLog(js, queue)
    assert await log.open() == 0
    groups = [group(i) for i in range(30)]
    seqs = [await log.append(ops) for ops in groups[:10]]
    assert seqs == list(range(1, 11))
    # Concurrent appends share entries, keep their order, and each gets its entry's sequence.
    concurrent = await asyncio.gather(*(log.append(ops) for ops in groups[10:]))
    assert concurrent == sorted(concurrent) and concurrent[0] == 11
    assert log.entries_appended < 30 and log.appends == 30
    assert log.last_seq == concurrent[-1]

    store = RocksStore(tmp_path / "replica")
    try:
        tailer = LogTailer(js, store, queue)
        assert await tailer.catch_up(timeout=10) == log.last_seq
        assert store_state(store) == apply_locally(groups)
        assert read_applied(store, queue) == log.last_seq
    finally:
        store.close()


async def test_a_deposed_writer_is_fenced(nc: Any) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    old = QueueLog(js, queue)
    await old.open()
    assert await old.append(group(0)) == 1

    new = QueueLog(js, queue)
    # A successor that has not applied entry 1 cannot claim: it must catch up first.
    with pytest.raises(FencedError) as refused:
        await new.claim(0)
    assert refused.value.expected == 0 and refused.value.actual == 1
    assert await new.claim(1) == 2

    # The old owner's next appends are refused, all of them, and nothing it sent landed.
    with pytest.raises(FencedError, match="fenced") as fenced:
        await old.append(group(1))
    assert fenced.value.expected == 1 and fenced.value.actual == 2
    assert old.fenced
    results = await asyncio.gather(
        *(old.append(group(i)) for i in range(2, 6)), return_exceptions=True
    )
    assert all(isinstance(r, FencedError) for r in results)
    assert await new.append(group(1)) == 3
    info = await js.stream_info(f"{new._stream}")
    assert info.state.last_seq == 3


async def test_a_writer_racing_a_claim_is_fenced_by_the_stream_order(nc: Any) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    old, new = QueueLog(js, queue), QueueLog(js, queue)
    await old.open()
    # Both think the log ends at 0: whichever JetStream orders first wins, the other is fenced.
    outcomes = await asyncio.gather(old.append(group(0)), new.claim(0), return_exceptions=True)
    assert sum(isinstance(o, FencedError) for o in outcomes) == 1
    assert sum(o == 1 for o in outcomes) == 1


async def test_a_tailer_resumes_from_its_stored_sequence(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    log = QueueLog(js, queue)
    await log.open()
    groups = [group(i) for i in range(20)]
    for ops in groups[:8]:
        await log.append(ops)

    store = RocksStore(tmp_path / "replica")
    await LogTailer(js, store, queue).catch_up(timeout=10)
    store.close()  # the replica stops (its process would exit here)

    for ops in groups[8:]:
        await log.append(ops)
    store = RocksStore(tmp_path / "replica")
    try:
        tailer = LogTailer(js, store, queue)
        assert tailer.applied == 8
        assert await tailer.catch_up(timeout=10) == 20
        assert tailer.entries_applied == 12  # only the entries it had not applied
        assert store_state(store) == apply_locally(groups)
    finally:
        store.close()


async def test_a_running_tailer_follows_live_appends(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    log = QueueLog(js, queue)
    await log.open()
    store = RocksStore(tmp_path / "replica")
    tailer = LogTailer(js, store, queue, sync=False)
    task = asyncio.create_task(tailer.run())
    try:
        groups = [group(i) for i in range(40)]
        last = 0
        for ops in groups:
            last = await log.append(ops)
        await tailer.wait_applied(last, timeout=10)
        assert store_state(store) == apply_locally(groups)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        store.close()


async def test_a_damaged_entry_stops_the_tailer(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    log = QueueLog(js, queue)
    await log.open()
    await log.append(group(0))
    await js.publish(stream_subject(queue), b"\x01not an entry")
    store = RocksStore(tmp_path / "replica")
    try:
        tailer = LogTailer(js, store, queue)
        with pytest.raises(TailError, match="entry 2: log entry checksum mismatch"):
            await tailer.catch_up(timeout=10)
        assert tailer.applied == 1 and read_applied(store, queue) == 1
    finally:
        store.close()


async def test_limits_and_misuse_are_clear_errors(nc: Any) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = fresh_queue()
    await ensure_stream(js, queue)
    log = QueueLog(js, queue, max_entry_bytes=1000)
    with pytest.raises(LogUnavailableError, match="not open"):
        await log.append(group(0))
    await log.open()
    with pytest.raises(EntryTooLargeError, match="over the 1000-byte entry limit"):
        await log.append([(b"k", b"x" * 2000)])
    # Appends that fit together but not in one entry go out as several, in order.
    seqs = await asyncio.gather(*(log.append([(b"k%d" % i, b"x" * 400)]) for i in range(5)))
    assert seqs == sorted(seqs) and len(set(seqs)) >= 3


async def test_appends_survive_the_stream_leader_dying(own_cluster: NatsCluster) -> None:
    """Killing the stream's leader mid-load: every append is acknowledged once, at
    consecutive sequences (retries after the election are deduplicated, never doubled)."""
    nc = await connect(own_cluster)
    try:
        js = nc.jetstream(timeout=JS_TIMEOUT)
        queue = "survivor"
        await ensure_stream(js, queue)
        log = QueueLog(js, queue, timeout=20)
        await log.open()
        info = await js.stream_info(log._stream)
        assert info.cluster is not None and info.cluster.leader
        leader = own_cluster.node(info.cluster.leader)

        acked: list[int] = []

        async def writer() -> None:
            for i in range(150):
                acked.append(await log.append(group(i)))

        task = asyncio.create_task(writer())
        while len(acked) < 30:
            await asyncio.sleep(0.01)  # waiting for progress; bounded by the test timeout
        leader.kill()
        await asyncio.wait_for(task, timeout=60)
        assert acked == list(range(1, 151))
        info = await js.stream_info(log._stream)
        assert info.state.last_seq == 150 and info.state.messages == 150
    finally:
        await nc.close()


async def test_a_following_tailer_survives_the_stream_leader_dying(
    own_cluster: NatsCluster, tmp_path: Path
) -> None:
    """A hot standby keeps up through a node's loss: its consumer is recreated on a live
    node, from the entry after the last one it applied, and nothing is applied twice."""
    nc = await connect(own_cluster)
    store = RocksStore(tmp_path / "replica")
    task: asyncio.Task[None] | None = None
    try:
        js = nc.jetstream(timeout=JS_TIMEOUT)
        queue = "standby"
        await ensure_stream(js, queue)
        log = QueueLog(js, queue, timeout=30)
        await log.open()
        tailer = LogTailer(js, store, queue, sync=False)
        task = asyncio.create_task(tailer.run())
        groups = [group(i) for i in range(60)]
        for ops in groups[:30]:
            last = await log.append(ops)
        await tailer.wait_applied(last, timeout=JS_TIMEOUT)
        info = await js.stream_info(log._stream)
        assert info.cluster is not None and info.cluster.leader
        own_cluster.node(info.cluster.leader).kill()
        for ops in groups[30:]:
            last = await log.append(ops)
        await tailer.wait_applied(last, timeout=60)
        assert tailer.applied == last == 60
        assert store_state(store) == apply_locally(groups)
        assert not task.done()
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        store.close()
        await nc.close()
