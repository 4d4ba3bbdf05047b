"""Fuzz the Lua sandbox with scripts built from its most dangerous primitives.

Hypothesis generates scripts from metatables whose metamethods are C functions, lying values
or looping Lua functions, coroutines (nested, wrapped), pcall/xpcall/error nesting, string
functions on large inputs, string.rep/format/pack, the table functions and deep recursion.
Each script is compiled at top level and as the body of on_enqueue/on_failure with a 5 ms
budget, and every compile or call must return or raise HookError: never hang, never raise
anything else, never abort.

The scripts run in a child interpreter (one for the whole run, restarted after a failure): a
Lua PANIC calls abort(), which must fail the test, not kill pytest. Each script has a
liveness bound; a child that dies or does not answer in time fails the example, and
Hypothesis then shrinks the script. ``scripts/lua_fuzz.py`` runs the same generator longer.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from typing import IO

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Seconds one script (two compiles and a few calls at a 5 ms budget) may take before the child
# counts as hung. Generous: a loaded CI machine must never trip it by accident.
LIVENESS_S = 20.0
CI_EXAMPLES = 500

# ---------------------------------------------------------------- the generator

C_FUNCTIONS = [
    "tostring", "rawequal", "rawlen", "rawget", "rawset", "select", "type", "next", "pcall",
    "error", "ipairs", "pairs", "tonumber", "setmetatable", "getmetatable", "assert",
    "table.concat", "table.unpack", "table.sort", "table.insert", "table.remove",
    "table.move", "table.pack", "string.rep", "string.len", "string.format", "string.sub",
    "string.byte", "string.char", "string.pack", "string.unpack", "string.gsub",
    "string.find", "string.upper", "utf8.char", "utf8.len", "utf8.codepoint", "math.max",
    "math.min", "math.abs", "coroutine.wrap", "coroutine.create", "coroutine.resume",
    "coroutine.status", "coroutine.running", "coroutine.close", "coroutine.isyieldable",
]  # fmt: skip

LYING_NUMBERS = [
    "0", "1", "-1", "2", "1e3", "2^31 - 2", "2^31", "2^53", "2^62", "math.maxinteger",
    "math.mininteger", "1.5", "0/0", "math.huge", "'7'", "'x'",
]  # fmt: skip

def _strings() -> st.SearchStrategy[str]:
    return st.sampled_from(
        ["''", "'abc'", "S", "S .. S", "('a'):rep(4096) .. 'b'", "('('):rep(300)", "'%'"]
    )


# C functions that return something usable (a string, a number, a boolean) when a C library
# function calls them as a metamethod: the ones that keep a C loop going. Drawn more often.
LOOP_KEEPERS = ["table.concat", "tostring", "type", "rawlen", "rawequal", "select", "next"]
# Index arguments: the extremes more often than the rest.
BOUNDS = ["1", "math.maxinteger", "2^31 - 2", "1e6"]


def _numbers() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(BOUNDS), st.sampled_from(LYING_NUMBERS))


def _functions(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(LOOP_KEEPERS),
        st.sampled_from(C_FUNCTIONS),
        st.just("function(...) return ... end"),
        st.just("function() while true do end end"),
        st.builds(lambda n: f"function() return {n} end", _numbers()),
        st.builds(lambda b: f"function(...) {b} end", body),
    )


METAMETHODS = ["__index", "__newindex", "__len", "__concat", "__lt", "__le", "__eq",
               "__tostring", "__call", "__close", "__name", "__pairs", "__unm", "__add"]
# The ones C library loops consult, drawn more often.
HOT_METAMETHODS = ["__index", "__newindex", "__len"]


def _tables(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    value = st.one_of(_functions(body), _numbers(), _strings(), st.just("{}"),
                      st.just("setmetatable({}, { __index = {} })"))
    keys = st.one_of(st.sampled_from(HOT_METAMETHODS), st.sampled_from(METAMETHODS))
    fields = st.dictionaries(keys, value, min_size=1, max_size=4)
    plain = st.sampled_from(["{}", "{ 3, 1, 2 }", "{ 'b', 'a' }", "BIG", "CHAIN"])
    return st.one_of(
        st.builds(
            lambda base, fs: "setmetatable(" + base + ", { "
            + ", ".join(f"{k} = {v}" for k, v in fs.items()) + " })",
            st.sampled_from(["{}", "{ 1, 2, 3 }", "{ 'x' }"]),
            fields,
        ),
        plain,
    )


def _loop_tables() -> st.SearchStrategy[str]:
    """Tables built to keep a C library loop going: C __index/__newindex, a (lying) __len."""
    keeper = st.sampled_from(LOOP_KEEPERS)
    return st.builds(
        lambda idx, n, nidx: "setmetatable({}, { __index = " + idx
        + ", __len = function() return " + n + " end, __newindex = " + nidx + " })",
        st.one_of(keeper, st.just("CHAIN")),
        st.sampled_from([*BOUNDS, "0", "2"]),
        st.one_of(keeper, st.just("{}")),
    )


def _statements(body: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    t, n, s, f = _tables(body), _numbers(), _strings(), _functions(body)
    lt = st.one_of(_loop_tables(), t)
    return st.one_of(
        st.builds(lambda a, i, j: f"table.concat({a}, '', {i}, {j})", lt, n, n),
        st.builds(lambda a: f"table.concat({a})", lt),
        st.builds(lambda a: f"table.sort({a})", lt),
        st.builds(lambda a, c: f"table.sort({a}, {c})", lt, f),
        st.builds(lambda a, i, j: f"local _ = select('#', table.unpack({a}, {i}, {j}))", lt, n, n),
        st.builds(lambda a, i: f"table.insert({a}, {i}, 1)", t, n),
        st.builds(lambda a, i: f"table.remove({a}, {i})", t, n),
        st.builds(lambda a, i, j, k: f"table.move({a}, {i}, {j}, {k})", t, n, n, n),
        st.builds(lambda x, k, sep: f"local _ = string.rep({x}, {k}, {sep})", s, n, s),
        st.builds(
            lambda fmt, x: f"local _ = string.format({fmt}, {x})",
            st.sampled_from(["'%s'", "'%q'", "'%99d'", "'%.99f'", "'%-99s'", "'%a'", "'%c'",
                             "'%s%s%s%s'", "'%5.3s'", "'%i'"]),
            st.one_of(s, n, t),
        ),
        st.builds(
            lambda fmt, x: f"local _ = string.pack({fmt}, {x}, {x})",
            st.sampled_from(["'c2000000000'", "'i16'", "'s'", "'z'", "'!16 i16 Xi16'",
                             "'s1'", "'c1000000 c1000000'", "('i16'):rep(5000)", "'j n s'"]),
            st.one_of(s, n),
        ),
        st.builds(
            lambda fmt, x: f"local _ = string.unpack({fmt}, {x})",
            st.sampled_from(["'c2000000000'", "'i16'", "'z'", "('b'):rep(100000)", "'s4'"]),
            s,
        ),
        st.builds(
            lambda fn, x, p: f"local _ = string.{fn}({x}, {p})",
            st.sampled_from(["find", "match", "gsub", "gmatch", "byte", "upper", "reverse",
                             "len", "sub"]),
            s,
            st.sampled_from(["'.-.-.-b'", "'(a*)*'", "'%b()'", "'[^a]*$'", "'(.-)%1'",
                             "'a'", "1", "-1"]),
        ),
        st.builds(lambda x, r: f"local _ = string.gsub({x}, '.', {r})", s, st.one_of(t, f)),
        st.builds(lambda a: f"local _ = tostring({a})", t),
        st.builds(lambda a: f"local _ = {a} .. 'x'", t),
        st.builds(lambda a, b: f"local _ = {a} < {b}", t, t),
        st.builds(lambda a: f"local _ = #{a}", t),
        st.builds(lambda a, k: f"local _ = ({a})[{k}]", t, n),
        st.builds(lambda a, k: f"local x = {a} x[{k}] = 1", t, n),
        st.builds(lambda a: f"local _ = ({a})()", t),
        st.builds(lambda a: f"for _ in pairs({a}) do end", t),
        st.builds(lambda a: f"for _ in ipairs({a}) do end", t),
        st.builds(lambda a: f"local _ = next({a})", t),
        st.builds(lambda a: f"local _ = rawlen({a})", t),
        st.builds(lambda k: f"local _ = select({k}, 1, 2, 3)", n),
        st.builds(lambda a: f"local x <close> = {a}", t),
        st.builds(lambda k: f"local _ = utf8.char({k}, {k})", n),
        st.builds(lambda x, k: f"local _ = utf8.offset({x}, {k})", s, n),
        st.builds(lambda x: f"local _ = utf8.codepoint({x}, 1, -1)", s),
        st.builds(lambda x: f"error({x})", st.one_of(s, t)),
        st.just("local function r(n) return r(n + 1) + 1 end r(1)"),
        st.just("local function r() return pcall(r) end r()"),
        st.just("local function r() return xpcall(r, r) end r()"),
        st.just("local function r() return string.gsub('a', 'a', r) end r()"),
        st.just("local function r() return tostring(setmetatable({}, { __tostring = r })) end r()"),
        st.just("while true do end"),
        st.just("local s = 'x' while true do s = s .. s end"),
        st.just("keep = keep or {} keep[#keep + 1] = ('k'):rep(100000)"),
        st.just("coroutine.yield()"),
    )


def _wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    block = st.lists(inner, min_size=1, max_size=3).map("\n".join)
    return st.one_of(
        block,
        block.map(lambda b: f"pcall(function()\n{b}\nend)"),
        block.map(lambda b: f"xpcall(function()\n{b}\nend, function(e) return e end)"),
        block.map(lambda b: f"xpcall(function()\n{b}\nend, function()\n{b}\nend)"),
        block.map(lambda b: f"coroutine.wrap(function()\n{b}\nend)()"),
        block.map(lambda b: f"pcall(coroutine.wrap(function()\n{b}\nend))"),
        block.map(lambda b: f"coroutine.resume(coroutine.create(function()\n{b}\nend))"),
        block.map(lambda b: f"for _ = 1, 50 do\n{b}\nend"),
        block.map(lambda b: f"while true do pcall(function()\n{b}\nend) end"),
        block.map(lambda b: f"local co = coroutine.wrap(function() coroutine.yield() {b} end)"
                            " co() pcall(co)"),
    )


def _bodies() -> st.SearchStrategy[str]:
    return st.deferred(
        lambda: st.recursive(_statements(st.just("return 1")), _wrap, max_leaves=6)
    )



def prelude(chain_depth: int, big: int) -> str:
    """Locals the statements use: a 4 KiB string, a plain array and an __index chain."""
    return (
        "local S = ('a'):rep(4096) .. 'b'\n"
        f"local BIG = {{}} for i = 1, {big} do BIG[i] = i end\n"
        f"local CHAIN = {{}} for i = 1, {chain_depth} do"
        " CHAIN = setmetatable({}, { __index = CHAIN }) end\n"
    )


# At top level the prelude shares the compile budget with the statements, so it is small there;
# for the hooks it runs at compile time and the calls get their whole budget. (Each chain level
# costs ~45 budget units; 800 levels fit in the 50 000 of a 5 ms budget.)
PRELUDE_TOP = prelude(50, 200)
PRELUDE_HOOK = prelude(800, 500)


def script_bodies() -> st.SearchStrategy[str]:
    """A script body: a few statements, each possibly wrapped, run one after the other."""
    return st.lists(_bodies(), min_size=1, max_size=4).map(
        lambda stmts: "\n".join(f"pcall(function()\n{s}\nend)" if i % 2 else s
                                for i, s in enumerate(stmts))
    )


# ---------------------------------------------------------------- the child process

CHILD = r"""
import json, sys
from fila.server.hooks import (HookError, HookSettings, QueueHooks, MAX_DELAY_MS,
                               MAX_KEY_BYTES, MAX_WEIGHT)
