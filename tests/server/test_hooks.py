"""Behaviour of Lua hooks as the broker sees it: decisions, validation, errors, breaker."""

from __future__ import annotations

import pytest

from fila.server.hooks import (
    CircuitBreaker,
    EnqueueDecision,
    FailureDecision,
    HookError,
    HookSettings,
    QueueHooks,
)

SETTINGS = HookSettings()
TENANT = 'function on_enqueue(msg) return { fairness_key = msg.headers["tenant"] or "default" } end'


def enqueue_hooks(body: str, config: dict[str, str] | None = None) -> QueueHooks:
    cfg = config or {}
    return QueueHooks(f"function on_enqueue(msg)\n{body}\nend", "", SETTINGS, cfg.get)


def failure_hooks(body: str) -> QueueHooks:
    return QueueHooks("", f"function on_failure(msg)\n{body}\nend", SETTINGS, lambda _k: None)


def test_typical_hook_picks_fairness_key_from_header() -> None:
    h = QueueHooks(TENANT, "", SETTINGS, lambda _k: None)
    assert h.has_on_enqueue and not h.has_on_failure
    headers = {"tenant": "acme", "region": "eu", "trace": "t1"}
    assert h.on_enqueue(headers, 10, "orders") == EnqueueDecision(fairness_key="acme")
    assert h.describe_last() == '{fairness_key = "acme"}'
    assert h.on_enqueue({}, 10, "orders") == EnqueueDecision()


def test_msg_fields_are_visible_to_on_enqueue() -> None:
    h = enqueue_hooks(
        "return { fairness_key = msg.queue .. ':' .. msg.payload_size .. ':' .. msg.headers.a }"
    )
    assert h.on_enqueue({"a": "x"}, 42, "orders").fairness_key == "orders:42:x"


@pytest.mark.parametrize("count", [0, 1, 2, 3, 4, 5, 12])
def test_all_headers_arrive_whatever_their_number(count: int) -> None:
    h = enqueue_hooks(
        "local n = 0 for k, v in pairs(msg.headers) do assert(v == 'v' .. k) n = n + 1 end "
        "return { weight = n }"
    )
    headers = {str(i): f"v{i}" for i in range(count)}
    assert h.on_enqueue(headers, 0, "q").weight == count


def test_all_fields_and_describe_last() -> None:
    h = enqueue_hooks(
        'return { fairness_key = "k", weight = 3, throttle_keys = {"a", 7, {}, "b"}, '
        "delay_ms = 250 }"
    )
    d = h.on_enqueue({}, 0, "q")
    assert d == EnqueueDecision("k", 3, ("a", "b"), 250)
    assert h.describe_last() == (
        '{fairness_key = "k", weight = 3, throttle_keys = {"a", "b"}, delay_ms = 250}'
    )


def test_nil_and_empty_table_mean_all_defaults() -> None:
    h = enqueue_hooks("if msg.headers.empty then return {} end return nil")
    assert h.on_enqueue({}, 0, "q") == EnqueueDecision()
    assert h.describe_last() == "nil"
    assert h.on_enqueue({"empty": "1"}, 0, "q") == EnqueueDecision()
    assert h.describe_last() == "{}"


def test_number_key_is_converted_and_integral_float_weight_accepted() -> None:
    h = enqueue_hooks("return { fairness_key = 12, weight = 4 / 2 }")
    assert h.on_enqueue({}, 0, "q") == EnqueueDecision(fairness_key="12", weight=2)


def test_weight_zero_is_allowed() -> None:
    assert enqueue_hooks("return { weight = 0 }").on_enqueue({}, 0, "q").weight == 0


@pytest.mark.parametrize(
    ("ret", "fragment"),
    [
        ("42", "must return a table or nil, got number"),
        ('"x"', "must return a table or nil, got string"),
        ('{ weight = "x" }', "weight must be an integer, got string"),
        ("{ weight = -1 }", "weight must not be negative"),
        ("{ weight = 1.5 }", "weight must be an integer"),
        ("{ weight = 0/0 }", "weight must be an integer"),
        ("{ delay_ms = -5 }", "delay_ms must not be negative"),
        ("{ fairness_key = {} }", "fairness_key must be a string, got table"),
        ('{ fairness_key = ("x"):rep(257) }', "at most 256"),
        ('{ fairness_key = "\\255\\254" }', "not valid UTF-8"),
        ('{ throttle_keys = "a" }', "throttle_keys must be a table"),
        ('{ throttle_keys = { ("x"):rep(300) } }', "at most 256"),
    ],
)
def test_bad_return_values_raise_hook_error(ret: str, fragment: str) -> None:
    h = enqueue_hooks(f"return {ret}")
    with pytest.raises(HookError, match=None) as exc:
        h.on_enqueue({}, 0, "q")
    assert fragment in str(exc.value)


