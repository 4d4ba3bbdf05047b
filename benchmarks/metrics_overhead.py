"""What metrics cost on the hot path: unary Enqueue with ``[telemetry] prometheus_addr``
set versus unset.

Run:  python benchmarks/metrics_overhead.py             (about 1 minute)
      python benchmarks/metrics_overhead.py --fsync     (fsync on: rates are fsync-bound)

Two real ``fila-server`` processes, identical but for metrics, are driven in turn by the
same client (``core.rate_asyncio`` or ``core.rate_threads``), repetitions alternating so
background load drifts hit both alike. During the metrics run /metrics is scraped once a
second by default (Prometheus usually scrapes every 15 s: a pessimistic case;
``--scrape-interval 0`` leaves the recording cost alone). fsync is off by
default so the rate is bound by CPU, where an instrumentation cost would show; server
CPU seconds per message are reported too, as they are less sensitive to the client
sharing the machine. Target (docs/benchmarks.md, "Metrics overhead"): metrics on costs
at most 5 %.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import urllib.request
from pathlib import Path

from _harness import FilaServer, cpu_seconds, free_port, header, loadavg
from core import DRIVERS

from fila.client import Client


def scrape_loop(url: str, stop: threading.Event, interval: float) -> int:
    scrapes = 0
    while not stop.wait(interval):
        with urllib.request.urlopen(url, timeout=5) as response:
            response.read()
        scrapes += 1
    return scrapes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--producers", type=int, default=8)
    ap.add_argument("--driver", choices=sorted(DRIVERS), default="asyncio")
    ap.add_argument("--fsync", action="store_true", help="keep fsync on (default off)")
    ap.add_argument("--scrape-interval", type=float, default=1.0,
                    help="seconds between scrapes during the metrics runs (0 = none)")
    args = ap.parse_args()
    print(header())
    print(f"load before: {loadavg()}")
    drive = DRIVERS[args.driver]
    with tempfile.TemporaryDirectory() as tmp:
        metrics_port = free_port()
        storage = {"storage": {"fsync": args.fsync}}
        servers = {
            "off": FilaServer(Path(tmp) / "off", storage, alias="fila-bench-metrics-off"),
            "on": FilaServer(Path(tmp) / "on", {
                **storage, "telemetry": {"prometheus_addr": f"127.0.0.1:{metrics_port}"}},
                alias="fila-bench-metrics-on"),
        }
        rates: dict[str, list[float]] = {"off": [], "on": []}
        cpu_per_msg: dict[str, list[float]] = {"off": [], "on": []}
        try:
            for server in servers.values():
                server.start()
                with Client(server.addr) as c:
                    c.create_queue("bench")
            for _ in range(args.repeats):
                for name, server in servers.items():
                    stop = threading.Event()
                    scraper = None
                    if name == "on" and args.scrape_interval > 0:
                        url = f"http://127.0.0.1:{metrics_port}/metrics"
                        scraper = threading.Thread(target=scrape_loop,
                                                   args=(url, stop, args.scrape_interval))
                        scraper.start()
                    cpu0 = cpu_seconds(server.pid)
                    rate, total = drive(server.addr, "bench", args.producers, args.seconds, 1.0)
                    cpu = cpu_seconds(server.pid) - cpu0
                    stop.set()
                    if scraper is not None:
                        scraper.join()
                    rates[name].append(rate)
                    cpu_per_msg[name].append(cpu / total * 1e6)
        finally:
            for server in servers.values():
                server.stop()
    print(f"load after: {loadavg()}")
    scrapes = (f"scraped every {args.scrape_interval:g} s" if args.scrape_interval
               else "never scraped")
    print(f"unary Enqueue, {args.producers} producers ({args.driver}), fsync "
          f"{'on' if args.fsync else 'off'}, {args.repeats} x {args.seconds:.0f} s alternating, "
          f"{scrapes}")
    print(f"{'metrics':<8} {'msgs/s (median)':>16} {'runs':>28} {'server CPU us/msg':>18}")
    for name in ("off", "on"):
        runs = ", ".join(f"{r:,.0f}" for r in rates[name])
        print(f"{name:<8} {statistics.median(rates[name]):>16,.0f} {runs:>28} "
              f"{statistics.median(cpu_per_msg[name]):>18.1f}")
    ratio = statistics.median(rates["on"]) / statistics.median(rates["off"])
    cpu_ratio = statistics.median(cpu_per_msg["on"]) / statistics.median(cpu_per_msg["off"])
    print(f"rate on/off: {ratio:.3f} (target >= 0.95); CPU per message on/off: "
          f"{cpu_ratio:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
