"""DeleteMessage and single-message Redrive over real gRPC, surviving a kill -9.

Messages are dead-lettered the real way: consumed, then nacked with the queue's
on_failure hook answering "dlq".
"""

from __future__ import annotations

import pytest

from e2e.server_process import ServerProcess
from fila.client import Client
from fila.errors import (
    FailedPreconditionError,
    InvalidArgumentError,
    MessageNotFoundError,
    QueueNotFoundError,
)

TO_DLQ = 'function on_failure(m) return { action = "dlq" } end'


def _ids(client: Client, queue: str) -> list[str]:
    messages, _ = client.list_messages(queue, limit=1000)
    return [m.message.id for m in messages]


def dead_letter(client: Client, queue: str, n: int) -> list[str]:
    """Enqueue ``n`` messages to ``queue`` and nack each once: they land in its DLQ."""
    ids = [client.enqueue(queue, {"tenant": "t"}, b"m%d" % i) for i in range(n)]
    stream = client.consume(queue, prefetch=n)
    try:
        for _ in range(n):
            msg = next(stream)
            client.nack(queue, msg.id, f"boom {msg.payload.decode()}")
    finally:
        stream.close()
    assert sorted(_ids(client, queue + ".dlq")) == sorted(ids)
    return ids


@pytest.mark.timeout(60)
def test_delete_and_redrive_one_message_survive_kill_9(fila_server: ServerProcess) -> None:
    with Client(fila_server.url) as c:
        c.create_queue("jobs", on_failure=TO_DLQ)
        dead = dead_letter(c, "jobs", 3)
        waiting = [c.enqueue("jobs", {}, b"w%d" % i) for i in range(2)]
        delayed = c.enqueue("jobs", {}, b"later", delay_ms=600_000)

        assert c.delete_message("jobs", waiting[0]) == "ready"
        assert c.delete_message("jobs", delayed) == "delayed"
        assert c.delete_message("jobs.dlq", dead[0]) == "ready"
        assert c.redrive("jobs.dlq", message_id=dead[1]) == 1

        assert sorted(_ids(c, "jobs")) == sorted([waiting[1], dead[1]])
        assert _ids(c, "jobs.dlq") == [dead[2]]
    fila_server.kill()  # kill -9: nothing is flushed on the way out
    fila_server.start()
    with Client(fila_server.url) as c:
        assert sorted(_ids(c, "jobs")) == sorted([waiting[1], dead[1]])
        assert _ids(c, "jobs.dlq") == [dead[2]]
        redriven = next(m for m in c.list_messages("jobs")[0] if m.message.id == dead[1])
        assert redriven.message.attempt_count == 0 and redriven.message.payload == b"m1"
        stats = c.get_stats("jobs")
        assert (stats.depth, stats.in_flight) == (2, 0)


@pytest.mark.timeout(60)
def test_delete_and_redrive_one_message_refusals(fila_server: ServerProcess) -> None:
    with Client(fila_server.url) as c:
        c.create_queue("jobs", on_failure=TO_DLQ)
        dead = dead_letter(c, "jobs", 1)
        leased_id = c.enqueue("jobs", {}, b"busy")
        stream = c.consume("jobs")
        try:
            assert next(stream).id == leased_id
            with pytest.raises(FailedPreconditionError, match="leased by a consumer"):
                c.delete_message("jobs", leased_id)
        finally:
            stream.close()
        with pytest.raises(MessageNotFoundError, match='is not in queue "jobs"'):
            c.delete_message("jobs", dead[0])  # it is in the DLQ, not here
        with pytest.raises(QueueNotFoundError):
            c.delete_message("nope", dead[0])
        with pytest.raises(InvalidArgumentError, match="not a UUID"):
            c.delete_message("jobs", "not-an-id")
        with pytest.raises(MessageNotFoundError, match=r'is not in queue "jobs\.dlq"'):
            c.redrive("jobs.dlq", message_id=leased_id)
        assert c.redrive("jobs.dlq", message_id=dead[0], dry_run=True) == 1
        assert _ids(c, "jobs.dlq") == dead  # a dry run moves nothing
