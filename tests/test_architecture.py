"""Rules of the house (docs/architecture.md), checked on the source, not by memory."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "fila"
CORE = ["model", "scheduler", "limits", "timers", "broker", "effects", "queues", "ids", "keys",
        "overlay"]
FORBIDDEN_IN_CORE = {"grpc", "rocksdict", "lupa", "asyncio", "time"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_core_imports_no_io() -> None:
    for name in CORE:
        bad = top(imports_of(PKG / "server" / f"{name}.py")) & FORBIDDEN_IN_CORE
        assert not bad, f"fila/server/{name}.py imports {bad}"


def test_only_one_module_per_foreign_library() -> None:
    owners = {"rocksdict": {"server/rocks.py"}, "lupa": {"server/hooks.py"}}
    # the client is one module written twice: the asyncio source and the generated blocking one
    v1_allowed = {"server/convert.py", "server/service.py", "server/auth.py", "client.py",
                  "_async_client.py", "_sync_client.py"}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).as_posix()
        if rel.startswith("v1/"):
            continue
        names = imports_of(path)
        for lib, allowed in owners.items():
            if lib in top(names):
                assert rel in allowed, f"{rel} imports {lib}"
        if any(n == "fila.v1" or n.startswith("fila.v1.") for n in names):
            assert rel in v1_allowed, f"{rel} imports fila.v1"


def test_ui_talks_through_the_client() -> None:
    for sub in ("cli", "tui"):
        for path in (PKG / sub).rglob("*.py"):
            names = imports_of(path)
            assert "grpc" not in top(names), f"{path} imports grpc"
            assert not any(n.startswith("fila.server") for n in names
                           if path.name != "serve.py"), f"{path} imports the server"
    viewmodel = PKG / "tui" / "viewmodel.py"
    if viewmodel.exists():
        assert "textual" not in top(imports_of(viewmodel))
