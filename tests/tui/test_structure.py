"""House rules of fila/tui (docs/architecture.md, "Rules of the house"), read with ``ast``.

- no import cycle between fila.tui modules;
- nothing in fila/tui imports the app module, and screens/widgets do not name ``FilaApp``;
- screens/widgets do not reach through ``.app`` for what only ``FilaApp`` has (the backend,
  the live state, the settings, navigation): the app hands those over when it builds them.

Every import counts, including ones inside functions and under ``if TYPE_CHECKING:``, since
those are how the old cycles hid. The checkers are also run on tiny hand-made packages below,
so a checker that stopped finding anything would fail too.
"""

from __future__ import annotations

import ast
from datetime import UTC
from pathlib import Path

from textual.app import App

import fila.tui
from fila.tui.app import build_app

from .fakes import FakeBackend

TUI = Path(fila.tui.__file__).parent
APP_MODULE = "fila.tui.app"


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file, for every .py under ``root`` (packages by their __init__)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every module in ``known`` that ``name`` imports, anywhere in the file."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            # `from fila.tui import app` imports the submodule app.
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            # `import fila.tui.screens.queue` also needs each parent, but a parent package
            # importing its children is not what we guard against; take the deepest match.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    mods = _modules(root, package)
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def app_importers(graph: dict[str, set[str]], app_module: str) -> list[str]:
    return sorted(name for name, deps in graph.items() if app_module in deps)


def _app_only_names() -> set[str]:
    """Attributes a FilaApp has that a plain Textual App does not (class and instance)."""
    fake = FakeBackend()
    try:
        ours = set(dir(build_app(fake, addr="x:1", tz=UTC)))
    finally:
        fake.close()
    return ours - set(dir(App()))


def reaches_into_app(path: Path, names: set[str]) -> list[str]:
    """``<x>.app.<name>`` or ``getattr(<x>.app, "<name>")`` for a FilaApp-only name."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        attr = None
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "app"
        ):
            attr = node.attr
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr == "app"
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            attr = node.args[1].value
        if attr is not None and attr in names:
            found.append((node.lineno, f"{path.name}:{node.lineno} .app.{attr}"))
    return [text for _, text in sorted(found)]


def names_filaapp(path: Path) -> bool:
    """The class name anywhere, code or string annotation (e.g. ``cast("FilaApp", ...)``)."""
    return "FilaApp" in path.read_text()


# ------------------------------------------------------------------ the rules


def test_no_import_cycle_in_fila_tui() -> None:
    graph = import_graph(TUI, "fila.tui")
    assert "fila.tui.screens.base" in graph and graph[APP_MODULE]  # the walk found things
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph) or [])}"


def test_nothing_in_fila_tui_imports_the_app() -> None:
    assert app_importers(import_graph(TUI, "fila.tui"), APP_MODULE) == []


def test_screens_and_widgets_do_not_reach_up_to_the_app() -> None:
    names = _app_only_names()
    assert {"backend", "live", "settings"} <= names  # what the old screens reached for
    offenders: list[str] = []
    for sub in ("screens", "widgets"):
        for path in sorted((TUI / sub).rglob("*.py")):
            offenders += reaches_into_app(path, names)
            if names_filaapp(path):
                offenders.append(f"{path.name} names FilaApp")
    assert offenders == []


# ------------------------------------------------------------------ the checkers catch things


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "pkg" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_checker_sees_type_checking_and_function_level_cycles(tmp_path: Path) -> None:
    # The shape this file was written against: base imports the app for typing only,
    # the app imports screens inside its methods.
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "app.py": "def on_mount():\n    from pkg.screens.overview import Overview\n",
            "screens/__init__.py": "",
            "screens/overview.py": "from .base import Base\n",
            "screens/base.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.app import App\n"
            ),
            "widgets/__init__.py": "",
            "widgets/w.py": "from pkg import app\n",
        },
    )
    graph = import_graph(root, "pkg")
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] and "pkg.app" in cycle
    assert app_importers(graph, "pkg.app") == ["pkg.screens.base", "pkg.widgets.w"]


def test_checker_passes_a_clean_package(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "__init__.py": "",
            "app.py": "from pkg.screens import overview\nfrom pkg.state import State\n",
            "state.py": "",
            "screens/__init__.py": "",
            "screens/overview.py": "from ..state import State\nimport pkg.screens.base\n",
            "screens/base.py": "from pkg.state import State\n",
        },
    )
    graph = import_graph(root, "pkg")
    assert graph["pkg.screens.overview"] == {"pkg.state", "pkg.screens.base"}
    assert find_cycle(graph) is None
    assert app_importers(graph, "pkg.app") == []


def test_checker_sees_reaching_through_app(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_text(
        "class S:\n"
        "    def f(self):\n"
        "        self.app.backend.list_config('')\n"
        "        self.app.push_screen(None)\n"  # Textual's own API: allowed
        "        return getattr(self.app, 'read_only', False)\n"
    )
    assert reaches_into_app(path, {"backend", "read_only"}) == [
        "s.py:3 .app.backend",
        "s.py:5 .app.read_only",
    ]
