"""`fila cluster status`: the live nodes, each queue's owner and how far nodes lag.

Lag is ``log_last_seq - applied_seq`` of a queue's replicated log as one node sees it:
entries that node has not applied to its own copy yet. The answering node's view comes
from one RPC; ``--all`` asks every live node (at the address it advertises) for its own.
The rendering is pure (:func:`status_parts`, :func:`status_record`) so it is tested with
constructed results; the command only gathers them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import typer

from fila.addr import parse_addr
from fila.cli.base import describe_error, open_client
from fila.cli.common import FilaCommand, JsonOpt, Output, State, session, state
from fila.errors import FilaError
from fila.types import ClusterStatus

app = typer.Typer(help="Cluster mode: nodes, queue owners, replication lag.",
                  no_args_is_help=True)

OFF = "Cluster mode is off (single node)."
NO_OWNER = "(none)"
# Asking the other nodes (--all) should not hang on one that is going away.
PEER_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class NodeView:
    """One live node's own answer for ``--all``: its status, or why it gave none."""

    node_id: str
    addr: str
    status: ClusterStatus | None = None
    error: str = ""

    def lag(self, queue: str) -> int | None:
        if self.status is None:
            return None
        for q in self.status.queues:
            if q.queue == queue:
                return q.lag
        return None


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]
    right: tuple[int, ...] = ()


def status_parts(status: ClusterStatus, views: Sequence[NodeView] | None = None
                 ) -> list[str | Table]:
    """What `fila cluster status` prints: lines and (indented) tables, in order.

    ``views``: every live node's own answer (``--all``); the queue table then has one
    ``LAG@<node>`` column per node instead of the answering node's sequences.
    """
    if not status.enabled:
        return [OFF]
    parts: list[str | Table] = [
        f"Node: {status.node_id} at {status.addr}",
        f"Live nodes: {len(status.nodes)} (lease TTL {status.lease_ttl_ms} ms)",
        "",
        Table(["NODE", "ADDR"], [[n.node_id, n.addr] for n in status.nodes]),
        "",
    ]
    if not status.queues:
        parts.append("No queues.")
        return parts
    if views is None:
        rows = [[q.queue, q.owner_node_id or NO_OWNER, str(q.log_last_seq), str(q.applied_seq),
                 str(q.lag)] for q in status.queues]
        parts.append(Table(["QUEUE", "OWNER", "LOG_SEQ", "APPLIED", "LAG"], rows, (2, 3, 4)))
        return parts
    rows = []
    for q in status.queues:
        lags = [v.lag(q.queue) for v in views]
        rows.append([q.queue, q.owner_node_id or NO_OWNER,
                     *("-" if lag is None else str(lag) for lag in lags)])
    headers = ["QUEUE", "OWNER", *(f"LAG@{v.node_id}" for v in views)]
    parts.append(Table(headers, rows, tuple(range(2, len(headers)))))
    for v in views:
        if v.status is None:
            parts.append(f"{v.node_id} at {v.addr}: no answer ({v.error})")
    return parts


def status_record(status: ClusterStatus, views: Sequence[NodeView] | None = None
                  ) -> dict[str, object]:
    """`--json`: the answering node's status (each queue with its ``lag``), and with
    ``--all`` each node's own lags under ``views``."""
    record: dict[str, object] = {
        "enabled": status.enabled,
        "node_id": status.node_id,
        "addr": status.addr,
        "lease_ttl_ms": status.lease_ttl_ms,
        "nodes": [dataclasses.asdict(n) for n in status.nodes],
        "queues": [{**dataclasses.asdict(q), "lag": q.lag} for q in status.queues],
    }
    if views is not None:
        record["views"] = [
            {"node_id": v.node_id, "addr": v.addr, "error": v.error or None,
             "lag": {q.queue: q.lag for q in v.status.queues} if v.status else None}
            for v in views
        ]
    return record


def show(out: Output, parts: Sequence[str | Table]) -> None:
    for part in parts:
        if isinstance(part, Table):
            out.table(part.headers, part.rows, right=part.right, indent="  ")
        else:
            out.line(part)


def _node_addr(st: State, addr: str) -> str:
    # A node advertises HOST:PORT; reach it the way the user reached the first one.
    return f"https://{addr}" if st.addr.strip().startswith("https://") else addr


def gather_views(st: State, status: ClusterStatus) -> list[NodeView]:
    """Every live node's own status; the answering node's is the one already in hand."""
    views: list[NodeView] = []
    for node in status.nodes:
        if node.node_id == status.node_id:
            views.append(NodeView(node.node_id, node.addr, status))
            continue
        try:
            parse_addr(node.addr)  # a bad advertised address is this node's problem only
            peer = dataclasses.replace(st, addr=_node_addr(st, node.addr))
            with open_client(peer, timeout=PEER_TIMEOUT_S) as client:
                views.append(NodeView(node.node_id, node.addr, client.cluster_status()))
        except FilaError as e:
            views.append(NodeView(node.node_id, node.addr, error=describe_error(e, node.addr)))
    return views


@app.command("status", cls=FilaCommand)
def status_(
    ctx: typer.Context,
    all_nodes: Annotated[bool, typer.Option(
        "--all", help="Ask every live node for its own view and show each node's lag.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Show the live nodes and each queue's owner and replication lag."""
    with session(ctx, json_out) as (client, out):
        status = client.cluster_status()
        views = gather_views(state(ctx), status) if all_nodes and status.enabled else None
        if out.json:
            out.emit_json(status_record(status, views))
        else:
            show(out, status_parts(status, views))
