"""``fila-server --check``: one line and an exit code, for scripts and container health checks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from e2e.certs import Pki
    from e2e.server_process import ServerProcess


def run_check(*args: str, cwd: object = None, env: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FILA_TLS_")}
    return subprocess.run([sys.executable, "-m", "fila.server.main", "--check", *args],
                          capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
                          env={**clean, **(env or {})})


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


def test_check_speaks_tls_when_the_server_does(make_server: Callable[..., ServerProcess],
                                               pki: Pki) -> None:
    server = make_server({"tls": {"cert_file": str(pki.server_cert),
                                  "key_file": str(pki.server_key), "ca_file": str(pki.ca)}},
                         ready_tls=(pki.ca.read_bytes(), pki.client_cert.read_bytes(),
                                    pki.client_key.read_bytes()))
    client = {"FILA_TLS_CA": str(pki.ca), "FILA_TLS_CERT": str(pki.client_cert),
              "FILA_TLS_KEY": str(pki.client_key)}
    # The config in the working directory says TLS is on; the CLI's variables say whom to
    # trust and which client certificate to present (mutual TLS here).
    done = run_check(cwd=server.workdir, env=client)
    assert (done.returncode, done.stdout) == (0, f"{server.addr}: SERVING\n"), done.stderr
    assert run_check(server.addr, env=client).returncode == 0  # FILA_TLS_CA alone says TLS
    refused = run_check(cwd=server.workdir, env={"FILA_TLS_CA": str(pki.ca)})  # no client cert
    assert refused.returncode == 1 and refused.stderr.startswith(f"fila-server: {server.addr}: ")
    assert refused.stderr.count("\n") == 1
