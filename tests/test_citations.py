"""Comments and docstrings cite documents that are in this repository.

A reader cannot follow a comment that cites a tracker issue by number or a Markdown file that
was never committed. A citation names a file in the repository (``docs/lua.md``, a path from
the repository root, or a bare name that exists somewhere in it), or the comment states the
fact itself.
Checked in fila/, tests/, benchmarks/ and scripts/: every ``#`` comment and every docstring.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["fila", "tests", "benchmarks", "scripts"]
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "v1"}

MD_FILE = re.compile(r"[\w./-]*\w\.md\b")
# Documents that live outside the repository, cited by name: tracker issues (by number or
# title), the specification, the reliability-plan document and its numbered items.
ELSEWHERE = re.compile(
    r"\bissues?\s+#?\d+|\bissue:|\breliability plan\b|\bthe spec\b|\bspec(?:'s)?\s+\""
    r"|(?-i:\bR\d{1,2}\b)",
    re.IGNORECASE,
)
# (file, text of the citation): cited on purpose. Each entry says why.
ALLOWED = {
    # the marker on the KNOWN allowlist entry the lead deletes once hooks.py is split
    ("tests/test_architecture.py", "issue 11"),
}


def sources() -> Iterator[Path]:
    for top in CHECKED:
        for path in sorted((ROOT / top).rglob("*.py")):
            if not SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
                yield path


def comments_and_docstrings(path: Path) -> Iterator[tuple[int, str]]:
    """(line, text) of every comment and docstring in ``path``."""
    text = path.read_text()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string
    for node in ast.walk(ast.parse(text, str(path))):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                first.value.value, str
            ):
                yield first.lineno, first.value.value


@cache
def markdown_names(root: Path) -> frozenset[str]:
    return frozenset(
        p.name for p in root.rglob("*.md") if not SKIPPED_DIRS & set(p.relative_to(root).parts)
    )


def md_exists(cited: str, root: Path = ROOT) -> bool:
    if "/" in cited:
        return (root / cited.lstrip("./")).is_file()
    return cited in markdown_names(root)


def bad_citations(path: Path, root: Path = ROOT) -> Iterator[str]:
    rel = path.relative_to(root).as_posix()
    for line, text in sorted(comments_and_docstrings(path)):
        for match in MD_FILE.finditer(text):
            if not md_exists(match.group(0), root):
                at = line + text.count("\n", 0, match.start())
                yield f"{rel}:{at}: cites {match.group(0)}, which is not in the repository"
        for match in ELSEWHERE.finditer(text):
            if (rel, match.group(0)) not in ALLOWED:
                at = line + text.count("\n", 0, match.start())
                yield f"{rel}:{at}: cites {match.group(0)!r}; cite a docs/ file or say the fact"


def test_citations_point_into_the_repository() -> None:
    problems = [problem for path in sources() for problem in bad_citations(path)]
    assert not problems, "\n".join(problems)


def test_the_check_catches_what_it_should(tmp_path: Path) -> None:
    assert md_exists("docs/lua.md") and md_exists("README.md")
    assert not md_exists("CONTRACTS.md") and not md_exists("docs/semantics.md")
    text = ('"""See semantics.md and docs/lua.md."""\n# issue 2\nx = "spec.md"\n'
            '# a full disk (R4); queue "r7" is a name\n')
    found = [m for _, t in comments_and_docstrings_of(text, tmp_path)
             for m in MD_FILE.findall(t)]
    assert found == ["semantics.md", "docs/lua.md"]  # the string literal is not a comment
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "lua.md").write_text("# Lua\n")
    assert list(bad_citations(tmp_path / "sample.py", tmp_path)) == [
        "sample.py:1: cites semantics.md, which is not in the repository",
        "sample.py:2: cites 'issue 2'; cite a docs/ file or say the fact",
        "sample.py:4: cites 'R4'; cite a docs/ file or say the fact",
    ]


def comments_and_docstrings_of(text: str, tmp_path: Path) -> list[tuple[int, str]]:
    path = tmp_path / "sample.py"
    path.write_text(text)
    return sorted(comments_and_docstrings(path), key=lambda item: item[0])
