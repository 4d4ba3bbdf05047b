"""benchmarks/peers.py --quick runs end to end: against Fila alone, and beside RabbitMQ and
Redis when they are installed. Shape only (rows, brokers, ratios, the chart); no timings."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "peers.py"
KEYS = {"single_1", "single_8", "batch_100", "lifecycle_batched", "lifecycle_unbatched",
        "latency_p50", "latency_p99", "noisy_position", "noisy_wait"}


def installed() -> dict[str, bool]:
    return {
        "RabbitMQ": Path("/usr/lib/rabbitmq/bin/rabbitmq-server").exists()
        and shutil.which("epmd") is not None and importlib.util.find_spec("pika") is not None,
        "Redis": shutil.which("redis-server") is not None
        and importlib.util.find_spec("redis") is not None,
    }


def run(tmp_path: Path, brokers: str) -> tuple[dict, str]:
    out = tmp_path / "peers.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--brokers", brokers, "--json", str(out),
         "--chart", str(tmp_path / "peers.png")],
        capture_output=True, text=True, timeout=100, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "peers.png").stat().st_size > 10_000
    else:  # the test extra has no matplotlib: the script says so and draws nothing
        assert "no chart: matplotlib is not installed" in proc.stdout + proc.stderr
    return json.loads(out.read_text()), proc.stdout


def check_broker(values: dict[str, float], quiet: int) -> None:
    assert set(values) >= KEYS
    assert all(values[k] > 0 for k in KEYS)
    assert values["latency_p50"] <= values["latency_p99"]
    assert values["noisy_position"] >= quiet


def test_fila_alone(tmp_path: Path) -> None:
    doc, stdout = run(tmp_path, "fila")
    assert list(doc["results"]) == ["Fila"]
    quiet = doc["meta"]["params"]["quiet"]
    check_broker(doc["results"]["Fila"], quiet)
    # the tenant hook: the quiet tenant is not stuck behind the whole noisy backlog
    assert doc["results"]["Fila"]["noisy_position"] < doc["meta"]["params"]["noisy"]
    assert "| Scenario | Fila |" in stdout and "Fila / " not in stdout
    assert stdout.startswith("machine: ")
    assert {"date", "machine", "commit", "versions", "load_before"} <= set(doc["meta"])


def test_beside_installed_peers(tmp_path: Path) -> None:
    have = installed()
    if not any(have.values()):
        pytest.skip("neither RabbitMQ nor Redis is installed (apt-get install -y "
                    "rabbitmq-server redis-server; pip install -e '.[benchmarks]')")
    doc, stdout = run(tmp_path, "fila,rabbitmq,redis")
    expected = ["Fila"] + [name for name, ok in have.items() if ok]
    assert list(doc["results"]) == expected
    quiet = doc["meta"]["params"]["quiet"]
    for name in expected:
        check_broker(doc["results"][name], quiet)
        assert doc["meta"]["versions"][name]
    for name in expected[1:]:
        assert f"Fila / {name}" in stdout
        # FIFO: every noisy message first
        assert doc["results"][name]["noisy_position"] == (doc["meta"]["params"]["noisy"]
                                                          + quiet)
    if not all(have.values()):
        assert "not installed" in stdout
