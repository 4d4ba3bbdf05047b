"""A real ``fila-server`` child process, started the way SDK harnesses do.

No arguments, ``fila.toml`` in a temporary working directory, ``FILA_DATA_DIR``
set; ready when ``ListQueues`` answers. Importable as ``e2e.server_process`` (the
root conftest's fixtures, scripts and module-scoped test servers share it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import grpc

from fila.cluster.harness import free_port
from fila.v1 import admin_pb2, admin_pb2_grpc

SERVER_BIN = shutil.which("fila-server") or ""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class ServerProcess:
    """A fila-server child process on a fixed port and data dir (restartable).

    With TLS configured, pass ``ready_tls`` = (ca, client cert, client key) PEM bytes (the
    client pair may be None) so the readiness probe can connect. With auth on, the probe's
    UNAUTHENTICATED answer counts as ready: the server answered.
    """

    def __init__(self, workdir: Path, sections: dict[str, dict[str, Any]] | None = None,
                 env: dict[str, str] | None = None,
                 ready_tls: tuple[bytes, bytes | None, bytes | None] | None = None) -> None:
        self.ready_tls = ready_tls
        self.workdir = workdir
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.addr}"
        self.data_dir = workdir / "db"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_path = workdir / "server.log"
        self._extra_env = env or {}
        body = {"server": {"listen_addr": self.addr}}
        for name, values in (sections or {}).items():
            body.setdefault(name, {}).update(values)
        lines: list[str] = []
        for name, values in body.items():
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in values.items())
        (workdir / "fila.toml").write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 15.0) -> ServerProcess:
        env = {**os.environ, "FILA_DATA_DIR": str(self.data_dir), **self._extra_env}
        cmd = [SERVER_BIN] if SERVER_BIN else [sys.executable, "-m", "fila.server.main"]
        log = self._log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fila-server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with self._probe_channel() as channel:
                    admin_pb2_grpc.FilaAdminStub(channel).ListQueues(
                        admin_pb2.ListQueuesRequest(), timeout=1)
                return self
            except grpc.RpcError as exc:
                if exc.code() in (grpc.StatusCode.UNAUTHENTICATED,
                                  grpc.StatusCode.PERMISSION_DENIED):
                    return self
                time.sleep(0.05)  # polling for readiness, bounded by the deadline
        self.kill()
        raise RuntimeError(f"fila-server not ready within {timeout}s:\n{self.log()}")

    def _probe_channel(self) -> grpc.Channel:
        if self.ready_tls is None:
            return grpc.insecure_channel(self.addr)
        ca, cert, key = self.ready_tls
        creds = grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                             certificate_chain=cert)
        return grpc.secure_channel(self.addr, creds)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        return self._log_path.read_text(errors="replace") if self._log_path.exists() else ""
