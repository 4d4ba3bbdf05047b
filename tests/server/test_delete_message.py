"""DeleteMessage and single-message Redrive in the pure core (manual clock, memory store)."""

from __future__ import annotations

import pytest

from fila.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    MessageNotFoundError,
    QueueNotFoundError,
)
from fila.server import keys
from fila.server.stats import queue_snapshot

from .test_broker import HOOK, Harness

ALWAYS_DLQ = 'function on_failure(m) return {action="dlq"} end'


@pytest.fixture()
def h() -> Harness:
    return Harness()


def _stored(h: Harness, queue: str, msg_id: str) -> bool:
    return h.store.get(keys.msg(queue, msg_id)) is not None


def test_delete_a_ready_message_removes_it_everywhere(h: Harness) -> None:
    h.create_queue("q", on_enqueue=HOOK)
    gone = h.enqueue("q", {"tenant": "a"})
    kept = h.enqueue("q", {"tenant": "a"})
    state, effects = h.broker.delete_message("q", gone)
    h.apply(effects)
    assert state == "ready"
    assert not _stored(h, "q", gone) and h.store.get(keys.payload("q", gone)) is None
    snap = queue_snapshot(h.broker, "q", 10)
    assert (snap.depth, snap.pending) == (1, 1)
    assert [k.pending for k in snap.keys if k.key == "a"] == [1]
    # The scheduler no longer holds it: a consumer gets only the other message.
    cid = h.consumer("q", prefetch=10)
    assert h.delivered[cid] == [kept]
    assert h.restart() == 1  # and it stays gone after a restart


def test_delete_a_delayed_message_cancels_its_timer(h: Harness) -> None:
    h.create_queue("q")
    msg_id = h.enqueue("q", delay_ms=5000)
    cid = h.consumer("q")
    state, effects = h.broker.delete_message("q", msg_id)
    h.apply(effects)
    assert state == "delayed"
    assert queue_snapshot(h.broker, "q", 10).delayed == 0
    h.advance(6)
    assert h.delivered[cid] == []
    assert h.broker.queue_counts("q")[0] == 0


def test_delete_is_refused_for_a_leased_message(h: Harness) -> None:
    h.create_queue("q")
    msg_id = h.enqueue("q")
    cid = h.consumer("q")
    assert h.delivered[cid] == [msg_id]
    with pytest.raises(FailedPreconditionError, match="leased by a consumer"):
        h.broker.delete_message("q", msg_id)
    assert _stored(h, "q", msg_id)
    h.apply(h.broker.ack("q", msg_id))  # the lease is intact: the consumer still settles it


def test_delete_unknown_message_queue_and_bad_ids(h: Harness) -> None:
    h.create_queue("q")
    other = h.enqueue("q")
    h.create_queue("r")
    with pytest.raises(MessageNotFoundError, match='is not in queue "r"'):
        h.broker.delete_message("r", other)
    with pytest.raises(QueueNotFoundError, match='queue "nope" does not exist'):
        h.broker.delete_message("nope", other)
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        h.broker.delete_message("q", "")
    with pytest.raises(InvalidArgumentError, match="not a UUID"):
        h.broker.delete_message("q", "xyz")
    _, effects = h.broker.delete_message("q", other.upper())  # ids are case-blind
    h.apply(effects)
    with pytest.raises(MessageNotFoundError):
        h.broker.delete_message("q", other)  # a second delete: already gone


def test_delete_a_message_nobody_consumed_drops_its_cached_copy(h: Harness) -> None:
    h.create_queue("q")
    msg_id = h.enqueue("q")
    assert msg_id in h.broker._fresh._items  # the enqueue cached it for its first delivery
    _, effects = h.broker.delete_message("q", msg_id)
    h.apply(effects)
    assert msg_id not in h.broker._fresh._items


def _dead_letters(h: Harness, n: int) -> list[str]:
    h.create_queue("q", on_enqueue=HOOK, on_failure=ALWAYS_DLQ)
    ids = [h.enqueue("q", {"tenant": f"t{i % 2}"}) for i in range(n)]
    cid = h.consumer("q", prefetch=n)
    for msg_id in list(h.delivered[cid]):
        h.nack("q", msg_id, "boom")
    h.broker.remove_consumer(cid)
    assert h.broker.queue_counts("q.dlq")[0] == n
    return ids


def test_redrive_one_message_moves_only_it(h: Harness) -> None:
    ids = _dead_letters(h, 3)
    moved, effects = h.broker.redrive("q.dlq", message_id=ids[1])
    h.apply(effects)
    assert moved == 1
    assert ids[1] in h.broker.stats_view("q").msgs
    assert set(h.broker.stats_view("q.dlq").msgs) == {ids[0], ids[2]}
    assert h.broker.stats_view("q").msgs[ids[1]].attempts == 0
    h.restart()
    assert ids[1] in h.broker.stats_view("q").msgs
    assert ids[1] not in h.broker.stats_view("q.dlq").msgs


def test_redrive_one_message_with_the_other_filters(h: Harness) -> None:
    ids = _dead_letters(h, 2)
    key = h.key_of("q.dlq", ids[0])
    assert h.broker.redrive("q.dlq", dry_run=True, message_id=ids[0])[0] == 1
    assert h.broker.redrive("q.dlq", count=5, dry_run=True, message_id=ids[0])[0] == 1
    assert h.broker.redrive("q.dlq", fairness_key="other", message_id=ids[0])[0] == 0
    moved, effects = h.broker.redrive("q.dlq", fairness_key=key, message_id=ids[0])
    h.apply(effects)
    assert moved == 1
    assert h.broker.queue_counts("q.dlq")[0] == 1


def test_redrive_one_message_that_is_not_in_the_dlq(h: Harness) -> None:
    ids = _dead_letters(h, 1)
    h.apply(h.broker.redrive("q.dlq", message_id=ids[0])[1])
    with pytest.raises(MessageNotFoundError, match=r'is not in queue "q\.dlq"'):
        h.broker.redrive("q.dlq", message_id=ids[0])
    with pytest.raises(InvalidArgumentError, match="not a UUID"):
        h.broker.redrive("q.dlq", message_id="nope")


def test_redrive_one_leased_message_is_refused(h: Harness) -> None:
    ids = _dead_letters(h, 1)
    cid = h.consumer("q.dlq")
    assert h.delivered[cid] == ids
    with pytest.raises(FailedPreconditionError, match="leased by a consumer"):
        h.broker.redrive("q.dlq", message_id=ids[0])
