"""A scripted stand-in for fila.client.Client: a fila.tui.backend.Backend.

It subclasses the Protocol (generated from the client), so it overrides only what
the TUI uses; tests/tui/test_fake_backend.py checks each override keeps the
client's signature, so the fake cannot drift from the client.

Deterministic: fixed times (2026-01-01 12:00:00 UTC), no clocks, no sleeps.
The stats stream hands out snapshots pushed by the test and can be made to
fail and recover, to exercise the reconnect path.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import replace

from fila.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidArgumentError,
    MessageNotFoundError,
    PermissionDeniedError,
    QueueNotFoundError,
    RPCError,
    UnavailableError,
)
from fila.tui.backend import Backend
from fila.types import (
    ClusterNode,
    ClusterQueue,
    ClusterStatus,
    ConsumeMessage,
    HookResult,
    KeyHistory,
    KeySnapshot,
    LimitSnapshot,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueSnapshot,
    QueueStats,
    ServerInfo,
    StatsHistory,
    StatsSnapshot,
)

T0 = 1_767_268_800_000  # 2026-01-01T12:00:00Z

HOOK = """function on_enqueue(msg)
  local t = msg.headers["tenant"] or "default"
  local keys = {}
  if t == "initech" then keys = { "provider:stripe" } end
  return { fairness_key = "tenant:" .. t, throttle_keys = keys }
