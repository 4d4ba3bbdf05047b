"""Sandboxed Lua hooks (on_enqueue / on_failure) and the per-queue circuit breaker.

This is the only module that imports lupa. Design, in short:

* One ``LuaRuntime`` per ``QueueHooks`` (i.e. per queue with hooks). lupa's memory cap is per
  runtime and the string metatable is per Lua state, so separate runtimes give each queue its
  own memory budget and its own string methods. Measured: ~43 KiB Lua heap (~80 KiB RSS) and
  1-2.5 ms to create per queue, against ~3.4 KiB for a per-queue _ENV in a shared runtime; the
  per-call cost is the same either way (benchmarks/hook_overhead.py).
* The xpcall message handler is skipped once the budget is gone: Lua runs it while still inside
  the count hook, where hooks are disabled, so a looping handler would never be stopped.
* Scripts get a fresh environment table holding only safe base functions plus copies of
  ``string`` (guarded), ``table`` (guarded), ``math``, ``utf8`` and a wrapped ``coroutine``.
  Nothing from lupa's ``python`` module, and only Lua values (never Python objects) are handed
  to scripts. ``fila.get`` is a Lua closure over the host callback.
* Every script call runs inside a long-lived *worker coroutine*. The count hook is installed
  (from the host side, with the real ``debug.sethook``) on that coroutine and on every coroutine
  the script creates, never on the main thread, so the host-side driver code that prepares
  arguments and checks results is never interrupted. Once the budget is gone the hook switches
  to firing on every instruction and keeps raising, so ``pcall`` cannot swallow it; the worker
  is then discarded.
* The hook fires on count events (every ``_HOOK_EVERY`` instructions) *and on every call*
  (mask "c"): C functions reached from C through metamethods (``table.concat`` calling a C
  ``__index``) go through luaD_precall and fire it, so a C loop that never runs a Lua
  instruction is still charged (``_CALL_UNITS`` per call) and, every ``_CLOCK_EVERY_CALLS``
  calls, timed. Once the budget is gone every thread the hook fires on is switched to the
  strict hook (every instruction and every call, each raising), including the worker, so a
  ``pcall`` loop cannot outlive a budget first exhausted inside a coroutine.
* The hook also checks CPU time (``os.clock``), lazily started at its first firing in a call,
  because a single VM instruction on a large string (concatenation, comparison) or a library
  call can cost far more than an ordinary instruction. ``os.clock`` is process CPU time; the
  allowance is scaled for that (see ``_BUSY_THREADS``).
* Nothing that reaches Lua is unbounded: lupa pushes call arguments outside of a protected
  call, where a failed allocation is a Lua PANIC (abort of the process). Scripts, headers,
  the nack error text, ids and config values are capped, and before each call the heap must
  have room for the arguments (``_reserve``), else the call fails with "not enough memory"
  without entering Lua. Return values are checked against the wire's ranges (weight a
  uint32, delay_ms at most ``MAX_DELAY_MS``).

Audit of the C functions a script can reach (all of them; "bounded" = by the memory limit,
which also bounds every string and table a script can build):

=====================================  ====================================================
function                               how its running time is bounded
=====================================  ====================================================
string.find/match/gmatch/gsub          pattern guard charges the worst case first (see
                                       _PATTERN_NOTES);
                                       gsub with a table replacement that has a metatable is
                                       indexed from Lua; a function replacement is a call
string.rep                             charged by output size, refused over the memory limit;
                                       empty copies never loop
string.pack                            fixed part of the result (packsize, s/z dropped) is
                                       charged like rep and refused over the memory limit;
                                       variable parts are given strings (bounded)
string.unpack/packsize                 linear in the format / data; results limited by stack
string.format                          widths are at most 2 digits (Lua); %s/%q linear in
                                       the (bounded) strings; __tostring is a call
string.byte/char/sub/len/upper/lower/  linear in a bounded string; byte/char results are
reverse                                limited by the stack ("string slice too long")
table.concat/unpack/sort               plain tables (no metatable): C, bounded by what the
                                       table holds (sort also charged n log n); tables with a
                                       metatable, and strings: Lua loops (each access counted,
                                       __index chains timed); unpack at most 1e6 results
table.insert/remove/move               written in Lua (every shift counted)
table.pack                             bounded by the argument count
utf8.char/charpattern/codes/           linear in bounded strings / arguments; codes steps are
codepoint/len/offset                   calls; codepoint results limited by the stack
math.*                                 constant time on numbers (no metamethods)
coroutine.create/wrap                  new threads get the same hook; refused after exhaustion
coroutine.resume/status/running/       resumed threads are hooked; close runs __close on the
isyieldable/close/yield                hooked thread; yield of the worker itself is refused
tostring, __tostring, __name           __tostring is a call; __name is a raw string
pairs/__pairs, ipairs, next            __pairs and each ipairs/next step are calls; next is
                                       linear in a bounded table
select, rawlen, rawget, rawset,        constant time or linear in the argument count
rawequal, type, tonumber, assert       (tonumber linear in a bounded string)
getmetatable / setmetatable            constant; __gc refused (finalizers run outside calls)
error, pcall, xpcall                   nesting ends at Lua's C-stack limit (200 levels,
                                       "C stack overflow"); the budget error keeps firing
                                       after pcall catches it; an xpcall handler is skipped
                                       once the budget is gone (it would run with hooks off)
deep recursion                         Lua stack / memory limit ("stack overflow", "not
                                       enough memory"); every frame is a counted call
fila.get                               key and value sizes capped; a value that does not fit
                                       the heap is refused before lupa pushes it
metamethods in general                 Lua functions are hooked; C functions fire the call
                                       hook; __index/__newindex tables (chains up to 2000
                                       deep) cost one instruction per access and are caught
                                       by the CPU-time check
=====================================  ====================================================
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from importlib.resources import files
from itertools import chain
from typing import Any

import lupa.lua54 as _lupa

from fila.server.hookguard import (
    CircuitBreaker,
    EnqueueDecision,
    FailureDecision,
    HookSettings,
)

__all__ = [
    "CircuitBreaker",
    "EnqueueDecision",
    "FailureDecision",
    "HookError",
    "HookSettings",
    "QueueHooks",
]

# Instructions between two hook firings. Small enough that a run of expensive instructions
# (e.g. concatenating 500 KiB strings) is caught by the CPU-time check within a few ms; large
# enough that the clock read (~0.4 us) is amortised over ~100 instructions.
_HOOK_EVERY = 100
# One budget unit is one Lua instruction (budget = timeout_ms * 10_000, i.e. 100 ns each).
# Worst-case pattern backtracking measured ~2 ns per step, so 25 steps per unit is ~2x margin.
_PATTERN_STEPS_PER_UNIT = 25
# string.rep output bytes per unit (memcpy is far faster than this, so it is conservative).
_REP_BYTES_PER_UNIT = 64
# Budget units charged per function call (Lua or C). The call hook itself costs about as much
# as a few instructions; charging calls is what bounds C functions that loop calling other C
# functions through metamethods without running a Lua instruction.
_CALL_UNITS = 4
# Calls between two CPU-clock reads in the call hook (count events read it every time). A
# clock read is a syscall (~0.5-1 us), so a typical call (under 16 function calls) never pays
# it; a C loop calling C functions is timed at least every 16 calls, each bounded by the
# memory limit (linear work on at most that many bytes).
_CLOCK_EVERY_CALLS = 16
# The CPU-time allowance is checked with os.clock(), which is *process* CPU time: Lua has no
# per-thread clock, and calling back into Python for time.thread_time() from the hook would
# need the GIL every few microseconds. While k threads of the process are busy, process CPU
# advances k times as fast as the hook thread's own CPU time, whatever the number of CPUs: on
# k or more CPUs each thread has one; on fewer they share them and the hook thread gets 1/k
# of the total. (So scaling by the CPU count would be wrong on small machines.) fila-server
# has at most about _BUSY_THREADS busy at once: the hook thread (Lua runs without the GIL),
# one Python thread holding the GIL (event loop or commit thread), RocksDB's write in the
# commit thread and gRPC's C-core poller. The allowance is timeout x _BUSY_THREADS, so a hook
# still gets at least its full timeout of its own CPU when they are all busy, and at most
# that multiple when it runs alone. The instruction budget (exact, per thread) bounds ordinary
# code either way; the time check only backs it up for expensive single steps, so erring on
# the generous side there costs little.
_BUSY_THREADS = 4
# Caps on what a hook may return (the wire's ranges: weight is a uint32, and the broker
# refuses delays above MAX_DELAY_MS, same value as fila.server.broker.MAX_DELAY_MS).
MAX_KEY_BYTES = 256
MAX_THROTTLE_KEYS = 64
MAX_WEIGHT = 2**32 - 1
MAX_DELAY_MS = 365 * 24 * 3600 * 1000
# Caps on what reaches Lua. lupa pushes call arguments outside of any protected call, so an
# argument that does not fit in the Lua heap aborts the whole process (Lua panic). Inputs are
# bounded here, and before every call the heap must have room for the arguments (see
# QueueHooks._reserve). Header limits match the broker's Enqueue limits (characters of keys
# plus values), so whatever Enqueue accepts reaches the hook.
MAX_SCRIPT_BYTES = 64 * 1024
MAX_HOOK_HEADERS = 256
MAX_HOOK_HEADER_CHARS = 64 * 1024
MAX_ERROR_BYTES = 4096
MAX_ID_CHARS = 1024
MAX_CONFIG_VALUE_CHARS = 64 * 1024
# Longest HookError text (error("...") can raise a string as large as the memory limit).
_MAX_ERROR_TEXT = 4096
# Longest table.unpack of a table with metamethods (Lua's own stack limit, LUAI_MAXSTACK).
_MAX_UNPACK = 1_000_000
# Heap bytes assumed per pushed value on top of its UTF-8 bytes (TString header, stack slot),
# and fixed slack for stack growth and the string table.
_ARG_OVERHEAD = 64
_ARG_SLACK = 16 * 1024
# Headroom for the sandbox itself before the per-queue limit is applied on top of it.
_SETUP_MEMORY = 4 << 20
# Distinct decisions remembered per queue (see QueueHooks.on_enqueue).
_CACHE_SIZE = 1024

_PATTERN_NOTES = """
Pattern guard: string.find/match/gmatch/gsub parse the pattern (as lstrlib does) and bound the
matcher's work by  S * prod(choices_i) * (items + (backrefs + %b) * n)  where n is the subject
length, S is 1 for an anchored pattern and n + 1 otherwise, choices_i is (c_i + 1) for each
item quantified by *, + or - and min(2, c_i + 1) for ?, and c_i is the number of subject bytes
matching that item's class (an upper bound of how far it can expand). The bound divided by
_PATTERN_STEPS_PER_UNIT is charged to the instruction budget before the C matcher runs; if it
does not fit the call fails with "pattern too expensive". The bound is a worst case: some
patterns that would in fact finish quickly on long subjects (e.g. two .- items on a 4 KiB
value) are refused.
"""


class HookError(Exception):
    """A hook failed: compile error, runtime error, bad return value or a limit hit."""


_DEFAULT_ENQUEUE = EnqueueDecision()
_DEFAULT_FAILURE = FailureDecision()

# Driver, run once per runtime with the unrestricted standard library, before any script
# exists. Everything a script could misuse (debug, load, os.clock, the host callback) is kept
# in upvalues of the functions returned here; scripts only ever see `env`.
_BOOTSTRAP = (files("fila.server") / "sandbox.lua").read_text(encoding="utf-8")


def _deny_attribute(obj: object, name: object, is_setting: bool) -> str:
    # Scripts never receive Python objects; this is a second line of defence.
    raise AttributeError("access to Python attributes is not allowed")


def _lua_quote(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{out}"'


def _clean_error(e: BaseException) -> str:
    if isinstance(e, MemoryError):
        return "not enough memory"
    text = str(e).strip()
    # lupa appends a Lua traceback to some errors; the first line is what a user needs.
    return text.splitlines()[0] if text else type(e).__name__


class QueueHooks:
    """Compiled hooks of one queue, in their own Lua environment.

    Not safe for concurrent calls from several threads (every call is a job on the one hook
    thread, ``hookrunner.py``).
    """

    __slots__ = (
        "_cache",
        "_enqueue",
        "_failure",
        "_last",
        "_limit",
        "_max_memory",
        "_rt",
        "has_on_enqueue",
        "has_on_failure",
    )

    def __init__(
        self,
        on_enqueue: str,
        on_failure: str,
        settings: HookSettings,
        get_config: Callable[[str], str | None],
    ) -> None:
        self.has_on_enqueue = bool(on_enqueue.strip())
        self.has_on_failure = bool(on_failure.strip())
        self._limit = settings.memory_limit_bytes
        self._last: tuple[str, tuple[Any, ...]] | None = None
        self._cache: dict[tuple[Any, ...], EnqueueDecision | FailureDecision] = {}
        self._rt: Any = None
        self._max_memory = 0
        sources: list[tuple[str, bytes]] = []
        for name, src, present in (
            ("on_enqueue", on_enqueue, self.has_on_enqueue),
            ("on_failure", on_failure, self.has_on_failure),
        ):
            if not present:
                continue
            data = src.encode("utf-8", "surrogatepass")
            if len(data) > MAX_SCRIPT_BYTES:
                raise HookError(
                    f"{name} script is {len(data)} bytes; at most {MAX_SCRIPT_BYTES} allowed"
                )
            sources.append((name, data))

        def host_get(key: str) -> str | int | None:
            # Runs inside a Lua call: the returned string is pushed by lupa where an allocation
            # failure would abort the process, and an exception would be pushed as a new
            # userdata. So never raise, and hand over only what fits (codes: see fila.get).
            try:
                value = get_config(key)
            except Exception:
                return 3
            if not isinstance(value, str):
                return None
            if len(value) > MAX_CONFIG_VALUE_CHARS:
                return 1
            rt = self._rt
            if rt is None or rt.get_memory_used() + 4 * len(value) + _ARG_SLACK > self._max_memory:
                return 2
            return value

        rt = _lupa.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attribute,
            max_memory=_SETUP_MEMORY + settings.memory_limit_bytes,
        )
        time_allowance_s = settings.timeout_ms / 1000.0 * _BUSY_THREADS
        api = rt.execute(
            _BOOTSTRAP,
            settings.instruction_budget,
            _HOOK_EVERY,
            time_allowance_s,
            settings.timeout_ms,
            _CALL_UNITS,
            _CLOCK_EVERY_CALLS,
            _PATTERN_STEPS_PER_UNIT,
            _REP_BYTES_PER_UNIT,
            settings.memory_limit_bytes,
            MAX_KEY_BYTES,
            MAX_THROTTLE_KEYS,
            MAX_WEIGHT,
            MAX_DELAY_MS,
            _MAX_UNPACK,
            host_get,
        )
        compile_, self._enqueue, self._failure = api.compile, api.enqueue, api.failure
        rt.gccollect()
        # The cap applies on top of what the sandbox itself uses.
        self._max_memory = rt.get_memory_used() + settings.memory_limit_bytes
        rt.set_max_memory(self._max_memory)
        self._rt = rt
        for name, data in sources:
            self._reserve(name, len(data) + _ARG_OVERHEAD * 2)
            try:
                res = compile_(data, name)
            except Exception as e:
                raise HookError(f"{name}: {self._error_text(e)}") from None
            ok, err = res if isinstance(res, tuple) else (res, None)
            if ok is not True:
                raise HookError(str(err))

    def _reserve(self, name: str, arg_bytes: int) -> None:
        """Make sure the heap has room for ``arg_bytes`` of call arguments, or fail the call.

        lupa converts arguments onto the Lua stack outside of any protected call; if an
        allocation fails there, Lua panics and aborts the process. So the room is checked
        first (after a full collection if needed) and the call is refused without entering Lua.
        """
        rt = self._rt
        if rt is None:
            raise HookError("hooks are closed")
        need = arg_bytes + _ARG_SLACK
        if rt.get_memory_used() + need <= self._max_memory:
            return
        rt.gccollect()
        if rt.get_memory_used() + need <= self._max_memory:
            return
        self._last = None  # as _failed(), without a second full collection
        raise HookError(f"{name}: not enough memory (limit {self._limit} bytes)")

    def _header_bytes(self, name: str, headers: Mapping[str, str]) -> int:
        """Worst-case heap bytes of the headers as call arguments (HookError if over the caps)."""
        n = len(headers)
        if n > MAX_HOOK_HEADERS:
            raise self._failed(f"{name}: {n} headers; at most {MAX_HOOK_HEADERS} allowed")
        chars = sum(map(len, headers)) + sum(map(len, headers.values()))
        if chars > MAX_HOOK_HEADER_CHARS:
            raise self._failed(
                f"{name}: headers are {chars} characters; at most {MAX_HOOK_HEADER_CHARS} allowed"
            )
        # UTF-8 takes at most 4 bytes per character.
        return 4 * chars + _ARG_OVERHEAD * (2 * n + 4)

    def on_enqueue(
        self, headers: Mapping[str, str], payload_size: int, queue: str
    ) -> EnqueueDecision:
        if not self.has_on_enqueue:
            return _DEFAULT_ENQUEUE
        # Fast path of the input caps and the heap-room check (_header_bytes, _reserve): one
        # test; the slow path below says which limit was hit, or collects garbage first.
        rt, n = self._rt, len(headers)
        chars = sum(map(len, headers)) + sum(map(len, headers.values())) + len(queue)
        if (
            rt is None
            or n > MAX_HOOK_HEADERS
            or chars > MAX_HOOK_HEADER_CHARS
            or len(queue) > MAX_ID_CHARS
            or rt.get_memory_used() + 4 * chars + _ARG_OVERHEAD * (2 * n + 4) + _ARG_SLACK
            > self._max_memory
        ):
            if len(queue) > MAX_ID_CHARS:
                raise self._failed(
                    f"on_enqueue: queue name longer than {MAX_ID_CHARS} characters"
                )
            self._reserve(
                "on_enqueue", self._header_bytes("on_enqueue", headers) + 4 * len(queue)
            )
        try:
            res = self._enqueue(
                payload_size, queue, len(headers), *chain.from_iterable(headers.items())
            )
        except Exception as e:
            raise self._failed(f"on_enqueue: {self._error_text(e)}") from None
        if res[0] is not True:
            raise self._failed(str(res[1]))
        # Hooks mostly return a handful of distinct results; reusing the frozen decision saves
        # about a microsecond per call over constructing it.
        decision = self._cache.get(res)
        if decision is None:
            if res[1] == -1:
                decision = _DEFAULT_ENQUEUE
            else:
                decision = EnqueueDecision(res[2], res[3], res[5:], res[4])
                # The driver checks these; a second look here costs nothing on the cached path
                # and guarantees nothing out of the wire's range leaves QueueHooks.
                if not (0 <= decision.weight <= MAX_WEIGHT and
                        0 <= decision.delay_ms <= MAX_DELAY_MS):
                    raise self._failed("on_enqueue: returned value out of range")
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[res] = decision
        self._last = ("enqueue", res)
        return decision  # type: ignore[return-value]

    def on_failure(
        self,
        headers: Mapping[str, str],
        message_id: str,
        attempts: int,
        queue: str,
        error: str,
    ) -> FailureDecision:
        if not self.has_on_failure:
            return _DEFAULT_FAILURE
        if len(message_id) > MAX_ID_CHARS or len(queue) > MAX_ID_CHARS:
            raise self._failed(
                f"on_failure: message id or queue name longer than {MAX_ID_CHARS} characters"
            )
        if len(error) > MAX_ERROR_BYTES // 4:
            # The hook sees at most MAX_ERROR_BYTES bytes of the error text (whole characters).
            error = error.encode("utf-8", "replace")[:MAX_ERROR_BYTES].decode("utf-8", "ignore")
        # Fast path as in on_enqueue; the slow path names the limit or collects garbage first.
        rt, n = self._rt, len(headers)
        chars = sum(map(len, headers)) + sum(map(len, headers.values()))
        if (
            rt is None
            or n > MAX_HOOK_HEADERS
            or chars > MAX_HOOK_HEADER_CHARS
            or rt.get_memory_used()
            + 4 * (chars + len(message_id) + len(queue) + len(error))
            + _ARG_OVERHEAD * (2 * n + 6)
            + _ARG_SLACK
            > self._max_memory
        ):
            self._reserve(
                "on_failure",
                self._header_bytes("on_failure", headers)
                + 4 * (len(message_id) + len(queue) + len(error)),
            )
        try:
            res = self._failure(
                message_id,
                attempts,
                queue,
                error,
                len(headers),
                *chain.from_iterable(headers.items()),
            )
        except Exception as e:
            raise self._failed(f"on_failure: {self._error_text(e)}") from None
        if res[0] is not True:
            raise self._failed(str(res[1]))
        decision = self._cache.get(res)
        if decision is None:
            decision = FailureDecision("dlq" if res[2] else "retry", res[3])
            if not 0 <= decision.delay_ms <= MAX_DELAY_MS:
                raise self._failed("on_failure: returned value out of range")
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[res] = decision
        self._last = ("failure", res)
        return decision  # type: ignore[return-value]

    def _failed(self, text: str) -> HookError:
        self._last = None
        # A failed call may leave up to the memory limit in garbage (e.g. the abandoned worker's
        # stack). lauxlib buffers (string.rep, table.concat, ..) do not trigger an emergency
        # collection, so without this the next call could fail with "not enough memory".
        if self._rt is not None:
            with contextlib.suppress(Exception):  # must not hide the hook's own error
                self._rt.gccollect()
        if len(text) > _MAX_ERROR_TEXT:  # a script can raise a string as big as its heap
            text = text[:_MAX_ERROR_TEXT] + " [...]"
        return HookError(text)

    def _error_text(self, e: BaseException) -> str:
        if isinstance(e, MemoryError):
            return f"not enough memory (limit {self._limit} bytes)"
        return _clean_error(e)

    def describe_last(self) -> str:
        """The table the last successful call returned, as Lua-like text ("" if none)."""
        if self._last is None:
            return ""
        kind, res = self._last
        mask = res[1]
        if mask == -1:
            return "nil"
        parts: list[str] = []
        if kind == "enqueue":
            if mask & 1:
                parts.append(f"fairness_key = {_lua_quote(res[2])}")
            if mask & 2:
                parts.append(f"weight = {res[3]}")
            if mask & 4:
                parts.append("throttle_keys = {" + ", ".join(_lua_quote(k) for k in res[5:]) + "}")
            if mask & 8:
                parts.append(f"delay_ms = {res[4]}")
        else:
            if mask & 1:
                parts.append(f"action = {_lua_quote(str(res[4]))}")
            if mask & 2:
                parts.append(f"delay_ms = {res[3]}")
        return "{" + ", ".join(parts) + "}" if parts else "{}"

    def memory_used(self) -> int:
        """Bytes the Lua state currently holds (for metrics)."""
        return int(self._rt.get_memory_used()) if self._rt is not None else 0

    def close(self) -> None:
        self._enqueue = self._failure = None
        self._rt = None
