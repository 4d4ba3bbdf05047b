"""`fila backup DEST` against a real fila-server."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import ProcFn


def test_backup_writes_a_checkpoint_and_refuses_a_second_into_it(fila: ProcFn,
                                                                 tmp_path: Path) -> None:
    fila("queue", "create", "orders")
    dest = tmp_path / "b1"
    result = fila("backup", str(dest))
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(rf"Backup written to {re.escape(str(dest))} \(\d+\.\d MiB in "
                        r"\d+\.\d s\)\n", result.stdout)
    assert (dest / "CURRENT").is_file()
    again = fila("backup", str(dest))
    assert again.returncode == 1
    assert again.stderr == (f"Error: backup destination {dest} already exists (a backup goes "
                            "into a new directory)\n")
    out = json.loads(fila("backup", str(tmp_path / "b2"), "--json").stdout)
    assert out["path"] == str(tmp_path / "b2") and out["bytes"] > 0
