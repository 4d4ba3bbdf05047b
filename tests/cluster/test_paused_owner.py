"""An owner process paused (SIGSTOP) past its lease and resumed (SIGCONT) must not write
once another node has taken the queue over: it gives up by its own clock, or the log fences
it. And nothing it had acknowledged is lost: the new owner's state holds every entry."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from fila.cluster.harness import NatsCluster
from fila.server.rocks import RocksStore

from .conftest import JS_TIMEOUT, SKIP_REASON, needs_nats

pytestmark = needs_nats
pytest.importorskip("nats", reason=SKIP_REASON)

from fila.cluster.log import QueueLog, ensure_stream  # noqa: E402
from fila.cluster.ownership import LeaseTable  # noqa: E402
from fila.cluster.tailer import LogTailer  # noqa: E402
from fila.cluster.takeover import take_over  # noqa: E402

OWNER = Path(__file__).with_name("paused_owner.py")
TTL = 2.0
_names = itertools.count()
T = TypeVar("T")


async def within(what: str, aw: Awaitable[T], timeout: float, stderr: Path) -> T:
    """``aw`` bounded by ``timeout``; a timeout names the step and shows the owner's stderr
    (a bare TimeoutError from a CI run says nothing about where it stalled)."""
    try:
        return await asyncio.wait_for(aw, timeout)
    except TimeoutError:
        tail = stderr.read_text(errors="replace")[-3000:] if stderr.exists() else ""
        raise AssertionError(f"timed out after {timeout:.0f}s: {what}\n{tail}") from None


async def read_line(proc: asyncio.subprocess.Process, timeout: float, stderr: Path) -> str:
    assert proc.stdout is not None
    line = await within("a line from the owner", proc.stdout.readline(), timeout, stderr)
    return line.decode().strip()


@pytest.mark.parametrize("ignore_lease", [False, True], ids=["checks-lease", "ignores-lease"])
async def test_a_paused_owner_is_fenced_after_a_takeover(
    nc: Any, shared_cluster: NatsCluster, tmp_path: Path, ignore_lease: bool
) -> None:
    js = nc.jetstream(timeout=JS_TIMEOUT)
    n = next(_names)
    queue, bucket = f"paused.{n}", f"paused_{n}"
    await ensure_stream(js, queue)
    new_table = await LeaseTable.open(js, "new", ttl=TTL, bucket=bucket)
    args = [",".join(shared_cluster.urls), queue, bucket, str(TTL)]
    stderr = tmp_path / "owner.stderr"
    err = stderr.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(OWNER),
        *args,
        *(["--ignore-lease"] if ignore_lease else []),
        stdout=asyncio.subprocess.PIPE,
        stderr=err,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: list[str] = []
    store = RocksStore(tmp_path / "new")
    try:
        assert (await read_line(proc, JS_TIMEOUT, stderr)).startswith("owner ")
        while sum(line.startswith("acked") for line in lines) < 20:
            lines.append(await read_line(proc, JS_TIMEOUT, stderr))
        os.kill(proc.pid, signal.SIGSTOP)  # paused wherever it was: between check and write

        # This node takes the lease once it lapses, and the log over.
        deadline = time.monotonic() + 10 * TTL
        while (lease := await new_table.acquire(queue)) is None:
            assert time.monotonic() < deadline, "the paused owner's lease never lapsed"
            await asyncio.sleep(0.05)  # polling the bucket, bounded by the deadline
        tailer = LogTailer(js, store, queue, sync=False)
        claim = await within(
            "the take-over", take_over(QueueLog(js, queue), tailer), JS_TIMEOUT, stderr
        )
        assert lease.valid()

        os.kill(proc.pid, signal.SIGCONT)
        assert proc.stdout is not None
        rest = await within("the owner's last lines", proc.stdout.read(), 3 * JS_TIMEOUT, stderr)
        lines += [line for line in rest.decode().splitlines() if line]
        code = await within("the owner's exit", proc.wait(), JS_TIMEOUT, stderr)
        assert code == 0, stderr.read_text(errors="replace")[-3000:]
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            await proc.wait()
        store.close()
        err.close()
    acked = [
        (int(parts[1]), int(parts[2]))
        for parts in (ln.split() for ln in lines)
        if parts and parts[0] == "acked"
    ]
    # It never wrote after the claim ...
    assert all(seq < claim for seq, _ in acked), (claim, acked[-3:])
    # ... it stopped the way it should ...
    ending = [ln for ln in lines if ln.startswith(("gave-up", "fenced"))]
    assert len(ending) == 1
    if ignore_lease:
        assert ending[0].startswith("fenced")
    # ... and every append it had acknowledged is in the new owner's state.
    store = RocksStore(tmp_path / "new")
    try:
        keys = {k for k, _ in store.scan(b"m/old/")}
    finally:
        store.close()
    assert keys == {f"m/old/{i:06}".encode() for _, i in acked}
