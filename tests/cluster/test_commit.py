"""Cluster mode's commit path (fila/cluster/commit.py) against a real JetStream cluster and a
real RocksDB: a batch reaches its group's log before the local store, the local store ends
exactly where a tailer replaying the log ends, and a batch of a group this node does not
write fails without touching anything."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest

from fila.server import keys
from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch

from .conftest import JS_TIMEOUT, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.applied import read_applied  # noqa: E402
from fila.cluster.commit import ReplicatedCommitter, group_of, split_by_group  # noqa: E402
from fila.cluster.log import QueueLog, ensure_stream  # noqa: E402
from fila.cluster.tailer import LogTailer  # noqa: E402
from fila.errors import UnavailableError  # noqa: E402

_names = itertools.count()


def test_a_queue_and_its_dlq_are_one_group_and_other_keys_stay_local() -> None:
    assert group_of("orders.dlq") == group_of("orders") == "orders"
    batch = WriteBatch()
    batch.put(keys.msg("orders", "a"), b"1")
    batch.put(keys.payload("orders.dlq", "a"), b"p")
    batch.delete(keys.lease("billing", "b"))
    batch.put(keys.queue("billing.dlq"), b"{}")
    batch.put(keys.config("throttle.x"), b"1,1")
    parts, local = split_by_group(batch)
    assert local
    assert list(parts) == ["orders", "billing"]
    assert [k for k, _ in parts["orders"]] == [keys.msg("orders", "a"),
                                               keys.payload("orders.dlq", "a")]
    assert len(parts["billing"]) == 2


def batch_of(queue: str, i: int) -> WriteBatch:
    # Each batch overwrites one shared key and adds its own: order decides the survivor.
    batch = WriteBatch()
    batch.put(keys.msg(queue, "shared"), f"{i}".encode())
    batch.put(keys.msg(queue, f"{i:04}"), b"x")
    if i >= 3:
        batch.delete(keys.msg(queue, f"{i - 3:04}"))
    return batch


async def test_batches_reach_the_log_then_the_store_in_order(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    a, b = f"commit-a-{next(_names)}", f"commit-b-{next(_names)}"
    logs = {}
    for queue in (a, b):
        await ensure_stream(js, queue)
        logs[queue] = QueueLog(js, queue)
        await logs[queue].open()
    store = RocksStore(tmp_path / "owner")
    committer = ReplicatedCommitter(store, logs.get, lambda group: None)
    try:
        # Concurrent batches of two groups, and some spanning both.
        futures = []
        for i in range(60):
            batch = batch_of(a, i)
            if i % 3 == 0:
                batch.extend(batch_of(b, i))
            futures.append(committer.submit(batch))
        await asyncio.wait_for(asyncio.gather(*futures), JS_TIMEOUT)
        assert store.get(keys.msg(a, "shared")) == b"59"  # the last batch won, as submitted
        assert store.get(keys.msg(b, "shared")) == b"57"
        # Concurrent appends shared entries, and the store records each log's end.
        ends = {q: logs[q].last_seq for q in (a, b)}
        assert ends[a] is not None and ends[a] < 60
        assert read_applied(store, a) == ends[a] and read_applied(store, b) == ends[b]
        # A standby replaying the logs ends exactly where the owner's store is.
        replica = RocksStore(tmp_path / "replica")
        try:
            for queue in (a, b):
                await LogTailer(js, replica, queue).catch_up(timeout=JS_TIMEOUT)
                assert dict(replica.scan(keys.msg_prefix(queue))) == dict(
                    store.scan(keys.msg_prefix(queue)))
        finally:
            replica.close()
    finally:
        await committer.close()
        store.close()


async def test_a_group_not_written_here_fails_and_changes_nothing(nc: Any, tmp_path: Path
                                                                  ) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    mine, theirs = f"commit-mine-{next(_names)}", f"commit-theirs-{next(_names)}"
    await ensure_stream(js, mine)
    log = QueueLog(js, mine)
    await log.open()
    store = RocksStore(tmp_path / "node")
    committer = ReplicatedCommitter(store, {mine: log}.get, lambda group: None)
    try:
        with pytest.raises(UnavailableError, match="not served by this node"):
            await committer.submit(batch_of(theirs, 0))
        assert store.get(keys.msg(theirs, "shared")) is None
        # Spanning both: the part that reached its log is written (the log has it), the
        # caller still learns the batch failed.
        both = batch_of(mine, 1)
        both.extend(batch_of(theirs, 1))
        with pytest.raises(UnavailableError):
            await committer.submit(both)
        assert store.get(keys.msg(mine, "shared")) == b"1"
        assert store.get(keys.msg(theirs, "shared")) is None
        assert read_applied(store, mine) == log.last_seq
        # Local-only keys never touch a log.
        local = WriteBatch()
        local.put(keys.config("k"), b"v")
        await committer.submit(local)
        assert store.get(keys.config("k")) == b"v"
    finally:
        await committer.close()
        store.close()


async def test_a_fenced_log_tells_the_node_and_fails_the_batch(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = f"commit-fenced-{next(_names)}"
    await ensure_stream(js, queue)
    old = QueueLog(js, queue)
    await old.open()
    new = QueueLog(js, queue)
    await new.claim(0)  # another node claims the log
    fenced: list[str] = []
    store = RocksStore(tmp_path / "old")
    committer = ReplicatedCommitter(store, {queue: old}.get, fenced.append)
    try:
        with pytest.raises(UnavailableError, match="moved to another node"):
            await committer.submit(batch_of(queue, 0))
        assert fenced == [queue]
        assert store.get(keys.msg(queue, "shared")) is None
        await committer.settled(queue)  # nothing left in flight
        assert committer.in_flight(queue) == 0
    finally:
        await committer.close()
        store.close()


async def test_a_log_in_doubt_gives_the_group_up(nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue = f"commit-doubt-{next(_names)}"
    await ensure_stream(js, queue)
    log = QueueLog(js, queue)  # never opened: its end is unknown, as after a lost append
    given_up: list[str] = []
    store = RocksStore(tmp_path / "node")
    committer = ReplicatedCommitter(store, {queue: log}.get, given_up.append)
    try:
        with pytest.raises(UnavailableError, match="replicated log unavailable"):
            await committer.submit(batch_of(queue, 0))
        # The node gives the group up; its take-over path re-reads the log and claims it.
        assert given_up == [queue]
        assert store.get(keys.msg(queue, "shared")) is None
    finally:
        await committer.close()
        store.close()


async def test_a_held_group_has_everything_written_and_waits_with_the_rest(
        nc: Any, tmp_path: Path) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    queue, other = f"commit-held-{next(_names)}", f"commit-free-{next(_names)}"
    logs = {}
    for q in (queue, other):
        await ensure_stream(js, q)
        logs[q] = QueueLog(js, q)
        await logs[q].open()
    store = RocksStore(tmp_path / "node")
    committer = ReplicatedCommitter(store, logs.get, lambda group: None)
    try:
        before = [committer.submit(batch_of(queue, i)) for i in range(5)]
        async with committer.held(queue):
            # Every earlier batch is in the store, and the store says where the log is.
            assert all(f.done() for f in before)
            assert store.get(keys.msg(queue, "shared")) == b"4"
            assert read_applied(store, queue) == logs[queue].last_seq
            later = committer.submit(batch_of(queue, 5))
            # Other groups go on; this one waits.
            await asyncio.wait_for(committer.submit(batch_of(other, 0)), JS_TIMEOUT)
            assert not later.done()
            assert store.get(keys.msg(queue, "shared")) == b"4"
        await asyncio.wait_for(later, JS_TIMEOUT)
        assert store.get(keys.msg(queue, "shared")) == b"5"
    finally:
        await committer.close()
        store.close()
