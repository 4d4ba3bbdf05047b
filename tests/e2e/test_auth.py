"""API keys and ACLs on a real fila-server over real gRPC, with RocksDB underneath.

The permission table test walks every RPC of both Fila services (a new RPC without a row
fails ``test_the_table_covers_every_rpc``): without a key each one is UNAUTHENTICATED, with
a key lacking the permission PERMISSION_DENIED, and in both cases nothing changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from e2e.server_process import ServerProcess
from fila.client import Client
from fila.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from fila.server.auth import RULES
from fila.v1 import admin_pb2, admin_pb2_grpc, service_pb2, service_pb2_grpc

pytestmark = pytest.mark.timeout(180)

BOOT = "boot-secret-for-tests"


def auth_server(make_server: Callable[..., ServerProcess], *, via_env: bool = False
                ) -> ServerProcess:
    if via_env:
        return make_server(env={"FILA_BOOTSTRAP_APIKEY": BOOT})
    return make_server({"auth": {"bootstrap_apikey": BOOT}})


def admin(server: ServerProcess, key: str = BOOT) -> Client:
    return Client(server.addr, api_key=key)


# ---- the permission table -------------------------------------------------------

MID = "01900000-0000-7000-8000-000000000000"  # a well-formed id nobody holds
Q = "orders.eu"


def _rows(leased: str) -> list[tuple[str, Any, str]]:
    """(method, request, what it needs): needs is produce / consume / admin on Q, admin*
    (global: pattern "*"), see (any permission on Q), key (any key; answer filtered) or
    superadmin. ``leased``: a message of Q leased by the test's own stream."""
    s, a = service_pb2, admin_pb2
    ack = s.AckRequest(queue=Q, message_id=leased)
    nack = s.NackRequest(queue=Q, message_id=leased, error="x")
    return [
        ("FilaService/Enqueue", s.EnqueueRequest(queue=Q, payload=b"x"), "produce"),
        ("FilaService/EnqueueBatch",
         s.EnqueueBatchRequest(messages=[s.EnqueueRequest(queue=Q, payload=b"x")]), "produce"),
        ("FilaService/Consume", s.ConsumeRequest(queue=Q), "consume"),
        ("FilaService/Ack", ack, "consume"),
        ("FilaService/Nack", nack, "consume"),
        ("FilaService/AckBatch", s.AckBatchRequest(items=[ack]), "consume"),
        ("FilaService/NackBatch", s.NackBatchRequest(items=[nack]), "consume"),
        ("FilaService/ExtendLease",
         s.ExtendLeaseRequest(queue=Q, message_id=leased, extend_ms=60_000), "consume"),
        ("FilaAdmin/ListMessages", a.ListMessagesRequest(queue=Q), "consume"),
        ("FilaAdmin/CreateQueue", a.CreateQueueRequest(name="orders.new"), "admin-new"),
        ("FilaAdmin/UpdateQueue", a.UpdateQueueRequest(name=Q, visibility_timeout_ms=5000),
         "admin"),
        ("FilaAdmin/Redrive", a.RedriveRequest(dlq_queue=Q + ".dlq"), "admin-dlq"),
        ("FilaAdmin/TestHook", a.TestHookRequest(hook="on_enqueue", queue=Q,
                                                 script="function on_enqueue(m) return {} end"),
         "admin"),
        ("FilaAdmin/SetConfig", a.SetConfigRequest(key="k", value="v"), "admin*"),
        ("FilaAdmin/GetConfig", a.GetConfigRequest(key="k"), "admin*"),
        ("FilaAdmin/ListConfig", a.ListConfigRequest(), "admin*"),
        ("FilaAdmin/GetStats", a.GetStatsRequest(queue=Q), "see"),
        ("FilaAdmin/GetStatsHistory", a.GetStatsHistoryRequest(queue=Q), "see"),
        ("FilaAdmin/GetQueue", a.GetQueueRequest(name=Q), "see"),
        ("FilaAdmin/ListQueues", a.ListQueuesRequest(), "key"),
        ("FilaAdmin/WatchStats", a.WatchStatsRequest(interval_ms=100), "key"),
        ("FilaAdmin/GetServerInfo", a.GetServerInfoRequest(), "key"),
        ("FilaAdmin/CreateApiKey", a.CreateApiKeyRequest(name="sneaky", is_superadmin=True),
         "superadmin"),
        ("FilaAdmin/ListApiKeys", a.ListApiKeysRequest(), "superadmin"),
        ("FilaAdmin/GetAcl", a.GetAclRequest(key_id="nope"), "superadmin"),
        # A relative path: allowed past auth, then refused by the broker (nothing written).
        ("FilaAdmin/Backup", a.BackupRequest(dest="relative-so-refused"), "superadmin"),
        ("FilaAdmin/SetAcl", a.SetAclRequest(key_id="nope"), "superadmin"),
        ("FilaAdmin/RevokeApiKey", a.RevokeApiKeyRequest(key_id="nope"), "superadmin"),
        # A well-formed id nobody holds: allowed past auth, then NOT_FOUND (nothing deleted).
        ("FilaAdmin/DeleteMessage", a.DeleteMessageRequest(queue=Q, message_id=MID), "admin"),
        ("FilaAdmin/PurgeQueue", a.PurgeQueueRequest(queue=Q), "admin"),
        ("FilaAdmin/GetClusterStatus", a.GetClusterStatusRequest(), "key"),
        ("FilaAdmin/DeleteQueue", a.DeleteQueueRequest(queue=Q), "admin"),
    ]


