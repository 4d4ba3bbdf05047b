"""Bounds on server settings and on runtime limit values (parsed once, at the edge)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fila.errors import InvalidArgumentError, OverloadedError
from fila.server.broker import Broker, BrokerSettings
from fila.server.config import ConfigError, ServerConfig, load_config
from fila.server.limits import MAX_BURST, MAX_CAP, parse_cap, parse_throttle
from fila.server.store import MemoryStore
from server.test_broker import Harness, ManualClock


def test_new_server_limits_have_defaults_and_are_read(tmp_path: Path) -> None:
    default = ServerConfig()
    assert (default.max_prefetch, default.max_streams_per_client, default.max_watch_streams,
            default.max_concurrent_streams, default.max_config_entries) == (
        1000, 100, 64, 1000, 10_000)
    path = tmp_path / "fila.toml"
    path.write_text("[server]\nmax_prefetch = 7\nmax_streams_per_client = 3\n"
                    "max_watch_streams = 2\nmax_concurrent_streams = 9\n"
                    "max_config_entries = 5\n")
    cfg = load_config(path, env={})
    assert (cfg.max_prefetch, cfg.max_streams_per_client, cfg.max_watch_streams,
            cfg.max_concurrent_streams, cfg.max_config_entries) == (7, 3, 2, 9, 5)


@pytest.mark.parametrize(("text", "needle"), [
    ("[server]\nmax_prefetch = 0\n", "max_prefetch must be > 0"),
    ("[server]\nmax_prefetch = 100001\n", "max_prefetch must be at most 100000"),
    ("[server]\nmax_watch_streams = 0\n", "max_watch_streams must be > 0"),
    ("[server]\nmax_streams_per_client = -1\n", "must be >= 0"),
    ("[server]\nmax_concurrent_streams = 0\n", "max_concurrent_streams must be > 0"),
    ("[server]\nmax_config_entries = 0\n", "max_config_entries must be > 0"),
    ("[scheduler]\nquantum = 4294967296\n", "quantum must be at most 1000000"),
])
def test_out_of_range_settings_stop_start_up(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "fila.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(path, env={})


@pytest.mark.parametrize("text", ["1e-20,1", "1e-7,1", "1000001,1", "1e300,1"])
def test_throttle_rate_outside_its_range_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"^throttle rate must be 0 or 0\.000001\.\.1000000"):
        parse_throttle(text)


def test_throttle_bounds_are_inclusive_and_rate_zero_stays() -> None:
    assert parse_throttle("0.000001,1") == (0.000001, 1.0)
    assert parse_throttle(f"1000000,{MAX_BURST}") == (1_000_000.0, float(MAX_BURST))
    assert parse_throttle("0,3") == (0.0, 3.0)  # spec: burst N deliveries, then stop
    with pytest.raises(ValueError, match=r"^throttle burst must be at most 1000000"):
        parse_throttle("1,1000001")


def test_cap_bounds() -> None:
    assert parse_cap(str(MAX_CAP)) == MAX_CAP
    for bad in [str(MAX_CAP + 1), "9" * 5000]:
        with pytest.raises(ValueError, match=r"^concurrency value must be at most 1000000"):
            parse_cap(bad)


def test_refused_value_stores_nothing() -> None:
    broker = Broker(MemoryStore(), ManualClock())
    with pytest.raises(InvalidArgumentError):
        broker.set_config("throttle.t", "1e-20,1")
    with pytest.raises(InvalidArgumentError):
        broker.set_config("concurrency.t", "1" * 40)
    assert broker.list_config() == []
    assert broker.limits.throttle_keys() == [] and broker.limits.cap_keys() == []


def test_config_entry_cap() -> None:
    h = Harness()
    h.broker = Broker(h.store, h.clock, BrokerSettings(max_config_entries=2))
    h.apply(h.broker.set_config("a", "1"))
    h.apply(h.broker.set_config("b", "1"))
    with pytest.raises(OverloadedError, match=r"^too many config entries \(limit 2\)$"):
        h.broker.set_config("c", "1")
    h.apply(h.broker.set_config("a", "2"))  # overwrite
    h.apply(h.broker.set_config("b", ""))  # delete
    h.apply(h.broker.set_config("b", ""))  # deleting a missing key is fine too
    h.apply(h.broker.set_config("c", "1"))
    assert h.broker.list_config() == [("a", "2"), ("c", "1")]
