"""Consume follows a cluster redirect (``x-fila-leader-addr``) to a real fila-server.

There is no real cluster here: the node that does not own the queue is a small gRPC
server in this process that implements only Consume and answers it the way a non-owner
does (UNAVAILABLE with the owner's address in trailing metadata), optionally after
delivering frames first, as a node that loses the queue mid-stream does. The owner it
names is a real fila-server, so what the client ends up receiving, and the acks that
settle it, go through the real broker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from e2e.certs import Pki
from e2e.server_process import ServerProcess
from e2e.test_tls import tls_server
from fila.client import AsyncClient, Client
from fila.errors import UnavailableError
from fila.v1 import messages_pb2, service_pb2, service_pb2_grpc

LEADER_KEY = "x-fila-leader-addr"
BOOT = "boot-secret-for-redirects"


class NotOwner(service_pb2_grpc.FilaServiceServicer):
    """A node that does not own any queue: Consume ends UNAVAILABLE naming ``leader``."""

    def __init__(self, frames: tuple[service_pb2.ConsumeResponse, ...] = ()) -> None:
        self.leader = ""  # "" = no trailing metadata (a node that is simply unavailable)
        self.frames = frames
        self.calls: list[dict[str, str]] = []  # each Consume's request metadata

    def Consume(self, request: Any, context: Any) -> Iterator[service_pb2.ConsumeResponse]:
        self.calls.append({k: v for k, v in context.invocation_metadata()})
        yield from self.frames
        if self.leader:
            context.set_trailing_metadata(((LEADER_KEY, self.leader),))
        context.abort(grpc.StatusCode.UNAVAILABLE, "this node does not own the queue")


@pytest.fixture()
def not_owner() -> Iterator[Callable[..., tuple[NotOwner, str]]]:
    servers: list[grpc.Server] = []

    def start(frames: tuple[service_pb2.ConsumeResponse, ...] = (),
              tls: grpc.ServerCredentials | None = None) -> tuple[NotOwner, str]:
        node = NotOwner(frames)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        service_pb2_grpc.add_FilaServiceServicer_to_server(node, server)
        if tls is None:
            port = server.add_insecure_port("127.0.0.1:0")
        else:
            port = server.add_secure_port("127.0.0.1:0", tls)
        server.start()
        servers.append(server)
        return node, f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(None)


def _depth(owner: ServerProcess, queue: str, api_key: str | None = None) -> int:
    with Client(owner.addr, api_key=api_key) as admin:
        return admin.get_stats(queue).depth


def test_sync_consume_follows_the_leader_and_acks_reach_it(
        fila_server: ServerProcess, not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    node, addr = not_owner()
    node.leader = fila_server.addr
    with Client(fila_server.addr) as owner:
        owner.create_queue("orders")
        msg_id = owner.enqueue("orders", {"tenant": "acme"}, b"from the owner")
    with Client(addr) as client:
        stream = client.consume("orders")
        msg = next(stream)
        assert (msg.id, msg.payload, msg.headers) == (msg_id, b"from the owner",
                                                      {"tenant": "acme"})
        client.ack("orders", msg.id)  # the non-owner does not serve Ack: it went to the owner
        stream.close()
    assert len(node.calls) == 1
    assert _depth(fila_server, "orders") == 0


async def test_async_consume_redirected_mid_stream_keeps_credentials(
        make_server: Callable[..., ServerProcess],
        not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    # A stream that delivered from one node, then lost the queue there, goes on at the owner.
    owner = make_server({"auth": {"bootstrap_apikey": BOOT}})
    earlier = messages_pb2.Message(id="01900000-0000-7000-8000-000000000001", payload=b"old")
    node, addr = not_owner((service_pb2.ConsumeResponse(message=earlier),))
    node.leader = owner.addr
    async with AsyncClient(owner.addr, api_key=BOOT) as admin:
        await admin.create_queue("jobs")
        first = await admin.enqueue("jobs", None, b"one")
        second = await admin.enqueue("jobs", None, b"two")
    async with AsyncClient(addr, api_key=BOOT) as client:
        stream = await client.consume("jobs")
        got = [await stream.__anext__() for _ in range(3)]
        assert [m.payload for m in got] == [b"old", b"one", b"two"]
        assert [m.id for m in got[1:]] == [first, second]
        assert await client.ack_many("jobs", [first]) == [None]
        await client.nack("jobs", second, "retry me")
        again = await stream.__anext__()  # the nacked message comes back on the same stream
        assert (again.id, again.attempt_count, again.last_error) == (second, 1, "retry me")
        await client.ack("jobs", second)
        await stream.aclose()
    assert node.calls[0]["authorization"] == f"Bearer {BOOT}"
    assert _depth(owner, "jobs", BOOT) == 0


def test_redirect_keeps_mutual_tls(make_server: Callable[..., ServerProcess], pki: Pki,
                                   not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    # The owner requires a client certificate: the redirected channel must present it too.
    owner = tls_server(make_server, pki, mutual=True)
    creds = grpc.ssl_server_credentials(
        [(pki.server_key.read_bytes(), pki.server_cert.read_bytes())],
        root_certificates=pki.ca.read_bytes(), require_client_auth=True)
    node, addr = not_owner(tls=creds)
    node.leader = owner.addr

    def mtls_client(target: str) -> Client:
        return Client(target, ca_cert=pki.ca.read_bytes(),
                      client_cert=pki.client_cert.read_bytes(),
                      client_key=pki.client_key.read_bytes())

    with mtls_client(owner.addr) as admin:
        admin.create_queue("secure")
        msg_id = admin.enqueue("secure", None, b"over mtls")
    with mtls_client(addr) as client:
        stream = client.consume("secure")
        assert next(stream).id == msg_id
        client.ack("secure", msg_id)
        stream.close()
    assert len(node.calls) == 1
    with mtls_client(owner.addr) as admin:
        assert admin.get_stats("secure").depth == 0


def test_redirects_are_bounded(not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    # Two nodes naming each other: the client gives up after 5 redirects in a row.
    a, a_addr = not_owner()
    b, b_addr = not_owner()
    a.leader, b.leader = b_addr, a_addr
    with Client(a_addr) as client, pytest.raises(UnavailableError):
        next(client.consume("orders"))
    assert len(a.calls) + len(b.calls) == 6  # the first attempt and 5 redirects


def test_the_bound_counts_redirects_without_a_message_between(
        not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    # A node that hands out one message per stream and then sends the client back to
    # itself: every redirect is followed by a message, so the bound never trips.
    one = messages_pb2.Message(id="01900000-0000-7000-8000-000000000002", payload=b"again")
    node, addr = not_owner((service_pb2.ConsumeResponse(message=one),))
    node.leader = addr
    with Client(addr) as client:
        stream = client.consume("orders")
        assert [next(stream).payload for _ in range(8)] == [b"again"] * 8
        stream.close()
    assert len(node.calls) == 8


def test_unavailable_without_a_leader_is_raised_as_before(
        not_owner: Callable[..., tuple[NotOwner, str]]) -> None:
    node, addr = not_owner()
    with Client(addr) as client, pytest.raises(UnavailableError):
        next(client.consume("orders"))
    assert len(node.calls) == 1


def test_cluster_status_of_a_single_node(fila_server: ServerProcess) -> None:
    with Client(fila_server.addr) as client:
        status = client.cluster_status()
    assert status.enabled is False
    assert (status.nodes, status.queues) == ((), ())
