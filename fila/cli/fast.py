"""The one-shot fast path: `fila enqueue` and `fila version` without loading Typer.

Typer (and the Click it vendors) costs a one-shot command ~60 ms of imports, about
half of what the RPC itself costs (docs/benchmarks.md "CLI start-up"). A script
that enqueues in a loop pays it every time, so the two commands scripts call most
are parsed here when their arguments take the plain shape below; anything else —
``--help``, a mistake, an option not listed here — returns None and goes to Typer,
which owns the help text and the usage errors. The bodies are shared with the
Typer commands (fila/cli/oneshot.py); tests/cli/test_cli_startup.py runs both ways.

    fila [--addr A] [--json] [-y] enqueue QUEUE PAYLOAD [-H K=V]... [--delay MS] [--json]
    fila [--addr A] [--json] [-y] version [--json]

(``--addr`` and the other global options may also follow the command, and so may the
security options ``--api-key``, ``--tls-ca``, ``--tls-cert``, ``--tls-key``.) ``fila enqueue
--jsonl`` (many messages) goes to Typer: its start-up cost is spread over the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["parse", "run"]


@dataclass
class _Parsed:
    command: str
    addr: str | None = None
    json: bool = False
    positionals: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    delay_ms: int = 0
    security: dict[str, str] = field(default_factory=dict)


# Global flags, accepted before or after the command (--addr, which takes a value, too).
_GLOBAL_FLAGS = {"--json": "json", "--yes": None, "-y": None}
# Global options with a value -> the State field they fill.
_SECURITY = {"--api-key": "api_key", "--tls-ca": "tls_ca", "--tls-cert": "tls_cert",
             "--tls-key": "tls_key"}
# Per command: the options that take a value, and the field each fills.
_VALUE_OPTS: dict[str, dict[str, str]] = {
    "enqueue": {"--header": "headers", "-H": "headers", "--delay": "delay_ms"},
    "version": {},
}


def parse(argv: Sequence[str]) -> _Parsed | None:
    """The command and its arguments, or None when Typer should handle ``argv``."""
    parsed: _Parsed | None = None
    before: _Parsed = _Parsed(command="")
    args = list(argv)
    i = 0
    while i < len(args):
        token = args[i]
        target = parsed or before
        name, eq, inline = token.partition("=")
        if token in _GLOBAL_FLAGS:
            if _GLOBAL_FLAGS[token] == "json":
                target.json = True
        elif name == "--addr" or name in _SECURITY:
            if eq:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                return None
            if name == "--addr":
                target.addr = value
            else:
                target.security[_SECURITY[name]] = value
        elif parsed is None:
            if token not in _VALUE_OPTS:
                return None  # another command, an option Typer knows, or --help
            parsed = _Parsed(command=token, addr=before.addr, json=before.json,
                             security=before.security)
        elif name in _VALUE_OPTS[parsed.command]:
            if eq:
                value = inline
            elif i + 1 < len(args):
                i += 1
                value = args[i]
            else:
                return None
            if _VALUE_OPTS[parsed.command][name] == "headers":
                parsed.headers.append(value)
            elif value.isdigit() and value.isascii():
                parsed.delay_ms = int(value)
            else:
                return None  # let Typer word the error
        elif token.startswith("-") and token != "-":
            return None  # --help, --file, --, a typo: Typer's business
        else:
            parsed.positionals.append(token)
        i += 1
    if parsed is None:
        return None
    wanted = 2 if parsed.command == "enqueue" else 0
    if len(parsed.positionals) != wanted:
        return None
    return parsed


def run(argv: Sequence[str]) -> bool:
    """Run ``argv`` here if it takes the fast shape; False means: use Typer."""
    parsed = parse(argv)
    if parsed is None:
        return False
    from fila.cli.base import State, env_addr
    from fila.cli.oneshot import run_enqueue, run_version

    sec = parsed.security
    st = State(addr=parsed.addr if parsed.addr is not None else env_addr(), json=parsed.json,
               api_key=sec.get("api_key"), tls_ca=sec.get("tls_ca"),
               tls_cert=sec.get("tls_cert"), tls_key=sec.get("tls_key"))
    commands: dict[str, Callable[[], None]] = {
        "enqueue": lambda: run_enqueue(
            st,
            parsed.positionals[0],
            parsed.positionals[1],
            headers=parsed.headers,
            delay_ms=parsed.delay_ms,
            json_out=parsed.json,
        ),
        "version": lambda: run_version(st, json_out=parsed.json),
    }
    commands[parsed.command]()
    return True
