"""Token buckets and concurrency caps, driven by an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fila.server.limits import Limits, parse_cap, parse_throttle
from fila.server.scheduler import Block

# -- parsing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10,5", (10.0, 5.0)),
        (" 2.5 , 3 ", (2.5, 3.0)),
        ("0,0", (0.0, 0.0)),
        ("1e3,1", (1000.0, 1.0)),
    ],
)
def test_parse_throttle_accepts(text: str, expected: tuple[float, float]) -> None:
    assert parse_throttle(text) == expected


@pytest.mark.parametrize("text", ["abc", "", "5", "1,2,3", "1,", ",1", "a,1", "1;2"])
def test_parse_throttle_rejects_bad_shape(text: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_throttle(text)
    assert str(err.value) == f'throttle value must be "<rate_per_second>,<burst>" (got "{text}")'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-1,2", 'throttle rate must be a finite number >= 0 (got "-1")'),
        ("1,-2", 'throttle burst must be a finite number >= 0 (got "-2")'),
        ("nan,1", 'throttle rate must be a finite number >= 0 (got "nan")'),
        ("1, inf", 'throttle burst must be a finite number >= 0 (got "inf")'),
    ],
)
def test_parse_throttle_rejects_bad_numbers(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        parse_throttle(text)


def test_parse_cap() -> None:
    assert parse_cap("5") == 5
    assert parse_cap(" 0 ") == 0
    for bad in ["-1", "1.5", "x", "", "1,2"]:
        with pytest.raises(ValueError) as err:
            parse_cap(bad)
        assert str(err.value) == f'concurrency value must be an integer >= 0 (got "{bad}")'


# -- buckets -------------------------------------------------------------------


def deliver(limits: Limits, keys: list[str], now: float) -> Block | None:
    block = limits.check(keys, now)
    if block is None:
        limits.acquire(keys, now)
    return block


def test_bucket_starts_full_then_blocks_until_the_next_token() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=2.0, burst=3.0, now=100.0)
    for _ in range(3):
        assert deliver(lim, ["t"], 100.0) is None
    block = lim.check(["t"], 100.0)
    assert block is not None and (block.reason, block.limit_key) == ("throttled", "t")
    assert block.until == pytest.approx(100.5)
    assert deliver(lim, ["t"], 100.4) is not None
    assert block.until is not None
    assert deliver(lim, ["t"], block.until) is None  # exactly on time, not a hair later


def test_until_is_exact_for_fractional_tokens() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=4.0, burst=1.0, now=0.0)
    deliver(lim, ["t"], 0.0)
    block = lim.check(["t"], 0.1)  # 0.4 tokens
    assert block is not None and block.until == pytest.approx(0.25)


def test_keys_without_limits_always_pass() -> None:
    lim = Limits()
    assert lim.check([], 0.0) is None
    assert lim.check(["free", "other"], 0.0) is None
    lim.set_throttle("t", 0.0, 0.0, 0.0)
    assert lim.check(["free"], 0.0) is None
    assert lim.check(["free", "t"], 0.0) == Block("throttled", "t", None)


def test_rate_zero_allows_burst_then_stops_for_good() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=0.0, burst=3.0, now=0.0)
    assert [deliver(lim, ["t"], float(i)) for i in range(3)] == [None, None, None]
    assert deliver(lim, ["t"], 1e9) == Block("throttled", "t", None)


def test_burst_below_one_never_passes() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=10.0, burst=0.5, now=0.0)
    assert lim.check(["t"], 100.0) == Block("throttled", "t", None)


def test_update_keeps_tokens_clamped_to_new_burst() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=1.0, burst=10.0, now=0.0)
    lim.set_throttle("t", rate=1.0, burst=3.0, now=0.0)
    assert lim.throttle_state("t", 0.0) == (3.0, 1.0, 3.0)
    for _ in range(3):
        deliver(lim, ["t"], 0.0)
    lim.set_throttle("t", rate=1.0, burst=50.0, now=0.5)  # keeps 0.5 tokens, not refilled to full
    assert lim.throttle_state("t", 0.5) == (0.5, 1.0, 50.0)


def test_update_settles_elapsed_time_at_the_old_rate() -> None:
    lim = Limits()
    lim.set_throttle("t", rate=1.0, burst=10.0, now=0.0)
    for _ in range(10):
        deliver(lim, ["t"], 0.0)
    lim.set_throttle("t", rate=100.0, burst=10.0, now=2.0)  # 2 s at 1/s = 2 tokens
    state = lim.throttle_state("t", 2.0)
    assert state is not None and state[0] == pytest.approx(2.0)
    state = lim.throttle_state("t", 2.05)  # then 100/s
    assert state is not None and state[0] == pytest.approx(7.0)


def test_remove_throttle_lifts_the_limit() -> None:
    lim = Limits()
    lim.set_throttle("t", 0.0, 0.0, 0.0)
    assert lim.throttle_keys() == ["t"]
    lim.remove_throttle("t")
    assert lim.check(["t"], 0.0) is None
    assert lim.throttle_keys() == [] and lim.throttle_state("t", 0.0) is None


def test_set_throttle_rejects_bad_numbers() -> None:
    lim = Limits()
    for rate, burst in [(-1.0, 1.0), (1.0, float("nan")), (float("inf"), 1.0)]:
        with pytest.raises(ValueError):
            lim.set_throttle("t", rate, burst, 0.0)


def test_check_does_not_consume() -> None:
    lim = Limits()
    lim.set_throttle("t", 0.0, 1.0, 0.0)
    for _ in range(5):
        assert lim.check(["t"], 0.0) is None
    lim.acquire(["t"], 0.0)
    assert lim.check(["t"], 0.0) is not None


def test_duplicate_keys_take_one_token_and_one_slot() -> None:
    lim = Limits()
    lim.set_throttle("t", 0.0, 1.0, 0.0)
    assert lim.check(["t", "t"], 0.0) is None
    lim.acquire(["t", "t"], 0.0)
    assert lim.in_flight("t") == 1
    assert lim.throttle_state("t", 0.0) == (0.0, 0.0, 1.0)
    lim.release(["t", "t"])
    assert lim.in_flight("t") == 0


def test_every_named_bucket_must_have_a_token() -> None:
    lim = Limits()
    lim.set_throttle("a", 1.0, 1.0, 0.0)
    lim.set_throttle("b", 1.0, 1.0, 0.0)
    deliver(lim, ["a"], 0.0)
    block = lim.check(["a", "b"], 0.5)
    assert block is not None and block.limit_key == "a"
    deliver(lim, ["b"], 0.5)
    # both empty: report the one that refills last, so one wake-up suffices
    block = lim.check(["a", "b"], 0.6)
    assert block is not None and block.limit_key == "b"
    assert block.until == pytest.approx(1.5)


@settings(max_examples=80, deadline=None)
@given(
    rate=st.floats(0.0, 50.0),
    burst=st.floats(0.0, 20.0),
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=150),
)
def test_deliveries_in_any_window_stay_within_burst_plus_rate(
    rate: float, burst: float, gaps: list[float]
) -> None:
    """A greedy consumer never beats the bucket: in any window T, count <= burst + rate*T."""
    lim = Limits()
    lim.set_throttle("t", rate, burst, 0.0)
    now = 0.0
    times: list[float] = []
    for gap in gaps:
        now += gap
        while deliver(lim, ["t"], now) is None:
            times.append(now)
            if len(times) > 10_000:
                raise AssertionError("runaway bucket")
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            count = j - i + 1
            assert count <= burst + rate * (times[j] - start) + 1e-6


@settings(max_examples=50, deadline=None)
@given(rate=st.floats(0.5, 100.0), burst=st.floats(1.0, 10.0), n=st.integers(1, 60))
def test_waking_at_until_always_delivers(rate: float, burst: float, n: int) -> None:
    """A caller that sleeps exactly until Block.until is never refused."""
    lim = Limits()
    lim.set_throttle("t", rate, burst, 0.0)
    now = 0.0
    delivered = 0
    while delivered < n:
        block = deliver(lim, ["t"], now)
        if block is None:
            delivered += 1
            continue
        assert block.until is not None and block.until > now
        now = block.until
        assert deliver(lim, ["t"], now) is None
        delivered += 1
    # long-run rate matches the configured one
    expected = max(0.0, n - burst) / rate
    assert now == pytest.approx(expected, rel=1e-6, abs=1e-6)


# -- concurrency caps ----------------------------------------------------------


def test_cap_limits_in_flight_until_release() -> None:
    lim = Limits()
    lim.set_cap("c", 2)
    assert deliver(lim, ["c"], 0.0) is None
    assert deliver(lim, ["c"], 0.0) is None
    assert lim.check(["c"], 0.0) == Block("concurrency", "c", None)
    assert lim.cap_state("c") == (2, 2)
    lim.release(["c"])
    assert deliver(lim, ["c"], 0.0) is None


def test_cap_set_later_counts_messages_already_in_flight() -> None:
    lim = Limits()
    for _ in range(3):
        lim.acquire(["c"], 0.0)
    lim.set_cap("c", 3)
    assert lim.check(["c"], 0.0) == Block("concurrency", "c", None)
    lim.remove_cap("c")
    assert lim.check(["c"], 0.0) is None and lim.cap_state("c") is None


def test_cap_zero_blocks_everything_and_release_never_goes_negative() -> None:
    lim = Limits()
    lim.set_cap("c", 0)
    assert lim.check(["c"], 0.0) == Block("concurrency", "c", None)
    lim.release(["c"])
    lim.release(["c"])
    assert lim.in_flight("c") == 0
    lim.set_cap("c", 1)
    assert lim.check(["c"], 0.0) is None


def test_cap_blocks_before_throttle_is_reported() -> None:
    lim = Limits()
    lim.set_throttle("t", 1.0, 1.0, 0.0)
    lim.set_cap("c", 1)
    deliver(lim, ["t", "c"], 0.0)
    assert lim.check(["t", "c"], 0.5) == Block("concurrency", "c", None)
    with pytest.raises(ValueError):
        lim.set_cap("c", -1)


def test_counters_and_key_lists() -> None:
    lim = Limits()
    lim.set_cap("c", 1)
    lim.set_throttle("t", 0.0, 5.0, 0.0)
    deliver(lim, ["c", "t"], 0.0)
    deliver(lim, ["c", "t"], 0.0)  # refused by the cap
    deliver(lim, ["t"], 0.0)
    assert lim.counters("c") == (1, 1)
    assert lim.counters("t") == (0, 2)
    assert lim.counters("nolimit") == (0, 0)
    assert lim.cap_keys() == ["c"] and lim.throttle_keys() == ["t"]