end
"""


def sample_snapshot(step: int = 0, *, attention: bool = False) -> StatsSnapshot:
    """The fairness scenario: a noisy, a quiet, a throttled and a capped tenant.

    With ``attention``: fair-demo's DLQ grows by one message a snapshot, and orders' oldest
    ready message has waited 2m05s while its hook breaker is open.
    """
    keys = (
        KeySnapshot(
            "tenant:acme",
            pending=9870,
            in_flight=32,
            deficit=412,
            weight=1,
            delivered_total=40_000 + step * 160,
            deliver_rate=160.0,
            delivered_share=0.33,
            weight_share=0.33,
            waiting="turn",
            wait_p95_ms=41,
        ),
        KeySnapshot(
            "tenant:globex",
            pending=2101,
            in_flight=30,
            deficit=890,
            weight=2,
            delivered_total=80_000 + step * 320,
            deliver_rate=320.0,
            delivered_share=0.66,
            weight_share=0.66,
            wait_p95_ms=38,
        ),
        KeySnapshot(
            "tenant:initech",
            pending=430,
            in_flight=2,
            weight=1,
            deliver_rate=10.0,
            delivered_share=0.01,
            weight_share=0.33,
            waiting="throttled",
            waiting_on="provider:stripe",
            waiting_until_ms=T0 + 3000,
            wait_p95_ms=1200,
        ),
        KeySnapshot(
            "tenant:umbrella",
            pending=7,
            in_flight=5,
            weight=1,
            waiting="concurrency",
            waiting_on="umbrella",
        ),
    )
    return StatsSnapshot(
        taken_at_ms=T0 + step * 1000,
        queues=(
            QueueSnapshot(
                "fair-demo",
                depth=12_477,
                pending=12_408,
                in_flight=69,
                consumers=4,
                enqueue_rate=480.0 + step,
                deliver_rate=490.0 - step * 10,
                ack_rate=488.0,
                active_keys=1204,
                keys=keys,
                quantum=1000,
                wait_p95_ms=41,
                dead_letter_queue="fair-demo.dlq",
            ),
            QueueSnapshot("fair-demo.dlq", depth=3 + (step if attention else 0)),
            QueueSnapshot(
                "orders",
                depth=105,
                pending=104,
                in_flight=1,
                consumers=1,
                enqueue_rate=12.0,
                deliver_rate=12.0 + step,
                ack_rate=12.0,
                active_keys=1,
                quantum=1000,
                wait_p95_ms=1200,
                dead_letter_queue="orders.dlq",
                oldest_pending_age_ms=125_000 + step * 1000 if attention else 20_000,
                hook_breaker_open=attention,
                hook_error="on_enqueue: [string \"on_enqueue\"]:3: attempt to index a nil value"
                if attention
                else "",
                keys=(
                    KeySnapshot(
                        "default",
                        pending=104,
                        in_flight=1,
                        deliver_rate=12.0,
                        delivered_share=1.0,
                        weight_share=1.0,
                    ),
                ),
            ),
            QueueSnapshot("orders.dlq"),
        ),
        limits=(
            LimitSnapshot(
                "provider:stripe",
                has_throttle=True,
                tokens=0.4,
                rate_per_second=10.0,
                burst=150.0,
                hits=1200,
                passes=98_400,
            ),
            LimitSnapshot("umbrella", has_cap=True, in_flight=5, cap=5, hits=30, passes=900),
        ),
    )


def _as_streamed(snap: StatsSnapshot, queue: str, top_keys: int) -> StatsSnapshot:
    """What the server would send for this request: one queue or all, top keys only."""
    shown = [q for q in snap.queues if not queue or q.name == queue]
    queues = tuple(replace(q, keys=q.keys[: top_keys or 50]) for q in shown)
    return replace(snap, queues=queues)
def _wave(i: int, period: int, low: float, high: float) -> float:
    """A triangle wave: deterministic, no floating trigonometry in a screenshot."""
    phase = i % period
    half = period / 2
    return low + (high - low) * (phase / half if phase < half else (period - phase) / half)


def sample_history(end_ms: int, seconds: int = 900, key: str = "") -> StatsHistory:
    """15 minutes of fair-demo: steady enqueues, deliveries that dip while a throttle bites
    (minutes 5 to 8 ago), the backlog growing then draining, and tenant:initech's key."""
    n = min(seconds or 900, 900)
    end_s = end_ms // 1000
    start_s = end_s - n + 1
    idx = [s - (end_s - 899) for s in range(start_s, end_s + 1)]  # 0..899 over 15 min
    biting = [480 <= i < 660 for i in idx]
    enq = tuple(480.0 + _wave(i, 120, 0, 40) for i in idx)
    pairs = list(zip(idx, biting, strict=True))
    dlv = tuple(300.0 if b else 490.0 - _wave(i, 90, 0, 30) for i, b in pairs)
    depth = tuple(8000.0 + min(i, 660) * 8 - max(0, i - 660) * 6 for i in idx)
    p95 = tuple(1200.0 if b else 40.0 + _wave(i, 60, 0, 20) for i, b in pairs)
    hits = tuple(25.0 if b else 0.0 for b in biting)
    keys = (
        KeyHistory("tenant:acme", start_s * 1000, tuple(160.0 for _ in idx),
                   tuple(9000.0 + i for i in idx), tuple(41.0 for _ in idx),
                   tuple(0.0 for _ in idx)),
        KeyHistory("tenant:initech", start_s * 1000,
                   tuple(2.0 if b else 10.0 for b in biting), tuple(430.0 for _ in idx),
                   tuple(1200.0 if b else 90.0 for b in biting), hits),
    )
    if key:
        keys = tuple(k for k in keys if k.key == key)
    return StatsHistory(
        "fair-demo", start_s * 1000, 1000, enq, dlv, tuple(488.0 for _ in idx),
        tuple(1.0 if b else 0.0 for b in biting), depth, p95, hits, keys,
        history_seconds=900, history_top_keys=5,
    )


def dead_letters(n: int = 3) -> list[ListedMessage]:
    out = []
    for i in range(n):
        payload = b'{"order": %d}' % i if i % 2 == 0 else bytes([0, 1, 2, 255, i])
        out.append(
            ListedMessage(
                ConsumeMessage(
                    id=f"01890000-0000-7000-8000-00000000000{i}",
                    headers={"tenant": "acme" if i < 2 else "globex"},
                    payload=payload,
                    fairness_key="tenant:acme" if i < 2 else "tenant:globex",
                    attempt_count=3 + i,
                    queue="fair-demo.dlq",
                    last_error=f"payment declined (#{i})",
                    enqueued_at_ms=T0 - 90_000 * (i + 1),
                ),
                state="ready",
            )
        )
    return out


