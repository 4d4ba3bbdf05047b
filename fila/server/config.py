"""Server configuration: ``fila.toml`` + environment -> frozen dataclasses.

Lookup: ``--config PATH``, else ``./fila.toml``, else ``/etc/fila/fila.toml``,
else defaults. Env ``FILA_LISTEN_ADDR``, ``FILA_DATA_DIR`` and
``FILA_BOOTSTRAP_APIKEY`` override the file. Unknown keys are warnings; a
malformed file or a bad value is a ConfigError with a clear text.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "ServerConfig", "load_config"]

DEFAULT_PATHS = (Path("fila.toml"), Path("/etc/fila/fila.toml"))


class ConfigError(Exception):
    """The configuration file or a value in it is invalid."""


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen_addr: str = "127.0.0.1:5555"
    data_dir: str = "./data"
    quantum: int = 1000
    lua_timeout_ms: int = 10
    lua_memory_limit_bytes: int = 1 << 20
    lua_breaker_threshold: int = 3
    lua_breaker_cooldown_ms: int = 10_000
    # Second line of defence: a hook job past this wall time is abandoned (hookrunner.py).
    lua_watchdog_ms: int = 1000
    otlp_endpoint: str = ""
    # HOST:PORT of the Prometheus /metrics endpoint; "" = metrics off (the default).
    prometheus_addr: str = ""
    # Log lines: "text" (human) or "json" (one object per line); level as in logging.
    log_format: str = "text"
    log_level: str = "INFO"
    service_name: str = "fila"
    metrics_interval_ms: int = 10_000
    tls_cert_file: str = ""
    tls_key_file: str = ""
    tls_ca_file: str = ""
    bootstrap_apikey: str = ""
    # Consume streams: default credit (max unacked leases per stream).
    default_prefetch: int = 256
    # A closed stream's leases return after this grace (an ack right after close still lands).
    release_grace_ms: int = 1000
    # false = "process-crash only" mode: writes reach the OS but are not fsynced, so a
    # power loss can drop acknowledged enqueues. Opt-in, for benchmarks and tests.
    fsync: bool = True
    max_consumers: int = 1000
    # ConsumeRequest.prefetch (and default_prefetch) above this is served as this.
    max_prefetch: int = 1000
    # Open consume streams per client connection (grpc peer).
    max_streams_per_client: int = 100
    # Concurrent WatchStats streams, all clients together.
    max_watch_streams: int = 64
    # HTTP/2 streams (RPCs in progress) per client connection (grpc.max_concurrent_streams).
    max_concurrent_streams: int = 1000
    # Runtime config entries (SetConfig keys); overwriting or deleting one is always allowed.
    max_config_entries: int = 10_000
    # Stats history (GetStatsHistory): seconds kept at 1 s resolution, busiest keys per queue.
    history_seconds: int = 900
    history_top_keys: int = 5
    # Cluster mode (docs/cluster.md): on when nats_urls is set.
    cluster_nats_urls: tuple[str, ...] = ()
    cluster_node_id: str = ""
    # The HOST:PORT other nodes send clients to ("" = listen_addr).
    cluster_advertise_addr: str = ""
    cluster_lease_ttl_ms: int = 2000
    # Copies of each queue's log (JetStream replicas: 1, 3 or 5).
    cluster_replicas: int = 3
    # A queue group is snapshotted (and its log purged) after this many new log entries.
    cluster_snapshot_entries: int = 10_000
    # How long a starting node waits for NATS before it gives up (exit 1, one line).
    cluster_connect_timeout_ms: int = 15_000
    source: str = "defaults"
    # Where a setting came from, for errors: field name -> "fila.toml [tls] server_cert" or
    # "FILA_LISTEN_ADDR" (only fields set in the file or the environment).
    origins: tuple[tuple[str, str], ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())


# (section, key) -> (field name, type). Aliases accepted because one published
# SDK's test harness writes them.
_KEYS: dict[tuple[str, str], tuple[str, type]] = {
    ("server", "listen_addr"): ("listen_addr", str),
    ("server", "data_dir"): ("data_dir", str),
    ("server", "bootstrap_apikey"): ("bootstrap_apikey", str),
    ("server", "default_prefetch"): ("default_prefetch", int),
    ("server", "release_grace_ms"): ("release_grace_ms", int),
    ("storage", "fsync"): ("fsync", bool),
    ("server", "max_consumers"): ("max_consumers", int),
    ("server", "max_prefetch"): ("max_prefetch", int),
    ("server", "max_streams_per_client"): ("max_streams_per_client", int),
    ("server", "max_watch_streams"): ("max_watch_streams", int),
    ("server", "max_concurrent_streams"): ("max_concurrent_streams", int),
    ("server", "max_config_entries"): ("max_config_entries", int),
    ("scheduler", "quantum"): ("quantum", int),
    ("stats", "history_seconds"): ("history_seconds", int),
    ("stats", "history_top_keys"): ("history_top_keys", int),
    ("lua", "default_timeout_ms"): ("lua_timeout_ms", int),
    ("lua", "default_memory_limit_bytes"): ("lua_memory_limit_bytes", int),
    ("lua", "circuit_breaker_threshold"): ("lua_breaker_threshold", int),
    ("lua", "circuit_breaker_cooldown_ms"): ("lua_breaker_cooldown_ms", int),
    ("lua", "watchdog_ms"): ("lua_watchdog_ms", int),
    ("telemetry", "otlp_endpoint"): ("otlp_endpoint", str),
    ("telemetry", "prometheus_addr"): ("prometheus_addr", str),
    ("log", "format"): ("log_format", str),
    ("log", "level"): ("log_level", str),
    ("telemetry", "service_name"): ("service_name", str),
    ("telemetry", "metrics_interval_ms"): ("metrics_interval_ms", int),
    ("tls", "cert_file"): ("tls_cert_file", str),
    ("tls", "key_file"): ("tls_key_file", str),
    ("tls", "ca_file"): ("tls_ca_file", str),
    ("tls", "server_cert"): ("tls_cert_file", str),
    ("tls", "server_key"): ("tls_key_file", str),
    ("tls", "ca_cert"): ("tls_ca_file", str),
    ("auth", "bootstrap_apikey"): ("bootstrap_apikey", str),
    ("cluster", "nats_urls"): ("cluster_nats_urls", list),
    ("cluster", "node_id"): ("cluster_node_id", str),
    ("cluster", "advertise_addr"): ("cluster_advertise_addr", str),
    ("cluster", "lease_ttl_ms"): ("cluster_lease_ttl_ms", int),
    ("cluster", "replicas"): ("cluster_replicas", int),
    ("cluster", "snapshot_entries"): ("cluster_snapshot_entries", int),
    ("cluster", "connect_timeout_ms"): ("cluster_connect_timeout_ms", int),
}

_POSITIVE = {
    "quantum", "lua_timeout_ms", "lua_memory_limit_bytes", "lua_breaker_threshold",
    "lua_watchdog_ms",
    "default_prefetch", "max_consumers", "metrics_interval_ms", "max_prefetch",
    "max_streams_per_client", "max_watch_streams", "max_concurrent_streams",
    "max_config_entries", "history_seconds", "cluster_lease_ttl_ms",
    "cluster_snapshot_entries", "cluster_connect_timeout_ms",
}

# Upper bounds: values that fit the wire (quantum is a uint32 in GetStats) and the
# one-stream-at-a-time delivery loop (prefetch).
_MAXIMUM = {
    "quantum": 1_000_000,
    "default_prefetch": 100_000,
    "max_prefetch": 100_000,
    "max_concurrent_streams": 1_000_000,
    # Memory: 25 KB per queue and 14 KB per key at 900 s; these keep it to what a dashboard
    # shows (an hour) and what a queue screen lists.
    "history_seconds": 3600,
    "history_top_keys": 100,
}


def _from_mapping(doc: Mapping[str, Any], source: str) -> ServerConfig:
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    warnings: list[str] = []
    for section, body in doc.items():
        if not isinstance(body, dict):
            warnings.append(f"{source}: ignoring top-level key {section!r} (expected a [section])")
            continue
        for key, value in body.items():
            spec = _KEYS.get((section, key))
            if spec is None:
                warnings.append(f"{source}: unknown key [{section}] {key}")
                continue
            name, kind = spec
            if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{source}: [{section}] {key} must be an integer, got {value!r}")
            if kind is bool and not isinstance(value, bool):
                raise ConfigError(
                    f"{source}: [{section}] {key} must be true or false, got {value!r}")
            if kind is list:
                # A list of strings, or one comma-separated string.
                if isinstance(value, str):
                    value = [part.strip() for part in value.split(",") if part.strip()]
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ConfigError(
                        f"{source}: [{section}] {key} must be a list of strings, got {value!r}")
                value = tuple(value)
            if kind is str and not isinstance(value, str):
                raise ConfigError(f"{source}: [{section}] {key} must be a string, got {value!r}")
            if kind is int and value < 0:  # bool never reaches here: checked above
                raise ConfigError(f"{source}: [{section}] {key} must be >= 0, got {value}")
            if name in _POSITIVE and value <= 0:
                raise ConfigError(f"{source}: [{section}] {key} must be > 0, got {value}")
            if name in _MAXIMUM and value > _MAXIMUM[name]:
                raise ConfigError(
                    f"{source}: [{section}] {key} must be at most {_MAXIMUM[name]}, got {value}")
            values[name] = value
            origins[name] = f"{source} [{section}] {key}"
    return ServerConfig(source=source, warnings=tuple(warnings),
                        origins=tuple(origins.items()), **values)


LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _validate_addr(addr: str, origin: str) -> None:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{origin} must be HOST:PORT, got {addr!r}")


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> ServerConfig:
    """Read the config file (explicit path, else the default lookup) and apply env overrides."""
    env = os.environ if env is None else env
    candidates = [Path(path)] if path is not None else list(DEFAULT_PATHS)
    config = ServerConfig()
    for candidate in candidates:
        if path is None and not candidate.is_file():
            continue
        try:
            raw = candidate.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read config file {candidate}: {exc.strerror}") from exc
        try:
            doc = tomllib.loads(raw.decode())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"malformed config file {candidate}: {exc}") from exc
        config = _from_mapping(doc, str(candidate))
        break
    overrides: dict[str, Any] = {}
    origins = dict(config.origins)
    for var, name in (("FILA_LISTEN_ADDR", "listen_addr"), ("FILA_DATA_DIR", "data_dir"),
                      ("FILA_BOOTSTRAP_APIKEY", "bootstrap_apikey"),
                      ("FILA_LOG_LEVEL", "log_level")):
        if env.get(var):
            overrides[name] = env[var]
            origins[name] = var
    config = replace(config, origins=tuple(origins.items()), **overrides)
    _validate_addr(config.listen_addr, origins.get("listen_addr", "defaults: listen_addr"))
    if config.prometheus_addr:
        _validate_addr(config.prometheus_addr, origins["prometheus_addr"])
    if config.otlp_endpoint:
        scheme, sep, rest = config.otlp_endpoint.partition("://")
        host, _, port = (rest if sep else config.otlp_endpoint).rstrip("/").rpartition(":")
        if (sep and scheme not in ("http", "https")) or not host or not port.isdigit():
            raise ConfigError(f"{origins['otlp_endpoint']} must be http://HOST:PORT, "
                              f"https://HOST:PORT or HOST:PORT, got {config.otlp_endpoint!r}")
    if config.log_format not in LOG_FORMATS:
        raise ConfigError(f"{origins['log_format']} must be one of "
                          f"{', '.join(map(repr, LOG_FORMATS))}, got {config.log_format!r}")
    level = config.log_level.upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{origins['log_level']} must be one of {', '.join(LOG_LEVELS)}, "
                          f"got {config.log_level!r}")
    config = replace(config, log_level=level)
    _check_security(config)
    _check_cluster(config)
    return config


def _check_security(config: ServerConfig) -> None:
    """TLS needs a certificate and its key together; a CA file alone means nothing.
    (Whether the files exist and parse is checked at start: fila/server/tls.py.)"""
    origins = dict(config.origins)
    cert, key, ca = config.tls_cert_file, config.tls_key_file, config.tls_ca_file
    if bool(cert) != bool(key):
        have, missing = ("tls_cert_file", "[tls] key_file") if cert else (
            "tls_key_file", "[tls] cert_file")
        raise ConfigError(f"{origins.get(have, have)} is set but {missing} is not: TLS needs "
                          "both the certificate and its private key")
    if ca and not cert:
        raise ConfigError(f"{origins.get('tls_ca_file', 'tls_ca_file')} is set but "
                          "[tls] cert_file is not: client certificates (mTLS) need TLS on")


def _check_cluster(config: ServerConfig) -> None:
    """Cluster mode needs a node id; the other [cluster] keys alone mean nothing."""
    origins = dict(config.origins)
    if not config.cluster_nats_urls:
        stray = [origins[name] for name in ("cluster_node_id", "cluster_advertise_addr")
                 if name in origins]
        if stray:
            raise ConfigError(f"{stray[0]} is set but [cluster] nats_urls is not: cluster "
                              "mode needs the NATS servers to use")
        return
    if not config.cluster_node_id:
        raise ConfigError(f"{origins['cluster_nats_urls']} is set but [cluster] node_id is "
                          "not: every node of a cluster needs its own id")
    from fila.cluster.names import check_node_id  # pure: no nats import

    try:
        check_node_id(config.cluster_node_id)
    except ValueError as exc:
        raise ConfigError(f"{origins['cluster_node_id']}: {exc}") from exc
    if config.cluster_advertise_addr:
        _validate_addr(config.cluster_advertise_addr, origins["cluster_advertise_addr"])
    if config.tls_cert_file:
        # Nodes forward calls to each other over plaintext gRPC (fila/cluster/router.py).
        raise ConfigError(f"{origins['tls_cert_file']}: TLS is not supported in cluster mode "
                          "yet (nodes forward calls to each other in plaintext); run the "
                          "cluster on a private network, or a single node with TLS")
    if config.cluster_replicas not in (1, 3, 5):
        raise ConfigError(f"{origins['cluster_replicas']} must be 1, 3 or 5, "
                          f"got {config.cluster_replicas}")
