"""Which queues need the operator's attention, and why. Pure: no Textual.

Three reasons, each from data the overview already has:

- the queue's dead-letter queue grew over the recent snapshots (``DlqDepths``, fed by the
  app with every snapshot; one stream, so "recent" is the last ``window`` samples);
- its oldest ready message has waited longer than a threshold (``oldest_pending_age_ms``
  in the snapshot; the threshold is ``fila tui --attention-wait``);
- its hook circuit breaker is open (hooks bypassed, the default policy applies).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from fila.tui.fmt import fmt_count, fmt_duration_ms
from fila.types import QueueSnapshot, StatsSnapshot

__all__ = [
    "ATTENTION_MARK",
    "DEFAULT_WAIT_MS",
    "Attention",
    "DlqDepths",
    "attention",
    "attention_lines",
    "attention_text",
]

DEFAULT_WAIT_MS = 60_000
# Prefixed to a marked row's name: readable without colour, in either theme.
ATTENTION_MARK = "▲ "
DLQ_SUFFIX = ".dlq"


@dataclass
class DlqDepths:
    """The depth of each queue over the last ``window`` snapshots (bounded in memory)."""

    window: int = 60
    depths: dict[str, deque[int]] = field(default_factory=dict)

    def add(self, snap: StatsSnapshot) -> None:
        seen = set()
        for q in snap.queues:
            seen.add(q.name)
            self.depths.setdefault(q.name, deque(maxlen=self.window)).append(q.depth)
        for name in set(self.depths) - seen:
            del self.depths[name]

    def growth(self, name: str) -> tuple[int, int]:
        """(how much the depth rose over the window, samples in it); (0, n) if it did not."""
        series = self.depths.get(name)
        if not series:
            return 0, 0
        return max(0, series[-1] - min(series)), len(series)


@dataclass(frozen=True, slots=True)
class Attention:
    queue: str
    reasons: tuple[str, ...]


def _dlq_of(q: QueueSnapshot) -> str:
    return q.dead_letter_queue or q.name + DLQ_SUFFIX


def _reasons(
    q: QueueSnapshot,
    by_name: dict[str, QueueSnapshot],
    depths: DlqDepths,
    wait_ms: int,
    interval_ms: int,
) -> list[str]:
    reasons = []
    is_dlq = q.name.endswith(DLQ_SUFFIX)
    # A DLQ is judged on its own depth only when it has no parent to carry the mark.
    dlq = q.name if is_dlq else _dlq_of(q)
    if not is_dlq or q.name[: -len(DLQ_SUFFIX)] not in by_name:
        grew, samples = depths.growth(dlq)
        if grew > 0 and dlq in by_name:
            span = fmt_duration_ms(max(1, samples - 1) * interval_ms)
            noun = "message" if grew == 1 else "messages"
            reasons.append(
                f"DLQ {dlq} grew by {fmt_count(grew)} {noun} in the last {span} "
                f"(now {fmt_count(by_name[dlq].depth)}): d opens it"
            )
    if wait_ms > 0 and q.oldest_pending_age_ms > wait_ms:
        reasons.append(
            f"oldest ready message has waited {fmt_duration_ms(q.oldest_pending_age_ms)} "
            f"(threshold {fmt_duration_ms(wait_ms)}): Enter shows which keys wait and why"
        )
    if q.hook_breaker_open:
        why = f": {q.hook_error}" if q.hook_error else ""
        reasons.append(f"hook breaker open, hooks bypassed{why}: h opens the hook editor")
    return reasons


def attention(
    snap: StatsSnapshot | None,
    depths: DlqDepths,
    *,
    wait_ms: int = DEFAULT_WAIT_MS,
    interval_ms: int = 1000,
) -> dict[str, Attention]:
    """Queue name -> why it needs attention, for every queue that does."""
    if snap is None:
        return {}
    by_name = {q.name: q for q in snap.queues}
    out = {}
    for q in snap.queues:
        reasons = _reasons(q, by_name, depths, wait_ms, interval_ms)
        if reasons:
            out[q.name] = Attention(q.name, tuple(reasons))
    return out


NOTHING = (
    "Nothing needs attention: no DLQ growing, no message waiting too long, no hook breaker open."
)


def attention_lines(items: dict[str, Attention], selected: str | None) -> list[tuple[str, str]]:
    """(queue, "") headings each followed by ("", reason) lines; the selected queue first."""
    lines: list[tuple[str, str]] = []
    for name in sorted(items, key=lambda name: (name != selected, name)):
        lines.append((name, ""))
        lines.extend(("", reason) for reason in items[name].reasons)
    return lines


def attention_text(items: dict[str, Attention], selected: str | None) -> str:
    """The same as plain text (one line per heading or reason)."""
    if not items:
        return NOTHING
    return "\n".join(
        f"{ATTENTION_MARK}{name}" if name else f"    {reason}"
        for name, reason in attention_lines(items, selected)
    )
