"""What every benchmark shares: the server process, free ports, the machine/commit header.

Benchmarks run as scripts (``python benchmarks/core.py``), so this directory is on
``sys.path`` and ``import _harness`` works; importing it also puts the repository root on
``sys.path``, so a checkout runs its own ``fila`` even where another one is installed.
No pytest here: tests have their own wrapper (``tests/e2e/server_process.py``).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fila.cluster.harness import free_port  # noqa: E402  (needs ROOT on sys.path)

# grpc and fila.v1 are imported where used: benchmarks of the pure core (dequeue_cost.py,
# memory.py's children measuring RSS) must not load them.

__all__ = [
    "ROOT",
    "FilaServer",
    "commit",
    "cpu_model",
    "cpu_seconds",
    "free_port",
    "git",
    "header",
    "loadavg",
    "rss_bytes",
    "server_command",
    "wait_ready",
]


# ---- processes -----------------------------------------------------------------------------


def server_command() -> list[str]:
    """``fila-server`` from PATH or next to this Python, else ``python -m fila.server.main``."""
    exe = shutil.which("fila-server") or str(Path(sys.executable).with_name("fila-server"))
    return [exe] if Path(exe).exists() else [sys.executable, "-m", "fila.server.main"]


def cpu_seconds(pid: int) -> float:
    """user + system CPU of a process so far (/proc/<pid>/stat utime, stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int | str = "self") -> int:
    """Resident set size of a process (default: this one), from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_ready(addr: str, proc: subprocess.Popen[bytes], probe: Callable[[Any], object],
               timeout: float) -> bool:
    """Poll ``probe(channel)`` until it answers; False if ``proc`` exits or time runs out."""
    import grpc

    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with grpc.insecure_channel(addr) as channel:
                probe(channel)
            return True
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                return True  # auth on: the server answered
            time.sleep(0.005)  # readiness polling, bounded by the deadline
    return False


def _list_queues(channel: Any) -> object:
    from fila.v1 import admin_pb2, admin_pb2_grpc

    return admin_pb2_grpc.FilaAdminStub(channel).ListQueues(admin_pb2.ListQueuesRequest(),
                                                            timeout=1)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


class FilaServer:
    """A real ``fila-server``, started the way SDK harnesses start it: no arguments,
    ``fila.toml`` (``listen_addr`` on a free port, plus ``sections``) in ``workdir`` as its
    cwd, ``FILA_DATA_DIR`` = ``workdir/db``. Ready when ListQueues answers. Restartable on
    the same data directory.

    ``alias``: run the binary through a symlink of that name in ``workdir``, so a
    ``pkill -f fila-server`` meant for someone else's servers does not end a long run.
    """

    def __init__(self, workdir: Path, sections: dict[str, dict[str, object]] | None = None,
                 *, alias: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.data_dir = workdir / "db"
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._alias = alias
        body: dict[str, dict[str, object]] = {"server": {"listen_addr": self.addr}}
        for name, values in (sections or {}).items():
            body.setdefault(name, {}).update(values)
        lines: list[str] = []
        for name, values in body.items():
            lines.append(f"[{name}]")
            lines.extend(f"{k} = {_toml(v)}" for k, v in values.items())
        (workdir / "fila.toml").write_text("\n".join(lines) + "\n")

    def _command(self) -> list[str]:
        cmd = server_command()
        if self._alias and Path(cmd[0]).name == "fila-server":
            alias = self.workdir / self._alias
            if not alias.exists():
                alias.symlink_to(cmd[0])
            return [str(alias)]
        return cmd

    def start(self, timeout: float = 60.0) -> float:
        """Start and wait until ListQueues answers; returns seconds from spawn to ready."""
        env = {**os.environ, "FILA_DATA_DIR": str(self.data_dir)}
        with self.log_path.open("ab") as log:
            t0 = time.perf_counter()
            self.proc = subprocess.Popen(self._command(), cwd=self.workdir, env=env,
                                         stdout=log, stderr=log)
        if wait_ready(self.addr, self.proc, _list_queues, timeout):
            return time.perf_counter() - t0
        code = self.proc.poll()
        self.kill()
        why = f"exited with {code}" if code is not None else f"not ready within {timeout}s"
        raise RuntimeError(f"fila-server {why}:\n{self.log()[-4000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); the exit code, None if never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log(self) -> str:
        """Everything the server wrote to stdout and stderr."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_bytes(self) -> int:
        return rss_bytes(self.pid)

    def open_fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


# ---- the header every benchmark prints -----------------------------------------------------


def git(*args: str) -> str:
    """``git <args>`` in the repository; "" when git is missing or fails."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, cwd=ROOT,
                             check=False)
        return out.stdout.strip() if out.returncode == 0 else ""
    except OSError:
        return ""


def commit() -> str:
    """Short hash of HEAD, "unknown" outside a git checkout."""
    return git("rev-parse", "--short", "HEAD") or "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def loadavg() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg shows them."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def header() -> str:
    """One line: machine, CPU, cores, Python, commit (and whether fila/ has uncommitted
    changes), load average. Every benchmark prints it first."""
    dirty = " (fila/ has uncommitted changes)" if git("status", "--porcelain", "--", "fila") else ""
    return (f"machine: {platform.node()}, {cpu_model()}, {os.cpu_count()} cores, "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}; "
            f"commit {commit()}{dirty}; load average {loadavg()}")
