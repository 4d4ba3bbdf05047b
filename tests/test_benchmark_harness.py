"""benchmarks/_harness.py is the one place for what benchmarks share.

Structural: every benchmark imports it and none keeps its own copy of a helper it offers
(a free-port finder, a ``sys.path`` hack, a ``fila-server`` launcher). Then one real start and
stop through it, as the benchmarks use it.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
HARNESS_NAMES = {"free_port", "commit", "git", "loadavg", "rss_bytes", "cpu_seconds",
                 "wait_ready", "cpu_model", "start_server", "FilaServer", "Server"}


def benchmarks() -> list[Path]:
    return sorted(p for p in BENCH.glob("*.py") if p.name != "_harness.py")


def test_every_benchmark_uses_the_harness() -> None:
    problems = []
    for path in benchmarks():
        tree = ast.parse(path.read_text(), str(path))
        imported = {node.module for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        if "_harness" not in imported:
            problems.append(f"{path.name} does not import _harness")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in HARNESS_NAMES:
                problems.append(f"{path.name} defines its own {node.name}; use _harness")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "insert"
                    and isinstance(node.value, ast.Attribute) and node.value.attr == "path"):
                problems.append(f"{path.name}:{node.lineno} edits sys.path; _harness does that")
    assert not problems, "\n".join(problems)


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_harness", BENCH / "_harness.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_harness", module)
    spec.loader.exec_module(module)
    return module


def test_harness_starts_and_stops_a_server(tmp_path: Path) -> None:
    harness = _load_harness()
    server = harness.FilaServer(tmp_path / "srv", {"server": {"release_grace_ms": 0}})
    assert 'release_grace_ms = 0' in (tmp_path / "srv" / "fila.toml").read_text()
    try:
        assert server.start(timeout=30.0) > 0
        assert server.alive() and server.rss_bytes() > 0 and server.open_fds() > 0
        assert server.stop(timeout=30.0) == 0
        assert not server.alive()
    finally:
        server.kill()
    line = harness.header()
    assert line.startswith("machine: ") and "commit " in line and "load average " in line
