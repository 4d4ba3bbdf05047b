"""The ``fila-server`` process: config, storage, core, gRPC server, signals.

Start-up: read config (exit 1 with a clear line on a bad file), open RocksDB
(exit 1 if it is damaged), rebuild the core from it, then serve. SIGTERM or
SIGINT: stop accepting, let in-flight RPCs finish (grace period), end consume
streams (their leases go back), flush the committer, close the store, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import gc
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from fila import __version__
from fila.errors import FilaError
from fila.server import logfmt
from fila.server.auth import KEY_PREFIX, Keyring
from fila.server.backup import Backups, RestoreError, restore
from fila.server.broker import Broker, BrokerSettings
from fila.server.commit import GroupCommitter
from fila.server.config import ConfigError, ServerConfig, load_config
from fila.server.engine import Engine, SystemClock
from fila.server.history import History
from fila.server.hookrunner import HookRunner
from fila.server.hooks import HookSettings
from fila.server.overlay import OverlayStore
from fila.server.rocks import RocksStore
from fila.server.service import ServerFacts, register_services
from fila.server.tls import CertificateReloader, TlsError

if TYPE_CHECKING:
    from fila.cluster.node import ClusterNode
    from fila.cluster.router import ClusterRouter
    from fila.server.metrics import Metrics, MetricsServer
    from fila.server.otlp import OtlpExporter

__all__ = ["Server", "main"]

log = logging.getLogger("fila.server")

GRACE_SECONDS = 5.0
SWITCH_INTERVAL_S = float(os.environ.get("FILA_SWITCH_INTERVAL_S", "0.0005"))
# Well above the 4 MiB payload limit, so an oversized payload gets the broker's own
# INVALID_ARGUMENT ("payload exceeds ...") rather than gRPC's transport error.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def _is_loopback(addr: str) -> bool:
    host = addr.rpartition(":")[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The core's records hold no reference cycles, yet each pending message is one object the
# cyclic collector tracks, and every full collection walks them all: filling a queue to a
# million messages spent 22 % of its time in the collector, with pauses up to 0.9 s
# (benchmarks/gc_pauses.py). Young collections every 50 000 allocations still free the
# short-lived cycles of RPC machinery (exceptions, tasks) promptly; a full collection now
# needs 100 middle ones, i.e. 10^8 allocations.
GC_THRESHOLDS = (50_000, 20, 100)


def _freeze_recovered() -> None:
    """The state recovered at start-up is not garbage: keep it out of every collection."""
    gc.collect()
    gc.freeze()


def _release_free_heap() -> None:
    """Give the heap freed by recovery back to the OS (glibc only).

    Recovery reads every stored record once; glibc keeps freed pages mapped, so
    without this RSS would stay at the recovery peak rather than what the core
    holds (memory per pending message has a target: docs/benchmarks.md).
    """
    try:
        libc_version = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError):
        return  # not glibc (musl, macOS, Windows): nothing to call
    if not libc_version.startswith("glibc"):
        return
    # A glibc without malloc_trim: RSS stays higher, nothing breaks.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).malloc_trim(0)


def _bind_failure(addr: str) -> str:
    """Why gRPC could not listen on ``addr``, in one line (it only says that it failed)."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        return f"cannot listen on {addr}: {exc}"
    for family, kind, proto, _, sockaddr in infos:
        with socket.socket(family, kind, proto) as probe:
            try:
                probe.bind(sockaddr)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"{addr} is already in use"
                return f"cannot listen on {addr}: {exc.strerror}"
    return f"cannot listen on {addr}"


def _metrics_module() -> ModuleType:
    """fila.server.metrics, imported on first use (it pulls in prometheus-client)."""
    import fila.server.metrics

    return fila.server.metrics


class _UndecodableRequestFilter(logging.Filter):
    """grpc logs a full traceback when a request does not decode (hostile or broken
    client input). The client already got a status; one warning line is enough."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and type(exc).__name__ == "DecodeError":
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = "rejected a request that does not decode: %s", (exc,)
            record.exc_info = record.exc_text = None
        return True


def _cluster_node(cfg: ServerConfig, store: RocksStore) -> ClusterNode:
    """Cluster mode's node (imported only then: NATS is an optional extra)."""
    try:
        from fila.cluster.node import ClusterNode, ClusterSettings
    except ImportError as exc:
        raise OSError(f"[cluster] is configured but the cluster extra is not installed "
                      f"(pip install 'fila-broker[cluster]'): {exc}") from None
    addr = cfg.cluster_advertise_addr or cfg.listen_addr
    return ClusterNode(ClusterSettings(cfg.cluster_nats_urls, cfg.cluster_node_id, addr,
                                       cfg.cluster_lease_ttl_ms / 1000, cfg.cluster_replicas,
                                       cfg.cluster_snapshot_entries,
                                       cfg.cluster_connect_timeout_ms / 1000),
                       store)


