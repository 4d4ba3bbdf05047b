"""The cluster view's content (pure): titles, the nodes line, rows and their style."""

from __future__ import annotations

from fila.tui.clustermodel import OFF, cluster_view
from fila.types import ClusterStatus

from .fakes import sample_cluster


def test_before_the_first_answer() -> None:
    view = cluster_view(None)
    assert (view.title, view.nodes, view.rows) == ("Cluster — loading…", "", [])
    failed = cluster_view(None, "broker unavailable")
    assert failed.title == "Cluster — broker unavailable"


def test_single_node_says_cluster_mode_is_off() -> None:
    view = cluster_view(ClusterStatus(enabled=False))
    assert (view.title, view.nodes, view.rows) == ("Cluster", OFF, [])
    assert OFF == "Cluster mode is off: this broker runs as a single node."


def test_nodes_owners_and_lag_as_the_connected_node_sees_them() -> None:
    view = cluster_view(sample_cluster())
    assert view.title == "Cluster — node n1 at 10.0.0.1:5555 · lease TTL 2 s"
    assert view.nodes == ("Live nodes (3): n1 10.0.0.1:5555 · n2 10.0.0.2:5555 · "
                          "n3 10.0.0.3:5555")
    by_queue = {r.key: r for r in view.rows}
    assert [r.key for r in view.rows] == ["fair-demo", "fair-demo.dlq", "orders", "orders.dlq",
                                          "reports"]
    orders = by_queue["orders"].cells
    assert (orders["owner"], orders["lag"], orders["log"], orders["applied"],
            orders["owner_addr"]) == ("n2", "2", "120", "118", "10.0.0.2:5555")
    assert by_queue["fair-demo"].cells["log"] == "48 211"
    assert by_queue["fair-demo"].cells["lag"] == "0"
    reports = by_queue["reports"]
    assert (reports.cells["owner"], reports.cells["lag"], reports.style) == ("(none)", "7", "alert")
    assert by_queue["orders"].style == ""


def test_a_failed_refresh_keeps_the_last_answer() -> None:
    view = cluster_view(sample_cluster(), "broker unavailable")
    assert view.title.endswith("  (not refreshed: broker unavailable)")
    assert len(view.rows) == 5
