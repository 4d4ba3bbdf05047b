"""CLI start-up: what a command imports, and the fast path agreeing with Typer.

Structural, not timing: the timing is benchmarks/cli_startup.py (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from cli_support import ProcFn, run_fila

from fila.cli import fast

# Modules a command must not load unless it uses them.
HEAVY = ("textual", "typer", "rich", "pydantic", "fila.v1.admin_pb2", "grpc")

_PROBE = """
import json, os, sys
sys.argv = ["fila", *(json.loads(os.environ["PROBE_ARGS"]) or [])]
if os.environ["PROBE_ARGS"] == "null":
    import fila.cli.main
else:
    from fila.cli.main import main
    try:
        main()
    except SystemExit:
        pass
heavy = json.loads(os.environ["PROBE_HEAVY"])
loaded = sorted(m for m in heavy if m in sys.modules)
sys.stderr.write("LOADED=" + json.dumps(loaded) + "\\n")
"""


def loaded_by(args: list[str] | None, addr: str = "") -> list[str]:
    """Which of HEAVY a `fila ARGS` process had imported when it finished."""
    env = {**os.environ, "PROBE_ARGS": json.dumps(args), "PROBE_HEAVY": json.dumps(HEAVY)}
    env.pop("FILA_ADDR", None)
    if addr:
        env["FILA_ADDR"] = addr
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          env=env, timeout=60, stdin=subprocess.DEVNULL)
    line = next(x for x in proc.stderr.splitlines() if x.startswith("LOADED="))
    return list(json.loads(line.removeprefix("LOADED=")))


def test_importing_the_entry_point_loads_nothing_heavy() -> None:
    # not even grpc: `fila --help` and usage errors do not need it
    assert loaded_by(None) == []


def test_enqueue_and_version_load_neither_typer_nor_rich_nor_textual(fila_server: Any) -> None:
    run_fila(["--addr", fila_server.url, "queue", "create", "q"])
    # enqueue uses only the service stubs; version asks the admin service for the version
    assert loaded_by(["enqueue", "q", "hello", "-H", "k=v"], fila_server.url) == ["grpc"]
    assert loaded_by(["version"], fila_server.url) == ["fila.v1.admin_pb2", "grpc"]


def test_a_piped_admin_command_loads_typer_but_not_rich_or_textual(fila_server: Any) -> None:
    # Piped output is plain text: Rich is for terminals (tables, colour) and help.
    assert loaded_by(["queue", "list"], fila_server.url) == ["fila.v1.admin_pb2", "grpc", "typer"]


@pytest.mark.parametrize("argv", [
    ["enqueue", "q", "x"],
    ["--addr", "h:1", "--json", "enqueue", "q", "-", "-H", "a=b", "--header=c=d", "--delay", "5"],
    ["enqueue", "q", "x", "--addr=h:1"],
    ["version"],
    ["version", "--json", "--addr", "h:1"],
])
def test_fast_path_takes_the_plain_shapes(argv: list[str]) -> None:
    assert fast.parse(argv) is not None


@pytest.mark.parametrize("argv", [
    [], ["--help"], ["enqueue", "--help"], ["version", "--help"],
    ["enqueue", "q"],  # no payload: Typer words the error
    ["enqueue", "q", "x", "y"],
    ["enqueue", "q", "--file", "f"],
    ["enqueue", "q", "x", "--delay", "-1"],
    ["enqueue", "q", "x", "--delay"],
    ["enqueue", "q", "x", "--bogus"],
    ["enqueue", "q", "--", "-x"],
    ["version", "extra"],
    ["queue", "list"],
    ["--addr"],
])
def test_anything_else_goes_to_typer(argv: list[str]) -> None:
    assert fast.parse(argv) is None


def _both_ways(
    args: list[str], url: str, input: bytes = b""
) -> list[subprocess.CompletedProcess[str]]:
    return [run_fila(["--addr", url, *args], input=input, env=env)
            for env in ({}, {"FILA_NO_FAST_PATH": "1"})]


def test_fast_path_and_typer_do_the_same(fila_server: Any, fila: ProcFn) -> None:
    fila("queue", "create", "q")
    for result in _both_ways(["enqueue", "q", "-", "-H", "tenant=acme", "--delay", "60000",
                              "--json"], fila_server.url, input=b"body"):
        assert result.returncode == 0, result.stderr
        assert set(json.loads(result.stdout)) == {"id", "queue"}
    listed = json.loads(fila("peek", "q", "--json").stdout)
    assert [(m["headers"], m["payload"], m["state"]) for m in listed] == [
        ({"tenant": "acme"}, "body", "delayed")
    ] * 2
    version = [r.stdout for r in _both_ways(["version"], fila_server.url)]
    assert version[0] == version[1] != ""
    missing = _both_ways(["enqueue", "nope", "x"], fila_server.url)
    assert [(r.returncode, r.stderr) for r in missing] == [
        (1, 'Error: queue "nope" does not exist\n')
    ] * 2
