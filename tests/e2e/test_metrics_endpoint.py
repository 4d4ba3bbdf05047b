"""The /metrics endpoint of a real fila-server (no Prometheus needed): served when
``[telemetry] prometheus_addr`` is set, and a port in use is one line at start-up."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from e2e.server_process import free_port
from fila.client import Client

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


def test_metrics_text_follows_traffic(make_server: Callable[..., ServerProcess]) -> None:
    port = free_port()
    server = make_server({"telemetry": {"prometheus_addr": f"127.0.0.1:{port}"}})
    with Client(server.addr) as c:
        c.create_queue("orders")
        c.enqueue("orders", {}, b"x")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'fila_messages_enqueued_total{queue="orders"} 1.0' in text
    assert 'fila_queue_depth{queue="orders"} 1.0' in text
    assert 'fila_rpc_duration_seconds_count{code="OK",method="Enqueue"} 1.0' in text
    assert f"metrics on http://127.0.0.1:{port}/metrics" in server.log()


def test_a_metrics_port_in_use_is_one_line(make_server: Callable[..., ServerProcess]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = make_server({"telemetry": {"prometheus_addr": f"127.0.0.1:{port}"}},
                             start=False)
        done = subprocess.run([sys.executable, "-m", "fila.server.main"], cwd=server.workdir,
                              env={**os.environ, "FILA_DATA_DIR": str(server.data_dir)},
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == (f"fila-server: cannot start: cannot serve metrics on "
                           f"127.0.0.1:{port}: Address already in use\n")


DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "fila-dashboard.json"
# PromQL functions, keywords and Grafana variables: every other identifier followed by `{`,
# `[` or `)` in an expression is a metric name.
NOT_METRICS = {"sum", "by", "rate", "histogram_quantile", "label_values"}


def test_the_grafana_dashboard_queries_only_series_the_server_exports(
        make_server: Callable[..., ServerProcess]) -> None:
    port = free_port()
    server = make_server({"telemetry": {"prometheus_addr": f"127.0.0.1:{port}"}})
    hook = 'function on_enqueue(m) return { fairness_key = "k", throttle_keys = { "t" } } end'
    with Client(server.addr) as c:
        c.create_queue("orders", on_enqueue=hook)
        c.set_config("throttle.t", "100,10")
        c.enqueue("orders", {}, b"x")
        stream = c.consume("orders")
        c.ack("orders", next(iter(stream)).id)
        stream.close()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        exported = {line.split("{")[0].split(" ")[0] for line in response.read().decode()
                    .splitlines() if line and not line.startswith("#")}
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {name for e in exprs for name in re.findall(r"\b(fila_[a-z_]+)\b", e)}
    assert used, "the dashboard should query fila_ series"
    missing = sorted(used - exported - NOT_METRICS)
    assert not missing, f"the dashboard queries series the server does not export: {missing}"
