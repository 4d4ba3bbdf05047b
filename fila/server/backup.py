"""Online backup and offline restore of the data directory.

Backup (the ``Backup`` admin RPC, ``fila backup DEST``): a RocksDB checkpoint of the
running broker, written by the server into a new directory on its own machine. Only the
server can take it: RocksDB allows one process to open a database. The checkpoint holds
every write made before it started (everything acknowledged to a client is in the
fsynced WAL, which the checkpoint copies), and traffic goes on meanwhile; it runs on a
worker thread so the event loop keeps serving.

Restore (``fila-server restore SRC``, server stopped): copy a checkpoint into an empty
or new data directory, after checking that it opens as a database. A non-empty data
directory is refused, so a restore never mixes two databases or overwrites live data.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fila.errors import FilaError, InvalidArgumentError, OverloadedError

__all__ = ["BackupResult", "Backups", "RestoreError", "restore"]


class _Checkpointer(Protocol):
    def checkpoint(self, dest: str | Path) -> None: ...


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: str
    bytes: int
    elapsed_ms: int


class RestoreError(Exception):
    """A restore was refused or failed; the text is one line for the operator."""


def dir_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total


class Backups:
    """Takes checkpoints of one store, one at a time."""

    def __init__(self, store: _Checkpointer, data_dir: str | Path) -> None:
        self._store = store
        self._data_dir = Path(data_dir).resolve()
        self._running = False

    def _check_dest(self, dest: str) -> Path:
        if not dest:
            raise InvalidArgumentError("backup destination must not be empty")
        path = Path(dest)
        if not path.is_absolute():
            # Relative to what? The server's working directory is not the client's.
            raise InvalidArgumentError(
                f"backup destination must be an absolute path on the server, got {dest!r}")
        if path.exists() or path.is_symlink():
            raise InvalidArgumentError(
                f"backup destination {dest} already exists (a backup goes into a new directory)")
        parent = path.parent.resolve()
        if not parent.is_dir():
            raise InvalidArgumentError(f"backup destination's parent {parent} is not a directory")
        target = parent / path.name
        if target == self._data_dir or self._data_dir in target.parents:
            raise InvalidArgumentError("backup destination must be outside the data directory")
        return target

    async def take(self, dest: str) -> BackupResult:
        """Checkpoint into ``dest``. Raises InvalidArgumentError for a bad destination,
        OverloadedError while another backup runs, StorageError if RocksDB refuses."""
        target = self._check_dest(dest)
        if self._running:
            raise OverloadedError("a backup is already running; try again when it is done")
        self._running = True
        started = time.monotonic()
        try:
            await asyncio.to_thread(self._store.checkpoint, target)
            size = await asyncio.to_thread(dir_bytes, target)
        finally:
            self._running = False
        return BackupResult(str(target), size, int((time.monotonic() - started) * 1000))


def restore(src: str | Path, data_dir: str | Path) -> tuple[int, int]:
    """Copy the checkpoint ``src`` into ``data_dir`` (new or empty); (files, bytes) copied.

    Raises RestoreError with one line when refused or failed; ``data_dir`` is then as it
    was (the copy goes to a sibling directory first and is renamed into place at the end).
    """
    # Imported here: the CLI path of fila-server must not pay for RocksDB otherwise.
    from fila.server.rocks import RocksStore

    source, target = Path(src), Path(data_dir)
    if not (source / "CURRENT").is_file():
        raise RestoreError(f"{src} is not a backup (no RocksDB CURRENT file in it)")
    if target.exists():
        if not target.is_dir():
            raise RestoreError(f"data directory {target} is not a directory")
        if any(target.iterdir()):
            raise RestoreError(f"data directory {target} is not empty; restore only into an "
                               "empty or new directory (stop the server, move the old one away)")
    staging = target.parent / f".{target.name}.restoring"
    if staging.exists():
        shutil.rmtree(staging)  # left by an interrupted restore
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(source, staging)
        # Opening replays the checkpoint's WAL: a damaged backup fails here, not at start.
        RocksStore(staging).close()
        if target.exists():
            target.rmdir()  # empty, checked above
        staging.rename(target)
    except (OSError, FilaError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise RestoreError(f"restore failed: {exc}") from None
    files = sum(len(names) for _, _, names in os.walk(target))
    return files, dir_bytes(target)
