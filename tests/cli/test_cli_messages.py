"""`fila enqueue | consume | peek | redrive | hook test | version` against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli_support import CliFn, ProcFn, fila_cmd

from fila.client import Client

RETRY_THEN_DLQ = (
    "function on_failure(msg) if msg.attempts >= 2 then return {action=\"dlq\"} end "
    "return {action=\"retry\"} end"
)


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)  # polling a condition with a deadline, not synchronising by sleep


def test_enqueue_prints_the_message_id(fila: ProcFn) -> None:
    fila("queue", "create", "orders")
    result = fila("enqueue", "orders", "--header", "tenant=acme", "hello")
    assert result.returncode == 0
    assert uuid.UUID(result.stdout.strip()).version == 7


def test_enqueue_from_stdin_and_file(fila: ProcFn, cli: CliFn, tmp_path: Path) -> None:
    fila("queue", "create", "orders")
    assert fila("enqueue", "orders", "-", input=b"\x00\x01binary").returncode == 0
    body = tmp_path / "body.json"
    body.write_text('{"n": 1}')
    assert fila("enqueue", "orders", "--file", str(body)).returncode == 0
    peeked = json.loads(cli("peek", "orders", "--json").stdout)
    assert [m["payload_base64"] for m in peeked] == ["AAFiaW5hcnk=", "eyJuIjogMX0="]
    assert peeked[1]["payload"] == '{"n": 1}'


def test_consume_json_then_ack(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    msg_id = cli("enqueue", "orders", "-H", "tenant=acme", "hello").stdout.strip()
    result = cli("consume", "orders", "--count", "1", "--ack", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["id"] == msg_id
    assert record["headers"] == {"tenant": "acme"}
    assert record["payload"] == "hello"
    assert record["attempt_count"] == 0
    assert record["queue"] == "orders"
    assert json.loads(cli("queue", "inspect", "orders", "--json").stdout)["depth"] == 0


def test_consume_plain_line(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    msg_id = cli("enqueue", "orders", "-H", "tenant=acme", "hello there").stdout.strip()
    result = cli("consume", "orders", "-n", "1", "--ack")
    assert result.stdout == f"{msg_id} default attempt=0 [tenant=acme] hello there\n"


def test_consume_missing_queue(cli: CliFn) -> None:
    result = cli("consume", "nope", "--count", "1")
    assert result.exit_code == 1
    assert result.stderr == 'Error: queue "nope" does not exist\n'


def test_consume_ctrl_c_exits_cleanly_and_releases(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        client.create_queue("orders")
        client.enqueue("orders", None, b"held")
        proc = subprocess.Popen(
            [*fila_cmd(), "--addr", fila_server.url, "consume", "orders"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={k: v for k, v in os.environ.items() if k != "FILA_ADDR"},
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()  # the message is printed: lease held
            assert line.split()[-1] == "held"
            assert {q.name: q for q in client.list_queues()}["orders"].in_flight == 1
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        assert code == 130
        assert "Traceback" not in stderr
        # Disconnect released the lease at once, without waiting for the timeout.
        wait_until(lambda: {q.name: q for q in client.list_queues()}["orders"].in_flight == 0)


def test_two_nacks_dead_letter_then_redrive(fila: ProcFn, cli: CliFn) -> None:
    assert fila("queue", "create", "jobs", "--on-failure", RETRY_THEN_DLQ).returncode == 0
    msg_id = fila("enqueue", "jobs", "work").stdout.strip()

    # One stream: the retry after the first nack comes back on it, the second nack dead-letters.
    nacked = fila("consume", "jobs", "--count", "2", "--nack", "boom")
    assert nacked.returncode == 0, nacked.stderr
    assert [line.split()[2] for line in nacked.stdout.splitlines()] == ["attempt=0", "attempt=1"]

    dead = json.loads(cli("peek", "jobs.dlq", "--json").stdout)
    assert [(m["id"], m["attempt_count"], m["last_error"]) for m in dead] == [(msg_id, 2, "boom")]
    assert fila("queue", "inspect", "jobs").stdout.splitlines()[1].split() == ["Depth:", "0"]

    redriven = fila("redrive", "jobs.dlq")  # count 0 = all; not a TTY, so no question
    assert redriven.returncode == 0, redriven.stderr
    assert redriven.stdout == 'Redrive complete: 1 message moved from "jobs.dlq"\n'

    back = json.loads(cli("peek", "jobs", "--json").stdout)
    assert [(m["id"], m["attempt_count"]) for m in back] == [(msg_id, 0)]
    again = fila("redrive", "jobs.dlq", "--count", "5")
    assert again.stdout == 'Redrive complete: 0 messages moved from "jobs.dlq"\n'


def test_redrive_json_and_dry_run(cli: CliFn) -> None:
    always_dlq = 'function on_failure(m) return {action="dlq"} end'
    cli("queue", "create", "jobs", "--on-failure", always_dlq)
    cli("enqueue", "jobs", "a")
    cli("consume", "jobs", "--count", "1", "--nack", "no")
    dry = cli("redrive", "jobs.dlq", "--dry-run")
    assert dry.stdout == 'Dry run: 1 message would move from "jobs.dlq"\n'
    result = json.loads(cli("redrive", "jobs.dlq", "--json").stdout)
    assert result == {"dlq": "jobs.dlq", "redriven": 1, "dry_run": False}


def test_redrive_errors(cli: CliFn) -> None:
    missing = cli("redrive", "nope.dlq")
    assert (missing.exit_code, missing.stderr) == (1, 'Error: queue "nope.dlq" does not exist\n')
    cli("queue", "create", "jobs")
    not_dlq = cli("redrive", "jobs")
    assert not_dlq.exit_code == 1
    assert not_dlq.stderr.startswith("Error: ")


def test_peek_table_and_key_filter(cli: CliFn) -> None:
    cli(
        "queue",
        "create",
        "t",
        "--on-enqueue",
        'function on_enqueue(msg) return { fairness_key = msg.headers["tenant"] } end',
    )
    for tenant in ("a", "b", "a"):
        cli("enqueue", "t", "-H", f"tenant={tenant}", f"from-{tenant}")
    lines = cli("peek", "t").stdout.splitlines()
    assert lines[0].split() == ["ID", "KEY", "STATE", "ATTEMPTS", "LAST_ERROR", "PAYLOAD"]
    assert len(lines) == 4
    only_a = json.loads(cli("peek", "t", "--key", "a", "--json").stdout)
    assert [m["payload"] for m in only_a] == ["from-a", "from-a"]
    assert len(json.loads(cli("peek", "t", "--limit", "1", "--json").stdout)) == 1
    cli("queue", "create", "empty")
    assert cli("peek", "empty").stdout == 'No messages in "empty".\n'


def test_hook_test_on_enqueue(cli: CliFn, tmp_path: Path) -> None:
    script = tmp_path / "tenant.lua"
    script.write_text(
        'function on_enqueue(msg)\n'
        '  return { fairness_key = msg.headers["tenant"], weight = 3, throttle_keys = {"p:x"} }\n'
        'end\n'
    )
    result = cli("hook", "test", "--script", str(script), "--header", "tenant=acme")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Hook: on_enqueue"
    assert lines[1].split() == ["fairness_key:", "acme"]
    assert lines[2].split() == ["weight:", "3"]
    as_json = cli("hook", "test", "--script", str(script), "-H", "tenant=z", "--json")
    data = json.loads(as_json.stdout)
    assert (data["fairness_key"], data["throttle_keys"]) == ("z", ["p:x"])


def test_hook_test_on_failure_and_errors(cli: CliFn) -> None:
    result = cli("hook", "test", "--on-failure", RETRY_THEN_DLQ, "--attempts", "2", "--json")
    assert json.loads(result.stdout)["action"] == "dlq"
    broken = cli("hook", "test", "--on-enqueue", "function on_enqueue(msg) retur end")
    assert broken.exit_code == 1
    assert broken.stderr.startswith("Error: ")
    none = cli("hook", "test")
    assert none.exit_code == 1
    assert none.stderr.startswith("Error: give exactly one of")


def test_version_shows_server(cli: CliFn) -> None:
    result = cli("version")
    assert result.exit_code == 0
    client_line, server_line = result.stdout.splitlines()
    assert client_line.startswith("Client: ")
    assert server_line.startswith("Server: ") and "unreachable" not in server_line
    data = json.loads(cli("version", "--json").stdout)
    assert data["server"]


def test_try_it_out_sequence(fila: ProcFn) -> None:
    """The README's "Try it out", with `fila enqueue` in place of grpcurl."""
    assert fila("queue", "create", "orders").stdout == 'Created queue "orders"\n'
    assert fila("enqueue", "orders", "--header", "tenant=acme", "hello").returncode == 0
    lines = fila("queue", "inspect", "orders").stdout.splitlines()
    assert lines[0] == "Queue: orders"
    assert lines[1].split() == ["Depth:", "1"]


