"""Broker core benchmark: enqueue rate, enqueue->deliver latency, recovery, memory.

Run:  python benchmarks/core.py            (about 3-4 minutes)
      python benchmarks/core.py --quick    (about 1 minute, one repetition, shorter windows)
      python benchmarks/core.py --update-docs   (also rewrites the generated block in
                                                 docs/benchmarks.md, "Broker core" section)

Everything runs against real ``fila-server`` processes started here the way SDK
harnesses start them (no args, ``fila.toml`` with ``listen_addr`` in a temp cwd,
``FILA_DATA_DIR`` set). The enqueue rate is compared with a do-nothing grpc.aio
Enqueue server (this same file, re-run with ``--noop-server PORT`` as its own
process, so both servers pay for a process and the same client drives both) in the
same run; the repetitions alternate between the two servers so background load
drifts hit both alike. The ratio fila/do-nothing is the figure of merit: the
ceiling of one message per RPC through this client on this machine.

``--auth-overhead`` measures only the enqueue rate, of a server with API keys on (the
producers use a key whose ACL grants ``produce`` on the queue) against one with auth off,
alternating in the same run; target (docs/benchmarks.md, "Auth overhead"): the auth check
costs <= 10 %.

Targets (reported, not asserted; docs/benchmarks.md, "Broker core"): durable enqueue
>= 0.8 of the do-nothing rate with 8 producers; p99 enqueue->deliver < 10 ms at light load;
recovery of 100 000 messages < 5 s; <= 300 bytes of RSS per pending message beyond its payload.

The client and the server share this machine's cores: on a 2-core box the numbers
include that contention (the same for both servers). The load average is printed
before and after; rerun when it is high.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from _harness import (
    ROOT,
    FilaServer,
    commit,
    cpu_model,
    cpu_seconds,
    free_port,
    git,
    header,
    loadavg,
    rss_bytes,
    wait_ready,
)

from fila.client import AsyncClient, Client
from fila.types import EnqueueItem
from fila.v1 import service_pb2, service_pb2_grpc

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- benchmarks/core.py results: begin (generated, rerun with --update-docs) -->"
END = "<!-- benchmarks/core.py results: end -->"

TARGET_RATIO = 0.8
TARGET_P99_MS = 10.0
TARGET_RECOVERY_S = 5.0
TARGET_BYTES_PER_MSG = 300.0


# ---- processes -------------------------------------------------------------------


class NoopServer:
    """The do-nothing Enqueue server: this file re-run with --noop-server, own process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--noop-server", str(self.port)])
        probe = service_pb2.EnqueueRequest(queue="probe", payload=b"")
        if not wait_ready(self.addr, self.proc, lambda ch: service_pb2_grpc.FilaServiceStub(ch)
                          .Enqueue(probe, timeout=1), 30.0):
            self.kill()
            raise RuntimeError("do-nothing server did not start")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def run_noop_server(port: int) -> None:
    """Implements only fila.v1.FilaService/Enqueue: a fixed id, at once."""

    class Noop(service_pb2_grpc.FilaServiceServicer):  # type: ignore[misc]
        async def Enqueue(self, request: Any, context: Any) -> Any:
            return service_pb2.EnqueueResponse(message_id="00000000-0000-7000-8000-000000000000")

    async def serve() -> None:
        server = grpc.aio.server()
        service_pb2_grpc.add_FilaServiceServicer_to_server(Noop(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop(1)

    asyncio.run(serve())


# ---- 1. enqueue rate ---------------------------------------------------------------

PAYLOAD = b"x" * 100
HEADERS = {"tenant": "acme"}


def rate_threads(addr: str, queue: str, producers: int, seconds: float, warmup: float,
                 api_key: str | None = None) -> tuple[float, int]:
    """``producers`` threads, one blocking Client each; (msgs/s over the window, all calls)."""
    counts = [0] * producers
    totals = [0] * producers
    marks: list[float] = []
    stop_at = [0.0]
    barrier = threading.Barrier(producers + 1)

    def work(i: int) -> None:
        with Client(addr, api_key=api_key) as c:
            c.enqueue(queue, HEADERS, PAYLOAD)  # connect before the clock starts
            barrier.wait()
            n = 0
            counted = False
            while True:
                c.enqueue(queue, HEADERS, PAYLOAD)
                totals[i] += 1
                now = time.perf_counter()
                if now >= stop_at[0]:
                    break
                if not counted and now >= marks[0]:
                    counted, n = True, 0  # warm-up over: start counting
                n += 1
            counts[i] = n

    threads = [threading.Thread(target=work, args=(i,)) for i in range(producers)]
    for t in threads:
        t.start()
    marks.append(time.perf_counter() + 3600)  # placeholder until everyone is connected
    stop_at[0] = time.perf_counter() + 3600
    barrier.wait()
    start = time.perf_counter()
    marks[0] = start + warmup
    stop_at[0] = start + warmup + seconds
    for t in threads:
        t.join()
    return sum(counts) / seconds, sum(totals)


def rate_asyncio(addr: str, queue: str, producers: int, seconds: float, warmup: float,
                 api_key: str | None = None) -> tuple[float, int]:
    """``producers`` asyncio tasks sharing one AsyncClient (one channel); as rate_threads.

    Coalescing is off: this measures the unary path, one Enqueue RPC per message, as the
    published SDKs send (and the do-nothing server has no EnqueueBatch to compare with).
    benchmarks/coalesce.py measures the client's coalescing.
    """

    async def main() -> tuple[float, int]:
        async with AsyncClient(addr, api_key=api_key, enqueue_coalesce=False) as c:
            await c.enqueue(queue, HEADERS, PAYLOAD)
            loop = asyncio.get_running_loop()
            start = loop.time()
            begin, end = start + warmup, start + warmup + seconds
            counted = total = 0

            async def work() -> None:
                nonlocal counted, total
                while True:
                    await c.enqueue(queue, HEADERS, PAYLOAD)
                    total += 1
                    now = loop.time()
                    if now >= end:
                        return
                    if now >= begin:
                        counted += 1

            await asyncio.gather(*(work() for _ in range(producers)))
            return counted / seconds, total

    return asyncio.run(main())


DRIVERS = {"threads": rate_threads, "asyncio": rate_asyncio}


# ---- 2. latency ----------------------------------------------------------------------


def latency(addr: str, queue: str, rate: float, seconds: float, warmup_msgs: int = 50
            ) -> tuple[list[float], list[float]]:
    """Paced producer thread, one streaming consumer thread (acks handed to a third thread
    so an ack's round trip never delays the next receive). Returns (enqueue->deliver ms,
    enqueue RPC ms), warm-up messages dropped."""
    total = int(rate * seconds) + warmup_msgs
    deliver_ms: list[float] = []
    rpc_ms: list[float] = []
    received = threading.Event()
    acks: list[str | None] = []
    ack_cond = threading.Condition()

    def acker() -> None:
        with Client(addr) as c:
            while True:
                with ack_cond:
                    while not acks:
                        ack_cond.wait()
                    mid = acks.pop(0)
                if mid is None:
                    return
                c.ack(queue, mid)

    def consumer() -> None:
        n = 0
        with Client(addr) as c:
            stream = c.consume(queue)
            for msg in stream:
                now = time.perf_counter_ns()
                sent = int(msg.payload[:20])
                if int(msg.headers["seq"]) >= warmup_msgs:
                    deliver_ms.append((now - sent) / 1e6)
                with ack_cond:
                    acks.append(msg.id)
                    ack_cond.notify()
                n += 1
                if n == total:
                    break
            received.set()
            # Closing the stream releases its leases: let the acker finish first.
            with ack_cond:
                acks.append(None)
                ack_cond.notify()
            ack_t.join()
            stream.close()

    ack_t = threading.Thread(target=acker)
    cons_t = threading.Thread(target=consumer)
    ack_t.start()
    cons_t.start()
    with Client(addr) as c:
        c.get_stats(queue)  # connect first
        time.sleep(0.3)  # let the consume stream register (not a sync: only warm-up)
        start = time.perf_counter()
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing, not synchronisation
            t0 = time.perf_counter_ns()
            payload = str(t0).rjust(20, "0").encode() + PAYLOAD[20:]
            c.enqueue(queue, {"seq": str(i)}, payload)
            if i >= warmup_msgs:
                rpc_ms.append((time.perf_counter_ns() - t0) / 1e6)
    if not received.wait(timeout=60):
        raise RuntimeError("consumer did not receive every message within 60 s")
    cons_t.join()
    return deliver_ms, rpc_ms


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# ---- 3/4. recovery and memory --------------------------------------------------------


def fill(addr: str, queue: str, n: int, payload: bytes, concurrency: int = 4) -> float:
    """Enqueue ``n`` messages in EnqueueBatch calls of 500 from ``concurrency`` asyncio
    producers (the fill is set-up for the recovery figures, not a rate); returns seconds."""

    async def main() -> None:
        async with AsyncClient(addr, timeout=60) as c:
            left = n

            async def work() -> None:
                nonlocal left
                while left > 0:
                    take = min(500, left)
                    left -= take
                    results = await c.enqueue_many(
                        [EnqueueItem(queue, payload, HEADERS) for _ in range(take)])
                    if not all(isinstance(r, str) for r in results):
                        raise RuntimeError(f"fill failed: {results[0]!r}")

            await asyncio.gather(*(work() for _ in range(concurrency)))

    t0 = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - t0


def settle_rss(pid: int, seconds: float = 1.0) -> int:
    """RSS after start-up work (compactions, threads) has had a moment; the max of a few reads."""
    end = time.perf_counter() + seconds
    best = 0
    while time.perf_counter() < end:
        best = max(best, rss_bytes(pid))
        time.sleep(0.1)  # sampling interval
    return best


def recovery(root: Path, name: str, n: int, payload: bytes) -> dict[str, float]:
    server = FilaServer(root / name)
    out: dict[str, float] = {}
    try:
        server.start()
        out["rss_empty"] = settle_rss(server.pid)
        with Client(server.addr) as c:
            c.create_queue("recover")
        out["fill_s"] = fill(server.addr, "recover", n, payload)
        out["rss_after_fill"] = settle_rss(server.pid)
        t0 = time.perf_counter()
        code = server.stop()
        out["stop_s"] = time.perf_counter() - t0
        if code != 0:
            raise RuntimeError(f"SIGTERM exit code {code}")
        out["recovery_s"] = server.start()
        with Client(server.addr) as c:
            out["depth"] = c.get_stats("recover").depth
        out["rss_recovered"] = settle_rss(server.pid)
        m = re.findall(r"(\d+) message\(s\) recovered in ([\d.]+) s", server.log())
        out["server_reported_s"] = float(m[-1][1]) if m else float("nan")
    finally:
        server.kill()
    return out


# ---- reporting ---------------------------------------------------------------------


def sh(*cmd: str) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                              check=False).stdout.strip()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    cpu = cpu_model()
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    disk = "unknown"
    dev = sh("df", "--output=source", tempfile.gettempdir()).splitlines()[-1:]
    if dev:
        name = Path(dev[0]).name
        base = re.sub(r"p?\d+$", "", name) if not name.startswith("dm-") else name
        rot = Path(f"/sys/block/{base}/queue/rotational")
        fstype = sh("df", "--output=fstype", tempfile.gettempdir()).splitlines()[-1:]
        flag = rot.read_text().strip() if rot.exists() else "?"
        kind = (f"virtio disk, media unknown, kernel rotational={flag}" if base.startswith("vd")
                else f"rotational={flag}")
        disk = f"{dev[0]} ({fstype[0] if fstype else '?'}, {kind})"
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "disk": f"temp dir {tempfile.gettempdir()} on {disk}",
        "python": platform.python_version(),
        "grpcio": grpc.__version__,
        "commit": commit(),
        "dirty": "yes" if git("status", "--porcelain", "--", "fila") else "no",
    }


def spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return (f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}-{fmt.format(max(values))})")


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def update_docs(block: str) -> None:
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n"
    generated = f"{BEGIN}\n{block.rstrip()}\n{END}"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + generated + tail
    else:
        text = text.rstrip() + "\n\n## Broker core\n\n" + generated + "\n"
    DOCS.write_text(text)


# ---- main ----------------------------------------------------------------------------


AUTH_BOOT = "bench-bootstrap-key"
TARGET_AUTH_COST = 0.10


def guard_cost_us(n: int = 100_000) -> tuple[float, float]:
    """In-process, no network: one Enqueue handler called bare and behind the AuthGuard
    (a produce-only key), in microseconds per call. What the check adds, free of the noise
    a shared machine puts on end-to-end rates."""
    from fila.server.auth import Keyring
    from fila.server.auth_guard import AuthGuard

    ring = Keyring(AUTH_BOOT)
    key, plaintext, _ = ring.create("producer", 0, False, 1)
    ring.apply_put(key)
    key, _ = ring.set_acl(key.key_id, [("produce", "rate")])
    ring.apply_put(key)

    async def bare(request: Any, context: Any) -> Any:
        return service_pb2.EnqueueResponse(message_id="x")

    guarded = AuthGuard(ring).wrap("/fila.v1.FilaService/Enqueue",
                                   grpc.unary_unary_rpc_method_handler(bare)).unary_unary

    class Context:
        metadata = (("user-agent", "grpc-python"), ("authorization", f"Bearer {plaintext}"))

        def invocation_metadata(self) -> Any:
            return self.metadata

    request = service_pb2.EnqueueRequest(queue="rate", headers=HEADERS, payload=PAYLOAD)
    context = Context()

    async def per_call(fn: Any) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            await fn(request, context)
        return (time.perf_counter() - t0) / n * 1e6

    async def both() -> tuple[float, float]:
        runs = [(await per_call(bare), await per_call(guarded)) for _ in range(3)]
        return min(r[0] for r in runs), min(r[1] for r in runs)

    return asyncio.run(both())


