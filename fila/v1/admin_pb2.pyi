from fila.v1 import messages_pb2 as _messages_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateQueueRequest(_message.Message):
    __slots__ = ("name", "config")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    name: str
    config: QueueConfig
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[QueueConfig, _Mapping]] = ...) -> None: ...

class QueueConfig(_message.Message):
    __slots__ = ("on_enqueue_script", "on_failure_script", "visibility_timeout_ms")
    ON_ENQUEUE_SCRIPT_FIELD_NUMBER: _ClassVar[int]
    ON_FAILURE_SCRIPT_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    on_enqueue_script: str
    on_failure_script: str
    visibility_timeout_ms: int
    def __init__(self, on_enqueue_script: _Optional[str] = ..., on_failure_script: _Optional[str] = ..., visibility_timeout_ms: _Optional[int] = ...) -> None: ...

class CreateQueueResponse(_message.Message):
    __slots__ = ("queue_id",)
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    def __init__(self, queue_id: _Optional[str] = ...) -> None: ...

class DeleteQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class DeleteQueueResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetConfigRequest(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class SetConfigResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetConfigRequest(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class GetConfigResponse(_message.Message):
    __slots__ = ("value",)
    VALUE_FIELD_NUMBER: _ClassVar[int]
    value: str
    def __init__(self, value: _Optional[str] = ...) -> None: ...

class ConfigEntry(_message.Message):
    __slots__ = ("key", "value")
    KEY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    key: str
    value: str
    def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class ListConfigRequest(_message.Message):
    __slots__ = ("prefix",)
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    prefix: str
    def __init__(self, prefix: _Optional[str] = ...) -> None: ...

class ListConfigResponse(_message.Message):
    __slots__ = ("entries", "total_count")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ConfigEntry]
    total_count: int
    def __init__(self, entries: _Optional[_Iterable[_Union[ConfigEntry, _Mapping]]] = ..., total_count: _Optional[int] = ...) -> None: ...

class GetStatsRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class PerFairnessKeyStats(_message.Message):
    __slots__ = ("key", "pending_count", "current_deficit", "weight")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PENDING_COUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_DEFICIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    key: str
    pending_count: int
    current_deficit: int
    weight: int
    def __init__(self, key: _Optional[str] = ..., pending_count: _Optional[int] = ..., current_deficit: _Optional[int] = ..., weight: _Optional[int] = ...) -> None: ...

class PerThrottleKeyStats(_message.Message):
    __slots__ = ("key", "tokens", "rate_per_second", "burst")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    key: str
    tokens: float
    rate_per_second: float
    burst: float
    def __init__(self, key: _Optional[str] = ..., tokens: _Optional[float] = ..., rate_per_second: _Optional[float] = ..., burst: _Optional[float] = ...) -> None: ...

class GetStatsResponse(_message.Message):
    __slots__ = ("depth", "in_flight", "active_fairness_keys", "active_consumers", "quantum", "per_key_stats", "per_throttle_stats", "leader_node_id", "replication_count", "snapshot")
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FAIRNESS_KEYS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_FIELD_NUMBER: _ClassVar[int]
    PER_KEY_STATS_FIELD_NUMBER: _ClassVar[int]
    PER_THROTTLE_STATS_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLICATION_COUNT_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    depth: int
    in_flight: int
    active_fairness_keys: int
    active_consumers: int
    quantum: int
    per_key_stats: _containers.RepeatedCompositeFieldContainer[PerFairnessKeyStats]
    per_throttle_stats: _containers.RepeatedCompositeFieldContainer[PerThrottleKeyStats]
    leader_node_id: int
    replication_count: int
    snapshot: QueueSnapshot
    def __init__(self, depth: _Optional[int] = ..., in_flight: _Optional[int] = ..., active_fairness_keys: _Optional[int] = ..., active_consumers: _Optional[int] = ..., quantum: _Optional[int] = ..., per_key_stats: _Optional[_Iterable[_Union[PerFairnessKeyStats, _Mapping]]] = ..., per_throttle_stats: _Optional[_Iterable[_Union[PerThrottleKeyStats, _Mapping]]] = ..., leader_node_id: _Optional[int] = ..., replication_count: _Optional[int] = ..., snapshot: _Optional[_Union[QueueSnapshot, _Mapping]] = ...) -> None: ...

class RedriveRequest(_message.Message):
    __slots__ = ("dlq_queue", "count", "fairness_key", "dry_run", "message_id")
    DLQ_QUEUE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    dlq_queue: str
    count: int
    fairness_key: str
    dry_run: bool
    message_id: str
    def __init__(self, dlq_queue: _Optional[str] = ..., count: _Optional[int] = ..., fairness_key: _Optional[str] = ..., dry_run: _Optional[bool] = ..., message_id: _Optional[str] = ...) -> None: ...

class RedriveResponse(_message.Message):
    __slots__ = ("redriven",)
    REDRIVEN_FIELD_NUMBER: _ClassVar[int]
    redriven: int
    def __init__(self, redriven: _Optional[int] = ...) -> None: ...

class ListQueuesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueueInfo(_message.Message):
    __slots__ = ("name", "depth", "in_flight", "active_consumers", "leader_node_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    LEADER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    depth: int
    in_flight: int
    active_consumers: int
    leader_node_id: int
    def __init__(self, name: _Optional[str] = ..., depth: _Optional[int] = ..., in_flight: _Optional[int] = ..., active_consumers: _Optional[int] = ..., leader_node_id: _Optional[int] = ...) -> None: ...

class ListQueuesResponse(_message.Message):
    __slots__ = ("queues", "cluster_node_count")
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_NODE_COUNT_FIELD_NUMBER: _ClassVar[int]
    queues: _containers.RepeatedCompositeFieldContainer[QueueInfo]
    cluster_node_count: int
    def __init__(self, queues: _Optional[_Iterable[_Union[QueueInfo, _Mapping]]] = ..., cluster_node_count: _Optional[int] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("name", "expires_at_ms", "is_superadmin")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    IS_SUPERADMIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    expires_at_ms: int
    is_superadmin: bool
    def __init__(self, name: _Optional[str] = ..., expires_at_ms: _Optional[int] = ..., is_superadmin: _Optional[bool] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key_id", "key", "is_superadmin")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    IS_SUPERADMIN_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    key: str
    is_superadmin: bool
    def __init__(self, key_id: _Optional[str] = ..., key: _Optional[str] = ..., is_superadmin: _Optional[bool] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ApiKeyInfo(_message.Message):
    __slots__ = ("key_id", "name", "created_at_ms", "expires_at_ms", "is_superadmin")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    IS_SUPERADMIN_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    name: str
    created_at_ms: int
    expires_at_ms: int
    is_superadmin: bool
    def __init__(self, key_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., is_superadmin: _Optional[bool] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKeyInfo]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKeyInfo, _Mapping]]] = ...) -> None: ...

class AclPermission(_message.Message):
    __slots__ = ("kind", "pattern")
    KIND_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    kind: str
    pattern: str
    def __init__(self, kind: _Optional[str] = ..., pattern: _Optional[str] = ...) -> None: ...

class SetAclRequest(_message.Message):
    __slots__ = ("key_id", "permissions")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    permissions: _containers.RepeatedCompositeFieldContainer[AclPermission]
    def __init__(self, key_id: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[AclPermission, _Mapping]]] = ...) -> None: ...

class SetAclResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetAclRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class GetAclResponse(_message.Message):
    __slots__ = ("key_id", "permissions", "is_superadmin")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    IS_SUPERADMIN_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    permissions: _containers.RepeatedCompositeFieldContainer[AclPermission]
    is_superadmin: bool
    def __init__(self, key_id: _Optional[str] = ..., permissions: _Optional[_Iterable[_Union[AclPermission, _Mapping]]] = ..., is_superadmin: _Optional[bool] = ...) -> None: ...

class GetQueueRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetQueueResponse(_message.Message):
    __slots__ = ("name", "config", "dead_letter_queue")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    config: QueueConfig
    dead_letter_queue: str
    def __init__(self, name: _Optional[str] = ..., config: _Optional[_Union[QueueConfig, _Mapping]] = ..., dead_letter_queue: _Optional[str] = ...) -> None: ...

class UpdateQueueRequest(_message.Message):
    __slots__ = ("name", "on_enqueue_script", "on_failure_script", "visibility_timeout_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ON_ENQUEUE_SCRIPT_FIELD_NUMBER: _ClassVar[int]
    ON_FAILURE_SCRIPT_FIELD_NUMBER: _ClassVar[int]
    VISIBILITY_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    on_enqueue_script: str
    on_failure_script: str
    visibility_timeout_ms: int
    def __init__(self, name: _Optional[str] = ..., on_enqueue_script: _Optional[str] = ..., on_failure_script: _Optional[str] = ..., visibility_timeout_ms: _Optional[int] = ...) -> None: ...

class UpdateQueueResponse(_message.Message):
    __slots__ = ("config",)
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    config: QueueConfig
    def __init__(self, config: _Optional[_Union[QueueConfig, _Mapping]] = ...) -> None: ...

class TestHookRequest(_message.Message):
    __slots__ = ("hook", "script", "headers", "payload_size", "queue", "attempts", "error", "message_id")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    HOOK_FIELD_NUMBER: _ClassVar[int]
    SCRIPT_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_SIZE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    hook: str
    script: str
    headers: _containers.ScalarMap[str, str]
    payload_size: int
    queue: str
    attempts: int
    error: str
    message_id: str
    def __init__(self, hook: _Optional[str] = ..., script: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., payload_size: _Optional[int] = ..., queue: _Optional[str] = ..., attempts: _Optional[int] = ..., error: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class TestHookResponse(_message.Message):
    __slots__ = ("error", "fairness_key", "weight", "throttle_keys", "delay_ms", "action", "raw")
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_KEYS_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    error: str
    fairness_key: str
    weight: int
    throttle_keys: _containers.RepeatedScalarFieldContainer[str]
    delay_ms: int
    action: str
    raw: str
    def __init__(self, error: _Optional[str] = ..., fairness_key: _Optional[str] = ..., weight: _Optional[int] = ..., throttle_keys: _Optional[_Iterable[str]] = ..., delay_ms: _Optional[int] = ..., action: _Optional[str] = ..., raw: _Optional[str] = ...) -> None: ...

class ListMessagesRequest(_message.Message):
    __slots__ = ("queue", "fairness_key", "limit", "page_token")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    queue: str
    fairness_key: str
    limit: int
    page_token: str
    def __init__(self, queue: _Optional[str] = ..., fairness_key: _Optional[str] = ..., limit: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListedMessage(_message.Message):
    __slots__ = ("message", "state")
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    message: _messages_pb2.Message
    state: str
    def __init__(self, message: _Optional[_Union[_messages_pb2.Message, _Mapping]] = ..., state: _Optional[str] = ...) -> None: ...

class ListMessagesResponse(_message.Message):
    __slots__ = ("messages", "next_page_token")
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    messages: _containers.RepeatedCompositeFieldContainer[ListedMessage]
    next_page_token: str
    def __init__(self, messages: _Optional[_Iterable[_Union[ListedMessage, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchStatsRequest(_message.Message):
    __slots__ = ("queue", "interval_ms", "top_keys")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    TOP_KEYS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    interval_ms: int
    top_keys: int
    def __init__(self, queue: _Optional[str] = ..., interval_ms: _Optional[int] = ..., top_keys: _Optional[int] = ...) -> None: ...

class StatsSnapshot(_message.Message):
    __slots__ = ("taken_at_ms", "queues", "limits")
    TAKEN_AT_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    taken_at_ms: int
    queues: _containers.RepeatedCompositeFieldContainer[QueueSnapshot]
    limits: _containers.RepeatedCompositeFieldContainer[LimitSnapshot]
    def __init__(self, taken_at_ms: _Optional[int] = ..., queues: _Optional[_Iterable[_Union[QueueSnapshot, _Mapping]]] = ..., limits: _Optional[_Iterable[_Union[LimitSnapshot, _Mapping]]] = ...) -> None: ...

class QueueSnapshot(_message.Message):
    __slots__ = ("name", "depth", "pending", "in_flight", "delayed", "consumers", "enqueue_rate", "deliver_rate", "ack_rate", "nack_rate", "dead_letter_rate", "enqueued_total", "delivered_total", "acked_total", "nacked_total", "dead_lettered_total", "active_keys", "keys", "quantum", "wait_p95_ms", "hook_failures", "hook_breaker_open", "dead_letter_queue", "hook_error", "oldest_pending_age_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DELAYED_FIELD_NUMBER: _ClassVar[int]
    CONSUMERS_FIELD_NUMBER: _ClassVar[int]
    ENQUEUE_RATE_FIELD_NUMBER: _ClassVar[int]
    DELIVER_RATE_FIELD_NUMBER: _ClassVar[int]
    ACK_RATE_FIELD_NUMBER: _ClassVar[int]
    NACK_RATE_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_RATE_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACKED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NACKED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTERED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_KEYS_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    QUANTUM_FIELD_NUMBER: _ClassVar[int]
    WAIT_P95_MS_FIELD_NUMBER: _ClassVar[int]
    HOOK_FAILURES_FIELD_NUMBER: _ClassVar[int]
    HOOK_BREAKER_OPEN_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_QUEUE_FIELD_NUMBER: _ClassVar[int]
    HOOK_ERROR_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_AGE_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    depth: int
    pending: int
    in_flight: int
    delayed: int
    consumers: int
    enqueue_rate: float
    deliver_rate: float
    ack_rate: float
    nack_rate: float
    dead_letter_rate: float
    enqueued_total: int
    delivered_total: int
    acked_total: int
    nacked_total: int
    dead_lettered_total: int
    active_keys: int
    keys: _containers.RepeatedCompositeFieldContainer[KeySnapshot]
    quantum: int
    wait_p95_ms: float
    hook_failures: int
    hook_breaker_open: bool
    dead_letter_queue: str
    hook_error: str
    oldest_pending_age_ms: int
    def __init__(self, name: _Optional[str] = ..., depth: _Optional[int] = ..., pending: _Optional[int] = ..., in_flight: _Optional[int] = ..., delayed: _Optional[int] = ..., consumers: _Optional[int] = ..., enqueue_rate: _Optional[float] = ..., deliver_rate: _Optional[float] = ..., ack_rate: _Optional[float] = ..., nack_rate: _Optional[float] = ..., dead_letter_rate: _Optional[float] = ..., enqueued_total: _Optional[int] = ..., delivered_total: _Optional[int] = ..., acked_total: _Optional[int] = ..., nacked_total: _Optional[int] = ..., dead_lettered_total: _Optional[int] = ..., active_keys: _Optional[int] = ..., keys: _Optional[_Iterable[_Union[KeySnapshot, _Mapping]]] = ..., quantum: _Optional[int] = ..., wait_p95_ms: _Optional[float] = ..., hook_failures: _Optional[int] = ..., hook_breaker_open: _Optional[bool] = ..., dead_letter_queue: _Optional[str] = ..., hook_error: _Optional[str] = ..., oldest_pending_age_ms: _Optional[int] = ...) -> None: ...

class KeySnapshot(_message.Message):
    __slots__ = ("key", "pending", "in_flight", "deficit", "weight", "delivered_total", "deliver_rate", "delivered_share", "weight_share", "waiting", "waiting_on", "waiting_until_ms", "wait_p95_ms")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DEFICIT_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    DELIVER_RATE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_SHARE_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_SHARE_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    WAITING_ON_FIELD_NUMBER: _ClassVar[int]
    WAITING_UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_P95_MS_FIELD_NUMBER: _ClassVar[int]
    key: str
    pending: int
    in_flight: int
    deficit: int
    weight: int
    delivered_total: int
    deliver_rate: float
    delivered_share: float
    weight_share: float
    waiting: str
    waiting_on: str
    waiting_until_ms: int
    wait_p95_ms: float
    def __init__(self, key: _Optional[str] = ..., pending: _Optional[int] = ..., in_flight: _Optional[int] = ..., deficit: _Optional[int] = ..., weight: _Optional[int] = ..., delivered_total: _Optional[int] = ..., deliver_rate: _Optional[float] = ..., delivered_share: _Optional[float] = ..., weight_share: _Optional[float] = ..., waiting: _Optional[str] = ..., waiting_on: _Optional[str] = ..., waiting_until_ms: _Optional[int] = ..., wait_p95_ms: _Optional[float] = ...) -> None: ...

class LimitSnapshot(_message.Message):
    __slots__ = ("key", "has_throttle", "tokens", "rate_per_second", "burst", "has_cap", "in_flight", "cap", "hits", "passes")
    KEY_FIELD_NUMBER: _ClassVar[int]
    HAS_THROTTLE_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    RATE_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    BURST_FIELD_NUMBER: _ClassVar[int]
    HAS_CAP_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    CAP_FIELD_NUMBER: _ClassVar[int]
    HITS_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    key: str
    has_throttle: bool
    tokens: float
    rate_per_second: float
    burst: float
    has_cap: bool
    in_flight: int
    cap: int
    hits: int
    passes: int
    def __init__(self, key: _Optional[str] = ..., has_throttle: _Optional[bool] = ..., tokens: _Optional[float] = ..., rate_per_second: _Optional[float] = ..., burst: _Optional[float] = ..., has_cap: _Optional[bool] = ..., in_flight: _Optional[int] = ..., cap: _Optional[int] = ..., hits: _Optional[int] = ..., passes: _Optional[int] = ...) -> None: ...

class GetServerInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetServerInfoResponse(_message.Message):
    __slots__ = ("version", "features", "uptime_ms", "data_dir_bytes", "data_dir", "listen_addr", "wal_syncs", "commit_groups", "commit_batches", "fsync", "storage_error", "auth_enabled", "caller_key_id", "caller_name", "caller_superadmin", "caller_permissions")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FEATURES_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_BYTES_FIELD_NUMBER: _ClassVar[int]
    DATA_DIR_FIELD_NUMBER: _ClassVar[int]
    LISTEN_ADDR_FIELD_NUMBER: _ClassVar[int]
    WAL_SYNCS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_GROUPS_FIELD_NUMBER: _ClassVar[int]
    COMMIT_BATCHES_FIELD_NUMBER: _ClassVar[int]
    FSYNC_FIELD_NUMBER: _ClassVar[int]
    STORAGE_ERROR_FIELD_NUMBER: _ClassVar[int]
    AUTH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    CALLER_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CALLER_NAME_FIELD_NUMBER: _ClassVar[int]
    CALLER_SUPERADMIN_FIELD_NUMBER: _ClassVar[int]
    CALLER_PERMISSIONS_FIELD_NUMBER: _ClassVar[int]
    version: str
    features: _containers.RepeatedScalarFieldContainer[str]
    uptime_ms: int
    data_dir_bytes: int
    data_dir: str
    listen_addr: str
    wal_syncs: int
    commit_groups: int
    commit_batches: int
    fsync: bool
    storage_error: str
    auth_enabled: bool
    caller_key_id: str
    caller_name: str
    caller_superadmin: bool
    caller_permissions: _containers.RepeatedCompositeFieldContainer[AclPermission]
    def __init__(self, version: _Optional[str] = ..., features: _Optional[_Iterable[str]] = ..., uptime_ms: _Optional[int] = ..., data_dir_bytes: _Optional[int] = ..., data_dir: _Optional[str] = ..., listen_addr: _Optional[str] = ..., wal_syncs: _Optional[int] = ..., commit_groups: _Optional[int] = ..., commit_batches: _Optional[int] = ..., fsync: _Optional[bool] = ..., storage_error: _Optional[str] = ..., auth_enabled: _Optional[bool] = ..., caller_key_id: _Optional[str] = ..., caller_name: _Optional[str] = ..., caller_superadmin: _Optional[bool] = ..., caller_permissions: _Optional[_Iterable[_Union[AclPermission, _Mapping]]] = ...) -> None: ...

class BackupRequest(_message.Message):
    __slots__ = ("dest",)
    DEST_FIELD_NUMBER: _ClassVar[int]
    dest: str
    def __init__(self, dest: _Optional[str] = ...) -> None: ...

class BackupResponse(_message.Message):
    __slots__ = ("path", "bytes", "elapsed_ms")
    PATH_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    ELAPSED_MS_FIELD_NUMBER: _ClassVar[int]
    path: str
    bytes: int
    elapsed_ms: int
    def __init__(self, path: _Optional[str] = ..., bytes: _Optional[int] = ..., elapsed_ms: _Optional[int] = ...) -> None: ...

class DeleteMessageRequest(_message.Message):
    __slots__ = ("queue", "message_id")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    queue: str
    message_id: str
    def __init__(self, queue: _Optional[str] = ..., message_id: _Optional[str] = ...) -> None: ...

class DeleteMessageResponse(_message.Message):
    __slots__ = ("state",)
    STATE_FIELD_NUMBER: _ClassVar[int]
    state: str
    def __init__(self, state: _Optional[str] = ...) -> None: ...

class GetStatsHistoryRequest(_message.Message):
    __slots__ = ("queue", "fairness_key", "seconds")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    FAIRNESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    queue: str
    fairness_key: str
    seconds: int
    def __init__(self, queue: _Optional[str] = ..., fairness_key: _Optional[str] = ..., seconds: _Optional[int] = ...) -> None: ...

class QueueHistory(_message.Message):
    __slots__ = ("enqueue_rate", "deliver_rate", "ack_rate", "nack_rate", "depth", "wait_p95_ms", "throttle_hit_rate")
    ENQUEUE_RATE_FIELD_NUMBER: _ClassVar[int]
    DELIVER_RATE_FIELD_NUMBER: _ClassVar[int]
    ACK_RATE_FIELD_NUMBER: _ClassVar[int]
    NACK_RATE_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    WAIT_P95_MS_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    enqueue_rate: _containers.RepeatedScalarFieldContainer[float]
    deliver_rate: _containers.RepeatedScalarFieldContainer[float]
    ack_rate: _containers.RepeatedScalarFieldContainer[float]
    nack_rate: _containers.RepeatedScalarFieldContainer[float]
    depth: _containers.RepeatedScalarFieldContainer[float]
    wait_p95_ms: _containers.RepeatedScalarFieldContainer[float]
    throttle_hit_rate: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, enqueue_rate: _Optional[_Iterable[float]] = ..., deliver_rate: _Optional[_Iterable[float]] = ..., ack_rate: _Optional[_Iterable[float]] = ..., nack_rate: _Optional[_Iterable[float]] = ..., depth: _Optional[_Iterable[float]] = ..., wait_p95_ms: _Optional[_Iterable[float]] = ..., throttle_hit_rate: _Optional[_Iterable[float]] = ...) -> None: ...

class KeyHistory(_message.Message):
    __slots__ = ("key", "start_ms", "deliver_rate", "pending", "wait_p95_ms", "throttle_hit_rate")
    KEY_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    DELIVER_RATE_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    WAIT_P95_MS_FIELD_NUMBER: _ClassVar[int]
    THROTTLE_HIT_RATE_FIELD_NUMBER: _ClassVar[int]
    key: str
    start_ms: int
    deliver_rate: _containers.RepeatedScalarFieldContainer[float]
    pending: _containers.RepeatedScalarFieldContainer[float]
    wait_p95_ms: _containers.RepeatedScalarFieldContainer[float]
    throttle_hit_rate: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, key: _Optional[str] = ..., start_ms: _Optional[int] = ..., deliver_rate: _Optional[_Iterable[float]] = ..., pending: _Optional[_Iterable[float]] = ..., wait_p95_ms: _Optional[_Iterable[float]] = ..., throttle_hit_rate: _Optional[_Iterable[float]] = ...) -> None: ...

class GetStatsHistoryResponse(_message.Message):
    __slots__ = ("start_ms", "step_ms", "queue", "keys", "history_seconds", "history_top_keys")
    START_MS_FIELD_NUMBER: _ClassVar[int]
    STEP_MS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    KEYS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_TOP_KEYS_FIELD_NUMBER: _ClassVar[int]
    start_ms: int
    step_ms: int
    queue: QueueHistory
    keys: _containers.RepeatedCompositeFieldContainer[KeyHistory]
    history_seconds: int
    history_top_keys: int
    def __init__(self, start_ms: _Optional[int] = ..., step_ms: _Optional[int] = ..., queue: _Optional[_Union[QueueHistory, _Mapping]] = ..., keys: _Optional[_Iterable[_Union[KeyHistory, _Mapping]]] = ..., history_seconds: _Optional[int] = ..., history_top_keys: _Optional[int] = ...) -> None: ...

class PurgeQueueRequest(_message.Message):
    __slots__ = ("queue",)
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    queue: str
    def __init__(self, queue: _Optional[str] = ...) -> None: ...

class PurgeQueueResponse(_message.Message):
    __slots__ = ("purged",)
    PURGED_FIELD_NUMBER: _ClassVar[int]
    purged: int
    def __init__(self, purged: _Optional[int] = ...) -> None: ...

class GetClusterStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ClusterNode(_message.Message):
    __slots__ = ("node_id", "addr")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addr: str
    def __init__(self, node_id: _Optional[str] = ..., addr: _Optional[str] = ...) -> None: ...

class ClusterQueue(_message.Message):
    __slots__ = ("queue", "owner_node_id", "owner_addr", "log_last_seq", "applied_seq")
    QUEUE_FIELD_NUMBER: _ClassVar[int]
    OWNER_NODE_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_ADDR_FIELD_NUMBER: _ClassVar[int]
    LOG_LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    APPLIED_SEQ_FIELD_NUMBER: _ClassVar[int]
    queue: str
    owner_node_id: str
    owner_addr: str
    log_last_seq: int
    applied_seq: int
    def __init__(self, queue: _Optional[str] = ..., owner_node_id: _Optional[str] = ..., owner_addr: _Optional[str] = ..., log_last_seq: _Optional[int] = ..., applied_seq: _Optional[int] = ...) -> None: ...

class GetClusterStatusResponse(_message.Message):
    __slots__ = ("enabled", "node_id", "addr", "nodes", "queues", "lease_ttl_ms")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_MS_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    node_id: str
    addr: str
    nodes: _containers.RepeatedCompositeFieldContainer[ClusterNode]
    queues: _containers.RepeatedCompositeFieldContainer[ClusterQueue]
    lease_ttl_ms: int
    def __init__(self, enabled: _Optional[bool] = ..., node_id: _Optional[str] = ..., addr: _Optional[str] = ..., nodes: _Optional[_Iterable[_Union[ClusterNode, _Mapping]]] = ..., queues: _Optional[_Iterable[_Union[ClusterQueue, _Mapping]]] = ..., lease_ttl_ms: _Optional[int] = ...) -> None: ...
