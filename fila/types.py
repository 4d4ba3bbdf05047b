"""Plain records the client returns, so the CLI and TUI never touch protobuf."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "STREAM_TOKEN_KEY",
    "Acl",
    "ApiKeyInfo",
    "BackupInfo",
    "ClusterNode",
    "ClusterQueue",
    "ClusterStatus",
    "ConsumeMessage",
    "CreatedApiKey",
    "EnqueueItem",
    "HookResult",
    "KeyHistory",
    "KeySnapshot",
    "LimitSnapshot",
    "ListedMessage",
    "QueueDetails",
    "QueueInfo",
    "QueueSnapshot",
    "QueueStats",
    "ServerInfo",
    "StatsHistory",
    "StatsSnapshot",
]

# gRPC metadata: the server names each Consume stream in its initial metadata; our client
# sends the name back with acks and nacks of what that stream delivered (stale-ack rule).
STREAM_TOKEN_KEY = "fila-stream"


@dataclass(frozen=True, slots=True)
class ConsumeMessage:
    """A delivered (leased) message, as the published SDK shapes it."""

    id: str
    headers: dict[str, str]
    payload: bytes
    fairness_key: str
    attempt_count: int
    queue: str
    weight: int = 1
    throttle_keys: tuple[str, ...] = ()
    last_error: str = ""
    enqueued_at_ms: int = 0
    leased_at_ms: int = 0


@dataclass(frozen=True, slots=True)
class EnqueueItem:
    """One message of :meth:`fila.client.Client.enqueue_many`."""

    queue: str
    payload: bytes
    headers: dict[str, str] | None = None
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class ListedMessage:
    """A message seen by ListMessages (not leased by looking)."""

    message: ConsumeMessage
    state: str  # "ready" | "leased" | "delayed"
    deliver_after_ms: int = 0


@dataclass(frozen=True, slots=True)
class QueueInfo:
    name: str
    depth: int
    in_flight: int
    active_consumers: int


@dataclass(frozen=True, slots=True)
class QueueDetails:
    name: str
    on_enqueue_script: str
    on_failure_script: str
    visibility_timeout_ms: int
    dead_letter_queue: str


@dataclass(frozen=True, slots=True)
class HookResult:
    """What a hook returned in TestHook, or the error (``error`` non-empty)."""

    error: str = ""
    fairness_key: str = ""
    weight: int = 0
    throttle_keys: tuple[str, ...] = ()
    delay_ms: int = 0
    action: str = ""
    raw: str = ""


@dataclass(frozen=True, slots=True)
class KeySnapshot:
    key: str
    pending: int = 0
    in_flight: int = 0
    deficit: int = 0
    weight: int = 1
    delivered_total: int = 0
    deliver_rate: float = 0.0
    delivered_share: float = 0.0
    weight_share: float = 0.0
    # "turn", "throttled", "concurrency", "busy", "no_consumer", "delayed", "idle"
    waiting: str = ""
    waiting_on: str = ""
    waiting_until_ms: int = 0
    wait_p95_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class LimitSnapshot:
    key: str
    has_throttle: bool = False
    tokens: float = 0.0
    rate_per_second: float = 0.0
    burst: float = 0.0
    has_cap: bool = False
    in_flight: int = 0
    cap: int = 0
    hits: int = 0
    passes: int = 0


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    name: str
    depth: int = 0
    pending: int = 0
    in_flight: int = 0
    delayed: int = 0
    consumers: int = 0
    enqueue_rate: float = 0.0
    deliver_rate: float = 0.0
    ack_rate: float = 0.0
    nack_rate: float = 0.0
    dead_letter_rate: float = 0.0
    enqueued_total: int = 0
    delivered_total: int = 0
    acked_total: int = 0
    nacked_total: int = 0
    dead_lettered_total: int = 0
    active_keys: int = 0
    keys: tuple[KeySnapshot, ...] = ()
    quantum: int = 0
    wait_p95_ms: float = 0.0
    hook_failures: int = 0
    hook_breaker_open: bool = False
    hook_error: str = ""
    dead_letter_queue: str = ""
    # How long the oldest ready message has been eligible (0 = none ready).
    oldest_pending_age_ms: int = 0


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    taken_at_ms: int
    queues: tuple[QueueSnapshot, ...] = ()
    limits: tuple[LimitSnapshot, ...] = ()


@dataclass(frozen=True, slots=True)
class QueueStats:
    """GetStats: the Part A numbers plus the live snapshot."""

    depth: int
    in_flight: int
    active_fairness_keys: int
    active_consumers: int
    quantum: int
    per_key: tuple[tuple[str, int, int, int], ...]  # (key, pending, deficit, weight)
    per_throttle: tuple[tuple[str, float, float, float], ...]  # (key, tokens, rate, burst)
    snapshot: QueueSnapshot | None = None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str
    features: tuple[str, ...] = ()
    uptime_ms: int = 0
    data_dir_bytes: int = 0
    data_dir: str = ""
    listen_addr: str = ""
    wal_syncs: int = 0
    commit_groups: int = 0
    commit_batches: int = 0
    fsync: bool = True
    storage_error: str = ""
    # Who the caller is when auth is on (GetServerInfo answers per key).
    auth_enabled: bool = False
    caller_key_id: str = ""
    caller_name: str = ""
    caller_superadmin: bool = False
    caller_permissions: tuple[tuple[str, str], ...] = ()  # (kind, pattern)

    def may(self, kind: str, queue: str | None = None) -> bool:
        """Whether the caller's key grants ``kind`` (produce, consume, admin) on ``queue``
        (None: on every queue, pattern ``*``). Always true with auth off."""
        if not self.auth_enabled or self.caller_superadmin:
            return True
        for k, pattern in self.caller_permissions:
            if k != kind:
                continue
            if pattern == "*" or (queue is not None and (
                    pattern == queue
                    or (pattern.endswith("*") and queue.startswith(pattern[:-1])))):
                return True
        return False


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    """A new API key; ``key`` is the plaintext, shown this once (the broker keeps a hash)."""

    key_id: str
    key: str
    is_superadmin: bool = False


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    name: str
    created_at_ms: int = 0
    expires_at_ms: int = 0  # 0 = never
    is_superadmin: bool = False


@dataclass(frozen=True, slots=True)
class Acl:
    key_id: str
    permissions: tuple[tuple[str, str], ...]  # (kind, pattern)
    is_superadmin: bool = False


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """A checkpoint the server wrote (``Backup``): where, how big, how long it took."""

    path: str
    bytes: int = 0
    elapsed_ms: int = 0


@dataclass(frozen=True, slots=True)
class KeyHistory:
    """Per-second samples of one busy fairness key; sample i is at ``start_ms + i * 1000``."""

    key: str
    start_ms: int = 0
    deliver_rate: tuple[float, ...] = ()
    pending: tuple[float, ...] = ()
    wait_p95_ms: tuple[float, ...] = ()
    throttle_hit_rate: tuple[float, ...] = ()  # deliveries refused by a limit, per second


@dataclass(frozen=True, slots=True)
class StatsHistory:
    """The server's per-second samples of one queue (``GetStatsHistory``).

    Sample i of each series is at ``start_ms + i * step_ms`` (wall clock); rates are per
    second. Empty series (``start_ms`` 0) when the queue has had no activity yet.
    ``keys`` are the queue's busiest keys the server tracks (each from its own start).
    """

    queue: str
    start_ms: int = 0
    step_ms: int = 1000
    enqueue_rate: tuple[float, ...] = ()
    deliver_rate: tuple[float, ...] = ()
    ack_rate: tuple[float, ...] = ()
    nack_rate: tuple[float, ...] = ()
    depth: tuple[float, ...] = ()
    wait_p95_ms: tuple[float, ...] = ()
    throttle_hit_rate: tuple[float, ...] = ()
    keys: tuple[KeyHistory, ...] = ()
    history_seconds: int = 0  # what the server keeps ([stats] history_seconds)
    history_top_keys: int = 0  # keys per queue it tracks ([stats] history_top_keys)


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """A live node of a cluster: its id and the address clients are sent to."""

    node_id: str
    addr: str


@dataclass(frozen=True, slots=True)
class ClusterQueue:
    """One queue as the answering node sees it: its owner and how far this node's copy
    of its log is applied."""

    queue: str
    owner_node_id: str = ""  # "" while no node holds the queue
    owner_addr: str = ""
    log_last_seq: int = 0
    applied_seq: int = 0

    @property
    def lag(self) -> int:
        """Log entries the answering node has not applied yet (0 when caught up)."""
        return max(0, self.log_last_seq - self.applied_seq)


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    """``GetClusterStatus``: ``enabled`` False on a single node (the rest is then empty)."""

    enabled: bool
    node_id: str = ""  # the node that answered
    addr: str = ""
    nodes: tuple[ClusterNode, ...] = ()  # live nodes
    queues: tuple[ClusterQueue, ...] = ()  # every queue of the cluster, by name
    lease_ttl_ms: int = 0
