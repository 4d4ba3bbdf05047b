"""Jepsen-style checker for cluster mode: faults under load, nothing acknowledged lost.

Run:  python benchmarks/cluster_checker.py [--cycles 20] [--faults kill,pause,nats] [--json]
Needs the cluster extra (pip install -e '.[cluster]').

Starts 3 local nats-server nodes and 3 fila-server nodes in cluster mode
(fila.cluster.harness, fila.cluster.servers), creates one queue and runs, with Fila's own
client (fila.AsyncClient):
- producers enqueuing uniquely numbered messages (payload = the id) through every node in
  turn (a non-owner forwards to the owner), recording each enqueue the server acknowledged
  (it returned a message id) and each that failed (outcome unknown);
- one consumer on the queue's owner (found with GetClusterStatus; the client itself follows
  ``x-fila-leader-addr`` on an UNAVAILABLE consume) acking everything and moving to the new
  owner when its stream ends or stalls while another node owns the queue.

Each cycle waits for normal traffic (``--settle`` seconds and ``--warmup`` deliveries), then
injects one fault, in the order ``--faults`` lists them:
- kill:  kill -9 the owner, wait for another node to deliver, restart it (same data dir);
- pause: SIGSTOP the owner for longer than the lease TTL (and until another node
  delivers), then SIGCONT;
- nats:  kill -9 a NATS node (the leader of the queue's stream when it can tell), wait for
  a message sent after the fault to be delivered, restart it.

After the last cycle the producers stop and the checker waits (``--drain-timeout``) for
every acknowledged id to be delivered. Verdict (fila.cluster.history): acknowledged,
delivered unique, lost (acknowledged, never delivered: must be 0), unexpected (delivered,
never sent: must be 0), duplicates, failover time per cycle (fault → first delivery by
another node) with p50 and max, and acks lost (delivered again after the broker confirmed
the ack). Exit code 1 when lost, unexpected or acks lost is not 0 (2 when the
cluster could not be started or driven).

``--fila-nodes 1`` runs against a single node (failover is then the time to the first
delivery after the fault by any node): a smoke run of the checker itself.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from _harness import header

from fila import AsyncClient, _client_common
from fila.cluster.harness import ClusterError, NatsCluster, NatsNode
from fila.cluster.history import Fault, History, render_markdown
from fila.cluster.names import stream_name
from fila.cluster.servers import FilaCluster
from fila.errors import FilaError, UnavailableError
from fila.v1 import admin_pb2, admin_pb2_grpc

FAULTS = ("kill", "pause", "nats")

CHECKER_CHANNEL_OPTIONS = [
    ("grpc.use_local_subchannel_pool", 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def tune_client_channels() -> None:
    """Every client its own connection, as separate processes would have (gRPC otherwise
    shares one subchannel per address in a process, so a client made after a restart
    inherits the old one's reconnect backoff), retrying a dead address at least once a
    second: gRPC's default backoff grows to 120 s and would measure the client's patience,
    not the failover. Done when the checker runs, not on import."""
    _client_common._CHANNEL_OPTIONS = [*_client_common._CHANNEL_OPTIONS,
                                       *CHECKER_CHANNEL_OPTIONS]


def now() -> float:
    return time.monotonic()


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def delivered_by(client: AsyncClient, message_id: str) -> str:
    """The node that delivered ``message_id`` on ``client``'s consume stream: the client's
    own address, or the owner a redirect (``x-fila-leader-addr``) led the stream to. The
    client keeps that route for the message's ack; failover times depend on the real
    node, so the checker reads it there (a private table of the client)."""
    tokens = getattr(client, "_tokens", None)
    route = str(getattr(tokens.peek(message_id), "route", "") or "") if tokens else ""
    return route or client.addr


class Conns:
    """One client and one admin stub per node address, kept across the node's restarts
    (their channels reconnect within a second: tune_client_channels)."""

    def __init__(self, rpc_timeout: float) -> None:
        self.rpc_timeout = rpc_timeout
        self._clients: dict[str, AsyncClient] = {}
        self._admin: dict[str, tuple[grpc.aio.Channel, Any]] = {}

    def client(self, addr: str) -> AsyncClient:
        if addr not in self._clients:
            self._clients[addr] = AsyncClient(addr, timeout=self.rpc_timeout)
        return self._clients[addr]

    def admin(self, addr: str) -> Any:
        if addr not in self._admin:
            channel = grpc.aio.insecure_channel(addr, options=_client_common._CHANNEL_OPTIONS)
            self._admin[addr] = (channel, admin_pb2_grpc.FilaAdminStub(channel))
        return self._admin[addr][1]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        for channel, _ in self._admin.values():
            await channel.close(None)
        self._clients.clear()
        self._admin.clear()


class Checker:
    def __init__(self, args: argparse.Namespace, nats: NatsCluster, fila: FilaCluster) -> None:
        self.args = args
        self.nats = nats
        self.fila = fila
        self.queue = args.queue
        self.history = History()
        self.conns = Conns(args.rpc_timeout)
        self.stop_producing = asyncio.Event()
        self.stop_consuming = asyncio.Event()
        self.last_delivery = now()
        self._acks: set[asyncio.Task[None]] = set()
        self.started = now()

    def trace(self, line: str) -> None:
        if self.args.verbose:
            log(f"{now() - self.started:8.2f} {line}")

    # -- finding the owner --

    async def find_owner(self, avoid: str | None = None) -> str | None:
        """The queue's owner as the first node that answers sees it (``avoid`` asked last)."""
        addrs = sorted(self.fila.addrs, key=lambda a: a == avoid)
        for addr in addrs:
            try:
                status = await self.conns.admin(addr).GetClusterStatus(
                    admin_pb2.GetClusterStatusRequest(), timeout=1.0)
            except grpc.RpcError:
                continue
            if not status.enabled:
                return addr  # a single node owns everything
            for q in status.queues:
                if q.queue == self.queue and q.owner_addr:
                    return str(q.owner_addr)
        return None

    async def wait_owner(self, timeout: float) -> str:
        deadline = now() + timeout
        while now() < deadline:
            owner = await self.find_owner()
            if owner is not None:
                return owner
            await asyncio.sleep(0.1)  # polling for an owner, bounded by the deadline
        raise ClusterError(f"no node owns {self.queue!r} after {timeout:.0f} s")

    async def create_queue(self) -> None:
        deadline = now() + self.args.fault_timeout
        while True:
            addr = self.fila.addrs[0]
            try:
                await self.conns.client(addr).create_queue(
                    self.queue, visibility_timeout_ms=self.args.visibility_timeout_ms)
                return
            except UnavailableError:
                if now() > deadline:
                    raise
            await asyncio.sleep(0.1)  # retrying an UNAVAILABLE answer, bounded by the deadline

    # -- load --

    async def producer(self, index: int) -> None:
        interval = 1.0 / self.args.rate
        n = 0
        while not self.stop_producing.is_set():
            addrs = self.fila.addrs
            addr = addrs[(index + n) % len(addrs)]  # every node in turn: forwarding included
            n += 1
            uid = f"p{index}-{n}"
            self.history.sent(uid, now())
            started = now()
            try:
                message_id = await self.conns.client(addr).enqueue(self.queue, None, uid.encode())
            except FilaError as exc:
                self.history.failed(uid, f"{type(exc).__name__}: {exc}")
            else:
                self.history.acked(uid, message_id)
            # pacing the load (a rate, not a synchronisation)
            await asyncio.sleep(max(0.0, interval - (now() - started)))

    async def consumer(self) -> None:
        addr: str | None = None
        quiet = ""  # the last stream that delivered nothing: its repeats are not traced
        while not self.stop_consuming.is_set():
            if addr is None:
                addr = await self.find_owner()
                if addr is None:
                    await asyncio.sleep(0.1)  # polling for an owner
                    continue
            switch: list[str] = []
            before = self.history.delivery_count
            stream = asyncio.create_task(self._stream(addr))
            watch = asyncio.create_task(self._watch(addr, stream, switch))
            hint: str | None = None
            try:
                why = await stream
            except asyncio.CancelledError:
                if not switch and not self.stop_consuming.is_set():
                    raise
                hint = switch[0] if switch else None
                why = "stalled while another node owns the queue" if switch else "stopped"
            finally:
                watch.cancel()
            line = (f"stream from {addr} ended ({why or 'closed'}); "
                    f"next: {hint or 'ask who owns the queue'}")
            if self.history.delivery_count > before:
                quiet = ""
                self.trace(f"{line} after {self.history.delivery_count - before} deliveries")
            elif line != quiet:
                quiet = line
                self.trace(line)
            addr = hint
            if addr is None:
                await asyncio.sleep(0.05)  # a stream that ended: ask again shortly

    async def _stream(self, addr: str) -> str:
        """Consume from ``addr`` until the stream ends (the client itself follows a
        redirect to the owner); why it ended."""
        client = self.conns.client(addr)
        try:
            async for msg in client.consume(self.queue):
                self.last_delivery = now()
                uid = msg.payload.decode(errors="replace")
                self.history.delivered(uid, msg.id, delivered_by(client, msg.id),
                                       self.last_delivery)
                task = asyncio.create_task(self._ack(client, msg.id))
                self._acks.add(task)
                task.add_done_callback(self._acks.discard)
        except FilaError as exc:
            return f"{type(exc).__name__}: {exc}"
        return ""

    async def _ack(self, client: AsyncClient, message_id: str) -> None:
        with contextlib.suppress(FilaError):  # an ack that failed may come back: a duplicate
            await client.ack(self.queue, message_id)
            # Confirmed: from now on it must never come back.
            self.history.settled(message_id, now())

    async def _watch(self, addr: str, stream: asyncio.Task[Any], switch: list[str]) -> None:
        """A stream to a paused owner neither delivers nor ends: when nothing came for a
        while and another node now owns the queue, leave it."""
        while True:
            await asyncio.sleep(0.25)  # a watchdog's period
            if self.stop_consuming.is_set():
                stream.cancel()
                return
            if now() - self.last_delivery < self.args.idle:
                continue
            owner = await self.find_owner(avoid=addr)
            if owner is not None and owner != addr:
                switch.append(owner)
                stream.cancel()
                return

    # -- faults --

    async def wait_for(self, cond: Any, timeout: float) -> bool:
        deadline = now() + timeout
        while not cond():
            if now() > deadline:
                return False
            await asyncio.sleep(0.05)  # polling a condition, bounded by the deadline
        return True

    def stream_leader(self) -> NatsNode | None:
        """The NATS node leading the queue's stream, as the first node that answers says."""
        wanted = stream_name(self.queue)
        for node in self.nats.nodes:
            if not node.running():
                continue
            url = f"http://127.0.0.1:{node.http_port}/jsz?accounts=true&streams=true"
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:  # loopback only
                    body = json.loads(resp.read())
            except (OSError, ValueError):
                continue
            for account in body.get("account_details") or []:
                for stream in account.get("stream_detail") or []:
                    if stream.get("name") == wanted:
                        leader = (stream.get("cluster") or {}).get("leader")
                        with contextlib.suppress(KeyError):
                            return self.nats.node(str(leader))
        return None

    async def cycle(self, index: int, kind: str) -> Fault:
        timeout = self.args.fault_timeout
        ttl = self.args.lease_ttl_ms / 1000
        if kind == "nats":
            target: NatsNode = self.stream_leader() or self.nats.nodes[index % len(self.nats.nodes)]
            fault = self.history.fault("nats", f"nats {target.name}", None, now())
            self.trace(f"kill -9 NATS node {target.name}")
            await asyncio.to_thread(target.kill)
            # a lone NATS node cannot be done without: it is down for a lease TTL
            await self.wait_for(lambda: fault.recovered_at is not None,
                                ttl if len(self.nats.nodes) == 1 else timeout)
            await asyncio.to_thread(self.nats.restart, target, timeout)
            self.trace(f"restarted NATS node {target.name}")
        else:
            owner = self.fila.by_addr(await self.wait_owner(timeout))
            alone = len(self.fila.nodes) == 1  # no other node can take over
            fault = self.history.fault(kind, owner.node_id, None if alone else owner.addr, now())
            self.trace(f"{'kill -9' if kind == 'kill' else 'SIGSTOP'} {owner.node_id} {owner.addr}")
            if kind == "kill":
                await asyncio.to_thread(owner.kill)
                await self.wait_for(lambda: fault.recovered_at is not None,
                                    ttl if alone else timeout)
                await asyncio.to_thread(owner.start, timeout)
                self.trace(f"restarted {owner.node_id}")
            else:
                owner.pause()
                held = self.args.pause_ms / 1000
                await self.wait_for(
                    lambda: (alone or fault.recovered_at is not None) and now() - fault.at >= held,
                    held if alone else max(timeout, held))
                owner.resume()
                self.trace(f"SIGCONT {owner.node_id}")
        fault.healed_at = now()
        # Not recovered while the victim was down (a lone node): it must be once healed.
        await self.wait_for(lambda: fault.recovered_at is not None, timeout)
        return fault

    async def run(self) -> None:
        await self.create_queue()
        producers = [asyncio.create_task(self.producer(i)) for i in range(self.args.producers)]
        consumer = asyncio.create_task(self.consumer())
        try:
            kinds = self.args.faults
            for i in range(self.args.cycles):
                # let traffic flow between faults: some deliveries since the last heal
                wanted, since = self.history.delivery_count + self.args.warmup, now()
                if not await self.wait_for(
                        lambda w=wanted, t=since: self.history.delivery_count >= w
                        and now() - t >= self.args.settle,
                        self.args.fault_timeout + self.args.settle):
                    log(f"cycle {i + 1}: no traffic within {self.args.fault_timeout:.0f} s")
                fault = await self.cycle(i, kinds[i % len(kinds)])
                took = fault.failover_s
                log(f"cycle {i + 1}/{self.args.cycles} {fault.kind} {fault.target}: "
                    + (f"failover {took:.2f} s" if took is not None else "NOT RECOVERED")
                    + (f" (by {fault.recovered_by})" if fault.recovered_by else ""))
        finally:
            self.stop_producing.set()
            await asyncio.gather(*producers, return_exceptions=True)
        drained = await self.wait_for(lambda: not self.history.outstanding(),
                                      self.args.drain_timeout)
        if not drained:
            log(f"drain: {len(self.history.outstanding())} acknowledged id(s) still "
                f"undelivered after {self.args.drain_timeout:.0f} s")
        self.stop_consuming.set()
        consumer.cancel()
        await asyncio.gather(consumer, *self._acks, return_exceptions=True)
        await self.conns.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cluster_checker.py",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20, help="faults to inject (default 20)")
    parser.add_argument("--faults", default="kill,pause,nats",
                        help="comma-separated, taken in turn: kill, pause, nats (default all)")
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0,
                        help="enqueues per second per producer (default 50)")
    parser.add_argument("--lease-ttl-ms", type=int, default=2000)
    parser.add_argument("--pause-ms", type=int, default=None,
                        help="how long a pause lasts at least (default 2 x the lease TTL)")
    parser.add_argument("--fila-nodes", type=int, default=3)
    parser.add_argument("--nats-nodes", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50,
                        help="deliveries between one fault's heal and the next fault")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of normal load between one fault's heal and the next")
    parser.add_argument("--fault-timeout", type=float, default=30.0,
                        help="seconds to wait for a recovery, an owner, a restart")
    parser.add_argument("--drain-timeout", type=float, default=60.0)
    parser.add_argument("--idle", type=float, default=1.0,
                        help="seconds without a delivery before the consumer asks who owns "
                             "the queue")
    parser.add_argument("--rpc-timeout", type=float, default=3.0)
    parser.add_argument("--queue", default="checker")
    parser.add_argument("--visibility-timeout-ms", type=int, default=0,
                        help="the queue's lease time (default: the server's). A message "
                             "leased to a stream that broke comes back after it, so it "
                             "bounds the drain")
    parser.add_argument("--dir", type=Path, default=None,
                        help="keep the nodes' files (logs, data) here")
    parser.add_argument("--json", action="store_true", help="machine-readable verdict")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="trace faults and the consumer's moves on stderr")
    args = parser.parse_args(argv)
    args.faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    bad = [f for f in args.faults if f not in FAULTS]
    if bad or not args.faults:
        parser.error(f"--faults: unknown {', '.join(bad) or '(none given)'}; "
                     f"choose from {', '.join(FAULTS)}")
    for name in ("cycles", "producers", "fila_nodes", "nats_nodes", "lease_ttl_ms"):
        if getattr(args, name) < (0 if name == "cycles" else 1):
            parser.error(f"--{name.replace('_', '-')} is too small")
    if args.rate <= 0:
        parser.error("--rate must be positive")
    if args.pause_ms is None:
        args.pause_ms = 2 * args.lease_ttl_ms
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    base = args.dir or Path(tempfile.mkdtemp(prefix="fila-checker-"))
    started = now()
    keep = args.dir is not None
    tune_client_channels()
    log(header())
    try:
        with NatsCluster(args.nats_nodes, base / "nats") as nats, \
                FilaCluster(nats, args.fila_nodes, base / "fila",
                            lease_ttl_ms=args.lease_ttl_ms) as fila:
            log("fila nodes: " + ", ".join(f"{n.node_id} {n.addr}" for n in fila))
            checker = Checker(args, nats, fila)
            asyncio.run(checker.run())
    except (ClusterError, FilaError) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        print(f"the nodes' logs are kept in {base}", file=sys.stderr)
        keep = True
        return 2
    finally:
        if not keep:
            shutil.rmtree(base, ignore_errors=True)
    verdict = checker.history.verdict()
    if args.json:
        print(json.dumps({**asdict(verdict), "seconds": round(now() - started, 1),
                          "cycles": args.cycles, "fault_kinds": args.faults}, indent=2))
    else:
        print(render_markdown(verdict))
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
