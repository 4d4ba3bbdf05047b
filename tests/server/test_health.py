"""StorageHealth: degraded/healthy transitions, one log line per change, bounded backoff."""

from __future__ import annotations

import logging

import pytest

from fila.errors import OverloadedError
from fila.server.health import StorageHealth


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def full() -> OverloadedError:
    return OverloadedError("storage full: IO error: No space left on device")


def test_one_change_per_episode_and_one_log_line_each(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    health = StorageHealth(clock=clock)
    changes: list[bool] = []
    health.add_listener(changes.append)
    caplog.set_level(logging.INFO, logger="fila.storage")
    health.write_ok()  # healthy stays healthy: nothing to say
    for _ in range(1000):
        health.write_failed(full())
    assert health.degraded
    assert health.reason.startswith("storage full")
    clock.now += 3
    for _ in range(5):
        health.write_ok()
    assert not health.degraded and health.reason == ""
    assert changes == [True, False]
    assert health.failures == 1000 and health.episodes == 1
    lines = [r.getMessage() for r in caplog.records if r.name == "fila.storage"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("storage degraded: storage full")
    assert "NOT_SERVING" in lines[0]
    assert lines[1].startswith("storage recovered after 3.0 s (1000 failed write(s) meanwhile)")


def test_backoff_doubles_from_50_ms_to_a_5_s_cap() -> None:
    health = StorageHealth(clock=FakeClock())
    health.write_failed(full())
    delays = [health.next_delay() for _ in range(10)]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    # retries per second stay bounded: after the first ~1.5 s, at most one per 5 s
    assert sum(1 for d in delays if d < 1) <= 5


def test_a_new_episode_restarts_the_backoff() -> None:
    clock = FakeClock()
    health = StorageHealth(clock=clock)
    health.write_failed(full())
    for _ in range(6):
        health.next_delay()
    health.write_ok()
    clock.now += 60  # healthy for a long time
    health.write_failed(full())
    assert health.next_delay() == 0.05
    assert health.episodes == 2


def test_a_flapping_disk_keeps_backing_off() -> None:
    clock = FakeClock()
    health = StorageHealth(clock=clock)
    health.write_failed(full())
    assert [health.next_delay() for _ in range(4)] == [0.05, 0.1, 0.2, 0.4]
    health.write_ok()
    clock.now += 0.5  # full again right after recovering: no fresh 50 ms start
    health.write_failed(full())
    assert health.next_delay() == 0.8


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        StorageHealth(first_delay=0)
    with pytest.raises(ValueError):
        StorageHealth(first_delay=2, max_delay=1)
