"""`fila enqueue --jsonl` and `fila consume --batch` against a real server."""

from __future__ import annotations

import base64
import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from cli_support import CliFn, ProcFn, fila_cmd

from fila.client import Client


def _commit_batches(addr: str) -> int:
    with Client(addr) as client:
        return client.server_info().commit_batches


def test_jsonl_file_is_sent_in_batches(fila: ProcFn, fila_server: Any, tmp_path: Path) -> None:
    fila("queue", "create", "q")
    lines = [json.dumps({"payload": f"m{i}", "headers": {"n": str(i)}}) for i in range(1200)]
    lines[7] = json.dumps({"payload_base64": base64.b64encode(b"\x00\xff").decode()})
    lines[8] = json.dumps({"payload": "later", "delay_ms": 60_000})
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n\n")  # a blank line is skipped
    before = _commit_batches(fila_server.addr)
    result = fila("enqueue", "q", "--jsonl", str(source), "-H", "tenant=acme")
    assert (result.returncode, result.stdout, result.stderr) == (
        0, 'Enqueued 1200 messages to "q"\n', "")
    assert _commit_batches(fila_server.addr) - before == 3  # 500 + 500 + 200
    with Client(fila_server.addr) as client:
        page, _ = client.list_messages("q", limit=1000)
        page += client.list_messages("q", limit=1000, page_token=_)[0]
    by_payload = {m.message.payload: m for m in page}
    assert len(by_payload) == 1200
    assert by_payload[b"m3"].message.headers == {"n": "3", "tenant": "acme"}
    assert by_payload[b"\x00\xff"].message.headers == {"tenant": "acme"}
    assert by_payload[b"later"].state == "delayed"


def test_bad_lines_fail_alone(fila: ProcFn, fila_server: Any) -> None:
    fila("queue", "create", "q")
    text = "\n".join([
        '{"payload": "one"}',
        '{"payload": "two"',
        '{"headers": {"a": "b"}}',
        '["payload"]',
        '{"payload": "x", "headers": {"n": 1}}',
        '{"payload": "five", "delay_ms": -1}',
        json.dumps({"payload": "x" * (4 * 1024 * 1024 + 1)}),
        '{"payload": "last"}',
    ]) + "\n"
    result = fila("enqueue", "q", "--jsonl", "-", "--batch-size", "3", input=text.encode())
    assert result.returncode == 1
    assert result.stdout == 'Enqueued 2 messages to "q"\n'
    errors = result.stderr.splitlines()
    assert [e.split(":")[1].strip() for e in errors[:-1]] == [
        "line 2", "line 3", "line 4", "line 5", "line 6", "line 7"]
    assert errors[0].startswith("Error: line 2: not valid JSON (")
    assert errors[1] == 'Error: line 3: no "payload" (text) or "payload_base64"'
    assert "payload" in errors[5]  # the broker's own text for the oversized one
    assert errors[-1] == "Error: 6 of 8 lines failed"
    assert "Traceback" not in result.stderr
    with Client(fila_server.addr) as client:
        page, _ = client.list_messages("q")
    assert sorted(m.message.payload for m in page) == [b"last", b"one"]


def test_missing_queue_and_usage_errors(fila: ProcFn, tmp_path: Path) -> None:
    result = fila("enqueue", "nope", "--jsonl", "-", input=b'{"payload": "a"}\n')
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'Error: line 1: queue "nope" does not exist', "Error: 1 of 1 line failed"]
    result = fila("enqueue", "nope", "--jsonl", str(tmp_path / "absent.jsonl"))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot read ")
    assert fila("enqueue", "q", "hello", "--jsonl", "-").returncode == 2


def test_consume_json_feeds_back_into_jsonl(fila: ProcFn, fila_server: Any) -> None:
    fila("queue", "create", "a")
    fila("queue", "create", "b")
    fila("enqueue", "a", "-H", "k=v", "-", input=b"\x00binary\n")
    fila("enqueue", "a", "text")
    dumped = fila("consume", "a", "--count", "2", "--ack", "--json")
    result = fila("enqueue", "b", "--jsonl", "-", input=dumped.stdout.encode())
    assert result.stdout == 'Enqueued 2 messages to "b"\n', result.stderr
    with Client(fila_server.addr) as client:
        page, _ = client.list_messages("b")
    assert sorted((m.message.payload, tuple(m.message.headers.items())) for m in page) == [
        (b"\x00binary\n", (("k", "v"),)), (b"text", ())]


def test_jsonl_json_output(cli: CliFn) -> None:
    cli("queue", "create", "q")
    result = cli("enqueue", "q", "--jsonl", "-", "--json", input='{"payload": "a"}\n{"x": 1}\n')
    assert result.exit_code == 1
    record = json.loads(result.stdout)
    assert record["enqueued"] == 1 and len(record["ids"]) == 1
    assert record["failed"] == [{"line": 2, "error": 'no "payload" (text) or "payload_base64"'}]


def test_progress_bar_only_on_a_terminal(fila_server: Any, tmp_path: Path) -> None:
    with Client(fila_server.addr) as client:
        client.create_queue("q")
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"payload": f"m{i}"}) + "\n" for i in range(50)))
    main, term = pty.openpty()
    proc = subprocess.Popen(
        [*fila_cmd(), "--addr", fila_server.url, "enqueue", "q", "--jsonl", str(source),
         "--batch-size", "10"],
        stdout=subprocess.PIPE, stderr=term, env={**os.environ, "COLUMNS": "100"},
    )
    os.close(term)
    seen = b""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 1.0)
        if not ready:
            if proc.poll() is not None:
                break
            continue
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the pty closes when the process exits
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=30)
    os.close(main)
    assert proc.returncode == 0
    assert out == b'Enqueued 50 messages to "q"\n'
    assert b"enqueue to q" in seen  # the bar was drawn on the terminal


def test_consume_batch_acks_in_batches(fila: ProcFn, fila_server: Any) -> None:
    fila("queue", "create", "q")
    body = "".join(json.dumps({"payload": f"m{i}"}) + "\n" for i in range(250))
    assert fila("enqueue", "q", "--jsonl", "-", input=body.encode()).returncode == 0
    result = fila("consume", "q", "--batch", "100", "--count", "250", "--ack")
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert [line.split()[-1] for line in printed] == [f"m{i}" for i in range(250)]
    with Client(fila_server.addr) as client:
        stats = client.get_stats("q")
    assert (stats.depth, stats.in_flight) == (0, 0)


def test_consume_batch_without_settling_holds_count(cli: CliFn, fila_server: Any) -> None:
    cli("queue", "create", "q")
    for i in range(5):
        cli("enqueue", "q", f"m{i}")
    result = cli("consume", "q", "--batch", "10", "--count", "3", "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["payload"] for x in result.stdout.splitlines()] == ["m0", "m1", "m2"]
