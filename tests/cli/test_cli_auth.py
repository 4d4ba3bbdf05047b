"""`fila` against a broker with mTLS and API keys on: --tls-*, --api-key / FILA_API_KEY,
`fila auth key ...` and `fila auth acl ...`, the fast enqueue path, `fila demo`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from cli_support import run_fila
from e2e.certs import Pki
from e2e.helpers import wait_for
from e2e.server_process import ServerProcess

from fila.client import Client
from fila.errors import FilaError

pytestmark = pytest.mark.timeout(180)

BOOT = "cli-boot-key"


@pytest.fixture()
def secure(make_server: Callable[..., ServerProcess], pki: Pki
           ) -> Callable[..., subprocess.CompletedProcess[str]]:
    server = make_server(
        {"tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                 "ca_file": str(pki.ca)},
         "auth": {"bootstrap_apikey": BOOT}},
        ready_tls=(pki.ca.read_bytes(), pki.client_cert.read_bytes(),
                   pki.client_key.read_bytes()))
    tls = ["--tls-ca", str(pki.ca), "--tls-cert", str(pki.client_cert),
           "--tls-key", str(pki.client_key)]

    def run(*args: str, key: str | None = BOOT, env: dict[str, str] | None = None,
            with_tls: bool = True) -> subprocess.CompletedProcess[str]:
        auth = ["--api-key", key] if key is not None else []
        return run_fila(["--addr", server.addr, *(tls if with_tls else []), *auth, *args],
                        env={"FILA_API_KEY": "", **(env or {})})

    return run


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_keys_and_acls_from_the_cli(secure: Callable[..., Any]) -> None:
    assert ok(secure("queue", "create", "orders.eu")) == 'Created queue "orders.eu"\n'
    created = json.loads(ok(secure("auth", "key", "create", "shipper", "--json")))
    key_id, key = created["key_id"], created["key"]
    assert ok(secure("auth", "key", "list")).count("shipper") == 1
    assert key not in ok(secure("auth", "key", "list", "--json"))

    out = ok(secure("auth", "acl", "set", key_id, "produce:orders.*", "consume:orders.eu"))
    assert out == f'Set ACL of "{key_id}": produce:orders.*, consume:orders.eu\n'
    acl = ok(secure("auth", "acl", "get", key_id))
    assert "produce" in acl and "orders.*" in acl

    # The key works through the env var, on the fast path (enqueue) and through Typer.
    env = {"FILA_API_KEY": key}
    assert ok(secure("enqueue", "orders.eu", "hello", key=None, env=env)).strip()
    denied = secure("queue", "delete", "orders.eu", "--yes", key=None, env=env)
    assert denied.returncode == 1
    assert denied.stderr.startswith("Error: API key lacks \"admin\" permission")

    bad = secure("auth", "acl", "set", key_id, "write:orders")
    assert bad.returncode == 1 and "invalid permission 'write:orders'" in bad.stderr

    assert ok(secure("auth", "key", "revoke", key_id)) == f'Revoked API key "{key_id}"\n'
    gone = secure("enqueue", "orders.eu", "again", key=key)
    assert gone.returncode == 1
    assert gone.stderr == "Error: invalid API key (pass --api-key or set FILA_API_KEY)\n"


def test_missing_key_and_missing_client_cert_are_one_line(secure: Callable[..., Any],
                                                          pki: Pki) -> None:
    no_key = secure("queue", "list", key=None)
    assert no_key.returncode == 1
    assert no_key.stderr.startswith("Error: missing API key")
    no_tls = secure("queue", "list", with_tls=False)
    assert no_tls.returncode == 1 and no_tls.stderr.count("\n") == 1
    unreadable = secure("queue", "list", "--tls-ca", "/nonexistent/ca.pem", with_tls=False)
    assert unreadable.returncode == 1
    assert unreadable.stderr == ("Error: cannot read --tls-ca /nonexistent/ca.pem: "
                                 "No such file or directory\n")


def test_demo_runs_against_a_broker_with_tls_and_auth(
        make_server: Callable[..., ServerProcess], pki: Pki) -> None:
    server = make_server(
        {"tls": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)},
         "auth": {"bootstrap_apikey": BOOT}}, ready_tls=(pki.ca.read_bytes(), None, None))
    fila = shutil.which("fila")
    cmd = [fila] if fila else [sys.executable, "-m", "fila.cli.main"]
    proc = subprocess.Popen([*cmd, "--addr", server.addr, "--tls-ca", str(pki.ca), "demo"],
                            env={**os.environ, "FILA_API_KEY": BOOT}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        with Client(server.addr, ca_cert=pki.ca.read_bytes(), api_key=BOOT) as c:
            def delivering() -> bool:
                try:
                    snap = c.get_stats("demo").snapshot
                except FilaError:
                    return False  # the demo has not created its queue yet
                return snap is not None and snap.delivered_total > 20

            wait_for(delivering, timeout=60, what="the demo delivering over TLS with a key")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Demo stopped." in out
