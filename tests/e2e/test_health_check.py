"""``fila-server --check``: one line and an exit code, for scripts and container health checks."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


def run_check(*args: str, cwd: object = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fila.server.main", "--check", *args],
                          capture_output=True, text=True, timeout=60, check=False, cwd=cwd)


def test_check_follows_the_server(make_server: Callable[..., ServerProcess]) -> None:
    server = make_server()
    # No address: the one in ./fila.toml, as a health check inside the container runs it.
    done = run_check(cwd=server.workdir)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{server.addr}: SERVING\n", "")
    assert run_check(server.addr).returncode == 0
    assert server.stop() == 0
    done = run_check(server.addr)
    assert done.returncode == 1
    assert done.stderr == (f"fila-server: {server.addr}: nothing answering (down, or not "
                           "listening yet)\n")


def test_check_refuses_a_bad_address_in_one_line() -> None:
    done = run_check("nonsense")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == ("fila-server: cannot check 'nonsense': need HOST:PORT with a port "
                           "1..65535\n")
