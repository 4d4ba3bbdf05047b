"""What a newcomer's trial run tripped over: option order, address and TLS mistakes,
JSON that stays JSON, `config unset`, and help that reads like help."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import typer.main
from cli_support import ProcFn, run_fila
from typer.testing import CliRunner

from fila.cli.main import app

# ---- global options before or after the command ------------------------------------


def test_global_options_may_follow_the_command(fila_server: Any) -> None:
    url = fila_server.url
    created = run_fila(["queue", "create", "q", "--addr", url])
    assert (created.returncode, created.stdout) == (0, 'Created queue "q"\n')
    listed = run_fila(["queue", "list", f"--addr={url}"])
    assert listed.stdout.splitlines()[1].split() == ["q", "0", "0", "0"]
    # --json given where the command would not otherwise take it, and --yes likewise
    as_json = run_fila(["config", "set", "a.b", "c", "--addr", url, "--json"])
    assert json.loads(as_json.stdout) == {"key": "a.b", "value": "c"}
    deleted = run_fila(["queue", "delete", "q", "--yes", "--addr", url])
    assert deleted.stdout == 'Deleted queue "q"\n'


# ---- a malformed address is a usage error ----------------------------------------------


@pytest.mark.parametrize("args", [["version"], ["queue", "list"], ["enqueue", "q", "x"],
                                  ["tui"], ["demo"]])
def test_malformed_address_is_one_line_and_exit_2(args: list[str]) -> None:
    proc = run_fila(["--addr", "localhost", *args])
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == 'Error: invalid broker address "localhost": expected HOST:PORT\n'


# ---- TLS and plaintext mixed up ----------------------------------------------------------


def test_https_to_a_plaintext_broker_says_so(fila_server: Any) -> None:
    proc = run_fila(["--addr", f"https://{fila_server.addr}", "queue", "list"])
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: cannot connect to broker at https://{fila_server.addr}: the server does not "
        f"speak TLS (use http://{fila_server.addr})\n"
    )
    version = run_fila(["--addr", f"https://{fila_server.addr}", "version"])
    assert "the server does not speak TLS" in version.stdout
    assert "TSI_" not in version.stdout + version.stderr


@pytest.fixture()
def tls_server(tmp_path: Path) -> Iterator[str]:
    """A gRPC server that speaks only TLS (self-signed), serving nothing."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make a certificate")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    creds = grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_plaintext_to_a_tls_port_suggests_https(tls_server: str) -> None:
    proc = run_fila(["--addr", tls_server, "queue", "list"])
    assert proc.returncode == 1
    assert proc.stderr == (
        f"Error: cannot connect to broker at {tls_server}: the server closed the connection "
        f"at once; if it expects TLS, use https://{tls_server}\n"
    )


# ---- --json means JSON alone on stdout ----------------------------------------------------


def test_failing_hook_test_with_json_prints_only_json(fila: ProcFn) -> None:
    proc = fila("hook", "test", "--on-enqueue", "function on_enqueue(msg) error('boom') end",
                "--json")
    assert proc.returncode == 1  # the exit code still says it failed
    assert proc.stderr == ""
    assert "boom" in json.loads(proc.stdout)["error"]


@pytest.mark.parametrize("returned", ["{}", "{ weight = 0 }"])
def test_hook_test_shows_the_weight_a_queue_would_use(fila: ProcFn, returned: str) -> None:
    # the scheduler counts a weight of 0 (or none) as 1; hook test must not say 0
    proc = fila("hook", "test", "--on-enqueue", f"function on_enqueue(msg) return {returned} end")
    assert "  weight:        1\n" in proc.stdout


# ---- config unset -------------------------------------------------------------------------


def test_config_unset_deletes_the_key(fila: ProcFn) -> None:
    fila("config", "set", "throttle.tenant:acme", "10,20")
    proc = fila("config", "unset", "throttle.tenant:acme")
    assert (proc.returncode, proc.stdout) == (0, 'Deleted "throttle.tenant:acme"\n')
    assert fila("config", "get", "throttle.tenant:acme").stdout == (
        "throttle.tenant:acme: (not set)\n"
    )
    assert fila("config", "list").stdout == "No config entries found.\n"


# ---- help ---------------------------------------------------------------------------------


def _every_command() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _every_command(), ids=lambda p: " ".join(p) or "fila")
def test_help_has_no_type_noise(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout  # a flag takes no value
    usage = next(line for line in result.stdout.splitlines() if "Usage:" in line)
    assert not re.search(r"[{}]", usage), usage
