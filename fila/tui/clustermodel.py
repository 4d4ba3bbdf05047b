"""The cluster view's content from a ``GetClusterStatus`` answer. Pure: no Textual.

Lag is a queue's ``log_last_seq - applied_seq`` as the node the TUI is connected to sees
it: log entries that node has not applied to its own copy yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from fila.tui.fmt import fmt_count
from fila.tui.viewmodel import Column, Row
from fila.types import ClusterStatus

__all__ = ["CLUSTER_COLUMNS", "NO_OWNER", "OFF", "ClusterView", "cluster_view"]

CLUSTER_COLUMNS = (
    Column("queue", "QUEUE", 24, 0),
    Column("owner", "OWNER", 12, 0),
    Column("lag", "LAG", 8, 0),
    Column("log", "LOG SEQ", 10, 1),
    Column("applied", "APPLIED", 10, 1),
    Column("owner_addr", "OWNER ADDR", 21, 2),
)

OFF = "Cluster mode is off: this broker runs as a single node."
NO_OWNER = "(none)"


@dataclass(frozen=True, slots=True)
class ClusterView:
    title: str
    nodes: str  # the line under the title: live nodes, or why there are none to show
    rows: list[Row]


def _seconds(ms: int) -> str:
    return f"{ms / 1000:g} s"


def cluster_view(status: ClusterStatus | None, error: str = "") -> ClusterView:
    """Title, nodes line and queue rows for ``status`` (None: not loaded yet).

    ``error``: why the last refresh failed; the last answer stays on screen under it.
    """
    if status is None:
        title = f"Cluster — {error}" if error else "Cluster — loading…"
        return ClusterView(title, "", [])
    suffix = f"  (not refreshed: {error})" if error else ""
    if not status.enabled:
        return ClusterView("Cluster" + suffix, OFF, [])
    title = (f"Cluster — node {status.node_id} at {status.addr} · "
             f"lease TTL {_seconds(status.lease_ttl_ms)}{suffix}")
    nodes = f"Live nodes ({len(status.nodes)}): " + " · ".join(
        f"{n.node_id} {n.addr}" for n in status.nodes)
    rows = [
        Row(q.queue, {
            "queue": q.queue,
            "owner": q.owner_node_id or NO_OWNER,
            "lag": fmt_count(q.lag),
            "log": fmt_count(q.log_last_seq),
            "applied": fmt_count(q.applied_seq),
            "owner_addr": q.owner_addr,
        }, "" if q.owner_node_id else "alert")
        for q in status.queues
    ]
    return ClusterView(title, nodes, rows)
