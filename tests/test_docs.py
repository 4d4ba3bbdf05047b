"""The shell samples of README.md and docs/*.md, run against a test server.

Convention (so the docs cannot drift from the software again):

* A fenced code block that has a line starting with ``fila `` or ``$ fila `` is a sample
  and runs, in order, file by file: each file gets a fresh broker (``FILA_ADDR`` points
  at it) and a fresh working directory; every command runs in ``bash`` there.
* Where the test server's address appears in the output, the default address
  (``http://localhost:5555``) the samples assume is put instead.
* In a block with ``$ `` prompts, each ``$ `` line is a command (continued over lines
  while a quote is open or a line ends in ``\\``) and the lines up to the next prompt are
  its output: stdout and stderr together, compared line by line with runs of spaces
  collapsed, UUIDs written as any UUID, 13-digit millisecond times as any such number,
  and a ``...`` line standing for any number of lines.
* In a block without prompts every command must succeed; its output is not checked.
* ``<!-- docs-test: skip (why) -->`` on the line before a block skips it, saying why
  (a server start, grpcurl, a terminal prompt, a synopsis). Nothing is skipped
  silently: every skip needs the marker, the marker needs a reason, and a ``sh``,
  ``console`` or ``python`` block that is not a sample needs one too.
* ``<!-- docs-test: file NAME -->`` before a block writes the block to ``NAME`` in the
  working directory instead (a hook file a later sample reads), without running it.

``DOCS_TEST_SHOW=1 pytest tests/test_docs.py -s`` prints what each command really printed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

RUNNABLE = {"sh", "bash", "shell", "console", "python"}
DEFAULT_URL, DEFAULT_ADDR = "http://localhost:5555", "localhost:5555"
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|file)\s*(.*?)\s*-->")
UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")
MILLIS = re.compile(r"\b1[0-9]{12}\b")


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the opening fence
    text: list[str]
    marker: tuple[str, str] | None = None

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"

    @property
    def is_sample(self) -> bool:
        return any(re.match(r"(\$ )?fila ", line) for line in self.text)


@dataclass
class Step:
    command: str
    expected: list[str] | None  # None: not checked, must exit 0
    line: int
    outputs: list[str] = field(default_factory=list)


def blocks_of(doc: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = doc.read_text(encoding="utf-8").splitlines()
    marker: tuple[str, str] | None = None
    current: Block | None = None
    for i, line in enumerate(lines, start=1):
        if current is not None:
            if line.startswith("```"):
                blocks.append(current)
                current = None
            else:
                current.text.append(line)
            continue
        found = MARKER.search(line)
        if found:
            marker = (found.group(1), found.group(2))
        elif line.startswith("```"):
            current = Block(doc, i, [], marker)
            marker = None
        elif line.strip() and not line.lstrip().startswith("<!--"):
            # A marker applies to the block right after it (other comments may sit between).
            marker = None
    return blocks


def _complete(command: str) -> bool:
    if command.endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def steps_of(block: Block) -> list[Step]:
    prompted = any(line.startswith("$ ") for line in block.text)
    steps: list[Step] = []
    i = 0
    while i < len(block.text):
        line = block.text[i]
        if prompted and not line.startswith("$ "):
            if steps and steps[-1].expected is not None:
                steps[-1].expected.append(line)
            i += 1
            continue
        if not line.strip():
            i += 1
            continue
        command = line[2:] if prompted else line
        start = i
        while not _complete(command) and i + 1 < len(block.text):
            i += 1
            command += "\n" + block.text[i]
        steps.append(Step(command, [] if prompted else None, block.line + 1 + start))
        i += 1
    return steps


def normalise(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        line = MILLIS.sub("<MS>", UUID.sub("<UUID>", line))
        out.append(" ".join(line.split()))
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line equality where a ``...`` line stands for any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[k:]) for k in range(len(actual) + 1))
    return bool(actual) and expected[0] == actual[0] and matches(expected[1:], actual[1:])


class Shell:
    """Runs commands with bash in one working directory; remembers the last exit code."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env, self.status = cwd, env, 0

    def run(self, command: str) -> tuple[int, str]:
        script = f"(exit {self.status})\n{command}\n"
        done = subprocess.run(["bash", "-c", script], cwd=self.cwd, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=120)
        self.status = done.returncode
        return done.returncode, done.stdout.decode("utf-8", "replace")


def _runs(doc: Path) -> bool:
    return any(b.is_sample and b.marker is None for b in blocks_of(doc))


def test_blocks_that_do_not_run_say_why() -> None:
    """A skip gives its reason; a sh/console/python block that is no sample has a skip."""
    unmarked = []
    for doc in DOCS:
        fences = doc.read_text(encoding="utf-8").splitlines()
        for block in blocks_of(doc):
            if block.marker is not None and block.marker[0] == "skip":
                assert re.fullmatch(r"\(.+\)", block.marker[1]), f"{block.where}: skip needs (why)"
            language = fences[block.line - 1][3:].strip()
            if language in RUNNABLE and not block.is_sample and block.marker is None:
                unmarked.append(block.where)
    assert not unmarked, f"blocks that look runnable but neither run nor say why: {unmarked}"


@pytest.mark.parametrize("doc", [d for d in DOCS if _runs(d)], ids=lambda d: d.name)
def test_doc_samples_run(doc: Path, make_server: Callable[..., Any], tmp_path: Path) -> None:
    server = make_server()
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "FILA_ADDR": server.url, "COLUMNS": "200",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    shell = Shell(work, env)
    show = bool(os.environ.get("DOCS_TEST_SHOW"))
    failures: list[str] = []
    for block in blocks_of(doc):
        if block.marker is not None and block.marker[0] == "file":
            target = work / block.marker[1]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(block.text) + "\n")
            continue
        if not block.is_sample or block.marker is not None:
            continue
        for step in steps_of(block):
            code, output = shell.run(step.command)
            # The samples assume the default address; the test server has its own.
            output = output.replace(server.url, DEFAULT_URL).replace(server.addr, DEFAULT_ADDR)
            if show:
                print(f"--- {doc.name}:{step.line} $ {step.command}\n{output}", end="")
            where = f"{doc.relative_to(ROOT)}:{step.line}: {step.command.splitlines()[0]}"
            if step.expected is None:
                if code != 0:
                    failures.append(f"{where}\n  exit {code}:\n{output}")
                continue
            want, got = normalise(step.expected), normalise(output.splitlines())
            if not matches(want, got):
                failures.append(f"{where}\n  expected:\n    " + "\n    ".join(want)
                                + "\n  got:\n    " + "\n    ".join(got))
    assert not failures, "\n\n".join(failures)
