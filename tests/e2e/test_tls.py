"""TLS and mutual TLS on a real fila-server, with certificates made in the test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from e2e.certs import Pki, new_ca_and_server
from e2e.server_process import ServerProcess
from fila.client import Client
from fila.errors import UnavailableError

pytestmark = pytest.mark.timeout(120)


def tls_server(make_server: Callable[..., ServerProcess], pki: Pki, *, mutual: bool = False,
               cert: Path | None = None, key: Path | None = None) -> ServerProcess:
    section: dict[str, Any] = {"cert_file": str(cert or pki.server_cert),
                               "key_file": str(key or pki.server_key)}
    if mutual:
        section["ca_file"] = str(pki.ca)
    client = (pki.client_cert.read_bytes(), pki.client_key.read_bytes()) if mutual else (None,
                                                                                           None)
    return make_server({"tls": section}, ready_tls=(pki.ca.read_bytes(), *client))


def test_tls_client_with_the_ca_connects_and_plaintext_is_refused(
        make_server: Callable[..., ServerProcess], pki: Pki) -> None:
    server = tls_server(make_server, pki)
    with Client(server.addr, ca_cert=pki.ca.read_bytes()) as c:
        c.create_queue("tls-q")
        mid = c.enqueue("tls-q", {}, b"secret")
        stream = c.consume("tls-q")
        assert next(stream).id == mid
    with Client(server.addr, timeout=3) as plain, pytest.raises(UnavailableError):
        plain.list_queues()
    # A client that does not trust the server's CA is refused too.
    with Client(server.addr, ca_cert=pki.other_ca.read_bytes(), timeout=3) as wrong, \
            pytest.raises(UnavailableError):
        wrong.list_queues()
    assert "(TLS, auth off" in server.log()


def test_mtls_needs_a_client_certificate_from_the_ca(make_server: Callable[..., ServerProcess],
                                                     pki: Pki) -> None:
    server = tls_server(make_server, pki, mutual=True)
    ca = pki.ca.read_bytes()
    with Client(server.addr, ca_cert=ca, client_cert=pki.client_cert.read_bytes(),
                client_key=pki.client_key.read_bytes()) as c:
        assert c.list_queues() == []
    with Client(server.addr, ca_cert=ca, timeout=3) as anonymous, \
            pytest.raises(UnavailableError):
        anonymous.list_queues()
    with Client(server.addr, ca_cert=ca, client_cert=pki.other_client_cert.read_bytes(),
                client_key=pki.other_client_key.read_bytes(), timeout=3) as intruder, \
            pytest.raises(UnavailableError):
        intruder.list_queues()
    assert "(mTLS" in server.log()


def _connects(addr: str, ca: bytes) -> bool:
    try:
        with Client(addr, ca_cert=ca, timeout=3) as c:
            c.list_queues()
        return True
    except UnavailableError:
        return False


def test_sighup_rereads_the_certificate_files(make_server: Callable[..., ServerProcess],
                                              pki: Pki, tmp_path: Path) -> None:
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.pem", live / "server-key.pem"
    shutil.copy(pki.server_cert, cert)
    shutil.copy(pki.server_key, key)
    server = tls_server(make_server, pki, cert=cert, key=key)
    old_ca = pki.ca.read_bytes()
    assert _connects(server.addr, old_ca)

    new_ca, new_cert, new_key = new_ca_and_server(tmp_path / "rotated")
    assert not _connects(server.addr, new_ca.read_bytes())
    # A half-done rotation (new cert, old key) is refused at reload; the old cert stays.
    shutil.copy(new_cert, cert)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while "TLS reload failed" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)  # waiting for the server's log line, bounded by the deadline
    assert _connects(server.addr, old_ca)

    shutil.copy(new_key, key)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while not _connects(server.addr, new_ca.read_bytes()):
        assert time.monotonic() < deadline, server.log()
    assert server.proc.poll() is None
    assert not _connects(server.addr, old_ca)


def _start_failure(tmp_path: Path, toml: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "fila.toml").write_text(toml)
    return subprocess.run([sys.executable, "-m", "fila.server.main"], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "FILA_DATA_DIR": str(tmp_path / "db")},
                          capture_output=True, text=True, timeout=60)


def test_a_missing_certificate_is_one_line_and_exit_1(tmp_path: Path, pki: Pki) -> None:
    proc = _start_failure(tmp_path, f'[server]\nlisten_addr = "127.0.0.1:0"\n[tls]\n'
                                    f'cert_file = "{tmp_path / "nope.pem"}"\n'
                                    f'key_file = "{pki.server_key}"\n')
    assert proc.returncode == 1
    assert proc.stderr == (f"fila-server: cannot start: cannot read [tls] cert_file "
                           f"{tmp_path / 'nope.pem'}: No such file or directory\n")
    assert not (tmp_path / "db").exists()  # refused before storage was touched


def test_a_key_that_does_not_match_is_one_line_and_exit_1(tmp_path: Path, pki: Pki) -> None:
    proc = _start_failure(tmp_path, f'[server]\nlisten_addr = "127.0.0.1:0"\n[tls]\n'
                                    f'cert_file = "{pki.server_cert}"\n'
                                    f'key_file = "{pki.client_key}"\n')
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "are not a PEM certificate and its private key" in proc.stderr
    assert "Traceback" not in proc.stderr
