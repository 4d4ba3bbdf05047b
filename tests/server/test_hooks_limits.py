"""Inputs that used to abort the process or freeze the calling thread, and return values out of
the wire's range. Every case must end with a HookError (or a decision), never a hang or abort.

Cases that could abort the interpreter (a Lua PANIC calls abort()) run in a subprocess, so an
abort fails the test instead of killing pytest. Liveness is guarded by pytest-timeout and by
the subprocess timeout; there are no timing asserts beyond that generous bound.
"""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from fila.server.hooks import (
    MAX_DELAY_MS,
    MAX_ERROR_BYTES,
    MAX_HOOK_HEADER_CHARS,
    MAX_HOOK_HEADERS,
    MAX_SCRIPT_BYTES,
    MAX_WEIGHT,
    EnqueueDecision,
    HookError,
    HookSettings,
    QueueHooks,
)

SETTINGS = HookSettings()
LIVENESS_S = 60


def run_isolated(code: str) -> str:
    """Run ``code`` in a fresh interpreter; fail on abort, crash or hang; return its stdout."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=LIVENESS_S,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "PANIC" not in proc.stderr, proc.stderr
    return proc.stdout


# ---------------------------------------------------------------- inputs bounded (no abort)


def test_heap_filling_stateful_hook_called_100_times_never_aborts() -> None:
    out = run_isolated(
        """
        from fila.server.hooks import HookError, HookSettings, QueueHooks
        h = QueueHooks(
            "keep = {}\\n"
            "function on_enqueue(msg)\\n"
            "  keep[msg.headers.k .. #keep] = msg.headers.v\\n"
            "  return { fairness_key = 'ok' }\\n"
            "end",
            "", HookSettings(), lambda _k: None)
        ok = failed = 0
        for i in range(100):
            try:
                h.on_enqueue({"k": str(i), "v": "x" * 30000 + str(i)}, 0, "q")
                ok += 1
            except HookError as e:
                assert "not enough memory" in str(e), e
                failed += 1
        print(ok, failed)
        """
    )
    ok, failed = map(int, out.split())
    assert ok > 0 and failed > 0 and ok + failed == 100


def test_heap_filling_on_failure_hook_with_big_error_texts_never_aborts() -> None:
    run_isolated(
        """
        from fila.server.hooks import HookError, HookSettings, QueueHooks
        h = QueueHooks("",
            "keep = {}\\n"
            "function on_failure(msg) keep[#keep + 1] = msg.error .. #keep end",
            HookSettings(), lambda _k: None)
        for i in range(100):
            try:
                h.on_failure({"h": "v" * 20000}, "id", 1, "q", "e" * (2 << 20))
            except HookError as e:
                assert "not enough memory" in str(e), e
        """
    )


def test_two_mib_nack_error_reaches_on_failure_truncated() -> None:
    h = QueueHooks(
        "", "function on_failure(msg) return { delay_ms = #msg.error } end", SETTINGS,
        lambda _k: None,
    )
    assert h.on_failure({}, "id", 1, "q", "e" * (2 << 20)).delay_ms == MAX_ERROR_BYTES
    # Truncation keeps whole UTF-8 characters.
    assert h.on_failure({}, "id", 1, "q", "é" * (1 << 20)).delay_ms == MAX_ERROR_BYTES


@pytest.mark.parametrize("hook", ["on_enqueue", "on_failure"])
def test_script_over_the_size_cap_is_refused_with_its_size(hook: str) -> None:
    script = f"function {hook}(msg) end\n--" + "x" * (2 << 20)
    args = (script, "") if hook == "on_enqueue" else ("", script)
    with pytest.raises(HookError) as exc:
        QueueHooks(*args, SETTINGS, lambda _k: None)
    size = len(script.encode())
    assert str(exc.value) == f"{hook} script is {size} bytes; at most {MAX_SCRIPT_BYTES} allowed"


def test_script_at_the_size_cap_compiles() -> None:
    head = "function on_enqueue(msg) return { weight = 7 } end\n--"
    script = head + "x" * (MAX_SCRIPT_BYTES - len(head))
    assert QueueHooks(script, "", SETTINGS, lambda _k: None).on_enqueue({}, 0, "q").weight == 7


def test_script_bigger_than_a_small_memory_limit_fails_cleanly() -> None:
    small = HookSettings(memory_limit_bytes=32 * 1024)
    script = "function on_enqueue(msg) end\n--" + "x" * 60000
    with pytest.raises(HookError, match="not enough memory"):
        QueueHooks(script, "", small, lambda _k: None)


def test_oversized_headers_are_a_hook_error_and_the_queue_keeps_working() -> None:
    h = QueueHooks(
        "function on_enqueue(msg) return { fairness_key = msg.headers.t or 'none' } end",
        "", SETTINGS, lambda _k: None,
    )
    with pytest.raises(HookError, match=f"at most {MAX_HOOK_HEADER_CHARS} allowed"):
        h.on_enqueue({"big": "x" * (2 << 20)}, 0, "q")
    with pytest.raises(HookError, match=f"at most {MAX_HOOK_HEADERS} allowed"):
        h.on_enqueue({str(i): "" for i in range(MAX_HOOK_HEADERS + 1)}, 0, "q")
    # What the broker's Enqueue accepts (256 headers, 64 KiB) still reaches the hook.
    full = {f"k{i:03d}": "v" * 250 for i in range(MAX_HOOK_HEADERS)}
    assert h.on_enqueue(full, 0, "q").fairness_key == "none"
    assert h.on_enqueue({"t": "acme"}, 0, "q").fairness_key == "acme"


def test_big_config_value_cannot_overflow_the_heap() -> None:
    run_isolated(
        """
        from fila.server.hooks import HookError, HookSettings, QueueHooks
        cfg = {"big": "v" * 60000}
        h = QueueHooks(
            "keep = {}\\n"
            "function on_enqueue(msg) keep[#keep + 1] = fila.get('big') .. #keep end",
            "", HookSettings(), cfg.get)
        for i in range(100):
            try:
                h.on_enqueue({}, 0, "q")
            except HookError as e:
                assert "not enough memory" in str(e), e
        """
    )


# ---------------------------------------------------------------- freezes (C functions)

FREEZES = {
    "table.concat with a C __index over 1..maxinteger": (
        "table.concat(setmetatable({}, { __index = table.concat }), '', 1, math.maxinteger)"
    ),
    "table.sort with a lying __len and C __index/__newindex": (
        "table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end,"
        " __index = tostring, __newindex = rawequal }))"
    ),
    "table.sort with a C comparator over a lying __len": (
        "table.sort(setmetatable({}, { __len = function() return 2^31 - 2 end,"
        " __index = tostring, __newindex = rawequal }), rawequal)"
    ),
    "budget exhausted in a coroutine, then a pcall loop": (
        "pcall(coroutine.wrap(function() while true do end end))\n"
        "while true do pcall(function() while true do end end) end"
    ),
    "budget exhausted in a nested coroutine, then a C loop": (
        "local function f(d) if d > 0 then coroutine.wrap(f)(d - 1) end while true do end end\n"
        "pcall(f, 20)\n"
        "table.concat(setmetatable({}, { __index = table.concat }), '', 1, math.maxinteger)"
    ),
    "table.unpack with a C __index": (
        "table.unpack(setmetatable({}, { __index = tostring }), 1, 999999)"
    ),
    "ipairs with a C __index": "for _ in ipairs(setmetatable({}, { __index = tostring })) do end",
    "table.unpack over a 2000-deep __index chain": (
        "local c = {} for i = 1, 1990 do c = setmetatable({}, { __index = c }) end\n"
        "local n = select('#', table.unpack(c, 1, 60000))"
    ),
    "table.concat over a 2000-deep __index chain": (
        "local b = {} for i = 1, 50000 do b[i] = 'a' end\n"
        "local c = b for i = 1, 1990 do c = setmetatable({}, { __index = c }) end\n"
        "local s = table.concat(c, '', 1, 50000)"
    ),
    "gsub with a 2000-deep __index chain as replacement": (
        "local c = {} for i = 1, 1990 do c = setmetatable({}, { __index = c }) end\n"
        "local s = string.gsub(string.rep('a', 200000), 'a', c)"
    ),
    "string.pack padding to 2 GB": "local s = string.pack('c2000000000', '')",
    "string.rep of an empty string with a long separator": (
        "local s = string.rep('', 2^40, ('x'):rep(100))"
    ),
    "xpcall recursion": "local function f() return xpcall(f, f) end while true do f() end",
    "__tostring is tostring": "tostring(setmetatable({}, { __tostring = tostring }))",
    "C-stack recursion through gsub": (
        "local function f() return string.gsub('a', 'a', f) end while true do pcall(f) end"
    ),
    "looping __close on coroutine.close": (
        "local co = coroutine.create(function()\n"
        "  local x <close> = setmetatable({}, { __close = function() while true do end end })\n"
        "  coroutine.yield()\nend)\ncoroutine.resume(co) coroutine.close(co)"
    ),
}


@pytest.mark.timeout(LIVENESS_S)
@pytest.mark.parametrize("name", list(FREEZES))
def test_c_function_freeze_at_top_level_is_a_compile_error(name: str) -> None:
    with pytest.raises(HookError):
        QueueHooks(FREEZES[name] + "\nfunction on_enqueue(msg) end", "", SETTINGS, lambda _k: None)


@pytest.mark.timeout(LIVENESS_S)
@pytest.mark.parametrize("name", list(FREEZES))
def test_c_function_freeze_in_on_enqueue_is_a_hook_error(name: str) -> None:
    h = QueueHooks(
        "function on_enqueue(msg)\n"
        "  if msg.headers.attack then\n" + FREEZES[name] + "\n  end\n"
        "  return { fairness_key = 'ok' }\nend",
        "", SETTINGS, lambda _k: None,
    )
    for _ in range(3):
        with pytest.raises(HookError):
            h.on_enqueue({"attack": "1"}, 0, "q")
        assert h.on_enqueue({}, 0, "q").fairness_key == "ok"


def test_budget_error_after_a_coroutine_is_reported_as_such() -> None:
    h = QueueHooks(
        "function on_enqueue(msg)\n" + FREEZES["budget exhausted in a coroutine, then a pcall loop"]
        + "\nend",
        "", SETTINGS, lambda _k: None,
    )
    with pytest.raises(HookError, match="budget exceeded"):
        h.on_enqueue({}, 0, "q")


def test_table_functions_keep_their_meaning_on_tables_with_metatables() -> None:
    h = QueueHooks(
        "function on_enqueue(msg)\n"
        "  local backing = { 'c', 'a', 'b' }\n"
        "  local proxy = setmetatable({}, { __index = backing, __len = function() return 3 end,\n"
        "    __newindex = function(_, k, v) rawset(backing, k, v) end })\n"
        "  table.sort(proxy)\n"
        "  local a, b, c = table.unpack(proxy)\n"
        "  local s = table.concat(proxy, '-') .. '/' .. a .. b .. c\n"
        "  local n = string.gsub('xyz', '%a', setmetatable({}, { __index = { x = '1' } }))\n"
        "  return { fairness_key = s .. '/' .. n }\n"
        "end",
        "", SETTINGS, lambda _k: None,
    )
    assert h.on_enqueue({}, 0, "q").fairness_key == "a-b-c/abc/1yz"


def test_library_errors_raised_through_wrappers_read_like_the_library() -> None:
    h = QueueHooks(
        "function on_enqueue(msg) string.rep({}, 2) end", "", SETTINGS, lambda _k: None
    )
    with pytest.raises(HookError) as exc:
        h.on_enqueue({}, 0, "q")
    assert str(exc.value) == "bad argument #1 to 'rep' (string expected, got table)"


# ---------------------------------------------------------------- return values in range


@pytest.mark.parametrize(
    ("ret", "message"),
    [
        ("{ weight = 2^32 }", f"weight must be at most {MAX_WEIGHT}, got 4294967296"),
        ("{ weight = math.maxinteger }", f"weight must be at most {MAX_WEIGHT}"),
        ("{ delay_ms = 2^62 }", f"delay_ms must be at most {MAX_DELAY_MS}"),
        (f"{{ delay_ms = {MAX_DELAY_MS + 1} }}", f"delay_ms must be at most {MAX_DELAY_MS}"),
    ],
)
def test_on_enqueue_values_out_of_the_wire_range_are_hook_errors(ret: str, message: str) -> None:
    h = QueueHooks(f"function on_enqueue(msg) return {ret} end", "", SETTINGS, lambda _k: None)
    with pytest.raises(HookError, match=message):
        h.on_enqueue({}, 0, "q")


def test_on_enqueue_values_at_the_wire_limits_are_accepted() -> None:
    h = QueueHooks(
        f"function on_enqueue(msg) return {{ weight = {MAX_WEIGHT}, delay_ms = {MAX_DELAY_MS} }}"
        " end",
        "", SETTINGS, lambda _k: None,
    )
    assert h.on_enqueue({}, 0, "q") == EnqueueDecision(weight=MAX_WEIGHT, delay_ms=MAX_DELAY_MS)
    zero = QueueHooks("function on_enqueue(msg) return { weight = 0 } end", "", SETTINGS,
                      lambda _k: None)
    assert zero.on_enqueue({}, 0, "q").weight == 0  # documented: 0 counts as 1 (broker)


def test_on_failure_delay_out_of_range_is_a_hook_error() -> None:
    h = QueueHooks("", "function on_failure(msg) return { delay_ms = 2^62 } end", SETTINGS,
                   lambda _k: None)
    with pytest.raises(HookError, match=f"delay_ms must be at most {MAX_DELAY_MS}"):
        h.on_failure({}, "id", 1, "q", "boom")


# ---------------------------------------------------------------- CPU clock


def test_busy_threads_of_the_process_do_not_eat_a_hooks_time_budget() -> None:
    # The time check reads process CPU time. A hook that needs ~40% of its timeout of its own
    # CPU must still succeed while two other threads of the process burn CPU (as the event
    # loop and the commit thread will beside the hook thread).
    settings = HookSettings(timeout_ms=40)
    h = QueueHooks(
        "function on_enqueue(msg)\n"
        "  local s, n = ('x'):rep(100000), tonumber(msg.headers.n)\n"
        "  for i = 1, n do local y = s .. i end\n"
        "  return { weight = n }\n"
        "end",
        "", settings, lambda _k: None,
    )
    start = time.thread_time()
    h.on_enqueue({"n": "200"}, 0, "q")
    per_iteration = max((time.thread_time() - start) / 200, 1e-7)
    n = max(1, int(0.4 * settings.timeout_ms / 1000 / per_iteration))

    stop = threading.Event()

    def burn() -> None:
        data = b"x" * (1 << 20)
        while not stop.is_set():
            hashlib.sha256(data).digest()  # releases the GIL: real parallel CPU use

    burners = [threading.Thread(target=burn, daemon=True) for _ in range(2)]
    for t in burners:
        t.start()
    try:
        for _ in range(3):
            assert h.on_enqueue({"n": str(n)}, 0, "q").weight == n
    finally:
        stop.set()
        for t in burners:
            t.join(timeout=LIVENESS_S)


def test_a_huge_error_message_is_cut_short() -> None:
    h = QueueHooks("function on_enqueue(msg) error(('x'):rep(300000), 0) end", "", SETTINGS,
                   lambda _k: None)
    with pytest.raises(HookError) as exc:
        h.on_enqueue({}, 0, "q")
    assert len(str(exc.value)) < 5000 and str(exc.value).endswith("[...]")


@pytest.mark.parametrize(
    "call",
    [
        "string.format('%99.99f', 1e308)",
        "string.format('%100d', 1)",
        "string.format('%q', ('\\0'):rep(100000))",
        "string.unpack('c2000000000', 'x')",
        "string.packsize('c2000000000c2000000000')",
        "string.pack('i16i16i16', 1, 2, 3)",
        "string.byte(('x'):rep(500000), 1, -1)",
        "utf8.codepoint(('x'):rep(500000), 1, -1)",
        "select(-2^40, 1)",
        "table.unpack({}, math.mininteger, math.maxinteger)",
        "tostring(setmetatable({}, { __name = ('n'):rep(500000) }))",
        "tostring(setmetatable({}, { __tostring = function() return {} end }))",
    ],
)
def test_library_calls_with_huge_widths_or_counts_end_at_once(call: str) -> None:
    h = QueueHooks(
        f"function on_enqueue(msg) if msg.headers.attack then local x = {call} end"
        " return { fairness_key = 'ok' } end",
        "", SETTINGS, lambda _k: None,
    )
    with contextlib.suppress(HookError):  # refused or raised by Lua: either way it ended
        h.on_enqueue({"attack": "1"}, 0, "q")
    assert h.on_enqueue({}, 0, "q").fairness_key == "ok"  # and the queue still works
