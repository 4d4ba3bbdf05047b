"""Core records <-> protobuf. Nothing else lives here."""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf.timestamp_pb2 import Timestamp

from fila.server.broker import Delivered
from fila.server.history import Series
from fila.server.model import QueueConfig
from fila.types import KeySnapshot, LimitSnapshot, QueueSnapshot, StatsSnapshot
from fila.v1 import admin_pb2, messages_pb2

__all__ = ["fill_message", "message", "queue_config", "queue_snapshot", "stats_history",
           "stats_snapshot"]


def message(m: Delivered) -> messages_pb2.Message:
    out = messages_pb2.Message()
    fill_message(out, m)
    return out


def fill_message(out: messages_pb2.Message, m: Delivered) -> None:
    """Write ``m`` into ``out`` (a field of the response, e.g. ``frame.messages.add()``).

    Field by field into the response's own sub-message: building a Message with nested
    constructors and copying it into the response cost six times as much, once per
    delivered message.
    """
    out.id = m.id
    if m.headers:
        out.headers.update(m.headers)
    out.payload = m.payload
    md = out.metadata
    md.fairness_key = m.fairness_key
    md.weight = m.weight
    if m.throttle_keys:
        md.throttle_keys.extend(m.throttle_keys)
    md.attempt_count = m.attempts
    md.queue_id = m.queue
    if m.last_error:
        md.last_error = m.last_error
    ts = out.timestamps
    if m.enqueued_at_ms > 0:
        _set_ts(ts.enqueued_at, m.enqueued_at_ms)
    if m.leased_at_ms > 0:
        _set_ts(ts.leased_at, m.leased_at_ms)
    if m.deliver_after_ms > 0:
        _set_ts(ts.deliver_after, m.deliver_after_ms)


def _set_ts(ts: Timestamp, ms: int) -> None:
    ts.seconds = ms // 1000
    ts.nanos = ms % 1000 * 1_000_000


def queue_config(c: QueueConfig) -> admin_pb2.QueueConfig:
    return admin_pb2.QueueConfig(
        on_enqueue_script=c.on_enqueue_script,
        on_failure_script=c.on_failure_script,
        visibility_timeout_ms=c.visibility_timeout_ms,
    )


def _key(k: KeySnapshot) -> admin_pb2.KeySnapshot:
    return admin_pb2.KeySnapshot(
        key=k.key, pending=k.pending, in_flight=k.in_flight, deficit=k.deficit, weight=k.weight,
        delivered_total=k.delivered_total, deliver_rate=k.deliver_rate,
        delivered_share=k.delivered_share, weight_share=k.weight_share, waiting=k.waiting,
        waiting_on=k.waiting_on, waiting_until_ms=k.waiting_until_ms, wait_p95_ms=k.wait_p95_ms,
    )


def _limit(s: LimitSnapshot) -> admin_pb2.LimitSnapshot:
    return admin_pb2.LimitSnapshot(
        key=s.key, has_throttle=s.has_throttle, tokens=s.tokens,
        rate_per_second=s.rate_per_second, burst=s.burst, has_cap=s.has_cap,
        in_flight=s.in_flight, cap=s.cap, hits=s.hits, passes=s.passes,
    )


def queue_snapshot(q: QueueSnapshot) -> admin_pb2.QueueSnapshot:
    return admin_pb2.QueueSnapshot(
        name=q.name, depth=q.depth, pending=q.pending, in_flight=q.in_flight, delayed=q.delayed,
        consumers=q.consumers, enqueue_rate=q.enqueue_rate, deliver_rate=q.deliver_rate,
        ack_rate=q.ack_rate, nack_rate=q.nack_rate, dead_letter_rate=q.dead_letter_rate,
        enqueued_total=q.enqueued_total, delivered_total=q.delivered_total,
        acked_total=q.acked_total, nacked_total=q.nacked_total,
        dead_lettered_total=q.dead_lettered_total, active_keys=q.active_keys,
        keys=[_key(k) for k in q.keys], quantum=q.quantum, wait_p95_ms=q.wait_p95_ms,
        hook_failures=q.hook_failures, hook_breaker_open=q.hook_breaker_open,
        dead_letter_queue=q.dead_letter_queue, hook_error=q.hook_error,
        oldest_pending_age_ms=q.oldest_pending_age_ms,
    )


def stats_snapshot(s: StatsSnapshot) -> admin_pb2.StatsSnapshot:
    return admin_pb2.StatsSnapshot(
        taken_at_ms=s.taken_at_ms,
        queues=[queue_snapshot(q) for q in s.queues],
        limits=[_limit(x) for x in s.limits],
    )


def stats_history(queue: Series | None, keys: Mapping[str, Series], size: int,
                  top_keys: int) -> admin_pb2.GetStatsHistoryResponse:
    """History rings -> the wire (seconds -> milliseconds; columns by their own names)."""
    out = admin_pb2.GetStatsHistoryResponse(step_ms=1000, history_seconds=size,
                                            history_top_keys=top_keys)
    if queue is not None:
        out.start_ms = queue.start_s * 1000
        out.queue.CopyFrom(admin_pb2.QueueHistory(**queue.columns))
    for key, series in sorted(keys.items()):
        out.keys.append(admin_pb2.KeyHistory(key=key, start_ms=series.start_s * 1000,
                                             **series.columns))
    return out
