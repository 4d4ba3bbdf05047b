"""A real Prometheus scrapes a real fila-server: after traffic, its HTTP API answers the
enqueued, delivered and acked counters with the right values.

Needs the ``prometheus`` binary (Debian package ``prometheus``); skipped without it. The
test runs its own Prometheus on a free port with a temporary config and data directory
(never a system service) and stops it at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from e2e.helpers import wait_for
from e2e.server_process import free_port
from fila.client import Client

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="the prometheus binary is not installed (Debian: apt-get install prometheus)")


class Prometheus:
    def __init__(self, workdir: Path, target: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: fila\n    static_configs:\n"
            f"      - targets: ['{target}']\n")
        self.log_path = workdir / "prometheus.log"
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(PROMETHEUS), f"--config.file={config}",
                 f"--storage.tsdb.path={workdir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}"],
                stdout=log, stderr=log, cwd=workdir)

    def query(self, expr: str) -> float | None:
        """The value of an instant query with one series, None while it has none."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                body = json.load(response)
        except OSError:
            return None  # not listening yet
        result = body["data"]["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture()
def scraped(make_server: Callable[..., ServerProcess], tmp_path: Path
            ) -> Iterator[tuple[ServerProcess, Prometheus]]:
    metrics_addr = f"127.0.0.1:{free_port()}"
    server = make_server({"telemetry": {"prometheus_addr": metrics_addr}})
    prometheus = Prometheus(tmp_path / "prometheus", metrics_addr)
    try:
        yield server, prometheus
    finally:
        prometheus.stop()


def test_prometheus_sees_the_counters(scraped: tuple[ServerProcess, Prometheus]) -> None:
    server, prometheus = scraped
    with Client(server.addr) as c:
        c.create_queue("orders")
        for i in range(25):
            c.enqueue("orders", {}, f"m{i}".encode())
        stream = c.consume("orders")
        for _ in range(20):
            message = next(stream)
            c.ack("orders", message.id)
        next(stream)  # the last 5: delivered and left unacked (in flight)
        stream.close()

    def value(metric: str) -> float | None:
        return prometheus.query(f'{metric}{{job="fila",queue="orders"}}')

    def scraped_after_traffic() -> bool:
        return value("fila_messages_acked_total") == 20

    wait_for(scraped_after_traffic, timeout=60,
             what=f"Prometheus to scrape the acks ({prometheus.log_path.read_text()[-2000:]})")
    assert value("fila_messages_enqueued_total") == 25
    assert value("fila_messages_delivered_total") == 25  # the stream had credit for all
    assert value("fila_queue_depth") == 5
    assert prometheus.query('up{job="fila"}') == 1
    count = prometheus.query('sum(fila_rpc_duration_seconds_count{method="Enqueue",code="OK"})')
    assert count == 25
