"""benchmarks/tui_scale.py --quick runs end to end: a real server, the real TUI driven by
Pilot through every measured step (overview, filter, the big queue's keys). Shape only."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "tui_scale.py"


def test_quick_run_reports_every_screen() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick"], capture_output=True,
                          text=True, timeout=240, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert out.startswith("machine: ")
    rows = re.findall(r"^\| (overview|queue q0000)[^|]*\| (\d+) \|", proc.stdout, re.M)
    assert [name for name, _ in rows] == ["overview", "queue q0000"]
    assert all(int(frames) >= 1 for _, frames in rows)  # snapshots reached the screens
    assert "Filter on the overview" in proc.stdout
    assert "Targets: frame p95 < 50 ms" in proc.stdout