S = HookSettings(timeout_ms=5)

def check(fn):
    try:
        return fn()
    except HookError:
        return None

for line in sys.stdin:
    body = json.loads(line)
    top, hook, body = body["top"], body["hook"], body["body"]
    problems = []
    try:
        check(lambda: QueueHooks(top + body + "\nfunction on_enqueue(msg) end", "", S,
                                 lambda _k: "cfg"))
        src = (hook + "function on_enqueue(msg)\n if msg.headers.attack then\n" + body
               + "\n end\n return { fairness_key = 'ok' }\nend")
        fsrc = hook + "function on_failure(msg)\n" + body + "\nend"
        h = check(lambda: QueueHooks(src, fsrc, S, lambda _k: "cfg"))
        if h is not None:
            for headers in ({"attack": "1"}, {"attack": "1", "x": "a" * 4096}, {}):
                d = check(lambda: h.on_enqueue(headers, 10, "q"))
                if d is not None:
                    if not (0 <= d.weight <= MAX_WEIGHT and 0 <= d.delay_ms <= MAX_DELAY_MS
                            and len(d.fairness_key.encode()) <= MAX_KEY_BYTES):
                        problems.append(f"out of range: {d!r}")
                    if not headers and d.fairness_key != "ok":
                        problems.append(f"benign call returned {d!r}")
                f = check(lambda: h.on_failure({"a": "b"}, "id", 2, "q", "boom"))
                if f is not None and not 0 <= f.delay_ms <= MAX_DELAY_MS:
                    problems.append(f"out of range: {f!r}")
            h.describe_last()
            h.memory_used()
            h.close()
    except BaseException as e:  # anything but HookError escaping QueueHooks is a bug
        problems.append(f"{type(e).__name__}: {e}")
    sys.stdout.write(json.dumps(problems) + "\n")
    sys.stdout.flush()
