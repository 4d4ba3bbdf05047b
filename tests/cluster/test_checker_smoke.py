"""benchmarks/cluster_checker.py end to end on the smallest setup: one NATS node and one
fila-server node (the faults then have no other node to fail over to: the checker counts
recovery from the heal). This keeps the script itself working; runs on a real cluster are
the script's job (docs/cluster.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import needs_nats_server

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cluster_checker.py"


@needs_nats_server
def test_checker_runs_faults_and_reports_a_verdict(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--fila-nodes", "1", "--nats-nodes", "1",
         "--cycles", "2", "--faults", "kill,pause", "--lease-ttl-ms", "1000",
         "--settle", "0.3", "--warmup", "10", "--producers", "2", "--json",
         "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    verdict = json.loads(done.stdout)
    assert verdict["ok"] is True
    assert verdict["lost"] == [] and verdict["unexpected"] == []
    assert verdict["acknowledged"] > 0
    assert verdict["delivered_unique"] >= verdict["acknowledged"]
    assert [f["kind"] for f in verdict["faults"]] == ["kill", "pause"]
    assert verdict["not_recovered"] == 0
    assert all(f["failover_s"] > 0 for f in verdict["faults"])
    assert "cycle 2/2 pause n1: failover" in done.stderr
    assert (tmp_path / "fila" / "n1" / "fila.log").exists()  # --dir keeps the nodes' files


def test_checker_refuses_an_unknown_fault_in_one_line() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--faults", "kill,flood"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown flood" in done.stderr and "Traceback" not in done.stderr