def test_fair_scheduling_demo_sequence(fila: ProcFn, cli: CliFn) -> None:
    """The README's fair-scheduling demo: tenant hook, noisy and quiet tenants, inspect."""
    hook = """function on_enqueue(msg)
    return { fairness_key = msg.headers["tenant"] or "default" }
  end"""
    assert fila("queue", "create", "fair-demo", "--on-enqueue", hook).returncode == 0
    # A few as real processes, the bulk in-process to keep the test quick.
    for i in range(3):
        fila("enqueue", "fair-demo", "--header", "tenant=noisy", f"msg-{i}")
    for i in range(3, 100):
        assert cli("enqueue", "fair-demo", "--header", "tenant=noisy", f"msg-{i}").exit_code == 0
    for i in range(5):
        fila("enqueue", "fair-demo", "--header", "tenant=quiet", f"msg-{i}")
    out = fila("queue", "inspect", "fair-demo").stdout.splitlines()
    assert out[1].split() == ["Depth:", "105"]
    assert out[3].split() == ["Active", "fairness", "keys:", "2"]
    rows = {line.split()[0]: line.split()[1] for line in out[8:10]}
    assert rows == {"noisy": "100", "quiet": "5"}
    # The quiet tenant is not stuck behind the noisy one: within the first 10 deliveries.
    first = cli("consume", "fair-demo", "--count", "10", "--ack", "--json").stdout.splitlines()
    keys = [json.loads(line)["fairness_key"] for line in first]
    assert "quiet" in keys
