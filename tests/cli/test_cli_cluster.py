"""`fila cluster status`: against a real single node, and its rendering of cluster answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cli_support import ProcFn

from fila.cli.base import Output, State
from fila.cli.cluster import NodeView, gather_views, show, status_parts, status_record
from fila.types import ClusterNode, ClusterQueue, ClusterStatus

NODES = (ClusterNode("n1", "10.0.0.1:5555"), ClusterNode("n2", "10.0.0.2:5555"),
         ClusterNode("n3", "10.0.0.3:5555"))
STATUS = ClusterStatus(
    enabled=True, node_id="n1", addr="10.0.0.1:5555", nodes=NODES, lease_ttl_ms=2000,
    queues=(ClusterQueue("orders", "n2", "10.0.0.2:5555", 120, 118),
            ClusterQueue("orders.dlq", "n2", "10.0.0.2:5555", 4, 4),
            ClusterQueue("reports", "", "", 7, 0)))


def printed(capsys: pytest.CaptureFixture[str], parts: Any) -> str:
    show(Output(), parts)  # stdout is captured, not a terminal: the plain, stable text
    return capsys.readouterr().out


def test_single_node_says_cluster_mode_is_off(fila: ProcFn) -> None:
    for args in (("cluster", "status"), ("cluster", "status", "--all")):
        result = fila(*args)
        assert (result.returncode, result.stdout, result.stderr) == (
            0, "Cluster mode is off (single node).\n", "")


def test_single_node_json(fila: ProcFn) -> None:
    result = fila("cluster", "status", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"enabled": False, "node_id": "", "addr": "",
                                         "lease_ttl_ms": 0, "nodes": [], "queues": []}


def test_unreachable_broker_is_one_error_line(fila: ProcFn) -> None:
    result = fila("--addr", "localhost:1", "cluster", "status")
    assert result.returncode == 1
    assert result.stderr == "Error: cannot connect to broker at localhost:1: connection refused\n"


def test_answering_nodes_view(capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, status_parts(STATUS)).splitlines() == [
        "Node: n1 at 10.0.0.1:5555",
        "Live nodes: 3 (lease TTL 2000 ms)",
        "",
        "  NODE  ADDR",
        "  n1    10.0.0.1:5555",
        "  n2    10.0.0.2:5555",
        "  n3    10.0.0.3:5555",
        "",
        "  QUEUE       OWNER   LOG_SEQ  APPLIED  LAG",
        "  orders      n2          120      118    2",
        "  orders.dlq  n2            4        4    0",
        "  reports     (none)        7        0    7",
    ]


def test_every_nodes_lag_with_one_node_not_answering(capsys: pytest.CaptureFixture[str]) -> None:
    n2 = ClusterStatus(True, "n2", "10.0.0.2:5555", NODES,
                       (ClusterQueue("orders", "n2", "10.0.0.2:5555", 120, 120),
                        ClusterQueue("orders.dlq", "n2", "10.0.0.2:5555", 4, 1)), 2000)
    views = [NodeView("n1", "10.0.0.1:5555", STATUS), NodeView("n2", "10.0.0.2:5555", n2),
             NodeView("n3", "10.0.0.3:5555", error="broker unavailable")]
    lines = printed(capsys, status_parts(STATUS, views)).splitlines()
    assert lines[8:] == [
        "  QUEUE       OWNER   LAG@n1  LAG@n2  LAG@n3",
        "  orders      n2           2       0       -",
        "  orders.dlq  n2           0       3       -",
        "  reports     (none)       7       -       -",
        "n3 at 10.0.0.3:5555: no answer (broker unavailable)",
    ]
    record = status_record(STATUS, views)
    assert record["queues"][0] == {  # type: ignore[index]
        "queue": "orders", "owner_node_id": "n2", "owner_addr": "10.0.0.2:5555",
        "log_last_seq": 120, "applied_seq": 118, "lag": 2}
    assert record["views"] == [
        {"node_id": "n1", "addr": "10.0.0.1:5555", "error": None,
         "lag": {"orders": 2, "orders.dlq": 0, "reports": 7}},
        {"node_id": "n2", "addr": "10.0.0.2:5555", "error": None,
         "lag": {"orders": 0, "orders.dlq": 3}},
        {"node_id": "n3", "addr": "10.0.0.3:5555", "error": "broker unavailable", "lag": None},
    ]


def test_a_cluster_without_queues(capsys: pytest.CaptureFixture[str]) -> None:
    status = ClusterStatus(True, "n1", "10.0.0.1:5555", NODES[:1], (), 2000)
    assert printed(capsys, status_parts(status)).splitlines()[-1] == "No queues."


def test_all_asks_each_node_at_its_address(fila_server: Any) -> None:
    # n2 is a real broker (a single node: its view has no queues), n3 listens nowhere.
    nodes = (NODES[0], ClusterNode("n2", fila_server.addr), ClusterNode("n3", "127.0.0.1:1"),
             ClusterNode("n4", "no-port"))
    status = ClusterStatus(True, "n1", "10.0.0.1:5555", nodes, STATUS.queues, 2000)
    views = gather_views(State(addr=fila_server.url), status)
    assert [v.node_id for v in views] == ["n1", "n2", "n3", "n4"]
    assert views[0].status is status
    assert views[1].status is not None and not views[1].status.enabled
    assert views[1].lag("orders") is None
    assert views[2].error == "cannot connect to broker at 127.0.0.1:1: connection refused"
    assert views[3].error.startswith('invalid broker address "no-port"')
