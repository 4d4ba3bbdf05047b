"""Server configuration: lookup, env overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fila.server.config import ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fila.toml"
    path.write_text(text)
    return path


def test_defaults_and_env(tmp_path: Path) -> None:
    env = {"FILA_DATA_DIR": "/x", "FILA_LISTEN_ADDR": "0.0.0.0:1"}
    cfg = load_config(write(tmp_path, ""), env=env)
    assert cfg.data_dir == "/x" and cfg.listen_addr == "0.0.0.0:1" and cfg.quantum == 1000


def test_sections_aliases_and_unknown_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """
[server]
listen_addr = "127.0.0.1:7000"
release_grace_ms = 0
[scheduler]
quantum = 5
[lua]
circuit_breaker_cooldown_ms = 50
[mystery]
x = 1
"""), env={})
    assert (cfg.listen_addr, cfg.quantum, cfg.lua_breaker_cooldown_ms) == ("127.0.0.1:7000", 5, 50)
    assert cfg.release_grace_ms == 0
    assert any("unknown key [mystery] x" in w for w in cfg.warnings)


@pytest.mark.parametrize(("text", "needle"), [
    ("[server\n", "malformed config file"),
    ("[scheduler]\nquantum = 0\n", "quantum must be > 0"),
    ("[scheduler]\nquantum = \"many\"\n", "must be an integer"),
    ("[server]\nlisten_addr = \"nohost\"\n", "HOST:PORT"),
    ("[server]\nrelease_grace_ms = -1\n", "must be >= 0"),
    ("[tls]\ncert_file = \"c.pem\"\n", "key_file is not"),
    ("[tls]\nkey_file = \"k.pem\"\n", "cert_file is not"),
    ("[tls]\nca_file = \"ca.pem\"\n", "mTLS"),
    ("[stats]\nhistory_seconds = 0\n", r"\[stats\] history_seconds must be > 0, got 0"),
    ("[stats]\nhistory_seconds = 7200\n", "history_seconds must be at most 3600"),
    ("[stats]\nhistory_top_keys = -1\n", "history_top_keys must be >= 0"),
    ("[stats]\nhistory_top_keys = 1000\n", "history_top_keys must be at most 100"),
    ("[cluster]\nconnect_timeout_ms = 0\n", r"\[cluster\] connect_timeout_ms must be > 0"),
])
def test_bad_files_are_clear_errors(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(write(tmp_path, text), env={})


def test_bootstrap_key_from_file_or_env(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}).bootstrap_apikey == ""
    assert load_config(write(tmp_path, '[auth]\nbootstrap_apikey = "k"\n'),
                       env={}).bootstrap_apikey == "k"
    assert load_config(write(tmp_path, '[server]\nbootstrap_apikey = "k"\n'),
                       env={}).bootstrap_apikey == "k"
    assert load_config(write(tmp_path, '[auth]\nbootstrap_apikey = "k"\n'),
                       env={"FILA_BOOTSTRAP_APIKEY": "e"}).bootstrap_apikey == "e"


def test_tls_spellings(tmp_path: Path) -> None:
    for body in ('[tls]\ncert_file = "c"\nkey_file = "k"\nca_file = "a"\n',
                 '[tls]\nserver_cert = "c"\nserver_key = "k"\nca_cert = "a"\n'):
        cfg = load_config(write(tmp_path, body), env={})
        assert (cfg.tls_cert_file, cfg.tls_key_file, cfg.tls_ca_file) == ("c", "k", "a")


def test_fsync_can_be_turned_off_explicitly(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}).fsync is True
    assert load_config(write(tmp_path, "[storage]\nfsync = false\n"), env={}).fsync is False
    with pytest.raises(ConfigError, match="true or false"):
        load_config(write(tmp_path, "[storage]\nfsync = 0\n"), env={})


def test_errors_name_where_the_bad_setting_came_from(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nlisten_addr = "nohost"\n[tls]\nserver_cert = "c.pem"\n')
    with pytest.raises(ConfigError, match=r"^FILA_LISTEN_ADDR must be HOST:PORT, got 'nonsense'$"):
        load_config(path, env={"FILA_LISTEN_ADDR": "nonsense"})
    with pytest.raises(ConfigError, match=rf"^{path} \[server\] listen_addr must be HOST:PORT"):
        load_config(path, env={})
    with pytest.raises(ConfigError, match=rf"^{path} \[tls\] server_cert is set but"):
        load_config(path, env={"FILA_LISTEN_ADDR": "127.0.0.1:1"})


def test_a_bad_log_level_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "fila.server.main"], cwd=tmp_path,
                          env={**os.environ, "FILA_LOG_LEVEL": "LOUD",
                               "FILA_DATA_DIR": str(tmp_path / "db")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr == ("fila-server: FILA_LOG_LEVEL must be one of DEBUG, INFO, WARNING, "
                           "ERROR, CRITICAL, got 'LOUD'\n")


def test_prometheus_addr_is_off_by_default_and_checked(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}).prometheus_addr == ""
    cfg = load_config(write(tmp_path, '[telemetry]\nprometheus_addr = "127.0.0.1:9464"\n'),
                      env={})
    assert cfg.prometheus_addr == "127.0.0.1:9464"
    with pytest.raises(ConfigError, match=r"\[telemetry\] prometheus_addr must be HOST:PORT, "
                                          r"got '9464'$"):
        load_config(write(tmp_path, '[telemetry]\nprometheus_addr = "9464"\n'), env={})


@pytest.mark.parametrize("endpoint", ["http://collector:4317", "https://c.example:4317",
                                      "127.0.0.1:4317"])
def test_otlp_endpoint_forms(tmp_path: Path, endpoint: str) -> None:
    cfg = load_config(write(tmp_path, f'[telemetry]\notlp_endpoint = "{endpoint}"\n'), env={})
    assert cfg.otlp_endpoint == endpoint


def test_a_bad_otlp_endpoint_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[telemetry\] otlp_endpoint must be "
                                          r"http://HOST:PORT, https://HOST:PORT or HOST:PORT, "
                                          r"got 'ftp://x:1'$"):
        load_config(write(tmp_path, '[telemetry]\notlp_endpoint = "ftp://x:1"\n'), env={})


def test_stats_history_knobs(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), env={})
    assert (cfg.history_seconds, cfg.history_top_keys) == (900, 5)
    cfg = load_config(write(tmp_path, "[stats]\nhistory_seconds = 60\nhistory_top_keys = 0\n"),
                      env={})
    assert (cfg.history_seconds, cfg.history_top_keys) == (60, 0)


def test_cluster_mode_is_off_by_default_and_opt_in(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}).cluster_nats_urls == ()
    config = load_config(write(tmp_path, '[cluster]\nnats_urls = ["nats://a:4222", '
                                '"nats://b:4222"]\nnode_id = "n1"\n'
                                'advertise_addr = "10.0.0.1:5555"\n'), env={})
    assert config.cluster_nats_urls == ("nats://a:4222", "nats://b:4222")
    assert (config.cluster_node_id, config.cluster_advertise_addr) == ("n1", "10.0.0.1:5555")
    assert (config.cluster_lease_ttl_ms, config.cluster_replicas) == (2000, 3)
    assert config.cluster_connect_timeout_ms == 15_000
    # One comma-separated string works too (handy from a shell or an env-templated file).
    config = load_config(write(tmp_path, '[cluster]\nnats_urls = "nats://a:1, nats://b:2"\n'
                                'node_id = "n2"\n'), env={})
    assert config.cluster_nats_urls == ("nats://a:1", "nats://b:2")


@pytest.mark.parametrize(("text", "needle"), [
    ('[cluster]\nnats_urls = ["nats://a:1"]\n', "node_id is not"),
    ('[cluster]\nnode_id = "n1"\n', "nats_urls is not"),
    ('[cluster]\nnats_urls = ["nats://a:1"]\nnode_id = "a.b"\n', "node id 'a.b'"),
    ('[cluster]\nnats_urls = [1]\nnode_id = "n1"\n', "must be a list of strings"),
    ('[cluster]\nnats_urls = "nats://a:1"\nnode_id = "n1"\nreplicas = 2\n', "1, 3 or 5"),
    ('[cluster]\nnats_urls = "nats://a:1"\nnode_id = "n1"\nadvertise_addr = "x"\n',
     "HOST:PORT"),
    ('[cluster]\nnats_urls = "nats://a:1"\nnode_id = "n1"\n[tls]\ncert_file = "c"\n'
     'key_file = "k"\n', "not supported in cluster mode"),
])
def test_bad_cluster_settings_are_one_line_errors(tmp_path: Path, text: str, needle: str
                                                  ) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        load_config(write(tmp_path, text), env={})
    assert "\n" not in str(info.value)
