"""Rules of the house (docs/architecture.md, "Rules of the house"), checked on the source.

The rules are about what a module *reaches*, not only what it names: the core importing a
harmless-looking fila module that imports lupa is the core importing lupa. So every rule walks
fila-internal imports transitively, reading each module's AST: top-level imports, imports
inside functions and ``if TYPE_CHECKING:`` imports all count (a type-only import still couples
the modules). A failure names the chain, e.g.
``fila.server.broker -> fila.server.hooks -> lupa``.

What the walk does not see: imports by string (``importlib.import_module``, ``client._Lazy``),
and a package's ``__init__`` run as a side effect of importing one of its submodules
(``fila/__init__.py`` imports the client lazily; it is followed only where imported by name).
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "fila"

# The pure core (fila/server/<name>.py). When broker.py is split, add each new module here:
# one line each. Whatever fila module these import is held to the same rule through the walk.
CORE = [
    "model",
    "scheduler",
    "limits",
    "timers",
    "broker",
    "queues",
    "effects",
    "overlay",
    "ids",
    "keys",
    "core_state",
    "dispatch",
    "queue_admin",
    "leases",
    "recovery",
    "runtime_config",
    "hookguard",
    "fresh",
    "auth",
]
FORBIDDEN_IN_CORE = ["lupa", "grpc", "google.protobuf", "asyncio", "time", "rocksdict"]

# Client modules: the one door from cli/ and tui/ to the broker, and allowed to import fila.v1.
# If client.py becomes a package, its submodules match "fila.client." already; list any other
# client module here.
CLIENT_MODULES = ["fila.client", "fila._async_client", "fila._sync_client",
                  "fila._client_common", "fila._client_api"]
FILA_V1_IMPORTERS = [
    "fila.server.convert",
    "fila.server.service",
    "fila.server.auth",
    # Cluster mode's front door forwards calls as their wire messages, and its node builds
    # the GetClusterStatus answer.
    "fila.cluster.router",
    "fila.cluster.node",
    *CLIENT_MODULES,
]
ONLY_IMPORTER = {"rocksdict": ["fila.server.rocks"], "lupa": ["fila.server.hooks"]}
UI_PACKAGES = ["fila.cli", "fila.tui"]
FORBIDDEN_IN_UI = ["fila.server", "fila.v1", "grpc"]

# Known chains, kept deliberately and each with its reason: (importer, imported) -> the
# forbidden names the walk may reach through that one edge. Delete an entry once the import
# is gone; the test then holds the line.
KNOWN = {
    # RPCError.code imports grpc inside the property, to hand SDK users a grpc.StatusCode;
    # nothing in the core or the UI reads .code. Moving that mapping into the client ends it.
    ("fila.errors", "grpc"): {"grpc"},
}


def module_path(name: str) -> Path | None:
    """The file of fila module ``name`` (a module or a package), or None."""
    rel = Path(*name.split("."))
    for candidate in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> list[str]:
    return sorted(module_name(p) for p in PKG.rglob("*.py"))


def _fila_target(name: str) -> str:
    """The longest prefix of fila name ``name`` that is a module on disk."""
    parts = name.split(".")
    while len(parts) > 1 and module_path(".".join(parts)) is None:
        parts.pop()
    return ".".join(parts)


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every module ``name`` imports, anywhere in its body, as full dotted names.

    Fila targets are resolved to the module file they run (``from fila.server import keys`` is
    ``fila.server.keys``); other targets are kept as written (``google.protobuf.message``).
    """
    path = module_path(name)
    assert path is not None, f"no module {name}"
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                is_module = base.split(".")[0] == "fila" and module_path(sub) is not None
                found.add(sub if is_module else base)
    return frozenset(_fila_target(n) if n.split(".")[0] == "fila" else n for n in found)


def matches(name: str, prefixes: Iterable[str]) -> str | None:
    """The prefix that dotted ``name`` falls under (``google.protobuf.message`` under
    ``google.protobuf``), or None."""
    for prefix in prefixes:
        if name == prefix or name.startswith(prefix + "."):
            return prefix
    return None


def chain_to(start: str, target: str, *, stop_at: Iterable[str] = ()) -> list[str] | None:
    """The shortest import chain from fila module ``start`` to any module under ``target``.

    The walk enters fila modules only, does not go through ``stop_at`` modules (a door the
    rule allows), and skips the KNOWN edges that excuse ``target``.
    """
    stops = list(stop_at)
    parent: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        for there in sorted(imports_of(here)):
            if there in parent or target in KNOWN.get((here, there), set()):
                continue
            parent[there] = here
            if matches(there, [target]):
                chain = [there]
                while (back := parent[chain[-1]]) is not None:
                    chain.append(back)
                return chain[::-1]
            if there.split(".")[0] == "fila" and not matches(there, stops):
                todo.append(there)
    return None


def test_core_reaches_no_io() -> None:
    problems = []
    for name in CORE:
        start = f"fila.server.{name}"
        assert module_path(start) is not None, f"CORE lists {start}, which does not exist"
        for lib in FORBIDDEN_IN_CORE:
            chain = chain_to(start, lib)
            if chain:
                problems.append(" -> ".join(chain))
    assert not problems, "the core reaches I/O:\n" + "\n".join(problems)


def test_known_chains_still_exist() -> None:
    """An allowlist entry whose import is gone must go too, so the rule tightens by itself."""
    for (importer, imported), _ in KNOWN.items():
        assert imported in imports_of(importer), (
            f"{importer} no longer imports {imported}: delete its KNOWN entry"
        )


def test_only_one_module_per_foreign_library() -> None:
    problems = []
    for name in all_modules():
        if matches(name, ["fila.v1"]):
            continue
        names = imports_of(name)
        for lib, owners in ONLY_IMPORTER.items():
            if name not in owners and any(matches(n, [lib]) for n in names):
                problems.append(f"{name} -> {lib} (only {', '.join(owners)} may)")
        if not matches(name, FILA_V1_IMPORTERS) and any(matches(n, ["fila.v1"]) for n in names):
            problems.append(f"{name} -> fila.v1 (only {', '.join(FILA_V1_IMPORTERS)} may)")
    assert not problems, "\n".join(problems)


def test_ui_talks_through_the_client() -> None:
    problems = []
    for name in all_modules():
        if not matches(name, UI_PACKAGES):
            continue
        for target in FORBIDDEN_IN_UI:
            chain = chain_to(name, target, stop_at=CLIENT_MODULES)
            if chain:
                problems.append(" -> ".join(chain))
    assert not problems, "the UI goes round fila.client:\n" + "\n".join(problems)
    for pure in ("fila.tui.viewmodel", "fila.tui.message_view"):
        if module_path(pure):
            assert not any(matches(n, ["textual"]) for n in imports_of(pure)), pure


def test_the_walk_follows_imports() -> None:
    """The walk itself: chains through fila modules, and the door the UI rule allows."""
    assert imports_of("fila.server.broker") >= {"fila.server.keys", "fila.server.hookguard"}
    assert chain_to("fila.server.engine", "lupa") == [
        "fila.server.engine", "fila.server.hookcalls", "fila.server.hooks", "lupa.lua54"]
    assert chain_to("fila.server.hooks", "lupa") == ["fila.server.hooks", "lupa.lua54"]
    assert chain_to("fila.cli.common", "grpc", stop_at=CLIENT_MODULES) is None
    assert chain_to("fila.cli.common", "grpc") == ["fila.cli.common", "fila.client",
                                                   "fila._async_client", "grpc"]
