"""Local ``fila-server`` nodes in cluster mode, on loopback, for tests, the checker and
development.

A :class:`FilaNode` is one ``fila-server`` process with its own directory (its
``fila.toml``, RocksDB data directory and log file) and its own port, so it can be stopped,
killed, paused and started again as the same node. A :class:`FilaCluster` starts N of them
against a :class:`~fila.cluster.harness.NatsCluster`, each pointed at every NATS node.

Readiness is what ``fila-server --check`` asks: gRPC health answering SERVING, polled with a
deadline (the server listens only once recovery is done). Processes are stopped by PID.

Like harness.py, this module imports neither asyncio nor nats-py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fila.cluster.harness import ClusterError, NatsCluster, free_port, wait_until
from fila.server.healthcheck import check

__all__ = ["FilaCluster", "FilaNode", "fila_server_command"]

_ENV_BINARY = "FILA_SERVER_BIN"
# Settings the environment would override over the node's own fila.toml: a node must use
# its own directory and port whatever the caller's shell has set.
_OVERRIDING_ENV = ("FILA_LISTEN_ADDR", "FILA_DATA_DIR", "FILA_BOOTSTRAP_APIKEY")


def fila_server_command() -> list[str]:
    """How to run ``fila-server``: ``$FILA_SERVER_BIN``, else the script installed next to
    this interpreter, else the one on PATH, else ``python -m fila.server.main``."""
    explicit = os.environ.get(_ENV_BINARY)
    if explicit:
        return [explicit]
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "fila-server",
        Path(sys.executable).parent / "fila-server",
    ):
        if os.access(candidate, os.X_OK):
            return [str(candidate)]
    found = shutil.which("fila-server")
    return [found] if found else [sys.executable, "-m", "fila.server.main"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_toml(sections: Mapping[str, Mapping[str, Any]]) -> str:
    """A fila.toml of flat sections (all the server's settings are one level deep)."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
        lines.append("")
    return "\n".join(lines)


class FilaNode:
    """One ``fila-server`` process in cluster mode, on a fixed port and directory."""

    def __init__(
        self,
        node_id: str,
        workdir: Path,
        nats_urls: list[str],
        *,
        lease_ttl_ms: int = 2000,
        replicas: int = 3,
        extra_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.node_id = node_id
        self.workdir = workdir
        self.port = free_port()
        self.data_dir = workdir / "data"
        self.config_path = workdir / "fila.toml"
        self.log_path = workdir / "fila.log"
        self.proc: subprocess.Popen[bytes] | None = None
        sections: dict[str, dict[str, Any]] = {
            "server": {"listen_addr": self.addr, "data_dir": str(self.data_dir)},
            "cluster": {
                "nats_urls": list(nats_urls),
                "node_id": node_id,
                "advertise_addr": self.addr,
                "lease_ttl_ms": lease_ttl_ms,
                "replicas": replicas,
            },
        }
        for name, values in (extra_config or {}).items():
            sections.setdefault(name, {}).update(values)
        self.config = sections
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(render_toml(sections))

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def spawn(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        if self.running():
            raise ClusterError(f"{self.node_id} is already running")
        env = {k: v for k, v in os.environ.items() if k not in _OVERRIDING_ENV}
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [*fila_server_command(), "--config", str(self.config_path)],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()

    def start(self, timeout: float = 30.0) -> FilaNode:
        """Start the process and wait until it answers health SERVING."""
        self.spawn()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        return self

    def serving(self) -> bool:
        """gRPC health answers SERVING (what ``fila-server --check`` asks)."""
        return self.running() and check(self.addr, timeout=1.0)[0]

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if not self.running():
                raise ClusterError(
                    f"fila-server {self.node_id} exited with {self._returncode()}:\n"
                    f"{self.log()[-2000:]}"
                )
            return self.serving()

        try:
            wait_until(ready, timeout=timeout, interval=0.1,
                       what=f"fila-server {self.node_id} at {self.addr} to serve")
        except ClusterError as exc:
            if self.running():
                raise ClusterError(f"{exc}\n{self.log()[-2000:]}") from None
            raise

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise ClusterError(f"fila-server {self.node_id} is not running")
        os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (resuming it first if paused) and wait; SIGKILL if it outlives
        ``timeout``. Returns the exit code."""
        if not self.running():
            return self._returncode()
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGTERM)
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int:
        """SIGKILL (``kill -9``) and reap: the node's loss with whatever it had not written."""
        if self.running():
            self._signal(signal.SIGKILL)
        if self.proc is None:
            return 0
        return self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a hang, a long GC)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def restart(self, timeout: float = 30.0) -> FilaNode:
        """Stop it if it runs, then start it again on the same directory and port."""
        self.stop()
        return self.start(timeout)

    def _returncode(self) -> int:
        if self.proc is None:
            return 0
        code = self.proc.poll()
        return 0 if code is None else code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class FilaCluster:
    """``nodes`` fila-server processes (ids n1..nN) in cluster mode on ``nats``.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``workdir`` defaults
    to a fresh temporary directory, removed by :meth:`stop` when this object made it; each
    node's files are under ``workdir/<node id>``. ``extra_config`` adds to (or overrides)
    every node's fila.toml sections, e.g. ``{"server": {"default_prefetch": 10}}``.
    """

    def __init__(
        self,
        nats: NatsCluster,
        nodes: int = 3,
        workdir: Path | None = None,
        *,
        lease_ttl_ms: int = 2000,
        extra_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.nats = nats
        self._own_dir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="fila-nodes-")) if workdir is None else workdir
        # Each queue's log is replicated on three NATS nodes when there are three to hold it.
        replicas = 3 if len(nats.nodes) >= 3 else 1
        self.nodes = [
            FilaNode(
                f"n{i + 1}",
                self.workdir / f"n{i + 1}",
                nats.urls,
                lease_ttl_ms=lease_ttl_ms,
                replicas=replicas,
                extra_config=extra_config,
            )
            for i in range(nodes)
        ]

    @property
    def addrs(self) -> list[str]:
        return [node.addr for node in self.nodes]

    def start(self, timeout: float = 60.0) -> FilaCluster:
        """Start every node, then wait until all of them serve."""
        try:
            for node in self.nodes:
                # Started together, so they come up (and join) side by side, not one by one.
                node.spawn()
            for node in self.nodes:
                node.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def node(self, node_id: str) -> FilaNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def by_addr(self, addr: str) -> FilaNode:
        for node in self.nodes:
            if node.addr == addr:
                return node
        raise KeyError(addr)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(ClusterError, OSError):
                node.stop()
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> FilaCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __iter__(self) -> Iterator[FilaNode]:
        return iter(self.nodes)