class Server:
    """One broker process: start() opens everything, stop() drains and closes."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.port = 0
        self._grpc: grpc.aio.Server | None = None
        self._engine: Engine | None = None
        self._committer: GroupCommitter | None = None
        self._store: RocksStore | None = None
        self._metrics_server: MetricsServer | None = None
        self._otlp: OtlpExporter | None = None
        self._health = health.aio.HealthServicer()  # type: ignore[attr-defined]
        self._health_names: tuple[str, ...] = ("",)
        self._health_tasks: set[asyncio.Task[None]] = set()
        self._tls: CertificateReloader | None = None
        self._cluster: ClusterNode | None = None
        self._router: ClusterRouter | None = None

    async def start(self) -> None:
        cfg = self.config
        started = time.monotonic()
        # Certificates first: a bad file is reported before storage is touched.
        if cfg.tls_cert_file:
            self._tls = CertificateReloader(cfg)
        Path(cfg.data_dir).mkdir(parents=True, exist_ok=True)
        self._store = RocksStore(cfg.data_dir)
        clock = SystemClock()
        settings = BrokerSettings(
            quantum=cfg.quantum,
            hooks=HookSettings(cfg.lua_timeout_ms, cfg.lua_memory_limit_bytes,
                               cfg.lua_breaker_threshold, cfg.lua_breaker_cooldown_ms),
            default_prefetch=cfg.default_prefetch,
            release_grace_ms=cfg.release_grace_ms,
            max_consumers=cfg.max_consumers,
            max_config_entries=cfg.max_config_entries,
            max_prefetch=cfg.max_prefetch,
            max_streams_per_client=cfg.max_streams_per_client,
        )
        overlay = OverlayStore(self._store)
        broker = Broker(overlay, clock, settings)
        gc.set_threshold(*GC_THRESHOLDS)  # before recovery, which makes most of the objects
        clustered = bool(cfg.cluster_nats_urls)
        # Cluster mode: queues are loaded as this node comes to serve them (node.py).
        loaded, cleanup = broker.recover(queues=not clustered)
        _release_free_heap()
        _freeze_recovered()
        if len(cleanup):
            log.info("removing %d orphaned record(s)", len(cleanup))
            self._store.write(cleanup)
        # Off by default: then prometheus-client is never imported and nothing is recorded.
        metrics = (_metrics_module().Metrics() if cfg.prometheus_addr or cfg.otlp_endpoint
                   else None)
        if clustered:
            self._cluster = _cluster_node(cfg, self._store)
            self._committer = self._cluster.make_committer(
                10_000, metrics.commit if metrics else None)
        else:
            self._committer = GroupCommitter(self._store, sync=cfg.fsync,
                                             observe=metrics.commit if metrics else None)
        if not cfg.fsync:
            log.warning("[storage] fsync = false: a power loss can lose acknowledged writes")
        self._engine = Engine(broker, self._committer, overlay,
                              HookRunner(cfg.lua_watchdog_ms / 1000), metrics=metrics,
                              history=History(broker, cfg.history_seconds,
                                              cfg.history_top_keys))
        # After recover(): the runtime config is loaded, so a script's top level can read it.
        await self._engine.load_hooks()
        self._engine.start()
        router = None
        if self._cluster is not None:
            from fila.cluster.router import ClusterRouter

            await self._cluster.start(self._engine)
            self._router = router = ClusterRouter(self._cluster)
        keyring = Keyring(cfg.bootstrap_apikey)
        stored_keys = keyring.load(self._store.scan(KEY_PREFIX))
        if self._cluster is not None:
            self._cluster.keyring = keyring
        if stored_keys and not keyring.enabled:
            log.warning("%d API key(s) stored but authentication is off (no bootstrap key "
                        "configured): every client may do everything", stored_keys)

        server = grpc.aio.server(options=[
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            # Detect dead consumers so their leases come back without waiting.
            ("grpc.keepalive_time_ms", 20_000),
            ("grpc.keepalive_timeout_ms", 10_000),
            ("grpc.http2.min_ping_interval_without_data_ms", 5_000),
            ("grpc.keepalive_permit_without_calls", 1),
            # RPCs in progress per client connection.
            ("grpc.max_concurrent_streams", cfg.max_concurrent_streams),
            # Without this a second server on the same port starts too, and the kernel
            # splits connections between two brokers.
            ("grpc.so_reuseport", 0),
        ])
        store, committer = self._store, self._committer

        def storage_counters() -> tuple[int, int, int, bool]:
            return (store.wal_synced() or 0, committer.groups_written,
                    committer.batches_written, cfg.fsync)

        storage_health = self._engine.health
        if metrics is not None:
            self._start_metrics(metrics, broker, storage_counters)
        facts = ServerFacts(cfg.listen_addr, str(Path(cfg.data_dir).resolve()), started,
                            self._store.size_bytes, time.monotonic, storage_counters,
                            storage_error=lambda: storage_health.reason,
                            max_watch_streams=cfg.max_watch_streams,
                            backup=Backups(self._store, cfg.data_dir).take,
                            cluster_status=self._cluster.status if self._cluster else None)
        fila_names = register_services(server, self._engine, facts, keyring,
                                       router.wrap if router is not None else None)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        names = (
            *fila_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        )
        reflection.enable_server_reflection(names, server)
        try:
            if self._tls is not None:
                self.port = server.add_secure_port(cfg.listen_addr, self._tls.credentials())
            else:
                self.port = server.add_insecure_port(cfg.listen_addr)
        except RuntimeError:
            self.port = 0
        if self.port == 0:
            raise OSError(_bind_failure(cfg.listen_addr))
        await server.start()
        self._grpc = server
        self._health_names = ("", *names[:2])
        for name in self._health_names:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        # A failed storage write turns every service NOT_SERVING until one lands again.
        self._engine.health.add_listener(self._storage_health_changed)
        if not _is_loopback(cfg.listen_addr) and not cfg.bootstrap_apikey:
            log.warning("listening on %s without authentication: anyone who can reach this "
                        "address can read and change every queue", cfg.listen_addr)
        security = ("mTLS" if self._tls.mutual else "TLS") if self._tls else "plaintext"
        log.info("fila-server %s listening on %s (%s, auth %s; data %s, %d message(s) "
                 "recovered in %.2f s)",
                 __version__, cfg.listen_addr.rpartition(":")[0] + f":{self.port}", security,
                 "on" if keyring.enabled else "off", cfg.data_dir, loaded,
                 time.monotonic() - started)

    def reload_tls(self) -> None:
        """SIGHUP: re-read the certificate files (new connections use them)."""
        if self._tls is None:
            log.info("SIGHUP: TLS is not configured, nothing to reload")
            return
        self._tls.reload()

    def _start_metrics(self, metrics: Metrics, broker: Broker,
                       storage_counters: Callable[[], tuple[int, int, int, bool]]) -> None:
        m = _metrics_module()
        committer, engine = self._committer, self._engine
        assert committer is not None and engine is not None
        storage = m.StorageSource(storage_counters, lambda: committer.groups_failed,
                                  lambda: engine.health.degraded)
        metrics.registry.register(m.CoreCollector(broker, asyncio.get_running_loop(), storage))
        addr = self.config.prometheus_addr
        if addr:
            try:
                self._metrics_server = m.MetricsServer(metrics, addr)
            except OSError as exc:
                raise OSError(f"cannot serve metrics on {addr}: {exc.strerror or exc}"
                              ) from None
            log.info("metrics on http://%s:%d/metrics", addr.rpartition(":")[0],
                     self._metrics_server.port)
        if self.config.otlp_endpoint:
            from fila.server.otlp import OtlpExporter

            self._otlp = OtlpExporter(metrics.registry, self.config.otlp_endpoint,
                                      self.config.service_name,
                                      self.config.metrics_interval_ms / 1000)
            log.info("exporting metrics over OTLP to %s every %d ms",
                     self.config.otlp_endpoint, self.config.metrics_interval_ms)

    def _storage_health_changed(self, degraded: bool) -> None:
        engine = self._engine
        assert engine is not None

        async def publish() -> None:
            for name in self._health_names:
                # The state now, not at the change: a quick flap ends on the last one.
                status = (health_pb2.HealthCheckResponse.NOT_SERVING if engine.health.degraded
                          else health_pb2.HealthCheckResponse.SERVING)
                await self._health.set(name, status)

        task = asyncio.ensure_future(publish())
        self._health_tasks.add(task)
        task.add_done_callback(self._health_tasks.discard)

    async def wait(self) -> None:
        assert self._grpc is not None
        await self._grpc.wait_for_termination()

    async def stop(self) -> None:
        log.info("shutting down")
        await self._health.enter_graceful_shutdown()
        if self._cluster is not None:
            # Consume streams ending now are sent to another node.
            self._cluster.begin_shutdown()
        if self._engine is not None:
            # End consume streams first so server.stop's grace is not spent on them.
            stop_engine = asyncio.ensure_future(self._engine.close())
        if self._grpc is not None:
            await self._grpc.stop(GRACE_SECONDS)
        if self._engine is not None:
            await stop_engine
        if self._cluster is not None:
            # After the engine settled its writes (through the logs); then the leases go,
            # so other nodes take the queues over now, not a TTL from now.
            await self._cluster.stop()
        if self._router is not None:
            await self._router.close()
        if self._committer is not None:
            await self._committer.close()
        # Off the loop: both may be waiting for it to read the core (a scrape, the last
        # OTLP export), so closing them from the loop thread would wait for ourselves.
        if self._otlp is not None:
            await asyncio.to_thread(self._otlp.close)
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.close)
        if self._store is not None:
            try:
                self._store.close()
            except FilaError as exc:
                # After a full disk RocksDB cannot flush; every acknowledged write is in
                # the WAL and is replayed at the next start.
                log.error("%s (acknowledged writes are in the WAL; the next start replays "
                          "them)", exc)
        log.info("stopped")


async def _serve(config: ServerConfig) -> int:
    server = Server(config)
    try:
        await server.start()
    except (FilaError, OSError, RuntimeError, TlsError) as exc:
        print(f"fila-server: cannot start: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, server.reload_tls)
    waiter = asyncio.ensure_future(server.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    await server.stop()
    waiter.cancel()
    return 0


def _restore(src: str, config_path: str | None) -> int:
    """``fila-server restore SRC``: into the configured data directory (FILA_DATA_DIR wins)."""
    try:
        data_dir = load_config(config_path).data_dir
        files, size = restore(src, data_dir)
    except (ConfigError, RestoreError) as exc:
        print(f"fila-server: {exc}", file=sys.stderr)
        return 1
    print(f"restored {src} into {data_dir} ({files} files, {size / (1 << 20):.1f} MiB)")
    return 0


def _check(addr: str, config_path: str | None) -> int:
    from fila.server.healthcheck import check, dial_addr, tls_from_env

    try:
        # The config says where (without an address) and whether the port speaks TLS.
        config = load_config(config_path) if not addr or config_path else None
        server_tls = config is not None and bool(config.tls_cert_file)
        tls = tls_from_env(os.environ, server_tls)
    except (ConfigError, OSError) as exc:
        print(f"fila-server: {exc}", file=sys.stderr)
        return 1
    if not addr:
        assert config is not None
        addr = dial_addr(config.listen_addr)
    serving, line = check(addr, tls=tls)
    print(line if serving else f"fila-server: {line}", file=sys.stdout if serving else sys.stderr)
    return 0 if serving else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="fila-server", description="Run the Fila broker.")
    parser.add_argument("--config", help="path to fila.toml (default: ./fila.toml, then "
                                         "/etc/fila/fila.toml)")
    parser.add_argument("--version", action="version", version=f"fila-server {__version__}")
    parser.add_argument("--check", nargs="?", const="", metavar="HOST:PORT",
                        help="exit 0 if the server (at HOST:PORT, default the configured "
                             "listen_addr) answers gRPC health SERVING, else 1")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    restore_cmd = commands.add_parser(
        "restore", help="copy a backup (fila backup DEST) into an empty data directory; "
                        "run with the server stopped")
    restore_cmd.add_argument("src", metavar="SRC", help="the backup directory")
    restore_cmd.add_argument("--config", dest="restore_config", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.check is not None:
        sys.exit(_check(args.check, args.config))
    if args.command == "restore":
        sys.exit(_restore(args.src, args.restore_config or args.config))
    # The group-commit thread returns from fsync needing the GIL; with the default 5 ms
    # switch interval it can wait that long behind the event loop, which stalls every
    # enqueue in the group. A short interval keeps commit latency near the fsync time.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"fila-server: {exc}", file=sys.stderr)
        sys.exit(1)
    logfmt.setup(config.log_format, config.log_level)
    logging.getLogger("grpc._cython.cygrpc").addFilter(_UndecodableRequestFilter())
    for warning in config.warnings:
        log.warning("%s", warning)
    sys.exit(asyncio.run(_serve(config)))


if __name__ == "__main__":
    main()
