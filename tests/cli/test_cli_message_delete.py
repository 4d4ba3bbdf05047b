"""`fila message delete` and `fila redrive --message` against a real server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import CliFn, ProcFn

from fila.client import Client

ALWAYS_DLQ = 'function on_failure(m) return {action="dlq"} end'


def _peek_ids(cli: CliFn, queue: str) -> list[str]:
    return [m["id"] for m in json.loads(cli("peek", queue, "--json").stdout)]


def test_message_delete_removes_one_message(fila: ProcFn, cli: CliFn) -> None:
    cli("queue", "create", "jobs")
    gone = cli("enqueue", "jobs", "a").stdout.strip()
    kept = cli("enqueue", "jobs", "b").stdout.strip()
    deleted = fila("message", "delete", "jobs", gone)  # not a TTY: no question
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout == f'Deleted message "{gone}" from "jobs"\n'
    assert _peek_ids(cli, "jobs") == [kept]
    result = json.loads(cli("message", "delete", "jobs", kept, "--json").stdout)
    assert result == {"queue": "jobs", "deleted": kept, "state": "ready"}
    assert _peek_ids(cli, "jobs") == []


def test_message_delete_asks_on_a_terminal(cli: CliFn, monkeypatch: pytest.MonkeyPatch) -> None:
    from fila.cli import common

    cli("queue", "create", "jobs")
    msg_id = cli("enqueue", "jobs", "a").stdout.strip()
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: True)
    declined = cli("message", "delete", "jobs", msg_id, input="n\n")
    assert declined.exit_code == 1
    assert f'Delete message "{msg_id}" from "jobs"?' in declined.stdout
    assert "Aborted." in declined.stderr
    assert _peek_ids(cli, "jobs") == [msg_id]
    accepted = cli("message", "delete", "jobs", msg_id, "--yes")
    assert accepted.exit_code == 0, accepted.output
    assert _peek_ids(cli, "jobs") == []


def test_message_delete_errors(cli: CliFn) -> None:
    cli("queue", "create", "jobs")
    msg_id = cli("enqueue", "jobs", "a").stdout.strip()
    missing_queue = cli("message", "delete", "nope", msg_id)
    assert (missing_queue.exit_code, missing_queue.stderr) == (
        1,
        'Error: queue "nope" does not exist\n',
    )
    cli("message", "delete", "jobs", msg_id)
    again = cli("message", "delete", "jobs", msg_id)
    assert (again.exit_code, again.stderr) == (
        1,
        f'Error: message "{msg_id}" is not in queue "jobs"\n',
    )
    bad = cli("message", "delete", "jobs", "xyz")
    assert (bad.exit_code, bad.stderr) == (1, 'Error: message_id "xyz" is not a UUID\n')


def test_message_delete_refuses_a_leased_message(cli: CliFn, fila_server: Any) -> None:
    cli("queue", "create", "jobs")
    msg_id = cli("enqueue", "jobs", "a").stdout.strip()
    with Client(fila_server.url) as consumer:
        stream = consumer.consume("jobs")
        try:
            assert next(stream).id == msg_id
            refused = cli("message", "delete", "jobs", msg_id)
        finally:
            stream.close()
    assert refused.exit_code == 1
    assert refused.stderr == (
        f'Error: message "{msg_id}" is leased by a consumer; it can be deleted once it is '
        "nacked or its lease expires\n"
    )


def test_redrive_one_message(fila: ProcFn, cli: CliFn) -> None:
    cli("queue", "create", "jobs", "--on-failure", ALWAYS_DLQ)
    first = cli("enqueue", "jobs", "a").stdout.strip()
    second = cli("enqueue", "jobs", "b").stdout.strip()
    cli("consume", "jobs", "--count", "2", "--nack", "boom")
    assert _peek_ids(cli, "jobs.dlq") == [first, second]
    dry = cli("redrive", "jobs.dlq", "--message", second, "--dry-run")
    assert dry.stdout == 'Dry run: 1 message would move from "jobs.dlq"\n'
    moved = fila("redrive", "jobs.dlq", "--message", second)
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout == 'Redrive complete: 1 message moved from "jobs.dlq"\n'
    assert _peek_ids(cli, "jobs.dlq") == [first]
    assert _peek_ids(cli, "jobs") == [second]
    again = cli("redrive", "jobs.dlq", "-m", second)
    assert (again.exit_code, again.stderr) == (
        1,
        f'Error: message "{second}" is not in queue "jobs.dlq"\n',
    )
