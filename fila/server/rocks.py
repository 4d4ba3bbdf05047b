"""RocksDB-backed :class:`~fila.server.store.Store` (the only module importing rocksdict).

Durability choices (docs/concepts.md "Durability", docs/security.md "Storage faults"):

- WAL recovery mode *tolerate corrupted tail records*: a write torn by a crash
  at the end of the WAL is dropped at start-up, but damage anywhere before the
  tail stops ``open`` with a "Corruption" error naming the WAL file. RocksDB's
  default (point-in-time) mode would silently start with only the records
  before the damage.
- Statistics on, so :meth:`RocksStore.wal_synced` can prove fsyncs happened:
  a process crash cannot tell synced from unsynced writes, this ticker can.
- ``write(sync=True)`` sets ``WriteOptions.sync``: the WAL is fsynced before
  the call returns.
- Raw mode: keys and values are bytes, stored as they are (no pickling).
- Disk full: after ENOSPC RocksDB refuses every later write until the DB
  is reopened. ``write`` then answers "storage full" at once, without touching
  RocksDB, until the data directory has room for the WAL to be replayed again;
  then it closes and reopens the DB (replaying the WAL: nothing synced is lost)
  and writes. A restart is not needed.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import rocksdict

from fila.errors import OverloadedError, StorageError
from fila.server.store import WriteBatch

__all__ = ["RocksStore"]

# Scans read this many entries per iterator, then drop it and re-seek. A
# long-lived iterator would pin memtables and old SST files and keep the DB
# alive past close(); callers (paging, recovery) may stop iterating at any time.
_SCAN_CHUNK = 512

# RocksDB reports a full disk through the OS error text (ENOSPC) or, with an
# SstFileManager space limit, "Max allowed space was reached".
_FULL_MARKERS = ("no space left", "enospc", "max allowed space", "out of space")
# Reopening after a full disk replays the WAL into a new SST (plus a manifest and a
# new WAL): try only when the free space covers the WAL files and this much more.
_REOPEN_HEADROOM = 1 << 20

_WAL_SYNCED = re.compile(r"^rocksdb\.wal\.synced COUNT : (\d+)$", re.MULTILINE)
# The LOG line RocksDB writes when WAL replay hits damage, e.g.
# "/data/000004.log: dropping 3072 bytes; Corruption: checksum mismatch".
_WAL_DAMAGE = re.compile(r"(\S+\.log): dropping \d+ bytes; (Corruption[^\n]*)")


def _prefix_end(prefix: bytes) -> bytes | None:
    """The smallest key greater than every key starting with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None  # empty or all 0xff: no finite upper bound
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class RocksStore:
    """A RocksDB database in directory ``path`` (created if missing).

    Reads may come from the event loop while one writer thread writes;
    RocksDB is thread-safe and rocksdict releases the GIL during I/O.
    """

    def __init__(self, path: str | Path, *, block_cache_bytes: int = 64 << 20) -> None:
        self._path = Path(path)
        self._full = False  # sticky: set once the disk filled (see _write_error)
        self._full_text = ""  # the error that set it
        # Guards self._db against the reopen after a full disk (writer thread) while
        # the event loop reads; writes need no lock: only the writer thread writes.
        self._db_lock = threading.Lock()
        self._options = self._make_options(block_cache_bytes)
        self._nosync_opts = rocksdict.WriteOptions()
        self._nosync_opts.sync = False
        try:
            self._path.mkdir(parents=True, exist_ok=True)
            self._db: Any = rocksdict.Rdict(str(self._path), self._options)
        except Exception as exc:  # rocksdict raises plain Exception
            raise StorageError(self._open_error_text(exc)) from exc

    @staticmethod
    def _make_options(block_cache_bytes: int) -> Any:
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        opts.set_wal_recovery_mode(rocksdict.DBRecoveryMode.tolerate_corrupted_tail_records())
        opts.enable_statistics()
        # LZ4: cheap on CPU, so the write path cost is predictable; payloads
        # that do not compress cost almost nothing extra.
        opts.set_compression_type(rocksdict.DBCompressionType.lz4())
        opts.set_max_background_jobs(4)
        # Bound the WAL so a restart replays at most this much (start fast).
        opts.set_max_total_wal_size(256 << 20)
        # RocksDB's own info LOG: keep it from growing without bound.
        opts.set_keep_log_file_num(5)
        opts.set_max_log_file_size(16 << 20)
        table = rocksdict.BlockBasedOptions()
        # Payloads are read back at delivery; recent ones stay hot in the cache.
        table.set_block_cache(rocksdict.Cache(block_cache_bytes))
        # Bloom filters make get() on absent keys cheap (full filters, not block-based).
        table.set_bloom_filter(10, False)
        table.set_cache_index_and_filter_blocks(True)
        opts.set_block_based_table_factory(table)
        return opts

    def _open_error_text(self, exc: Exception) -> str:
        text = str(exc)
        if "Corruption" in text:
            # RocksDB's message omits the file; its LOG (rewritten at every
            # open) names it.
            damaged = self._damaged_wal_from_log()
            if damaged:
                text = f"{text} ({damaged})"
            else:
                wals = sorted(p.name for p in self._path.glob("*.log"))
                if wals:
                    text = f"{text} (WAL files: {', '.join(wals)})"
        return f"cannot open storage at {self._path}: {text}"

    def _damaged_wal_from_log(self) -> str | None:
        try:
            log = (self._path / "LOG").read_text(errors="replace")
        except OSError:
            return None
        hits = _WAL_DAMAGE.findall(log)
        if not hits:
            return None
        wal, reason = hits[-1]
        return f"{wal}: {reason}"

    # -- Store interface -------------------------------------------------

    def get(self, key: bytes) -> bytes | None:
        try:
            with self._db_lock:
                value: bytes | None = self._db.get(key)
        except Exception as exc:
            raise StorageError(f"storage read failed: {exc}") from exc
        return value

    def scan(self, prefix: bytes, start: bytes | None = None) -> Iterator[tuple[bytes, bytes]]:
        seek = prefix if start is None or start < prefix else start
        end = _prefix_end(prefix)
        while True:
            chunk = self._scan_chunk(seek, end, prefix)
            yield from chunk
            if len(chunk) < _SCAN_CHUNK:
                return
            seek = chunk[-1][0] + b"\x00"  # the next possible key after the last one

    def _scan_chunk(
        self, seek: bytes, end: bytes | None, prefix: bytes
    ) -> list[tuple[bytes, bytes]]:
        read_opts = rocksdict.ReadOptions()  # 0.3.29: no raw_mode argument here
        # Scans are bulk reads (recovery, paging, queue delete): keep their blocks
        # out of the block cache, which would otherwise hold every scanned metadata
        # block after recovery and crowd out the payloads read at delivery.
        read_opts.fill_cache(False)  # type: ignore[call-arg]  # the 0.3.29 stub omits the flag
        if end is not None:
            read_opts.set_iterate_upper_bound(end)
        out: list[tuple[bytes, bytes]] = []
        try:
            with self._db_lock:
                it = self._db.iter(read_opts)
                try:
                    it.seek(seek)
                    while it.valid() and len(out) < _SCAN_CHUNK:
                        key: bytes = it.key()
                        if not key.startswith(prefix):
                            break
                        out.append((key, it.value()))
                        it.next()
                    it.status()  # raises if the iterator stopped on an error
                finally:
                    del it
        except Exception as exc:
            raise StorageError(f"storage read failed: {exc}") from exc
        return out

    def write(self, batch: WriteBatch, *, sync: bool = True) -> None:
        if self._full:
            self._reopen_if_room()
        wb = rocksdict.WriteBatch(raw_mode=True)
        for key, value in batch.ops:
            if value is None:
                wb.delete(key)
            else:
                wb.put(key, value)
        try:
            # Not write(sync=True): rocksdict holds the GIL through that call's fsync, which
            # stalled the event loop for the whole fsync of every commit group (a third of
            # the loop thread's time under unary load). An unsynced write puts the batch in
            # the WAL file (enough for kill -9), and flush_wal(True) then syncs the WAL
            # (power loss) with the GIL released. Same durability when it returns; the
            # rocksdb.wal.synced statistic counts these syncs as before.
            self._db.write(wb, self._nosync_opts)
            if sync:
                self._db.flush_wal(True)
        except Exception as exc:
            raise self._write_error(exc) from exc

    def _write_error(self, exc: Exception) -> StorageError | OverloadedError:
        text = str(exc)
        if any(marker in text.lower() for marker in _FULL_MARKERS):
            self._full = True
            self._full_text = text
        # After ENOSPC RocksDB stops writing and later errors say only
        # "Writer has previous error"; they still mean the disk filled.
        if self._full and ("IO error" in text or "no space" in text.lower()):
            return OverloadedError(f"storage full: {text}")
        return StorageError(f"storage write failed: {text}")

    def _reopen_if_room(self) -> None:
        """The disk filled earlier: refuse at once, or reopen if there is room again."""
        needed = self._wal_bytes() + _REOPEN_HEADROOM
        try:
            free = os.statvfs(self._path)
            room = free.f_bavail * free.f_frsize
        except OSError:
            room = 0
        if room < needed:
            raise OverloadedError(f"storage full: {self._full_text}")
        with self._db_lock:
            old, self._db = self._db, None
            if old is not None:
                # Fails with "Writer has previous error" (no flush possible); the
                # handle is released all the same, and the WAL holds every synced write.
                with contextlib.suppress(Exception):
                    old.close()
                del old
            try:
                self._db = rocksdict.Rdict(str(self._path), self._options)
            except Exception as exc:
                # Reads fail until a later write reopens it; the caller retries with backoff.
                raise self._write_error(exc) from exc
        self._full = False
        self._full_text = ""

    def _wal_bytes(self) -> int:
        total = 0
        with contextlib.suppress(OSError):
            for wal in self._path.glob("*.log"):
                with contextlib.suppress(OSError):
                    total += wal.stat().st_size
        return total

    def wal_synced(self) -> int | None:
        # The statistics dump is a few hundred lines: fine for metrics and
        # tests, not for a per-message path.
        stats = self._options.get_statistics() or ""
        match = _WAL_SYNCED.search(stats)
        return int(match.group(1)) if match else 0

    def size_bytes(self) -> int:
        # Walk the directory: counts SSTs, WAL and manifest alike, which is
        # what matters when watching the disk fill.
        total = 0
        try:
            with os.scandir(self._path) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue  # compaction deleted it meanwhile
        except OSError:
            return 0
        return total

    def checkpoint(self, dest: str | Path) -> None:
        """Write a consistent checkpoint of the database into ``dest`` (must not exist).

        RocksDB hard-links the live SST files (copies them across file systems) and
        copies the manifest and WAL, so the checkpoint holds every write made before the
        call, and writes may go on meanwhile. Raises StorageError if RocksDB refuses.
        """
        # Not under _db_lock for the whole call: event-loop reads take that lock, and a
        # checkpoint (memtable flush, links) may take a while. A reopen after a full
        # disk meanwhile makes this call fail, which the caller reports.
        with self._db_lock:
            db = self._db
        if db is None:
            raise StorageError("storage is closed")
        try:
            rocksdict.Checkpoint(db).create_checkpoint(str(dest))
        except Exception as exc:
            raise StorageError(f"checkpoint failed: {exc}") from exc

    def close(self) -> None:
        """Flush memtables and close. Idempotent. Raises StorageError if the flush fails."""
        with self._db_lock:
            db, self._db = self._db, None
        if db is None:
            return
        try:
            db.close()
        except Exception as exc:
            raise StorageError(f"closing storage failed: {exc}") from exc
        finally:
            del db