def auth_overhead(args: argparse.Namespace) -> None:
    """Enqueue rate with auth on (a produce-only key) vs off, alternating, same run."""
    repeats = args.repeats or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    drivers = sorted(DRIVERS) if args.driver == "both" else [args.driver]
    print(header())
    load_before = loadavg()
    root = Path(tempfile.mkdtemp(prefix="fila-bench-auth-"))
    rates: dict[tuple[str, str, int], list[float]] = {}
    cpus: dict[tuple[str, str, int], list[float]] = {}
    try:
        # fsync off on both: the check is compared with the broker's CPU path, not hidden
        # behind the disk's sync time (which only makes the relative cost smaller).
        off = FilaServer(root / "off", {"storage": {"fsync": False}})
        on = FilaServer(root / "on", {"storage": {"fsync": False},
                                      "auth": {"bootstrap_apikey": AUTH_BOOT}})
        off.start()
        on.start()
        try:
            with Client(off.addr) as c:
                c.create_queue("rate")
            with Client(on.addr, api_key=AUTH_BOOT) as c:
                c.create_queue("rate")
                created = c.create_api_key("producer")
                c.set_acl(created.key_id, [("produce", "rate")])
            # "hdr": the auth-off server, with clients sending the key anyway (it ignores
            # it): what carrying "authorization: Bearer ..." costs, apart from checking it.
            servers = [("off", off.addr, None, off.pid), ("hdr", off.addr, created.key, off.pid),
                       ("on", on.addr, created.key, on.pid)]
            for r in range(repeats):
                for dname in drivers:
                    for p in (1, 8):
                        # Alternate which goes first, so drift in background load is shared.
                        for kind, addr, key, pid in servers[r % 3:] + servers[:r % 3]:
                            cpu0 = cpu_seconds(pid)
                            value, total = DRIVERS[dname](addr, "rate", p, seconds, 0.5, key)
                            us = (cpu_seconds(pid) - cpu0) / total * 1e6
                            rates.setdefault((dname, kind, p), []).append(value)
                            cpus.setdefault((dname, kind, p), []).append(us)
                            print(f"  rep {r + 1}/{repeats} {dname:>7} auth {kind:>3} "
                                  f"producers={p}: {value:,.0f} msgs/s, server CPU "
                                  f"{us:,.0f} us/msg, load {loadavg().split()[0]}", flush=True)
        finally:
            off.kill()
            on.kill()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n- Load average before {load_before}, after {loadavg()}; "
          f"{repeats} repetition(s) of {seconds:g} s; median (min-max)\n")
    print("| Producers | msgs/s: auth off / off + header / on | server CPU per msg: off / "
          "off + header / on | on vs off: rate cost, CPU cost | on vs off + header: CPU | "
          "<= 10 % |")
    print("|---|---|---|---|---|---|")
    for dname in drivers:
        for p in (1, 8):
            r_off, r_hdr, r_on = (rates[(dname, k, p)] for k in ("off", "hdr", "on"))
            c_off, c_hdr, c_on = (cpus[(dname, k, p)] for k in ("off", "hdr", "on"))
            rate_cost = [1 - a / b for a, b in zip(r_on, r_off, strict=True)]
            cpu_cost = [a / b - 1 for a, b in zip(c_on, c_off, strict=True)]
            check_cost = [a / b - 1 for a, b in zip(c_on, c_hdr, strict=True)]

            def pc(values: list[float]) -> str:
                return f"{statistics.median(values) * 100:.1f} %"

            print(f"| {p} ({dname}) | {statistics.median(r_off):,.0f} / "
                  f"{statistics.median(r_hdr):,.0f} / {statistics.median(r_on):,.0f} | "
                  f"{statistics.median(c_off):,.0f} / {statistics.median(c_hdr):,.0f} / "
                  f"{statistics.median(c_on):,.0f} us | {pc(rate_cost)}, {pc(cpu_cost)} | "
                  f"{pc(check_cost)} | {met(statistics.median(cpu_cost) <= TARGET_AUTH_COST)} |")
    bare_us, guarded_us = guard_cost_us()
    fila_cpu = statistics.median(
        [x for (_, kind, _), v in cpus.items() if kind == "off" for x in v])
    print(f"\nIn-process, no network: the Enqueue handler {bare_us:.2f} us bare, "
          f"{guarded_us:.2f} us behind the guard: the check adds {guarded_us - bare_us:.2f} us, "
          f"{(guarded_us - bare_us) / fila_cpu * 100:.1f} % of the {fila_cpu:,.0f} us of server "
          "CPU an enqueue costs (median, auth off, above).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, short windows")
    ap.add_argument("--repeats", type=int, help="repetitions per rate cell (default 3, quick 1)")
    ap.add_argument("--seconds", type=float, help="rate window per repetition (default 5)")
    ap.add_argument("--driver", choices=[*sorted(DRIVERS), "both"], default="both",
                    help="how producers run: threads (one blocking Client each), asyncio "
                         "(tasks sharing one AsyncClient), or both (default; quick: threads)")
    ap.add_argument("--messages", type=int, default=100_000, help="messages for recovery")
    ap.add_argument("--skip-zero-payload", action="store_true",
                    help="skip the 0-byte-payload recovery/memory run (skipped with --quick)")
    ap.add_argument("--update-docs", action="store_true",
                    help="rewrite the generated block of docs/benchmarks.md")
    ap.add_argument("--auth-overhead", action="store_true",
                    help="only the enqueue rate, auth on vs off (target: <= 10 %% cost)")
    ap.add_argument("--noop-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.noop_server:
        run_noop_server(args.noop_server)
        return
    if args.auth_overhead:
        auth_overhead(args)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    warmup = 0.5
    lat_seconds = 3.0 if args.quick else 10.0
    lat_rate = 200.0
    driver = "threads" if args.quick and "--driver" not in sys.argv else args.driver
    drivers = sorted(DRIVERS) if driver == "both" else [driver]

    info = machine()
    load_before = loadavg()
    started = datetime.datetime.now(datetime.UTC)
    cmd = "python benchmarks/core.py " + " ".join(a for a in sys.argv[1:])
    print(header())
    print(f"{info['ram']} RAM; {info['disk']}; grpcio {info['grpcio']}\n")

    root = Path(tempfile.mkdtemp(prefix="fila-bench-"))
    rates: dict[tuple[str, str, int], list[float]] = {}
    cpus: dict[tuple[str, str, int], list[float]] = {}
    try:
        # 1. enqueue rate, alternating servers within each repetition.
        fila = FilaServer(root / "rate")
        fila.start()
        noop = NoopServer()
        try:
            with Client(fila.addr) as c:
                for r in range(repeats):
                    for p in (1, 8):
                        c.create_queue(f"rate-{r}-{p}")
            for r in range(repeats):
                for dname in drivers:
                    for p in (1, 8):
                        for kind, addr, pid in (("fila", fila.addr, fila.pid),
                                                ("noop", noop.addr, noop.proc.pid)):
                            cpu0, me0 = cpu_seconds(pid), time.process_time()
                            value, total = DRIVERS[dname](addr, f"rate-{r}-{p}", p, seconds,
                                                          warmup)
                            srv_us = (cpu_seconds(pid) - cpu0) / total * 1e6
                            cli_us = (time.process_time() - me0) / total * 1e6
                            rates.setdefault((dname, kind, p), []).append(value)
                            cpus.setdefault((dname, kind, p), []).append(srv_us)
                            cpus.setdefault((dname, "client-" + kind, p), []).append(cli_us)
                            print(f"  rate rep {r + 1}/{repeats} {dname:>7} {kind:>4} "
                                  f"producers={p}: {value:,.0f} msgs/s, server CPU "
                                  f"{srv_us:,.0f} us/msg, client CPU {cli_us:,.0f} us/msg, "
                                  f"load {loadavg().split()[0]}", flush=True)
        finally:
            noop.kill()
            fila.kill()

        # 2. latency at light load on a fresh server.
        lat_server = FilaServer(root / "latency")
        lat_server.start()
        lat_runs: list[tuple[list[float], list[float]]] = []
        try:
            with Client(lat_server.addr) as c:
                c.create_queue("lat")
            for r in range(repeats):
                d, e = latency(lat_server.addr, "lat", lat_rate, lat_seconds)
                lat_runs.append((d, e))
                print(f"  latency rep {r + 1}/{repeats}: deliver p50 {pct(d, 50):.2f} ms "
                      f"p99 {pct(d, 99):.2f} ms; enqueue RPC p50 {pct(e, 50):.2f} ms "
                      f"p99 {pct(e, 99):.2f} ms", flush=True)
        finally:
            lat_server.kill()

        # 3/4. recovery and memory.
        rec = recovery(root, "recover100", args.messages, PAYLOAD)
        print(f"  recovery 100 B payloads: {rec}", flush=True)
        rec0: dict[str, float] | None = None
        if not (args.skip_zero_payload or args.quick):
            rec0 = recovery(root, "recover0", args.messages, b"")
            print(f"  recovery 0 B payloads: {rec0}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load_after = loadavg()

    # ---- table ----
    n = int(args.messages)
    d50 = [pct(d, 50) for d, _ in lat_runs]
    d99 = [pct(d, 99) for d, _ in lat_runs]
    e50 = [pct(e, 50) for _, e in lat_runs]
    e99 = [pct(e, 99) for _, e in lat_runs]
    all_d = [x for d, _ in lat_runs for x in d]

    def per_msg(r: dict[str, float], payload: int) -> float:
        return (r["rss_recovered"] - r["rss_empty"]) / n - payload

    bpm = per_msg(rec, len(PAYLOAD))
    # The targets for a million pending messages (docs/benchmarks.md) are tighter per
    # message and looser in time than the 100 000-message ones.
    big = n >= 1_000_000
    t_rec, t_bpm = (10.0, 200.0) if big else (TARGET_RECOVERY_S, TARGET_BYTES_PER_MSG)
    lines = [
        f"- Machine: {info['nproc']} cores, {info['cpu']}, {info['ram']} RAM; "
        f"{info['disk']}; Python {info['python']}, grpcio {info['grpcio']}",
        f"- Commit: `{info['commit']}`"
        + (" (with uncommitted changes under fila/)" if info["dirty"] == "yes" else "")
        + f"; date {started:%Y-%m-%d %H:%M} UTC",
        f"- Command: `{cmd.strip()}`; producers: `threads` = one blocking `fila.Client` per "
        "thread, `asyncio` = tasks sharing one `fila.AsyncClient`"
        + f"; {repeats} repetition(s) of {seconds:g} s (+{warmup:g} s warm-up), "
        "fila and do-nothing alternating; payload 100 B, one header",
        f"- Load average (1/5/15 min): before {load_before}, after {load_after} "
        "(other work was running on this machine if well above 0)",
        "- Cells: median (min-max) over repetitions",
        "",
        "| Measure | Result | Target (issue 2) | |",
        "|---|---|---|---|",
    ]
    for dname in drivers:
        for p in (1, 8):
            f, d = rates[(dname, "fila", p)], rates[(dname, "noop", p)]
            ratio = [a / b for a, b in zip(f, d, strict=True)]
            who = f"{p} producer{'s' if p > 1 else ''} ({dname})"
            fc, dc = cpus[(dname, "fila", p)], cpus[(dname, "noop", p)]
            lines += [
                f"| Durable enqueue, {who} | {spread(f)} msgs/s; server CPU {spread(fc)} "
                "us/msg | | |",
                f"| Do-nothing server, {who} | {spread(d)} msgs/s; server CPU {spread(dc)} "
                "us/msg | | |",
                f"| Ratio fila/do-nothing, {who} | {spread(ratio, '{:.2f}')} | "
                + (f">= 0.8 | {met(statistics.median(ratio) >= TARGET_RATIO)} |" if p == 8
                   else "| |"),
                f"| Server CPU per enqueue, fila/do-nothing, {who} | "
                f"{spread([a / b for a, b in zip(fc, dc, strict=True)], '{:.2f}')}x | | |",
            ]
    lines += [
        "| RocksDB fsyncs per message | not measured: no RPC exposes `rocksdb.wal.synced` "
        "| | |",
        f"| Enqueue->deliver p50, {lat_rate:g} msg/s paced, 1 consumer | "
        f"{spread(d50, '{:.2f}')} ms | | |",
        f"| Enqueue->deliver p99 | {spread(d99, '{:.2f}')} ms | < 10 ms "
        f"| {met(statistics.median(d99) < TARGET_P99_MS)} |",
        f"| Enqueue->deliver max (all runs) | {max(all_d):.2f} ms | | |",
        f"| Enqueue RPC alone p50 / p99 (same runs) | {spread(e50, '{:.2f}')} / "
        f"{spread(e99, '{:.2f}')} ms | | |",
        f"| Fill {n:,} messages (EnqueueBatch of 500, 4 producers) | {rec['fill_s']:.1f} s "
        f"({n / rec['fill_s']:,.0f} msgs/s) | | |",
        f"| SIGTERM stop with {n:,} stored | {rec['stop_s']:.2f} s | | |",
        f"| Restart recovery, spawn -> first ListQueues OK | {rec['recovery_s']:.2f} s "
        f"(server log: recovered in {rec['server_reported_s']:.2f} s) | < {t_rec:.0f} s "
        f"| {met(rec['recovery_s'] < t_rec)} |",
        f"| GetStats depth after restart | {int(rec['depth']):,} | = {n:,} "
        f"| {met(int(rec['depth']) == n)} |",
        f"| RSS empty store / after fill / after recovery | "
        f"{rec['rss_empty'] / 2**20:.1f} / {rec['rss_after_fill'] / 2**20:.1f} / "
        f"{rec['rss_recovered'] / 2**20:.1f} MiB | | |",
        f"| Memory per pending message beyond payload (100 B payloads) | {bpm:,.0f} B "
        f"| <= {t_bpm:.0f} B | {met(bpm <= t_bpm)} |",
    ]
    if rec0 is not None:
        bpm0 = per_msg(rec0, 0)
        lines.append(
            f"| Memory per pending message (0 B payloads) | {bpm0:,.0f} B "
            f"(recovery {rec0['recovery_s']:.2f} s, depth {int(rec0['depth']):,}) "
            f"| <= {t_bpm:.0f} B | {met(bpm0 <= t_bpm)} |")
    block = "\n".join(lines)
    print()
    print(block)
    if args.update_docs:
        update_docs(block)
        print(f"\nupdated {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
