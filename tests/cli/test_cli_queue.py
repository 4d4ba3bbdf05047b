"""`fila queue ...` against a real fila-server: documented strings and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import CliFn, ProcFn


def names_in_table(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    assert lines[0].split() == ["NAME", "DEPTH", "IN_FLIGHT", "CONSUMERS"]
    return [line.split()[0] for line in lines[1:]]


def test_create_list_inspect_delete_as_subprocesses(fila: ProcFn) -> None:
    created = fila("queue", "create", "orders")
    assert (created.returncode, created.stdout, created.stderr) == (
        0,
        'Created queue "orders"\n',
        "",
    )

    listed = fila("queue", "list")
    assert listed.returncode == 0
    assert names_in_table(listed.stdout) == ["orders", "orders.dlq"]

    inspected = fila("queue", "inspect", "orders")
    assert inspected.returncode == 0
    lines = inspected.stdout.splitlines()
    assert lines[0] == "Queue: orders"
    labels = [line.split(":")[0].strip() for line in lines[1:6]]
    assert labels == ["Depth", "In-flight", "Active fairness keys", "Active consumers", "Quantum"]
    assert lines[1].split() == ["Depth:", "0"]

    deleted = fila("queue", "delete", "orders")  # stdin is not a TTY: no question asked
    assert (deleted.returncode, deleted.stdout) == (0, 'Deleted queue "orders"\n')
    assert fila("queue", "list").stdout == "No queues found.\n"


def test_list_empty(cli: CliFn) -> None:
    result = cli("queue", "list")
    assert (result.exit_code, result.stdout) == (0, "No queues found.\n")


def test_list_and_inspect_json(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    cli("enqueue", "orders", "-H", "tenant=acme", "hello")
    queues = json.loads(cli("queue", "list", "--json").stdout)
    by_name = {q["name"]: q for q in queues}
    assert set(by_name) == {"orders", "orders.dlq"}
    assert by_name["orders"]["depth"] == 1

    stats = json.loads(cli("--json", "queue", "inspect", "orders").stdout)
    assert stats["name"] == "orders"
    assert stats["depth"] == 1
    assert stats["per_key"] == [{"key": "default", "pending": 1, "deficit": 0, "weight": 1}]


def test_inspect_shows_depth_and_per_key_table(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    for _ in range(2):
        assert cli("enqueue", "orders", "x").exit_code == 0
    lines = cli("queue", "inspect", "orders").stdout.splitlines()
    assert lines[1].split() == ["Depth:", "2"]
    assert lines[2].split() == ["In-flight:", "0"]
    header = lines.index("  KEY      PENDING  DEFICIT  WEIGHT")
    assert lines[header + 1].split() == ["default", "2", "0", "1"]


def test_duplicate_queue_is_an_error(fila: ProcFn) -> None:
    fila("queue", "create", "orders")
    again = fila("queue", "create", "orders")
    assert again.returncode == 1
    assert again.stdout == ""
    assert again.stderr == 'Error: queue "orders" already exists\n'


@pytest.mark.parametrize(
    "args",
    [("queue", "inspect", "nope"), ("queue", "delete", "nope"), ("enqueue", "nope", "x")],
)
def test_missing_queue_is_an_error(cli: CliFn, args: tuple[str, ...]) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert result.stderr == 'Error: queue "nope" does not exist\n'
    assert result.stdout == ""


def test_create_with_hooks_from_files(cli: CliFn, tmp_path: Path) -> None:
    on_enqueue = tmp_path / "tenant.lua"
    on_enqueue.write_text(
        "function on_enqueue(msg)\n"
        '  return { fairness_key = msg.headers["tenant"] or "default" }\n'
        "end\n"
    )
    result = cli(
        "queue", "create", "jobs", "--on-enqueue", f"@{on_enqueue}", "--visibility-timeout", "5000"
    )
    assert result.stdout == 'Created queue "jobs"\n'
    cli("enqueue", "jobs", "-H", "tenant=acme", "a")
    stats = json.loads(cli("queue", "inspect", "jobs", "--json").stdout)
    assert [k["key"] for k in stats["per_key"]] == ["acme"]


def test_create_with_bad_lua_is_an_error(cli: CliFn) -> None:
    result = cli("queue", "create", "jobs", "--on-enqueue", "function on_enqueue(msg) retur end")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output
    assert cli("queue", "list").stdout == "No queues found.\n"


def test_create_with_missing_hook_file(cli: CliFn, tmp_path: Path) -> None:
    result = cli("queue", "create", "jobs", "--on-failure", f"@{tmp_path}/missing.lua")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot read {tmp_path}/missing.lua")


def test_update_changes_hooks(cli: CliFn) -> None:
    cli("queue", "create", "jobs")
    result = cli(
        "queue",
        "update",
        "jobs",
        "--on-enqueue",
        'function on_enqueue(msg) return { fairness_key = "k" } end',
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert "fairness_key" in json.loads(result.stdout)["on_enqueue_script"]
    cli("enqueue", "jobs", "a")
    stats = json.loads(cli("queue", "inspect", "jobs", "--json").stdout)
    assert [k["key"] for k in stats["per_key"]] == ["k"]
    plain = cli("queue", "update", "jobs", "--visibility-timeout", "5000")
    assert plain.stdout == 'Updated queue "jobs"\n'


def test_update_needs_something_to_change(cli: CliFn) -> None:
    cli("queue", "create", "jobs")
    result = cli("queue", "update", "jobs")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: nothing to change")


def test_delete_with_messages_removes_queue_and_dlq(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    for body in ("x", "y", "z"):
        cli("enqueue", "orders", body)
    result = cli("queue", "delete", "orders", "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (0, 'Deleted queue "orders"\n', "")
    assert cli("queue", "list").stdout == "No queues found.\n"


def test_delete_asks_on_a_terminal(cli: CliFn, monkeypatch: pytest.MonkeyPatch) -> None:
    from fila.cli import common

    cli("queue", "create", "orders")
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: True)
    declined = cli("queue", "delete", "orders", input="n\n")
    assert declined.exit_code == 1
    assert "Aborted." in declined.stderr
    assert "orders" in cli("queue", "list").stdout
    accepted = cli("queue", "delete", "orders", input="y\n")
    assert accepted.exit_code == 0
    assert 'Deleted queue "orders"' in accepted.stdout


def test_purge_keeps_the_queue_and_says_how_many_went(cli: CliFn) -> None:
    cli("queue", "create", "orders")
    for body in ("x", "y", "z"):
        cli("enqueue", "orders", body)
    result = cli("queue", "purge", "orders", "--yes")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, 'Purged 3 messages from "orders"\n', "")
    again = cli("queue", "purge", "orders", "--yes", "--json")
    assert json.loads(again.stdout) == {"queue": "orders", "purged": 0}
    assert names_in_table(cli("queue", "list").stdout) == ["orders", "orders.dlq"]
    missing = cli("queue", "purge", "nope", "--yes")
    assert (missing.exit_code, missing.stderr) == (1, 'Error: queue "nope" does not exist\n')


def test_purge_asks_on_a_terminal(cli: CliFn, monkeypatch: pytest.MonkeyPatch) -> None:
    from fila.cli import common

    cli("queue", "create", "orders")
    cli("enqueue", "orders", "x")
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: True)
    declined = cli("queue", "purge", "orders", input="n\n")
    assert declined.exit_code == 1
    assert "Aborted." in declined.stderr
    assert 'Purge the ready and delayed messages of "orders"?' in declined.stdout
    accepted = cli("queue", "purge", "orders", input="y\n")
    assert accepted.exit_code == 0
    assert 'Purged 1 message from "orders"' in accepted.stdout
