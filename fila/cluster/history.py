"""The bookkeeping of a Jepsen-style run (benchmarks/cluster_checker.py), kept pure so the
verdict can be tested on its own: what was sent, what the cluster acknowledged, what came
out, which faults were injected when, and the verdict over all of it.

Each message carries a unique id (its payload). An enqueue the server acknowledged
(returned a message id) must be delivered: acknowledged but never delivered is **lost**.
An enqueue that failed has an unknown outcome (it may have been written before the
failure): delivering it is allowed, missing it is not a loss. Delivering an id that was
never sent is **unexpected**. An id delivered more than once is a **duplicate**
(at-least-once delivery allows them: a lease whose ack did not reach the old owner comes
back from the new one).

A fault's **failover time** runs from its injection to the first delivery that shows the
cluster serving again without the victim: for a fault on a fila-server node, a delivery by
another node; for a fault with no victim node (a NATS node), the first delivery of a
message sent after the fault (so the write path is known to work again, not only messages
already leased). Times are seconds on a clock the caller supplies (monotonic).

Standard library only: no asyncio, no NATS, no gRPC.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Delivery", "Fault", "History", "Verdict", "percentile", "render_markdown"]


@dataclass(frozen=True)
class Delivery:
    uid: str
    message_id: str
    node: str  # the address of the node whose stream delivered it
    at: float


@dataclass
class Fault:
    kind: str  # "kill", "pause", "nats"
    target: str  # what was hit: a fila node's or a NATS node's name
    victim: str | None  # the fila node address that must not count as recovery, or None
    at: float
    healed_at: float | None = None
    recovered_at: float | None = None
    recovered_by: str | None = None

    @property
    def failover_s(self) -> float | None:
        return None if self.recovered_at is None else self.recovered_at - self.at


@dataclass
class Verdict:
    sent: int
    acknowledged: int
    failed: int  # unknown outcome
    failed_but_delivered: int
    delivered_unique: int
    deliveries: int
    lost: list[str]
    unexpected: list[str]
    duplicates: int  # ids delivered more than once
    extra_deliveries: int  # deliveries beyond the first of each id
    acks_lost: list[str]  # delivered again after the broker confirmed their ack
    faults: list[dict[str, Any]]
    failover_p50_s: float | None
    failover_max_s: float | None
    not_recovered: int
    ok: bool = field(default=False)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def percentile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


class History:
    """Everything one run observed, in the order it was observed."""

    def __init__(self) -> None:
        self._sent_at: dict[str, float] = {}
        self._acked: dict[str, str] = {}  # uid -> message id the server returned
        self._failed: dict[str, str] = {}  # uid -> error
        self._delivered: Counter[str] = Counter()
        # message id -> when its ack was confirmed. By message id, not uid: a forwarded
        # enqueue retried after a lost answer can store one uid twice, and acking one copy
        # says nothing about the other.
        self._settled_at: dict[str, float] = {}
        self._acks_lost: set[str] = set()
        self.deliveries: list[Delivery] = []
        self.faults: list[Fault] = []

    # -- recording --

    def sent(self, uid: str, at: float) -> None:
        if uid in self._sent_at:
            raise ValueError(f"id {uid!r} sent twice: ids must be unique")
        self._sent_at[uid] = at

    def acked(self, uid: str, message_id: str) -> None:
        self._acked[uid] = message_id

    def failed(self, uid: str, error: str) -> None:
        self._failed[uid] = error

    def settled(self, message_id: str, at: float) -> None:
        """The consumer's Ack of ``message_id`` was confirmed by the broker at ``at``."""
        self._settled_at.setdefault(message_id, at)

    def delivered(self, uid: str, message_id: str, node: str, at: float) -> None:
        settled = self._settled_at.get(message_id)
        if settled is not None and at > settled:
            self._acks_lost.add(uid)  # acked, confirmed, and yet here again
        delivery = Delivery(uid, message_id, node, at)
        self.deliveries.append(delivery)
        self._delivered[uid] += 1
        for fault in self.faults:
            if fault.recovered_at is None and self._recovers(fault, delivery):
                fault.recovered_at = at
                fault.recovered_by = node

    def fault(self, kind: str, target: str, victim: str | None, at: float) -> Fault:
        fault = Fault(kind, target, victim, at)
        self.faults.append(fault)
        return fault

    def _recovers(self, fault: Fault, delivery: Delivery) -> bool:
        if delivery.at < fault.at:
            return False
        if fault.victim is not None:
            return delivery.node != fault.victim
        sent_at = self._sent_at.get(delivery.uid)
        return sent_at is not None and sent_at >= fault.at

    # -- questions during the run --

    @property
    def delivery_count(self) -> int:
        return len(self.deliveries)

    def outstanding(self) -> set[str]:
        """Acknowledged ids not delivered yet (what the drain waits for)."""
        return {uid for uid in self._acked if uid not in self._delivered}

    # -- the verdict --

    def verdict(self) -> Verdict:
        lost = sorted(self.outstanding())
        unexpected = sorted(uid for uid in self._delivered if uid not in self._sent_at)
        dup_counts = [n for n in self._delivered.values() if n > 1]
        times = [f.failover_s for f in self.faults if f.failover_s is not None]
        return Verdict(
            sent=len(self._sent_at),
            acknowledged=len(self._acked),
            failed=len(self._failed),
            failed_but_delivered=sum(1 for uid in self._failed if uid in self._delivered),
            delivered_unique=len(self._delivered),
            deliveries=len(self.deliveries),
            lost=lost,
            unexpected=unexpected,
            duplicates=len(dup_counts),
            extra_deliveries=sum(n - 1 for n in dup_counts),
            acks_lost=sorted(self._acks_lost),
            faults=[
                {"kind": f.kind, "target": f.target, "victim": f.victim,
                 "failover_s": f.failover_s, "recovered_by": f.recovered_by}
                for f in self.faults
            ],
            failover_p50_s=percentile(times, 0.5),
            failover_max_s=max(times) if times else None,
            not_recovered=sum(1 for f in self.faults if f.recovered_at is None),
            ok=not lost and not unexpected and not self._acks_lost,
        )


