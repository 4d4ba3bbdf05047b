"""Disk full (docs/security.md, "Storage faults") against the real fila-server on a 16 MiB tmpfs.

Fill the data directory (a filler file, then enqueues) until writes fail: every
enqueue after the first failure is refused with "storage full" (never OK),
gRPC health turns NOT_SERVING, the process stays up and idle (no retry spin).
Delete the filler: without a restart health turns SERVING again, the consumer
that could not be leased to gets every acknowledged message, and writes work.
After a restart nothing acknowledged is missing either (lost = 0).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e.helpers import Stream, Stubs, wait_for
from fila.v1 import admin_pb2, service_pb2

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess

DISK = "16m"
LEFT_FOR_ENQUEUES = 4 << 20  # what the filler leaves free
PAYLOAD_BYTES = 4096
SERVICES = ("", "fila.v1.FilaService", "fila.v1.FilaAdmin")


@pytest.fixture()
def small_disk(make_server: Callable[..., ServerProcess]) -> Iterator[ServerProcess]:
    """A server (not started) whose data directory is a fresh 16 MiB tmpfs."""
    if sys.platform != "linux" or shutil.which("mount") is None:
        pytest.skip("needs Linux mount(8) to put the data directory on a small tmpfs")
    # The consumer asks for every message at once (over the default cap of 1000).
    server = make_server({"server": {"max_prefetch": 100_000}}, start=False)
    server.data_dir.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK}", "tmpfs",
                           str(server.data_dir)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield server
    finally:
        server.kill()  # the mount is busy while the process lives
        subprocess.run(["umount", str(server.data_dir)], check=False)


def run_check(addr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fila.server.main", "--check", addr],
                          capture_output=True, text=True, timeout=60, check=False)


def health_of(addr: str) -> dict[str, int]:
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return {name: stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
                for name in SERVICES}


def all_status(addr: str, status: int) -> bool:
    return all(s == status for s in health_of(addr).values())


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_disk_full_degrades_then_recovers_without_restart(small_disk: ServerProcess) -> None:
    server = small_disk.start()
    assert server.proc is not None
    stubs = Stubs(server.addr)
    stubs.create("q")
    assert all_status(server.addr, health_pb2.HealthCheckResponse.SERVING)

    acked = [stubs.enqueue("q", os.urandom(PAYLOAD_BYTES)) for _ in range(20)]
    free = shutil.disk_usage(server.data_dir).free
    filler = server.data_dir / "filler"
    with filler.open("wb") as f:
        f.write(os.urandom(free - LEFT_FOR_ENQUEUES))

    # Enqueue until the disk is full; after the first failure nothing answers OK.
    first_error: grpc.RpcError | None = None
    refused: list[grpc.RpcError] = []
    ok_after_error = 0
    for _ in range(10_000):
        try:
            msg_id = stubs.enqueue("q", os.urandom(PAYLOAD_BYTES))
        except grpc.RpcError as exc:
            first_error = first_error or exc
            refused.append(exc)
            if len(refused) >= 20:
                break
            continue
        if first_error is not None:
            ok_after_error += 1
        acked.append(msg_id)
    assert first_error is not None, "the disk never filled"
    assert ok_after_error == 0
    for exc in refused:
        assert exc.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE)
        assert exc.details().startswith("storage full: "), exc.details()
        assert "No space left on device" in exc.details()

    wait_for(lambda: all_status(server.addr, health_pb2.HealthCheckResponse.NOT_SERVING),
             what="health NOT_SERVING for every service")
    info = stubs.admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10)
    assert info.storage_error.startswith("storage full: "), info.storage_error
    check = run_check(server.addr)  # what a container health check sees
    assert (check.returncode, check.stderr) == (1, f"fila-server: {server.addr}: NOT_SERVING\n")
    # A consumer arrives: its lease writes fail, and must not be retried in a loop.
    stream = Stream(stubs, "q", prefetch=len(acked) + 100)
    window_start = cpu_seconds(server.proc.pid)
    assert stream.nothing_within(2.0)  # the 2 s CPU window; nothing is sent unleased
    cpu = cpu_seconds(server.proc.pid) - window_start
    assert server.proc.poll() is None, server.log()
    assert cpu < 0.5, f"server used {cpu:.2f} s CPU in 2 s while degraded (a retry spin?)"
    log = server.log()
    assert log.count("storage degraded:") == 1, log[-4000:]
    assert "lease write failed" not in log  # no line per failure

    filler.unlink()  # space returns: no restart
    freed_at = time.monotonic()
    wait_for(lambda: all_status(server.addr, health_pb2.HealthCheckResponse.SERVING),
             timeout=30, what="health SERVING again")
    recovered_in = time.monotonic() - freed_at
    assert run_check(server.addr).returncode == 0
    got = {m.id for m in stream.take(len(acked), timeout=30)}
    assert got == set(acked)
    late = stubs.enqueue("q", b"after the episode")
    info = stubs.admin.GetServerInfo(admin_pb2.GetServerInfoRequest(), timeout=10)
    assert info.storage_error == ""
    stream.cancel()

    log = server.log()
    assert log.count("storage recovered after") == 1, log[-4000:]
    line = re.search(r"storage recovered after ([\d.]+) s \((\d+) failed write", log)
    assert line is not None
    degraded_s, failed = float(line.group(1)), int(line.group(2))
    print(f"\ndegraded {degraded_s:.1f} s, {failed} failed write(s) "
          f"({failed / max(degraded_s, 0.1):.1f}/s), health SERVING {recovered_in:.2f} s "
          f"after the filler was deleted, server CPU {cpu:.2f} s in the 2 s window")

    # And after a restart: lost = 0, nothing unexpected.
    assert server.stop() == 0, server.log()
    server.start()
    stubs.close()
    stubs = Stubs(server.addr)
    stream = Stream(stubs, "q", prefetch=len(acked) + 100)
    expected = {*acked, late}
    received = {m.id for m in stream.take(len(expected), timeout=60)}
    lost = expected - received
    assert not lost, f"lost {len(lost)} acknowledged enqueue(s)"
    for msg_id in received:
        stubs.svc.Ack(service_pb2.AckRequest(queue="q", message_id=msg_id), timeout=10)
    stream.cancel()
    stubs.close()


def test_stop_while_full_then_restart_with_space_loses_nothing(small_disk: ServerProcess
                                                               ) -> None:
    server = small_disk.start()
    stubs = Stubs(server.addr)
    stubs.create("q")
    free = shutil.disk_usage(server.data_dir).free
    filler = server.data_dir / "filler"
    with filler.open("wb") as f:
        f.write(os.urandom(free - LEFT_FOR_ENQUEUES))
    acked: list[str] = []
    refused = 0
    while refused < 5:
        try:
            acked.append(stubs.enqueue("q", os.urandom(PAYLOAD_BYTES)))
        except grpc.RpcError as exc:
            assert exc.details().startswith("storage full: "), exc.details()
            refused += 1
        assert len(acked) < 10_000, "the disk never filled"
    stubs.close()
    # SIGTERM while degraded: an orderly exit even though RocksDB cannot flush
    assert server.stop() == 0, server.log()[-4000:]
    assert "Traceback" not in server.log()
    filler.unlink()
    server.start()
    stubs = Stubs(server.addr)
    stream = Stream(stubs, "q", prefetch=len(acked) + 100)
    received = {m.id for m in stream.take(len(acked), timeout=60)}
    assert received == set(acked)  # lost = 0, unexpected = 0
    stream.cancel()
    stubs.close()