STREAMS = {"FilaService/Consume", "FilaAdmin/WatchStats"}


def call(channel: grpc.Channel, method: str, request: Any, key: str | None,
         scheme: str = "Bearer") -> grpc.StatusCode:
    md = (("authorization", f"{scheme} {key}"),) if key is not None else ()
    service, name = method.split("/")
    stub: Any = (service_pb2_grpc.FilaServiceStub(channel) if service == "FilaService"
                 else admin_pb2_grpc.FilaAdminStub(channel))
    try:
        if method in STREAMS:
            stream = getattr(stub, name)(request, metadata=md, timeout=3)
            try:
                next(stream)
            finally:
                stream.cancel()
        else:
            getattr(stub, name)(request, metadata=md, timeout=10)
    except grpc.RpcError as exc:
        code: grpc.StatusCode = exc.code()
        return code
    return grpc.StatusCode.OK


def state(server: ServerProcess) -> dict[str, Any]:
    """Everything a refused call could have changed, read with the bootstrap key."""
    with admin(server) as c:
        queues = sorted((q.name, q.depth, q.in_flight) for q in c.list_queues())
        return {"queues": queues, "config": c.list_config(),
                "keys": sorted((k.key_id, k.name, k.expires_at_ms) for k in c.list_api_keys()),
                "acls": {k.key_id: c.get_acl(k.key_id) for k in c.list_api_keys()},
                "vt": c.get_queue(Q).visibility_timeout_ms if any(
                    q[0] == Q for q in queues) else None}


@pytest.fixture()
def table_server(make_server: Callable[..., ServerProcess]) -> Iterator[tuple[ServerProcess,
                                                                                 str]]:
    """A server with Q (2 messages, one leased by an open stream), its DLQ, a config entry."""
    server = auth_server(make_server)
    c = admin(server)
    c.create_queue(Q)
    c.create_queue("other")
    c.set_config("k", "v0")
    c.enqueue(Q, {}, b"one")
    c.enqueue(Q, {}, b"two")
    stream = c.consume(Q)
    leased = next(stream).id
    yield server, leased
    stream.close()
    c.close()


def test_the_table_covers_every_rpc() -> None:
    methods = {f"{svc.name}/{m.name}"
               for pb in (service_pb2, admin_pb2) for svc in pb.DESCRIPTOR.services_by_name.values()
               for m in svc.methods}
    assert {row[0] for row in _rows(MID)} == methods
    assert {f"/fila.v1.{m}" for m in methods} == set(RULES)


def test_every_rpc_without_a_valid_key_is_unauthenticated_and_changes_nothing(
        table_server: tuple[ServerProcess, str]) -> None:
    server, leased = table_server
    before = state(server)
    with grpc.insecure_channel(server.addr) as ch:
        for method, request, _ in _rows(leased):
            for key, scheme in ((None, "Bearer"), ("wrong-key", "Bearer"), (BOOT, "Basic"),
                                ("", "Bearer")):
                got = call(ch, method, request, key, scheme)
                assert got == grpc.StatusCode.UNAUTHENTICATED, (method, key, scheme, got)
    assert state(server) == before
    log = server.log()
    assert "refused Enqueue from" in log and "invalid API key" in log
    assert "wrong-key" not in log and BOOT not in log  # failed attempts never log the key


