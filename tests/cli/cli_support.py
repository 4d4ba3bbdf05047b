"""Run the `fila` CLI as a real process (the installed script, else the module)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from typer.testing import Result

FILA_BIN = Path(sys.executable).parent / "fila"


def fila_cmd() -> list[str]:
    """The installed `fila` script, or the module when the package is not installed."""
    if FILA_BIN.exists():
        return [str(FILA_BIN)]
    return [sys.executable, "-m", "fila.cli.main"]


def run_fila(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> subprocess.CompletedProcess[str]:
    """Run `fila ARGS...` as a real process (stdin not a TTY, stdout piped)."""
    full_env = {**os.environ, "FILA_ADDR": "", **(env or {})}
    if not full_env["FILA_ADDR"]:
        del full_env["FILA_ADDR"]
    proc = subprocess.run(
        [*fila_cmd(), *args],
        input=input if input is not None else b"",
        capture_output=True,
        env=full_env,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        proc.args,
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


# Fixture types: ``cli(*args, input=...)`` runs in-process, ``fila(*args, input=...)`` a process.
CliFn = Callable[..., Result]
ProcFn = Callable[..., "subprocess.CompletedProcess[str]"]