def test_too_many_throttle_keys() -> None:
    h = enqueue_hooks(
        "local t = {} for i = 1, 65 do t[i] = 'k' .. i end return { throttle_keys = t }"
    )
    with pytest.raises(HookError, match="more than 64"):
        h.on_enqueue({}, 0, "q")
    ok = enqueue_hooks(
        "local t = {} for i = 1, 64 do t[i] = 'k' .. i end return { throttle_keys = t }"
    )
    assert len(ok.on_enqueue({}, 0, "q").throttle_keys) == 64


def test_metamethods_on_the_result_are_not_consulted() -> None:
    h = enqueue_hooks("return setmetatable({}, { __index = function() while true do end end })")
    assert h.on_enqueue({}, 0, "q") == EnqueueDecision()


def test_runtime_error_reports_the_line() -> None:
    h = enqueue_hooks("local x = nil\nreturn { fairness_key = x.y }")
    with pytest.raises(HookError, match=r"^on_enqueue:3: attempt to index a nil value"):
        h.on_enqueue({}, 0, "q")


def test_error_with_a_table_value() -> None:
    h = enqueue_hooks("error(setmetatable({}, { __tostring = function() while true do end end }))")
    with pytest.raises(HookError, match="error object is a table value"):
        h.on_enqueue({}, 0, "q")


def test_compile_error_reports_the_line() -> None:
    with pytest.raises(HookError, match=r"on_enqueue:3: unexpected symbol near .end."):
        QueueHooks("function on_enqueue(msg)\n  return {{{ \nend", "", SETTINGS, lambda _k: None)
    with pytest.raises(HookError, match=r"on_failure:1:"):
        QueueHooks("", "function on_failure(", SETTINGS, lambda _k: None)


def test_script_must_define_the_function() -> None:
    with pytest.raises(HookError, match="does not define a global function on_enqueue"):
        QueueHooks("function on_enqueu(msg) end", "", SETTINGS, lambda _k: None)
    with pytest.raises(HookError, match="does not define a global function on_failure"):
        QueueHooks("", "local function on_failure(msg) end", SETTINGS, lambda _k: None)


def test_binary_chunks_are_refused() -> None:
    with pytest.raises(HookError, match="binary"):
        QueueHooks("\x1bLua", "", SETTINGS, lambda _k: None)


def test_empty_scripts_mean_no_hook() -> None:
    h = QueueHooks("", "  \n", SETTINGS, lambda _k: None)
    assert not h.has_on_enqueue and not h.has_on_failure
    assert h.on_enqueue({"a": "b"}, 0, "q") == EnqueueDecision()
    assert h.on_failure({}, "id", 1, "q", "e") == FailureDecision()


def test_top_level_code_runs_once_and_globals_persist_between_calls() -> None:
    h = QueueHooks(
        "calls = 0\nfunction on_enqueue(msg) calls = calls + 1 return { weight = calls } end",
        "",
        SETTINGS,
        lambda _k: None,
    )
    assert [h.on_enqueue({}, 0, "q").weight for _ in range(3)] == [1, 2, 3]


def test_fila_get_reads_runtime_config() -> None:
    config = {"weight.acme": "5"}
    h = enqueue_hooks(
        'return { weight = tonumber(fila.get("weight." .. msg.headers.tenant)) or 1, '
        'fairness_key = tostring(fila.get("missing")) .. tostring(fila.get(42)) }',
        config,
    )
    assert h.on_enqueue({"tenant": "acme"}, 0, "q") == EnqueueDecision("nilnil", 5)
    config["weight.acme"] = "7"
    assert h.on_enqueue({"tenant": "acme"}, 0, "q").weight == 7
    assert h.on_enqueue({"tenant": "other"}, 0, "q").weight == 1


def test_failing_config_lookup_is_a_hook_error() -> None:
    def broken(_key: str) -> str | None:
        raise RuntimeError("store down")

    h = QueueHooks('function on_enqueue(m) fila.get("x") end', "", SETTINGS, broken)
    with pytest.raises(HookError):
        h.on_enqueue({}, 0, "q")


