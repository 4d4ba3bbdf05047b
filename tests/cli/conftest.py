"""Fixtures to drive the `fila` CLI against a real server: in-process and as a subprocess."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from cli_support import CliFn, ProcFn, run_fila
from typer.testing import CliRunner, Result

from fila.cli.main import app


@pytest.fixture()
def cli(fila_server: Any) -> CliFn:
    """Run the CLI in-process against the test server: ``cli("queue", "list")``."""
    runner = CliRunner()
    url: str = fila_server.url

    def invoke(*args: str, input: str | bytes | None = None) -> Result:
        return runner.invoke(app, ["--addr", url, *args], input=input, env={"FILA_ADDR": None})

    return invoke


@pytest.fixture()
def fila(fila_server: Any) -> ProcFn:
    """Run `fila --addr <server> ...` as a subprocess against the test server."""
    url: str = fila_server.url

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        return run_fila(["--addr", url, *args], input=input)

    return run
