"""Batched throughput: EnqueueBatch, batched delivery and AckBatch, against a do-nothing server.

Run:  python benchmarks/batch.py             (about 2 minutes)
      python benchmarks/batch.py --quick     (one repetition, short windows)
      python benchmarks/batch.py --update-docs   (rewrites the generated block in
                                                 docs/benchmarks.md, "Batched throughput")

Scenarios, each against a real ``fila-server`` (durable: fsync on every commit group):

1. **Batched enqueue**: ``--producers`` asyncio tasks on one AsyncClient, each sending
   ``enqueue_many`` of 100 messages back to back. The same client drives a do-nothing
   grpc.aio server (this file re-run with ``--noop-server PORT``) that parses the same
   requests and answers pre-made ids; repetitions alternate between the two so drifts in
   background load hit both. Reported: msg/s, the ratio, server CPU per message and fsyncs
   per message (``GetServerInfo.wal_syncs``).
2. **Lifecycle, batched**: producers as in 1 while one consumer streams with
   ``max_batch=100`` and settles with ``ack_many`` per frame; the rate is messages acked
   per second from the first enqueue to the last ack.
3. **Lifecycle, unbatched** (the published SDK's way): a pre-filled queue drained by
   ``--consumers`` streams with one message per frame and one Ack RPC each, beside the
   do-nothing server's unary Enqueue rate with as many concurrent callers (the ceiling of
   one RPC per message through this client).

Targets (reported, not asserted; docs/benchmarks.md, "Batched throughput"): batched
enqueue >= 100k msg/s and >= 0.5 of do-nothing, <= 0.05 fsyncs per message; unbatched
drain >= 0.8 of the unary ceiling.
Client and server share the machine's cores; the load average is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from _harness import ROOT, FilaServer, cpu_seconds, free_port, header, loadavg, wait_ready

from fila.client import AsyncClient, Client
from fila.types import EnqueueItem
from fila.v1 import service_pb2, service_pb2_grpc

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- benchmarks/batch.py results: begin (generated, rerun with --update-docs) -->"
END = "<!-- benchmarks/batch.py results: end -->"
PAYLOAD = b"x" * 100
HEADERS = {"tenant": "acme"}
BATCH = 100


# ---- the do-nothing server ---------------------------------------------------------------


def run_noop_server(port: int) -> None:
    """Enqueue and EnqueueBatch only: parse the request, answer pre-made ids at once."""
    ids = [service_pb2.EnqueueResult(message_id=f"00000000-0000-7000-8000-{i:012d}")
           for i in range(1000)]

    class Noop(service_pb2_grpc.FilaServiceServicer):  # type: ignore[misc]
        async def Enqueue(self, request: Any, context: Any) -> Any:
            return service_pb2.EnqueueResponse(message_id=ids[0].message_id)

        async def EnqueueBatch(self, request: Any, context: Any) -> Any:
            return service_pb2.EnqueueBatchResponse(results=ids[:len(request.messages)])

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


class NoopServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()),
                                      "--noop-server", str(self.port)])
        probe = service_pb2.EnqueueRequest(queue="probe")
        if not wait_ready(self.addr, self.proc, lambda ch: service_pb2_grpc.FilaServiceStub(ch)
                          .Enqueue(probe, timeout=1), 30.0):
            self.stop()
            raise RuntimeError("do-nothing server did not start")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- scenarios ------------------------------------------------------------------------------


def items(queue: str, n: int = BATCH) -> list[EnqueueItem]:
    return [EnqueueItem(queue, PAYLOAD, HEADERS) for _ in range(n)]


def enqueue_rate(addr: str, queue: str, producers: int, seconds: float) -> float:
    """msg/s of ``producers`` tasks sending enqueue_many(100) back to back (0.5 s warm-up)."""

    async def main() -> float:
        async with AsyncClient(addr, timeout=60) as c:
            batch = items(queue)
            await c.enqueue_many(batch)
            loop = asyncio.get_running_loop()
            begin = loop.time() + 0.5
            end = begin + seconds
            counted = 0

            async def work() -> None:
                nonlocal counted
                while True:
                    results = await c.enqueue_many(batch)
                    now = loop.time()
                    if now >= end:
                        return
                    if now >= begin:
                        counted += sum(isinstance(r, str) for r in results)

            await asyncio.gather(*(work() for _ in range(producers)))
            return counted / seconds

    return asyncio.run(main())


def unary_rate(addr: str, queue: str, callers: int, seconds: float) -> float:
    async def main() -> float:
        async with AsyncClient(addr, timeout=60, enqueue_coalesce=False) as c:
            await c.enqueue(queue, HEADERS, PAYLOAD)
            loop = asyncio.get_running_loop()
            begin = loop.time() + 0.5
            end = begin + seconds
            counted = 0

            async def work() -> None:
                nonlocal counted
                while True:
                    await c.enqueue(queue, HEADERS, PAYLOAD)
                    now = loop.time()
                    if now >= end:
                        return
                    if now >= begin:
                        counted += 1

            await asyncio.gather(*(work() for _ in range(callers)))
            return counted / seconds

    return asyncio.run(main())


def lifecycle_batched(addr: str, queue: str, producers: int, total: int) -> float:
    """Acked msg/s with producers and one batched consumer running together."""

    async def main() -> float:
        async with AsyncClient(addr, timeout=60) as c, AsyncClient(addr, timeout=60) as cc:
            batch = items(queue)
            per = total // (producers * BATCH)
            t0 = time.perf_counter()

            async def produce() -> None:
                for _ in range(per):
                    await c.enqueue_many(batch)

            async def consume() -> None:
                acked = 0
                frame: list[str] = []
                stream = cc.consume(queue, max_batch=BATCH, prefetch=1000)
                async for msg in stream:
                    frame.append(msg.id)
                    # prefetch (1000) > BATCH, so the broker keeps sending while 100 are held.
                    if len(frame) >= BATCH or acked + len(frame) >= per * producers * BATCH:
                        await cc.ack_many(queue, frame)
                        acked += len(frame)
                        frame = []
                        if acked >= per * producers * BATCH:
                            break
                await stream.aclose()

            await asyncio.gather(consume(), *(produce() for _ in range(producers)))
            return per * producers * BATCH / (time.perf_counter() - t0)

    return asyncio.run(main())


def drain_unbatched(addr: str, queue: str, consumers: int, total: int) -> float:
    """Pre-fill ``total`` messages, then drain them with one message per frame, Ack each."""
    with Client(addr, timeout=60) as c:
        for start in range(0, total, 1000):
            c.enqueue_many(items(queue, min(1000, total - start)))

    async def main() -> float:
        left = total
        t0 = time.perf_counter()

        async def consumer() -> None:
            nonlocal left
            async with AsyncClient(addr, timeout=60) as cc:
                stream = cc.consume(queue, prefetch=1)
                async for msg in stream:
                    await cc.ack(queue, msg.id)
                    left -= 1
                    if left <= 0:
                        break
                await stream.aclose()

        tasks = [asyncio.create_task(consumer()) for _ in range(consumers)]
        while left > 0:
            await asyncio.sleep(0.01)  # polling for the finish line, bounded below
            if time.perf_counter() - t0 > 600:
                raise RuntimeError("drain did not finish in 600 s")
        rate = total / (time.perf_counter() - t0)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return rate

    return asyncio.run(main())


# ---- main -------------------------------------------------------------------------------------


def server_info(addr: str) -> Any:
    with Client(addr) as c:
        return c.server_info()


def depth(addr: str, queue: str) -> int:
    with Client(addr) as c:
        return c.get_stats(queue).depth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--producers", type=int, default=4)
    ap.add_argument("--consumers", type=int, default=8)
    ap.add_argument("--update-docs", action="store_true")
    ap.add_argument("--noop-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.noop_server:
        run_noop_server(args.noop_server)
        return
    repeats = args.repeats or (1 if args.quick else 3)
    seconds = args.seconds or (2.0 if args.quick else 5.0)
    lifecycle_total = 20_000 if args.quick else 200_000
    drain_total = 2_000 if args.quick else 20_000
    lines = [header()]
    print("\n".join(lines), flush=True)

    with tempfile.TemporaryDirectory(prefix="fila-batch-") as tmp:
        server = FilaServer(Path(tmp) / "fila")
        noop = NoopServer()
        try:
            server.start()
            with Client(server.addr) as c:
                for q in ("bench", "life", "drain"):
                    c.create_queue(q)
            fila_rates: list[float] = []
            noop_rates: list[float] = []
            cpu_us: list[float] = []
            syncs_per_msg: list[float] = []
            for _ in range(repeats):
                before = server_info(server.addr)
                depth0 = depth(server.addr, "bench")
                cpu0 = cpu_seconds(server.pid)
                rate = enqueue_rate(server.addr, "bench", args.producers, seconds)
                cpu1 = cpu_seconds(server.pid)
                after = server_info(server.addr)
                fila_rates.append(rate)
                msgs = max(1, depth(server.addr, "bench") - depth0)
                cpu_us.append((cpu1 - cpu0) / msgs * 1e6)
                syncs_per_msg.append((after.wal_syncs - before.wal_syncs) / msgs)
                noop_rates.append(enqueue_rate(noop.addr, "bench", args.producers, seconds))
                print(f"  batched enqueue: fila {rate:,.0f} msg/s, do-nothing "
                      f"{noop_rates[-1]:,.0f}", flush=True)
            life = lifecycle_batched(server.addr, "life", args.producers, lifecycle_total)
            print(f"  lifecycle batched: {life:,.0f} msg/s", flush=True)
            ceiling = unary_rate(noop.addr, "bench", args.consumers, seconds)
            drain = drain_unbatched(server.addr, "drain", args.consumers, drain_total)
            print(f"  unbatched drain: {drain:,.0f} msg/s, unary ceiling {ceiling:,.0f}",
                  flush=True)
        finally:
            server.stop()
            noop.stop()

    med = statistics.median
    ratio = med(fila_rates) / med(noop_rates)
    rows = [
        "| scenario | Fila | do-nothing | ratio | target |",
        "|---|---|---|---|---|",
        f"| batched enqueue x{BATCH}, {args.producers} producers (msg/s) | "
        f"{med(fila_rates):,.0f} | {med(noop_rates):,.0f} | {ratio:.2f} | "
        f"≥ 100k and ≥ 0.5 |",
        f"| server CPU per batched message (µs) | {med(cpu_us):.1f} | | | |",
        f"| fsyncs per batched message | {med(syncs_per_msg):.4f} | | | ≤ 0.05 |",
        f"| lifecycle batched: enqueue x{BATCH} → frames of ≤ {BATCH} → ack_many (msg/s) | "
        f"{life:,.0f} | | | ≥ Redis Streams batched |",
        f"| unbatched drain: {args.consumers} streams, 1 per frame, 1 Ack each (msg/s) | "
        f"{drain:,.0f} | {ceiling:,.0f} (unary Enqueue) | {drain / ceiling:.2f} | ≥ 0.8 |",
    ]
    table = "\n".join(rows)
    print()
    print(table)
    print(f"\nload average after: {loadavg()}")
    if args.update_docs:
        block = "\n".join(["```", *lines, "```", "", table])
        text = DOCS.read_text()
        generated = f"{BEGIN}\n{block}\n{END}"
        if BEGIN in text:
            head, _, rest = text.partition(BEGIN)
            _, _, tail = rest.partition(END)
            text = head + generated + tail
        else:
            text = text.rstrip() + "\n\n## Batched throughput\n\n" + generated + "\n"
        DOCS.write_text(text)


if __name__ == "__main__":
    main()
