"""Pure CLI helpers and behaviour that needs no broker (argument parsing, errors, output)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import typer
from cli_support import run_fila
from typer.testing import CliRunner

from fila.cli import common, hook
from fila.cli.main import app
from fila.client import CONNECT_FAILURE_PREFIX, parse_addr
from fila.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    OverloadedError,
    QueueNotFoundError,
    UnavailableError,
)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- headers -----------------------------------------------------------------------


def test_parse_headers_splits_on_first_equals() -> None:
    assert common.parse_headers(["tenant=acme", "q=a=b", "empty="]) == {
        "tenant": "acme",
        "q": "a=b",
        "empty": "",
    }


def test_parse_headers_none_is_empty() -> None:
    assert common.parse_headers(None) == {}


@pytest.mark.parametrize("bad", ["novalue", "=v", "  =v"])
def test_parse_headers_rejects_malformed(bad: str) -> None:
    with pytest.raises(common.CliError, match="expected KEY=VALUE"):
        common.parse_headers([bad])


# ---- @file sources -----------------------------------------------------------------


def test_load_source_inline_is_unchanged() -> None:
    src = "function on_enqueue(msg) return {} end"
    assert common.load_source(src) == src
    assert common.load_source(None) is None


def test_load_source_reads_at_file(tmp_path: Path) -> None:
    script = tmp_path / "hook.lua"
    script.write_text("function on_failure(msg) return {action='dlq'} end\n")
    assert common.load_source(f"@{script}") == script.read_text()


def test_load_source_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(common.CliError, match=r"cannot read .*nope\.lua"):
        common.load_source(f"@{tmp_path / 'nope.lua'}")


def test_pick_hook_guesses_from_the_script() -> None:
    assert hook.pick_hook("function on_failure(m) end", None) == "on_failure"
    assert hook.pick_hook("function on_enqueue(m) end", None) == "on_enqueue"
    assert hook.pick_hook("function on_enqueue(m) end", "on_failure") == "on_failure"
    with pytest.raises(common.CliError):
        hook.pick_hook("x", "on_ack")


# ---- output ------------------------------------------------------------------------


def test_plain_table_aligns_and_right_justifies_numbers() -> None:
    lines = common.plain_table(
        ["NAME", "DEPTH"], [["orders", "5"], ["orders.dlq", "10"]], right=(1,)
    )
    assert lines == [
        "NAME        DEPTH",
        "orders          5",
        "orders.dlq     10",
    ]
    assert lines[0].split() == ["NAME", "DEPTH"]


def test_plural() -> None:
    assert common.plural(1, "message") == "1 message"
    assert common.plural(0, "message") == "0 messages"
    assert common.plural(2, "message") == "2 messages"


def test_payload_rendering() -> None:
    assert common.format_payload(b"hello") == "hello"
    assert common.format_payload(b"\xff\x00") == "base64:/wA="
    assert common.format_payload(b"two\nlines\n") == "two\\nlines\\n"
    assert common.payload_text(b"two\nlines") == "two\nlines"
    assert common.payload_text(b"\xff") is None


def test_parse_addr_accepts_url_or_host_port() -> None:
    assert parse_addr("http://localhost:5555") == ("localhost:5555", False)
    assert parse_addr("localhost:5555") == ("localhost:5555", False)
    assert parse_addr("https://fila.example:443/") == ("fila.example:443", True)


# ---- error texts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (QueueNotFoundError('queue "q" does not exist'), 'queue "q" does not exist'),
        (AlreadyExistsError('queue "q" already exists'), 'queue "q" already exists'),
        (InvalidArgumentError("bad value"), "bad value"),
        (OverloadedError("queue full"), "broker overloaded, try again"),
        (UnavailableError("shutting down"), "broker unavailable (connection lost or server down)"),
        (
            UnavailableError(f"{CONNECT_FAILURE_PREFIX}h:1: connection refused"),
            "cannot connect to broker at h:1: connection refused",
        ),
    ],
)
def test_describe_error_gives_documented_text(error: Exception, text: str) -> None:
    assert common.describe_error(error) == text  # type: ignore[arg-type]


def test_unreachable_broker_names_the_address() -> None:
    addr = f"http://127.0.0.1:{unused_port()}"
    proc = run_fila(["--addr", addr, "queue", "list"])
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"Error: cannot connect to broker at {addr}: ")
    assert "Traceback" not in proc.stderr


def test_fila_addr_env_is_the_default_address() -> None:
    addr = f"127.0.0.1:{unused_port()}"
    proc = run_fila(["config", "get", "x"], env={"FILA_ADDR": addr})
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"Error: cannot connect to broker at {addr}: ")


def test_version_without_a_broker_still_prints_the_client() -> None:
    result = CliRunner().invoke(app, ["--addr", f"127.0.0.1:{unused_port()}", "version"])
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("Client: ")
    assert result.stdout.splitlines()[1].startswith("Server: unreachable (cannot connect")


def test_enqueue_without_payload_is_an_error() -> None:
    result = CliRunner().invoke(app, ["--addr", f"127.0.0.1:{unused_port()}", "enqueue", "q"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no payload")


def test_bad_header_is_an_error_not_a_traceback() -> None:
    result = CliRunner().invoke(
        app, ["--addr", f"127.0.0.1:{unused_port()}", "enqueue", "q", "-H", "oops", "x"]
    )
    assert result.exit_code == 1
    assert result.stderr == "Error: invalid header 'oops': expected KEY=VALUE\n"


# ---- confirmation ------------------------------------------------------------------


def _ctx(yes: bool = False) -> typer.Context:
    import typer.main

    ctx = typer.Context(typer.main.get_command(app))
    ctx.obj = common.State(yes=yes)
    return ctx


def test_confirm_skips_when_stdin_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: False)
    common.confirm(_ctx(), "Really?")  # returns without asking


def test_confirm_asks_on_a_terminal_and_aborts_on_no(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(typer, "confirm", lambda *a, **k: False)
    with pytest.raises(typer.Exit) as exc:
        common.confirm(_ctx(), "Really?")
    assert exc.value.exit_code == 1


def test_confirm_yes_skips_the_question(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_stdin_is_terminal", lambda: True)

    def never(*a: object, **k: object) -> bool:
        raise AssertionError("asked despite --yes")

    monkeypatch.setattr(typer, "confirm", never)
    common.confirm(_ctx(yes=True), "Really?")
    common.confirm(_ctx(), "Really?", yes=True)


def test_help_lists_every_noun() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("queue", "config", "redrive", "enqueue", "consume", "peek", "hook", "version"):
        assert name in result.stdout