"""


class Child:
    """One interpreter running scripts sent over a pipe, restarted when it dies or hangs."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, body: str, liveness_s: float = LIVENESS_S) -> list[str]:
        """Problems found running ``body`` (empty list if none)."""
        if self.proc is None or self.proc.poll() is not None:
            self.proc = self._start()
        proc = self.proc
        stdin, stdout = proc.stdin, proc.stdout
        assert stdin is not None and stdout is not None
        try:
            stdin.write(json.dumps({"top": PRELUDE_TOP, "hook": PRELUDE_HOOK, "body": body}) + "\n")
            stdin.flush()
        except BrokenPipeError:
            return [self._died(proc)]
        ready, _, _ = select.select([stdout], [], [], liveness_s)
        if not ready:
            self.close()
            return [f"no answer within {liveness_s} s (hung)"]
        line = stdout.readline()
        if not line:
            return [self._died(proc)]
        problems: list[str] = json.loads(line)
        return problems

    def _died(self, proc: subprocess.Popen[str]) -> str:
        proc.wait(timeout=LIVENESS_S)
        err: IO[str] | None = proc.stderr
        tail = err.read()[-2000:] if err is not None else ""
        self.proc = None
        return f"child died with exit code {proc.returncode}: {tail}"

    def close(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if pipe is not None:
                    pipe.close()
            self.proc = None


_CHILD = Child()


def check_body(body: str) -> None:
    problems = _CHILD.run(body)
    assert not problems, f"{problems}\n--- script body ---\n{body}"


@settings(
    max_examples=int(os.environ.get("FILA_LUA_FUZZ_EXAMPLES", CI_EXAMPLES)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
@given(script_bodies())
def test_generated_scripts_end_in_a_result_or_hook_error(body: str) -> None:
    check_body(body)


def test_the_child_reports_an_abort_as_a_failure() -> None:
    # The harness itself: a child that dies must be reported, not hang or pass.
    child = Child()
    try:
        child.proc = subprocess.Popen(
            [sys.executable, "-c", "import os, sys; sys.stdin.readline(); os.abort()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        problems = child.run("local x = 1")
        assert problems and "child died" in problems[0]
    finally:
        child.close()


def teardown_module() -> None:
    _CHILD.close()
