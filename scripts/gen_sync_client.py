"""Write the blocking client from the asyncio one (run: python scripts/gen_sync_client.py).

``fila/_async_client.py`` is the source. This script writes

* ``fila/_sync_client.py``: ``Client``, by token substitution (``async def`` -> ``def``,
  ``await x`` -> ``x``, ``AsyncClient`` -> ``Client``, ...), the way httpcore writes
  its ``_sync`` package from ``_async``;
* ``fila/_client_api.py``: ``ClientAPI``, a Protocol with the blocking client's public
  methods (signatures and docstrings, no bodies), for code that takes "something
  shaped like a Client" (the TUI's backend and its test fake).

tests/test_generated_code.py fails when either file is stale.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("fila") / "_async_client.py"
SYNC = Path("fila") / "_sync_client.py"
API = Path("fila") / "_client_api.py"

# Applied in order. Regexes first (they need the Async names), then plain tokens.
PATTERNS: list[tuple[str, str]] = [
    (r"AsyncGenerator\[(\w+), None\]", r"Generator[\1, None, None]"),
    (r"AsyncStream\[(\w+)\]", r"Generator[\1, None, None]"),
    (r"Awaitable\[([^\[\]]*)\]", r"\1"),
    (r"^    AsyncStream,\n", ""),
    (r"\bawait ", ""),
    (r"\basync (def|for|with) ", r"\1 "),
]
TOKENS: list[tuple[str, str]] = [
    ("from collections.abc import AsyncGenerator, Awaitable, Callable",
     "from collections.abc import Callable, Generator"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("aclose()", "close()"),
    ("_async_channel", "_sync_channel"),
    ("_async_stream", "_sync_stream"),
    ("_async_coalescer", "_sync_coalescer"),
    ("AsyncCoalescer", "BlockingCoalescer"),
    ("AsyncAcker", "BlockingAcker"),
    ("AsyncClient", "Client"),
    ("asyncio client for a Fila broker.", "Blocking client for a Fila broker."),
]
LEFTOVERS = re.compile(r"\basync\b|\bawait\b|Async|aclose|Awaitable|grpc\.aio")

SYNC_HEADER = '''"""The blocking client. GENERATED from fila/_async_client.py: do not edit.

Regenerate with ``python scripts/gen_sync_client.py``.
"""
'''

API_HEADER = '''"""The blocking client's public API as a Protocol. GENERATED: do not edit.

Written by ``python scripts/gen_sync_client.py`` from :class:`fila.client.Client`
(itself generated from ``fila/_async_client.py``): signatures and docstrings only.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

from fila._acker import BlockingAcker
from fila.errors import FilaError
from fila.types import (
    Acl,
    ApiKeyInfo,
    BackupInfo,
    ClusterStatus,
    ConsumeMessage,
    CreatedApiKey,
    EnqueueItem,
    HookResult,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueStats,
    ServerInfo,
    StatsHistory,
    StatsSnapshot,
)

__all__ = ["ClientAPI"]


class ClientAPI(Protocol):
    """What :class:`fila.client.Client` offers, method for method."""
'''


def sync_source(async_source: str) -> str:
    """The blocking client's module text for the asyncio client's module text."""
    _, sep, rest = async_source.partition('"""\n\n')  # drop the source's own docstring
    if not sep:
        raise SystemExit(f"{SOURCE}: expected a module docstring")
    text = rest
    for pattern, repl in PATTERNS:
        text = re.sub(pattern, repl, text, flags=re.MULTILINE)
    for old, new in TOKENS:
        text = text.replace(old, new)
    left = sorted({m.group(0) for m in LEFTOVERS.finditer(text)})
    if left:
        raise SystemExit(f"{SOURCE}: no substitution for {left}; extend the tables")
    return SYNC_HEADER + "\n" + text


def api_source(sync_text: str) -> str:
    """A Protocol with every public method of the Client in ``sync_text``."""
    lines = sync_text.splitlines()
    tree = ast.parse(sync_text)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Client")
    out = [API_HEADER]
    for node in cls.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        first = node.body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        end = first.end_lineno if has_doc else node.body[0].lineno - 1
        assert end is not None
        out.append("\n".join(lines[node.lineno - 1 : end]))
        out.append("        ...\n")
    return "\n".join(out).rstrip("\n") + "\n"


def generate(root: Path) -> dict[Path, str]:
    """The generated files' texts, keyed by path relative to the project root."""
    sync_text = sync_source((ROOT / SOURCE).read_text())
    return {SYNC: sync_text, API: api_source(sync_text)}


def main(out: Path) -> None:
    for rel, text in generate(ROOT).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT)