def test_every_rpc_lacking_the_permission_is_denied_and_changes_nothing(
        table_server: tuple[ServerProcess, str]) -> None:
    server, leased = table_server
    with admin(server) as c:
        key = c.create_api_key("elsewhere")
        c.set_acl(key.key_id, [("produce", "unrelated"), ("consume", "unrelated.*"),
                               ("admin", "unrelated")])
    before = state(server)
    with grpc.insecure_channel(server.addr) as ch:
        for method, request, needs in _rows(leased):
            got = call(ch, method, request, key.key)
            want = grpc.StatusCode.OK if needs == "key" else grpc.StatusCode.PERMISSION_DENIED
            assert got == want, (method, got)
    assert state(server) == before


GRANTS: dict[str, list[tuple[str, str]]] = {
    "produce": [("produce", Q)],
    "consume": [("consume", Q)],
    "admin": [("admin", Q)],
    "admin-new": [("admin", "orders.*")],
    "admin-dlq": [("admin", "orders.*")],
    "admin*": [("admin", "*")],
    "see": [("produce", Q)],
    "key": [],
}


def test_every_rpc_is_allowed_with_exactly_its_permission(
        table_server: tuple[ServerProcess, str]) -> None:
    server, leased = table_server
    with admin(server) as c:
        keys = {}
        for needs, perms in GRANTS.items():
            created = c.create_api_key(f"just-{needs}")
            c.set_acl(created.key_id, perms)
            keys[needs] = created.key
        keys["superadmin"] = c.create_api_key("root", is_superadmin=True).key
    with grpc.insecure_channel(server.addr) as ch:
        for method, request, needs in _rows(leased):
            got = call(ch, method, request, keys[needs])
            # Allowed past auth: whatever the broker says next (a deadline on an idle
            # consume stream, NOT_FOUND for a made-up key id) is not an auth refusal.
            assert got not in (grpc.StatusCode.UNAUTHENTICATED,
                               grpc.StatusCode.PERMISSION_DENIED), (method, got)


# ---- keys -------------------------------------------------------------------------


def test_keys_are_shown_once_stored_hashed_and_survive_a_restart(
        make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server, via_env=True)
    with admin(server) as c:
        c.create_queue("jobs")
        created = c.create_api_key("worker", expires_at_ms=int(time.time() * 1000) + 3_600_000)
        c.set_acl(created.key_id, [("produce", "jobs"), ("consume", "jobs")])
        gone = c.create_api_key("gone")
        c.revoke_api_key(gone.key_id)
        listed = c.list_api_keys()
    assert created.key.startswith("fila_") and len(created.key) > 40
    assert [k.name for k in listed] == ["worker"]
    assert server.stop() == 0
    # Only a hash is on disk: the plaintext appears in no RocksDB file.
    secret = created.key.encode()
    for path in Path(server.data_dir).rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    server.start()
    with Client(server.addr, api_key=created.key) as worker:
        worker.enqueue("jobs", {}, b"after restart")
        with pytest.raises(PermissionDeniedError):
            worker.create_queue("jobs2")
    with admin(server) as c:
        acl = c.get_acl(created.key_id)
        assert acl.permissions == (("produce", "jobs"), ("consume", "jobs"))
        assert [k.name for k in c.list_api_keys()] == ["worker"]
    with Client(server.addr, api_key=gone.key) as revoked, \
            pytest.raises(UnauthenticatedError):
        revoked.list_queues()