def sample_cluster(applied_orders: int = 118) -> ClusterStatus:
    """Three nodes as n1 sees them: n2 owns the orders queues (n1 is 2 entries behind on
    orders with the default ``applied_orders``), n3 the fair-demo ones, and reports has no
    owner at the moment."""
    nodes = (ClusterNode("n1", "10.0.0.1:5555"), ClusterNode("n2", "10.0.0.2:5555"),
             ClusterNode("n3", "10.0.0.3:5555"))
    return ClusterStatus(
        enabled=True, node_id="n1", addr="10.0.0.1:5555", nodes=nodes, lease_ttl_ms=2000,
        queues=(
            ClusterQueue("fair-demo", "n3", "10.0.0.3:5555", 48_211, 48_211),
            ClusterQueue("fair-demo.dlq", "n3", "10.0.0.3:5555", 12, 12),
            ClusterQueue("orders", "n2", "10.0.0.2:5555", 120, applied_orders),
            ClusterQueue("orders.dlq", "n2", "10.0.0.2:5555", 4, 4),
            ClusterQueue("reports", "", "", 7, 0),
        ))


class FakeBackend(Backend):
    def __init__(self, snapshots: list[StatsSnapshot] | None = None) -> None:
        self._cond = threading.Condition()
        self._pending: deque[StatsSnapshot] = deque(
            [sample_snapshot()] if snapshots is None else snapshots
        )
        self._latest: StatsSnapshot | None = None
        self._streams: list[deque[StatsSnapshot]] = []  # per-queue streams' inboxes
        self.stream_requests: list[tuple[str, int]] = []  # (queue, top_keys) per stream opened
        self._up = True
        self._closed = False
        self._generation = 0
        self.stream_opens = 0
        self.info = ServerInfo(
            version="0.3.0",
            uptime_ms=8_040_000,
            data_dir_bytes=1_288_490_189,
            listen_addr="127.0.0.1:5555",
        )
        self.queues = {
            "fair-demo": QueueDetails("fair-demo", HOOK, "", 30_000, "fair-demo.dlq"),
            "orders": QueueDetails("orders", "", "", 30_000, "orders.dlq"),
        }
        self.config: dict[str, str] = {
            "throttle.provider:stripe": "10,150",
            "concurrency.umbrella": "5",
            "feature.beta": "on",
        }
        self.dlq: dict[str, list[ListedMessage]] = {"fair-demo.dlq": dead_letters()}
        self.writes: list[tuple[object, ...]] = []
        # False: an older server without GetStatsHistory (UNIMPLEMENTED).
        self.has_history = True
        self.history_calls: list[tuple[str, str, int]] = []
        # What GetClusterStatus answers: a single node until a test sets sample_cluster().
        self.cluster = ClusterStatus(enabled=False)
        self.cluster_calls = 0

    # ------------------------------------------------------------------ test controls

    def push(self, snap: StatsSnapshot) -> None:
        with self._cond:
            self._pending.append(snap)
            for stream in self._streams:
                stream.append(snap)
            self._cond.notify_all()

    def fail(self) -> None:
        """The server goes away: the open stream breaks, new calls are refused."""
        with self._cond:
            self._up = False
            self._generation += 1
            self._cond.notify_all()

    def recover(self) -> None:
        with self._cond:
            self._up = True
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _check_up(self) -> None:
        if not self._up:
            raise UnavailableError("failed to connect to all addresses; connection refused")

    # ------------------------------------------------------------------ Backend

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> Iterator[StatsSnapshot]:
        self._check_up()
        with self._cond:
            self.stream_opens += 1
            self.stream_requests.append((queue, top_keys))
            generation = self._generation
            if not self._pending and self._latest is not None:
                self._pending.append(self._latest)  # a fresh stream starts with a snapshot
            # The every-queue stream reads the shared inbox; a per-queue stream has its own,
            # starting from the newest snapshot, and sees every later push too.
            inbox = self._pending
            if queue:
                inbox = deque([self._latest] if self._latest is not None else [])
                self._streams.append(inbox)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(
                        lambda: bool(inbox) or self._closed or self._generation != generation
                    )
                    if self._closed:
                        return
                    if self._generation != generation:
                        raise UnavailableError("connection lost")
                    snap = inbox.popleft()
                    if not queue:
                        self._latest = snap
                yield _as_streamed(snap, queue, top_keys)
        finally:
            with self._cond:
                if inbox in self._streams:
                    self._streams.remove(inbox)

    def server_info(self) -> ServerInfo:
        self._check_up()
        return self.info

    def list_queues(self) -> list[QueueInfo]:
        return [QueueInfo(q, 0, 0, 0) for q in self.queues]

    def get_queue(self, name: str) -> QueueDetails:
        self._check_up()
        if name not in self.queues:
            raise QueueNotFoundError(f'queue "{name}" does not exist')
        return self.queues[name]

    def update_queue(
        self,
        name: str,
        *,
        on_enqueue: str | None = None,
        on_failure: str | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> QueueDetails:
        current = self.get_queue(name)
        for script in (on_enqueue, on_failure):
            if script is not None and "syntax error" in script:
                raise InvalidArgumentError(
                    "lua compile error: [string \"on_enqueue\"]:2: unexpected symbol near 'error'"
                )
        updated = replace(
            current,
            on_enqueue_script=current.on_enqueue_script if on_enqueue is None else on_enqueue,
            on_failure_script=current.on_failure_script if on_failure is None else on_failure,
        )
        self.queues[name] = updated
        self.writes.append(("update_queue", name, on_enqueue, on_failure))
        return updated

    def test_hook(
        self,
        hook: str,
        script: str,
        *,
        headers: dict[str, str] | None = None,
        payload_size: int = 0,
        queue: str = "",
        attempts: int = 1,
        error: str = "",
        message_id: str = "",
    ) -> HookResult:
        headers = headers or {}
        if "error(" in script:
            line = next(i for i, ln in enumerate(script.splitlines(), 1) if "error(" in ln)
            return HookResult(error=f'[string "{hook}"]:{line}: boom')
        if hook == "on_failure":
            return HookResult(action="dlq" if attempts >= 3 else "retry", delay_ms=1000)
        tenant = headers.get("tenant", "default")
        throttle = ("provider:stripe",) if tenant == "initech" else ()
        return HookResult(fairness_key=f"tenant:{tenant}", weight=1, throttle_keys=throttle)

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        self._check_up()
        return sorted((k, v) for k, v in self.config.items() if k.startswith(prefix))

    def set_config(self, key: str, value: str) -> None:
        self._check_up()
        self._allowed("admin", None)
        if key.startswith("throttle.") and value:
            parts = [p.strip() for p in value.split(",")]
            try:
                ok = len(parts) == 2 and all(float(p) >= 0 for p in parts)
            except ValueError:
                ok = False
            if not ok:
                raise InvalidArgumentError(
                    f'invalid value for "{key}": expected "<rate_per_second>,<burst>"'
                )
        if key.startswith("concurrency.") and value and not value.strip().isdigit():
            raise InvalidArgumentError(f'invalid value for "{key}": expected an integer >= 0')
        self.writes.append(("set_config", key, value))
        if value:
            self.config[key] = value
        else:
            self.config.pop(key, None)

    def get_config(self, key: str) -> str | None:
        return self.config.get(key)

    def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]:
        self._check_up()
        items = [
            m
            for m in self.dlq.get(queue, [])
            if not fairness_key or m.message.fairness_key == fairness_key
        ]
        start = int(page_token or 0)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return page, str(start + limit) if more else ""

    def redrive(
        self,
        dlq: str,
        count: int = 0,
        *,
        fairness_key: str = "",
        dry_run: bool = False,
        message_id: str = "",
    ) -> int:
        self._check_up()
        if not dlq.endswith(".dlq"):
            raise InvalidArgumentError(f'"{dlq}" is not a dead-letter queue')
        items = self.dlq.get(dlq, [])
        chosen = [m for m in items if not fairness_key or m.message.fairness_key == fairness_key]
        if message_id:
            if not any(m.message.id == message_id for m in items):
                raise MessageNotFoundError(f'message "{message_id}" is not in queue "{dlq}"')
            chosen = [m for m in chosen if m.message.id == message_id]
        if count:
            chosen = chosen[:count]
        write: tuple[object, ...] = ("redrive", dlq, count, fairness_key, dry_run)
        self.writes.append((*write, message_id) if message_id else write)
        if not dry_run:
            ids = {m.message.id for m in chosen}
            self.dlq[dlq] = [m for m in items if m.message.id not in ids]
        return len(chosen)

    def delete_message(self, queue: str, message_id: str) -> str:
        self._check_up()
        items = self.dlq.get(queue)
        if items is None:
            raise QueueNotFoundError(f'queue "{queue}" does not exist')
        found = next((m for m in items if m.message.id == message_id), None)
        if found is None:
            raise MessageNotFoundError(f'message "{message_id}" is not in queue "{queue}"')
        if found.state == "leased":
            raise FailedPreconditionError(
                f'message "{message_id}" is leased by a consumer; it can be deleted once it is '
                "nacked or its lease expires"
            )
        self.writes.append(("delete_message", queue, message_id))
        self.dlq[queue] = [m for m in items if m is not found]
        return found.state
    def stats_history(
        self, queue: str, *, fairness_key: str = "", seconds: int = 0
    ) -> StatsHistory:
        self._check_up()
        self.history_calls.append((queue, fairness_key, seconds))
        if not self.has_history:
            raise RPCError("Method not found!", "UNIMPLEMENTED")
        if queue not in self.queues:
            raise QueueNotFoundError(f'queue "{queue}" does not exist')
        if queue != "fair-demo":
            return StatsHistory(queue, history_seconds=900, history_top_keys=5)
        with self._cond:
            end = self._latest.taken_at_ms if self._latest is not None else T0
        return sample_history(end, seconds, fairness_key)

    def cluster_status(self) -> ClusterStatus:
        self._check_up()
        self.cluster_calls += 1
        return self.cluster

    def _allowed(self, kind: str, queue: str | None) -> None:
        """The server's auth check: the key in ``info`` must grant it."""
        if not self.info.may(kind, queue):
            where = queue if queue is not None else "*"
            raise PermissionDeniedError(f"this API key lacks {kind} on {where}")

    def create_queue(
        self,
        name: str,
        *,
        on_enqueue: str = "",
        on_failure: str = "",
        visibility_timeout_ms: int = 0,
    ) -> str:
        self._check_up()
        self._allowed("admin", name)
        if name.endswith(".dlq"):
            raise InvalidArgumentError(
                'queue names ending in ".dlq" are reserved for dead-letter queues'
            )
        if not name or len(name) > 256:
            raise InvalidArgumentError("queue name must be 1..256 bytes")
        if name in self.queues:
            raise AlreadyExistsError(f'queue "{name}" already exists')
        self.queues[name] = QueueDetails(
            name, on_enqueue, on_failure, visibility_timeout_ms or 30_000, f"{name}.dlq"
        )
        self.writes.append(("create_queue", name, visibility_timeout_ms))
        return name

    def purge_queue(self, name: str) -> int:
        """Ready and delayed messages go (the latest snapshot's depth minus in flight)."""
        self._check_up()
        self._allowed("admin", name)
        snap = self._latest
        q = next((q for q in snap.queues if q.name == name), None) if snap else None
        if q is None:
            raise QueueNotFoundError(f'queue "{name}" does not exist')
        self.writes.append(("purge_queue", name))
        if name in self.dlq:
            self.dlq[name] = [m for m in self.dlq[name] if m.state == "leased"]
        return q.depth - q.in_flight

    def get_stats(self, queue: str) -> QueueStats:
        return QueueStats(0, 0, 0, 0, 1000, (), ())
