"""Online backup under load, then restore into a new server: every message acknowledged
before the backup started is there."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from e2e.helpers import wait_for
from fila.client import Client
from fila.errors import InvalidArgumentError

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


def restore(src: Path, server: ServerProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fila.server.main", "restore", str(src)],
                          cwd=server.workdir, capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, "FILA_DATA_DIR": str(server.data_dir)})


def all_ids(c: Client, queue: str) -> set[str]:
    ids: set[str] = set()
    token = ""
    while True:
        page, token = c.list_messages(queue, limit=1000, page_token=token)
        ids.update(m.message.id for m in page)
        if not token:
            return ids


def test_backup_under_load_restores_every_acknowledged_message(
        make_server: Callable[..., ServerProcess], tmp_path: Path) -> None:
    source = make_server()
    acked: list[str] = []  # appended by the producers once each enqueue is answered
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce(n: int) -> None:
        try:
            with Client(source.addr) as c:
                i = 0
                while not stop.is_set():
                    acked.append(c.enqueue("q", {"fila.fairness_key": f"p{n}"},
                                           f"{n}-{i}".encode()))
                    i += 1
        except BaseException as exc:  # reported by the test, not lost in a thread
            errors.append(exc)

    with Client(source.addr) as admin:
        admin.create_queue("q")
        producers = [threading.Thread(target=produce, args=(n,)) for n in range(3)]
        for t in producers:
            t.start()
        wait_for(lambda: len(acked) >= 300, timeout=60, what="300 enqueues acknowledged")
        before = set(acked)  # acknowledged before the backup starts
        dest = tmp_path / "backup-1"
        info = admin.backup(str(dest))
        during = len(acked) - len(before)
        wait_for(lambda: len(acked) >= len(before) + during + 50, timeout=60,
                 what="traffic going on after the backup")
        stop.set()
        for t in producers:
            t.join(timeout=30)
        assert not errors, errors
        assert info.path == str(dest) and info.bytes > 0
        with pytest.raises(InvalidArgumentError, match="already exists"):
            admin.backup(str(dest))
        with pytest.raises(InvalidArgumentError, match="absolute path"):
            admin.backup("relative/dir")
    assert "backup" in source.log()  # the audit line
    assert source.stop() == 0

    target = make_server(start=False)
    done = restore(dest, target)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"restored {dest} into {target.data_dir} (")
    refused = restore(dest, target)  # the data directory is not empty any more
    assert refused.returncode == 1
    assert refused.stderr == (f"fila-server: data directory {target.data_dir} is not empty; "
                              "restore only into an empty or new directory (stop the server, "
                              "move the old one away)\n")
    target.start()
    with Client(target.addr) as c:
        present = all_ids(c, "q")
    missing = before - present
    assert not missing, f"{len(missing)} acknowledged message(s) missing from the backup"
    assert present <= set(acked)  # nothing the source never stored


def test_restore_refuses_what_is_not_a_backup(make_server: Callable[..., ServerProcess],
                                              tmp_path: Path) -> None:
    target = make_server(start=False)
    done = restore(tmp_path, target)
    assert done.returncode == 1
    assert done.stderr == (f"fila-server: {tmp_path} is not a backup (no RocksDB CURRENT "
                           "file in it)\n")
