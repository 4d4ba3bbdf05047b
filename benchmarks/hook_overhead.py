"""Per-call cost of Lua hooks and per-queue runtime cost.

Run: python benchmarks/hook_overhead.py
Prints microseconds per call for a few typical hooks, and the memory / creation time of one
QueueHooks (one LuaRuntime per queue) compared with a bare per-queue environment table in a
shared runtime.
"""

from __future__ import annotations

import gc
import time

import lupa.lua54 as lupa
from _harness import header

from fila.server.hooks import HookSettings, QueueHooks

HEADERS = {"tenant": "acme", "region": "eu-west-1", "trace-id": "4bf92f3577b34da6a3ce929d0e0e4736"}
CONFIG = {"weight.acme": "3"}

ENQUEUE_HOOKS = {
    "tenant key (typical)": "function on_enqueue(msg) return { fairness_key = "
    'msg.headers["tenant"] or "default" } end',
    "return nil": "function on_enqueue(msg) return nil end",
    "key+weight+throttle": """
function on_enqueue(msg)
  local t = msg.headers["tenant"] or "default"
  return { fairness_key = t, weight = 2,
           throttle_keys = { "tenant:" .. t, "region:" .. msg.headers.region } }
end""",
    "fila.get config lookup": """
function on_enqueue(msg)
  local t = msg.headers["tenant"] or "default"
  return { fairness_key = t, weight = tonumber(fila.get("weight." .. t)) or 1 }
end""",
    "pattern match on header": """
function on_enqueue(msg)
  local region = msg.headers.region:match("^(%a+)%-")
  return { fairness_key = region or "default" }
end""",
}

FAILURE_HOOK = """
function on_failure(msg)
  if msg.attempts >= 3 then return { action = "dlq" } end
  return { action = "retry", delay_ms = 1000 * msg.attempts }
end"""


def per_call_us(fn: object, n: int) -> float:
    call = fn  # type: ignore[assignment]
    for _ in range(1000):
        call()  # type: ignore[operator]
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            call()  # type: ignore[operator]
        best = min(best, (time.perf_counter() - t) / n)
    return best * 1e6


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def main() -> None:
    settings = HookSettings()
    n = 20_000
    print(header())
    print(f"per-call cost (best of 5 x {n} calls, 3 headers)")
    for name, src in ENQUEUE_HOOKS.items():
        h = QueueHooks(src, "", settings, CONFIG.get)
        us = per_call_us(lambda h=h: h.on_enqueue(HEADERS, 512, "orders"), n)
        print(f"  on_enqueue  {name:28s} {us:6.2f} us/call")
    h = QueueHooks("", FAILURE_HOOK, settings, CONFIG.get)
    us = per_call_us(lambda: h.on_failure(HEADERS, "0190-abc", 2, "orders", "boom"), n)
    print(f"  on_failure  {'retry/dlq by attempts':28s} {us:6.2f} us/call")

    # Reference: the raw lupa round trip with no sandbox work, to show the floor.
    rt = lupa.LuaRuntime()
    f = rt.eval("function(a, b, c) return true end")
    print(f"  (bare lupa call, 3 args: {per_call_us(lambda: f(1, 'q', 'x'), n):.2f} us/call)")

    print("\nper-queue cost of one LuaRuntime per QueueHooks")
    count = 500
    gc.collect()
    before = rss()
    t = time.perf_counter()
    keep = [
        QueueHooks(ENQUEUE_HOOKS["tenant key (typical)"], FAILURE_HOOK, settings, CONFIG.get)
        for _ in range(count)
    ]
    dt = (time.perf_counter() - t) / count
    after = rss()
    rss_kib = (after - before) / count / 1024
    heap_kib = keep[0].memory_used() / 1024
    print(f"  create: {dt * 1e3:.2f} ms/queue, RSS: {rss_kib:.1f} KiB/queue,")
    print(f"  Lua heap: {heap_kib:.1f} KiB/queue")
    del keep

    # Alternative: one shared runtime, per-queue _ENV tables (what a queue would cost there).
    shared = lupa.LuaRuntime(max_memory=1 << 30)
    make_env = shared.eval("""
function(src)
  local env = {}
  for _, lib in ipairs({"string", "table", "math", "utf8", "coroutine"}) do
    local t = {} for k, v in pairs(_G[lib]) do t[k] = v end env[lib] = t
  end
  for _, k in ipairs({"assert","error","ipairs","next","pairs","pcall","rawequal","rawget",
                      "rawlen","rawset","select","tonumber","tostring","type","xpcall",
                      "getmetatable","setmetatable"}) do env[k] = _G[k] end
  load(src, "=q", "t", env)()
  return env
end""")
    shared.gccollect()
    base_heap = shared.get_memory_used()
    t = time.perf_counter()
    envs = [make_env(ENQUEUE_HOOKS["tenant key (typical)"]) for _ in range(count)]
    dt = (time.perf_counter() - t) / count
    shared.gccollect()
    heap = (shared.get_memory_used() - base_heap) / count
    print(
        f"  shared runtime + per-queue _ENV: create {dt * 1e3:.2f} ms/queue, Lua heap"
        f" {heap / 1024:.1f} KiB/queue (but one memory cap and one string metatable shared"
        " by all queues)"
    )
    del envs


if __name__ == "__main__":
    main()
