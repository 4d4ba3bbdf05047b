"""RocksStore under damage: torn WAL tail, a flipped bit mid-WAL, a full disk.

The promise: docs/security.md, "Storage faults".
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fila.errors import OverloadedError, StorageError
from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch

RECORDS = 500
VALUE = b"x" * 200

# Writes RECORDS synced single-put batches, then dies without closing, so the
# data exists only in the WAL (no memtable flush, no SST).
_CHILD = """
import os, sys
from fila.server.rocks import RocksStore
from fila.server.store import WriteBatch
store = RocksStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    b = WriteBatch()
    b.put(b"m/q\\x00%06d" % i, b"x" * 200)
    store.write(b, sync=True)
os._exit(0)
"""


def crash_after_synced_writes(path: Path, n: int = RECORDS) -> Path:
    """Run the child; return the WAL file holding its writes."""
    subprocess.run([sys.executable, "-c", _CHILD, str(path), str(n)], check=True, timeout=60)
    wals = sorted(path.glob("*.log"))
    assert len(wals) == 1 and not list(path.glob("*.sst")), "data should be in the WAL only"
    assert wals[0].stat().st_size > n * len(VALUE)
    return wals[0]


def stored_indexes(store: RocksStore) -> list[int]:
    return [int(k[len(b"m/q\x00") :]) for k, _ in store.scan(b"m/q\x00")]


def test_crash_keeps_every_synced_write(tmp_path: Path) -> None:
    path = tmp_path / "db"
    crash_after_synced_writes(path)
    store = RocksStore(path)
    try:
        assert stored_indexes(store) == list(range(RECORDS))
        assert store.get(b"m/q\x00%06d" % 7) == VALUE
    finally:
        store.close()


def test_torn_wal_tail_is_tolerated(tmp_path: Path) -> None:
    path = tmp_path / "db"
    wal = crash_after_synced_writes(path)
    # Cut into the last record only: a write torn by a crash mid-append.
    os.truncate(wal, wal.stat().st_size - 37)
    store = RocksStore(path)
    try:
        got = stored_indexes(store)
        # every record fully in the WAL is there; only the torn last one is gone
        assert got == list(range(RECORDS - 1))
        # and the store is writable again
        batch = WriteBatch()
        batch.put(b"after", b"ok")
        store.write(batch)
        assert store.get(b"after") == b"ok"
    finally:
        store.close()


def test_bit_flip_mid_wal_refuses_to_open(tmp_path: Path) -> None:
    path = tmp_path / "db"
    wal = crash_after_synced_writes(path)
    size = wal.stat().st_size
    with wal.open("r+b") as f:
        f.seek(size // 2)
        byte = f.read(1)
        f.seek(size // 2)
        f.write(bytes([byte[0] ^ 0x04]))
    with pytest.raises(StorageError) as info:
        RocksStore(path)
    text = str(info.value)
    assert "Corruption" in text
    assert wal.name in text  # the error names the damaged file
    # never start with partial data: a second attempt refuses too
    with pytest.raises(StorageError, match="Corruption"):
        RocksStore(path)


def _mount_small_tmpfs(size: str) -> Path | None:
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("mount") is None:
        return None
    mnt = Path(tempfile.mkdtemp(prefix="fila-full-"))
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        mnt.rmdir()
        return None
    return mnt


def test_disk_full_is_overloaded_and_nothing_synced_is_lost() -> None:
    mnt = _mount_small_tmpfs("4m")
    if mnt is None:
        pytest.skip("needs root and a mountable tmpfs")
    try:
        path = mnt / "db"
        store = RocksStore(path)
        written = 0
        errors: list[Exception] = []
        for i in range(20_000):
            batch = WriteBatch()
            batch.put(b"p/q\x00%06d" % i, os.urandom(1000))  # incompressible
            try:
                store.write(batch)
                written = i + 1
            except (OverloadedError, StorageError) as exc:
                errors.append(exc)
                if len(errors) >= 3:
                    break
        assert errors, "the 4 MiB disk never filled"
        assert all(isinstance(e, OverloadedError) for e in errors), errors
        assert all(str(e).startswith("storage full") for e in errors)
        assert store.get(b"p/q\x00%06d" % 0) is not None  # reads still work
        # flushing the memtable cannot succeed on a full disk
        with contextlib.suppress(StorageError):
            store.close()
        # space returns; every write that succeeded is still there
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        store = RocksStore(path)
        try:
            assert len(list(store.scan(b"p/q\x00"))) >= written
            assert all(store.get(b"p/q\x00%06d" % i) is not None for i in range(written))
        finally:
            store.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()


def test_disk_full_recovers_in_place_once_space_returns() -> None:
    mnt = _mount_small_tmpfs("8m")
    if mnt is None:
        pytest.skip("needs root and a mountable tmpfs")
    try:
        filler = mnt / "filler"
        filler.write_bytes(os.urandom(6 << 20))
        path = mnt / "db"
        store = RocksStore(path)
        try:
            written = 0
            errors: list[Exception] = []
            for i in range(20_000):
                batch = WriteBatch()
                batch.put(b"p/q\x00%06d" % i, os.urandom(1000))
                try:
                    store.write(batch)
                    written = i + 1
                except (OverloadedError, StorageError) as exc:
                    errors.append(exc)
                    if len(errors) >= 3:
                        break
            assert errors and all(str(e).startswith("storage full") for e in errors), errors
            assert written > 0
            # while there is no room, writes are refused at once (no reopen attempt)
            batch = WriteBatch()
            batch.put(b"after", b"ok")
            with pytest.raises(OverloadedError, match=r"^storage full: .*No space left"):
                store.write(batch)
            assert store.get(b"p/q\x00%06d" % 0) is not None  # reads still work

            filler.unlink()  # space returns: the same store writes again, no restart
            store.write(batch)
            assert store.get(b"after") == b"ok"
            assert all(store.get(b"p/q\x00%06d" % i) is not None for i in range(written))
        finally:
            with contextlib.suppress(StorageError):
                store.close()
        # and a restart finds every write that succeeded
        store = RocksStore(path)
        try:
            assert store.get(b"after") == b"ok"
            assert len(list(store.scan(b"p/q\x00"))) == written
        finally:
            store.close()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        mnt.rmdir()
