"""Hostile scripts and hostile headers: every attack ends fast with HookError, nothing reaches
the host, and the same QueueHooks keeps working for the next (normal) message."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from fila.server.hooks import HookError, HookSettings, QueueHooks

SETTINGS = HookSettings()  # 10 ms / 100k instructions, 1 MiB
# Locally these calls take 0-15 ms. CPU time of this thread is what the budget bounds; wall
# time also includes being descheduled on a loaded CI machine, hence the looser wall bound.
CPU_LIMIT_S = 0.2
WALL_LIMIT_S = 1.0
BOMB_HEADER = "a" * 4096


def attack_hooks(attack: str) -> QueueHooks:
    # The attack only runs when the message carries the `attack` header; otherwise the hook
    # behaves normally, which is what the follow-up call checks.
    src = (
        "function on_enqueue(msg)\n"
        "  if msg.headers.attack then\n"
        f"{attack}\n"
        "  end\n"
        '  return { fairness_key = msg.headers.tenant or "ok" }\n'
        "end\n"
    )
    return QueueHooks(src, "", SETTINGS, lambda _k: "config-value")


def run_attack(attack: str, headers: dict[str, str] | None = None) -> str:
    h = attack_hooks(attack)
    start, start_cpu = time.perf_counter(), time.thread_time()
    with pytest.raises(HookError) as exc:
        h.on_enqueue({"attack": "1", **(headers or {})}, 0, "q")
    cpu = time.thread_time() - start_cpu
    elapsed = time.perf_counter() - start
    assert cpu < CPU_LIMIT_S, f"used {cpu * 1000:.1f} ms CPU: {exc.value}"
    assert elapsed < WALL_LIMIT_S, f"took {elapsed * 1000:.1f} ms: {exc.value}"
    # A normal message right after, on the same QueueHooks.
    assert h.on_enqueue({"tenant": "acme"}, 0, "q").fairness_key == "acme"
    return str(exc.value)


ESCAPES = {
    "os.execute": "os.execute('touch {marker}')",
    "io.open": "io.open('{marker}', 'w')",
    "require": "require('os').execute('touch {marker}')",
    "package": "package.loadlib('libc.so.6', 'system')",
    "debug.sethook": "debug.sethook()",
    "debug.getregistry": "debug.getregistry()",
    "load": "load('return 1')()",
    "loadfile": "loadfile('/etc/passwd')",
    "dofile": "dofile('/etc/passwd')",
    "collectgarbage": "collectgarbage('stop')",
    "string.dump": "load(string.dump(function() end))",
    "string metatable": "getmetatable('').__index.upper = function() return 'pwned' end",
    "python.eval": 'python.eval(\'open("{marker}", "w")\')',
    "python.builtins": "python.builtins.open('{marker}', 'w')",
    "__class__ walk on msg": "local x = msg.__class__.__mro__",
    "__class__ walk on headers": "local x = msg.headers.__class__.__bases__",
    "__class__ walk on fila.get": "local x = fila.get.__globals__",
    "rawget on _G": "rawget(_G, 'os').execute('touch {marker}')",
    "print": "print('noise')",
    "__gc finalizer": "setmetatable({}, { __gc = function() while true do end end })",
    "yield out of the hook": "coroutine.yield({ fairness_key = 'x' })",
}


@pytest.mark.parametrize("name", list(ESCAPES))
def test_escape_attempts_fail(name: str, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    run_attack(ESCAPES[name].replace("{marker}", str(marker)))
    assert not marker.exists()


def test_sandbox_globals_are_only_the_allowed_ones() -> None:
    h = QueueHooks(
        "function on_enqueue(msg)\n"
        "  local names = {}\n"
        "  for k in pairs(_G) do names[#names + 1] = k end\n"
        "  table.sort(names)\n"
        "  return { fairness_key = table.concat(names, ',') }\n"
        "end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    names = set(h.on_enqueue({}, 0, "q").fairness_key.split(","))
    assert names == {
        "_G", "_VERSION", "assert", "coroutine", "error", "fila", "getmetatable", "ipairs",
        "math", "next", "on_enqueue", "pairs", "pcall", "rawequal", "rawget", "rawlen",
        "rawset", "select", "setmetatable", "string", "table", "tonumber", "tostring",
        "type", "utf8", "xpcall",
    }  # fmt: skip


def test_string_methods_of_one_queue_do_not_leak_to_another() -> None:
    evil = QueueHooks(
        "string.upper = function() return 'pwned' end\n"
        "function on_enqueue(msg) return { fairness_key = ('x'):upper() } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    good = QueueHooks(
        "function on_enqueue(msg) return { fairness_key = ('x'):upper() } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    assert evil.on_enqueue({}, 0, "q").fairness_key == "pwned"  # its own business
    assert good.on_enqueue({}, 0, "q").fairness_key == "X"


def test_globals_of_one_queue_are_invisible_to_another() -> None:
    a = QueueHooks(
        "secret = 'a-secret'\nfunction on_enqueue(msg) return { fairness_key = secret } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    b = QueueHooks(
        "function on_enqueue(msg) return { fairness_key = tostring(secret) } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    assert a.on_enqueue({}, 0, "q").fairness_key == "a-secret"
    assert b.on_enqueue({}, 0, "q").fairness_key == "nil"


BOMBS = {
    "while true": ("while true do end", "instruction budget exceeded"),
    "pcall-wrapped loop": (
        "while true do pcall(function() while true do end end) end",
        "budget exceeded",
    ),
    "pcall catching and retrying": (
        "for i = 1, 1e9 do pcall(error, 'x') end",
        "budget exceeded",
    ),
    "xpcall with looping handler": (
        "xpcall(function() while true do end end, function() while true do end end)",
        "budget exceeded",
    ),
    "coroutine loop": (
        "local co = coroutine.create(function() while true do end end) coroutine.resume(co)"
        " while true do end",
        "budget exceeded",
    ),
    "many coroutines": (
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
        "budget exceeded",
    ),
    "coroutine.wrap loop in pcall": (
        "while true do pcall(coroutine.wrap(function() while true do end end)) end",
        "budget exceeded",
    ),
    "deep recursion": ("local function f(n) return 1 + f(n + 1) end f(1)", ""),
    "huge table": ("local t = {} for i = 1, 1e8 do t[i] = i end", ""),
    "string doubling": ("local s = 'x' while true do s = s .. s end", "not enough memory"),
    "string.rep bomb": ("local s = string.rep('x', 1e9)", "too large"),
    "string.rep method bomb": ("local s = ('x'):rep(2^40, ',')", "too large"),
    "string.rep just under the memory limit, in a loop": (
        "while true do pcall(string.rep, 'x', 900000) end",
        "budget",
    ),
    "concatenating big strings": (
        "local s = ('x'):rep(400000) while true do local y = s .. 'a' end",
        "budget exceeded",
    ),
    "table.sort loop": (
        "local t = {} for i = 1, 20000 do t[i] = i end while true do table.sort(t) end",
        "budget",
    ),
    "table.insert with lying __len": (
        "local t = setmetatable({}, { __len = function() return 2^53 end }) table.insert(t, 1, 1)",
        "budget exceeded",
    ),
    "table.remove with lying __len": (
        "local t = setmetatable({}, { __len = function() return 2^53 end }) table.remove(t, 1)",
        "budget exceeded",
    ),
    "table.move over 2^50 slots": ("table.move({}, 1, 2^50, 1, {})", "budget exceeded"),
    "table.concat huge range": ("table.concat({}, '', 1, 2^50)", "invalid value"),
    "table.unpack huge range": ("table.unpack({}, 1, 1e8)", "too many results"),
    "looping __close during an error": (
        "local x <close> = setmetatable({}, { __close = function() while true do end end })"
        " error('boom')",
        "budget exceeded",
    ),
    "looping gsub callback": (
        "string.gsub(('a'):rep(100), 'a', function() while true do end end)",
        "budget exceeded",
    ),
    "looping __tostring via string.format": (
        "string.format('%s', setmetatable({}, { __tostring = function() while true do end end }))",
        "budget exceeded",
    ),
    "looping sort comparator": (
        "table.sort({ 3, 2, 1, 5, 4 }, function() while true do end end)",
        "budget exceeded",
    ),
    "many cheap C calls on a string": (
        "local s = ('a'):rep(1000) for i = 1, 1e9 do local x = s:upper() end",
        "budget exceeded",
    ),
    "__index recursion": (
        "local t = setmetatable({}, { __index = function(t, k) return t[k + 1] end })"
        " local x = t[1]",
        "stack overflow",
    ),
    "returning a huge throttle_keys": (
        "local t = {} for i = 1, 10000 do t[i] = 'k' end return { throttle_keys = t }",
        "at most 64",
    ),
    "returning a huge fairness_key": (
        "return { fairness_key = ('x'):rep(100000) }",
        "at most 256",
    ),
}


@pytest.mark.parametrize("name", list(BOMBS))
def test_resource_bombs_end_within_budget(name: str) -> None:
    attack, fragment = BOMBS[name]
    message = run_attack(attack)
    assert fragment in message


def test_budget_error_names_the_script_line() -> None:
    message = run_attack("local i = 0\nwhile true do i = i + 1 end")
    assert message.startswith("on_enqueue:4: instruction budget exceeded")


PATTERN_BOMBS = {
    "find": "return { fairness_key = tostring(msg.headers.x:find('.-.-.-b')) }",
    "match": "return { fairness_key = tostring(string.match(msg.headers.x, '(.-)(.-)(.-)b')) }",
    "gmatch": "for m in msg.headers.x:gmatch('a*a*a*b') do end",
    "gsub": "return { fairness_key = tostring(msg.headers.x:gsub('.-.-.-b', '')) }",
    "balanced + backrefs": "local r = msg.headers.x:find('(a*)(a*)%1%2b')",
    "plain find with long needle": (
        "local s = ('a'):rep(500000) local n = ('a'):rep(200000) .. 'b' "
        "while true do s:find(n, 1, true) end"
    ),
}


@pytest.mark.parametrize("name", list(PATTERN_BOMBS))
def test_pattern_bombs_on_a_4kib_header_are_refused(name: str) -> None:
    message = run_attack(PATTERN_BOMBS[name], {"x": BOMB_HEADER})
    assert "too expensive" in message or "budget exceeded" in message


def test_pattern_guard_lets_ordinary_patterns_through() -> None:
    h = QueueHooks(
        "function on_enqueue(msg)\n"
        "  local tenant, plan = msg.headers.account:match('^(%w+):(%w+)$')\n"
        "  local n = 0 for _ in msg.headers.tags:gmatch('[^,]+') do n = n + 1 end\n"
        "  local region = msg.headers.region:gsub('%-', '_')\n"
        "  return { fairness_key = tenant .. '/' .. plan .. '/' .. region, weight = n,\n"
        "           delay_ms = msg.headers.trace:find('cafe', 1, true) }\n"
        "end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    headers = {
        "account": "acme:gold",
        "tags": "a,b,c",
        "region": "eu-west-1",
        "trace": "0" * 1000 + "cafe",
    }
    d = h.on_enqueue(headers, 0, "q")
    assert (d.fairness_key, d.weight, d.delay_ms) == ("acme/gold/eu_west_1", 3, 1001)
    # Single-quantifier patterns over a hostile 4 KiB value still run.
    h2 = QueueHooks(
        "function on_enqueue(msg) return { weight = #msg.headers.x:match('^(a*)') } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    assert h2.on_enqueue({"x": BOMB_HEADER}, 0, "q").weight == 4096


def test_malformed_pattern_is_an_error() -> None:
    with pytest.raises(HookError, match="malformed pattern"):
        attack_hooks("string.find('abc', '[a')").on_enqueue({"attack": "1"}, 0, "q")


def test_string_rep_of_empty_strings_returns_at_once() -> None:
    h = QueueHooks(
        "function on_enqueue(msg) return { fairness_key = 'x' .. string.rep('', 2^60) } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    start = time.perf_counter()
    assert h.on_enqueue({}, 0, "q").fairness_key == "x"
    assert time.perf_counter() - start < WALL_LIMIT_S


def test_infinite_loop_at_load_time_is_a_compile_error() -> None:
    start = time.perf_counter()
    with pytest.raises(HookError, match="budget exceeded"):
        QueueHooks("while true do end", "", SETTINGS, lambda _k: None)
    assert time.perf_counter() - start < WALL_LIMIT_S + 0.1


def test_memory_limit_is_per_queue() -> None:
    hog = QueueHooks(
        "keep = {}\nfunction on_enqueue(msg)\n"
        "  keep[#keep + 1] = ('x'):rep(200000)\n  return nil\nend",
        "",
        SETTINGS,
        lambda _k: None,
    )
    other = QueueHooks(
        "function on_enqueue(msg) local s = ('y'):rep(400000) return { weight = #s } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    with pytest.raises(HookError, match="not enough memory"):
        for _ in range(10):
            hog.on_enqueue({}, 0, "q")
    assert other.on_enqueue({}, 0, "q").weight == 400000


def test_many_attacks_in_a_row_keep_the_queue_usable() -> None:
    h = attack_hooks("while true do pcall(function() while true do end end) end")
    for _ in range(20):
        with pytest.raises(HookError):
            h.on_enqueue({"attack": "1"}, 0, "q")
        assert h.on_enqueue({"tenant": "t"}, 0, "q").fairness_key == "t"