def test_an_expired_key_stops_working_on_the_next_call(
        make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    with admin(server) as c:
        with pytest.raises(InvalidArgumentError, match="past"):
            c.create_api_key("late", expires_at_ms=int(time.time() * 1000) - 1000)
        expires = int(time.time() * 1000) + 1500
        created = c.create_api_key("brief", expires_at_ms=expires)
    with Client(server.addr, api_key=created.key) as brief:
        assert brief.server_info().caller_name == "brief"
        deadline = time.monotonic() + 10
        while True:
            try:
                brief.server_info()
            except UnauthenticatedError as exc:
                assert "expired" in str(exc)
                break
            assert time.monotonic() < deadline
    assert time.time() * 1000 >= expires


def test_a_revoked_keys_consume_stream_is_closed(
        make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    with admin(server) as c:
        c.create_queue("jobs")
        created = c.create_api_key("consumer")
        c.set_acl(created.key_id, [("consume", "jobs")])
        c.enqueue("jobs", {}, b"first")
        with Client(server.addr, api_key=created.key) as worker:
            stream = worker.consume("jobs")
            first = next(stream)
            watch = worker.watch_stats("jobs", interval_ms=100)
            next(watch)
            c.revoke_api_key(created.key_id)
            with pytest.raises(UnauthenticatedError, match="revoked"):
                next(stream)
            with pytest.raises(UnauthenticatedError, match="revoked"):
                for _ in watch:
                    pass
            with pytest.raises(UnauthenticatedError):
                worker.ack("jobs", first.id)
        # The stream's lease went back: the message is delivered again.
        again = next(c.consume("jobs"))
        assert again.id == first.id


def test_streams_of_an_expiring_key_end_when_it_expires(
        make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    with admin(server) as c:
        c.create_queue("jobs")
        created = c.create_api_key("brief", expires_at_ms=int(time.time() * 1000) + 1500)
        c.set_acl(created.key_id, [("consume", "jobs")])
    with Client(server.addr, api_key=created.key) as worker:
        stream = worker.consume("jobs")
        watch = worker.watch_stats(interval_ms=100)
        next(watch)
        started = time.monotonic()
        with pytest.raises(UnauthenticatedError, match="expired"):
            next(stream)  # nothing to deliver: it waits until the key expires
        with pytest.raises(UnauthenticatedError, match="expired"):
            for _ in watch:
                assert time.monotonic() - started < 10
        assert time.monotonic() - started < 10


def test_only_a_superadmin_manages_keys(make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    with admin(server) as c:
        ops = c.create_api_key("ops")
        c.set_acl(ops.key_id, [("admin", "*"), ("produce", "*"), ("consume", "*")])
        root = c.create_api_key("root", is_superadmin=True)
        with pytest.raises(InvalidArgumentError, match="unknown permission"):
            c.set_acl(ops.key_id, [("write", "*")])
        with pytest.raises(InvalidArgumentError, match="may only end"):
            c.set_acl(ops.key_id, [("admin", "*.eu")])
        with pytest.raises(NotFoundError):
            c.get_acl("no-such-key")
    with Client(server.addr, api_key=ops.key) as o:
        o.set_config("k", "v")  # admin on "*" covers global config
        for attempt in (lambda: o.create_api_key("mine", is_superadmin=True),
                        lambda: o.set_acl(ops.key_id, []), o.list_api_keys):
            with pytest.raises(PermissionDeniedError):
                attempt()
    with Client(server.addr, api_key=root.key) as r:
        assert {k.name for k in r.list_api_keys()} == {"ops", "root"}


# ---- ACL patterns and filtered answers ---------------------------------------------


def test_pattern_forms_exact_prefix_and_star(make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    names = ["orders", "orders.eu", "orders.us", "ordersx", "billing"]
    with admin(server) as c:
        for n in names:
            c.create_queue(n)
        keys = {}
        for pattern in ("orders", "orders.*", "*"):
            k = c.create_api_key(f"p-{pattern}")
            c.set_acl(k.key_id, [("produce", pattern)])
            keys[pattern] = k.key
    expect = {"orders": {"orders"}, "orders.*": {"orders.eu", "orders.us"}, "*": set(names)}
    for pattern, key in keys.items():
        with Client(server.addr, api_key=key) as p:
            allowed = set()
            for n in names:
                try:
                    p.enqueue(n, {}, b"x")
                    allowed.add(n)
                except PermissionDeniedError:
                    pass
            assert allowed == expect[pattern], pattern
            # ListQueues and WatchStats show exactly the queues the key may see. A DLQ is
            # a queue like any other: "orders.*" covers "orders.dlq", "orders" does not.
            visible = {"orders": {"orders"},
                       "orders.*": {"orders.eu", "orders.us", "orders.dlq", "orders.eu.dlq",
                                    "orders.us.dlq"},
                       "*": {*names, *(f"{n}.dlq" for n in names)}}[pattern]
            assert {q.name for q in p.list_queues()} == visible
            watch = p.watch_stats(interval_ms=100)
            assert {q.name for q in next(watch).queues} == visible
            watch.close()


def test_server_info_says_who_you_are_and_health_stays_open(
        make_server: Callable[..., ServerProcess]) -> None:
    server = auth_server(make_server)
    with admin(server) as c:
        info = c.server_info()
        assert (info.auth_enabled, info.caller_key_id, info.caller_superadmin) == (
            True, "bootstrap", True)
        k = c.create_api_key("reader")
        c.set_acl(k.key_id, [("consume", "a.*")])
    with Client(server.addr, api_key=k.key) as r:
        info = r.server_info()
        assert (info.caller_name, info.caller_permissions) == ("reader", (("consume", "a.*"),))
        assert info.may("consume", "a.b") and not info.may("produce", "a.b")
    with grpc.insecure_channel(server.addr) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert resp.status == health_pb2.HealthCheckResponse.SERVING