def test_on_failure_decisions() -> None:
    h = failure_hooks(
        'if msg.attempts >= 3 then return { action = "dlq" } end\n'
        'if msg.error == "odd" then return { action = "shelve", delay_ms = 5 } end\n'
        "return { action = 'retry', delay_ms = 100 * msg.attempts }"
    )
    assert h.on_failure({}, "m1", 1, "q", "boom") == FailureDecision("retry", 100)
    assert h.describe_last() == '{action = "retry", delay_ms = 100}'
    assert h.on_failure({}, "m1", 3, "q", "boom") == FailureDecision("dlq", 0)
    assert h.describe_last() == '{action = "dlq"}'
    # unknown action -> retry, its delay still honoured
    assert h.on_failure({}, "m1", 1, "q", "odd") == FailureDecision("retry", 5)


def test_on_failure_sees_all_msg_fields() -> None:
    h = failure_hooks(
        "assert(msg.id == 'm9' and msg.attempts == 2 and msg.queue == 'q' and "
        "msg.error == 'bad' and msg.headers.t == 'x') return nil"
    )
    assert h.on_failure({"t": "x"}, "m9", 2, "q", "bad") == FailureDecision()


@pytest.mark.parametrize(
    ("ret", "fragment"),
    [
        ("5", "must return a table or nil"),
        ("{ action = 1 }", "action must be a string"),
        ("{ delay_ms = -1 }", "delay_ms must not be negative"),
    ],
)
def test_on_failure_bad_returns(ret: str, fragment: str) -> None:
    with pytest.raises(HookError) as exc:
        failure_hooks(f"return {ret}").on_failure({}, "m", 1, "q", "e")
    assert fragment in str(exc.value)


def test_both_hooks_share_the_queue_environment() -> None:
    h = QueueHooks(
        "function helper() return 'h' end\n"
        "function on_enqueue(m) return { fairness_key = helper() } end",
        "function on_failure(m) return { action = helper() == 'h' and 'dlq' or 'retry' } end",
        SETTINGS,
        lambda _k: None,
    )
    assert h.on_enqueue({}, 0, "q").fairness_key == "h"
    assert h.on_failure({}, "m", 1, "q", "e").action == "dlq"


def test_closed_hooks_raise() -> None:
    h = QueueHooks(TENANT, "", SETTINGS, lambda _k: None)
    h.close()
    with pytest.raises(HookError, match="closed"):
        h.on_enqueue({}, 0, "q")


# ---------------------------------------------------------------- circuit breaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000

    def advance(self, ms: int) -> None:
        self.now += ms


def test_breaker_opens_after_threshold_consecutive_failures() -> None:
    clock = FakeClock()
    b = CircuitBreaker(threshold=3, cooldown_ms=10_000)
    for _ in range(2):
        assert b.allow(clock.now)
        b.failure(clock.now)
    assert not b.is_open(clock.now) and b.consecutive == 2
    b.failure(clock.now)
    assert b.is_open(clock.now) and not b.allow(clock.now)
    assert b.failures_total == 3


def test_breaker_success_resets_the_streak() -> None:
    clock = FakeClock()
    b = CircuitBreaker(threshold=3, cooldown_ms=10_000)
    b.failure(clock.now)
    b.failure(clock.now)
    b.success()
    b.failure(clock.now)
    b.failure(clock.now)
    assert b.allow(clock.now) and b.consecutive == 2 and b.failures_total == 4


def test_breaker_allows_a_trial_after_cooldown_and_reopens_on_failure() -> None:
    clock = FakeClock()
    b = CircuitBreaker(threshold=3, cooldown_ms=10_000)
    for _ in range(3):
        b.failure(clock.now)
    clock.advance(9_999)
    assert not b.allow(clock.now)
    clock.advance(1)
    assert b.allow(clock.now) and not b.is_open(clock.now)
    b.failure(clock.now)  # the trial failed: open for another full cooldown
    assert not b.allow(clock.now)
    clock.advance(10_000)
    assert b.allow(clock.now)
    b.success()
    assert b.allow(clock.now) and b.consecutive == 0 and b.failures_total == 4


def test_breaker_with_hooks_end_to_end() -> None:
    clock = FakeClock()
    settings = HookSettings()
    b = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_ms)
    h = enqueue_hooks("if msg.headers.bad then error('nope') end return { fairness_key = 'k' }")
    used_hook = 0
    for _ in range(5):
        if b.allow(clock.now):
            used_hook += 1
            try:
                h.on_enqueue({"bad": "1"}, 0, "q")
                b.success()
            except HookError:
                b.failure(clock.now)
    assert used_hook == 3 and b.is_open(clock.now)
    clock.advance(settings.breaker_cooldown_ms)
    assert b.allow(clock.now)
    assert h.on_enqueue({}, 0, "q").fairness_key == "k"
    b.success()
    assert not b.is_open(clock.now)