def _secs(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def render_markdown(verdict: Verdict) -> str:
    """The verdict as markdown: the counts, then one row per fault."""
    rows = [
        ("sent", str(verdict.sent)),
        ("acknowledged enqueues", str(verdict.acknowledged)),
        ("failed enqueues (outcome unknown)", str(verdict.failed)),
        ("… of which delivered anyway", str(verdict.failed_but_delivered)),
        ("delivered unique", str(verdict.delivered_unique)),
        ("deliveries", str(verdict.deliveries)),
        ("**lost** (acknowledged, never delivered)", str(len(verdict.lost))),
        ("**unexpected** (delivered, never sent)", str(len(verdict.unexpected))),
        ("duplicates (ids delivered more than once)",
         f"{verdict.duplicates} ({verdict.extra_deliveries} extra deliveries)"),
        ("**acks lost** (delivered again after a confirmed ack)", str(len(verdict.acks_lost))),
        ("failover p50", _secs(verdict.failover_p50_s)),
        ("failover max", _secs(verdict.failover_max_s)),
        ("faults not recovered", str(verdict.not_recovered)),
        ("verdict", "OK" if verdict.ok else "FAIL"),
    ]
    lines = ["| | result |", "| --- | --- |"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    if verdict.faults:
        lines += ["", "| cycle | fault | target | failover | recovered by |",
                  "| --- | --- | --- | --- | --- |"]
        for i, f in enumerate(verdict.faults, 1):
            lines.append(f"| {i} | {f['kind']} | {f['target']} | {_secs(f['failover_s'])} "
                         f"| {f['recovered_by'] or '—'} |")
    if verdict.lost:
        lines += ["", "lost: " + ", ".join(verdict.lost[:20])
                  + (" …" if len(verdict.lost) > 20 else "")]
    if verdict.unexpected:
        lines += ["", "unexpected: " + ", ".join(verdict.unexpected[:20])
                  + (" …" if len(verdict.unexpected) > 20 else "")]
    return "\n".join(lines)
