"""The pure part of auth (fila/server/auth.py): patterns, keys, the permission table."""

from __future__ import annotations

import pytest

from fila.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from fila.server.auth import (
    BOOTSTRAP_KEY_ID,
    KEY_PREFIX,
    RULES,
    ApiKey,
    Keyring,
    Permission,
    authorize,
    bearer_key,
    check_pattern,
    digest,
    pattern_matches,
)
from fila.v1 import admin_pb2, service_pb2


@pytest.mark.parametrize(("pattern", "queue", "match"), [
    ("orders", "orders", True),
    ("orders", "orders.eu", False),
    ("orders", "order", False),
    ("orders.*", "orders.eu", True),
    ("orders.*", "orders.eu.dlq", True),
    ("orders.*", "orders", False),
    ("orders.*", "ordersx", False),
    ("orders*", "ordersx", True),
    ("*", "anything", True),
    ("*", "", True),
])
def test_pattern_matches(pattern: str, queue: str, match: bool) -> None:
    assert pattern_matches(pattern, queue) is match


@pytest.mark.parametrize("bad", ["", "*.eu", "or*ders", "**"])
def test_star_only_ends_a_pattern(bad: str) -> None:
    with pytest.raises(InvalidArgumentError):
        check_pattern(bad)


def test_bearer_parsing() -> None:
    assert bearer_key("Bearer abc") == "abc"
    assert bearer_key("bearer abc") == "abc"
    assert bearer_key("Basic abc") is None
    assert bearer_key("Bearer ") is None
    assert bearer_key(None) is None


def key(*perms: tuple[str, str], superadmin: bool = False) -> ApiKey:
    return ApiKey("id", "n", digest("x"), 0, 0, superadmin,
                  tuple(Permission(k, p) for k, p in perms))


def test_allows_and_sees() -> None:
    k = key(("produce", "orders.*"), ("admin", "*"))
    assert k.allows("produce", "orders.eu") and not k.allows("produce", "billing")
    assert not k.allows("consume", "orders.eu")
    assert k.allows("admin", None)  # global needs "*"
    assert not key(("admin", "orders.*")).allows("admin", None)
    assert k.sees("billing")  # admin on "*"
    assert key(("consume", "a")).sees("a") and not key(("consume", "a")).sees("b")
    assert key(superadmin=True).allows("consume", None)


def test_keyring_lifecycle_and_persistence() -> None:
    ring = Keyring("boot")
    assert ring.enabled
    assert ring.authenticate("boot", 0).key_id == BOOTSTRAP_KEY_ID
    created, plaintext, batch = ring.create("w", 2000, False, 1000)
    with pytest.raises(UnauthenticatedError):  # not usable before its batch is applied
        ring.authenticate(plaintext, 1000)
    ring.apply_put(created)
    assert ring.authenticate(plaintext, 1999).name == "w"
    with pytest.raises(UnauthenticatedError, match="expired"):
        ring.authenticate(plaintext, 2000)
    ((stored_key, stored_value),) = [(k, v) for k, v in batch.ops]
    assert stored_key == KEY_PREFIX + created.key_id.encode()
    assert stored_value is not None and plaintext.encode() not in stored_value
    updated, _ = ring.set_acl(created.key_id, [("consume", "q"), ("consume", "q")])
    assert updated.permissions == (Permission("consume", "q"),)

    recovered = Keyring("boot")
    assert recovered.load([(stored_key, stored_value)]) == 1
    assert recovered.authenticate(plaintext, 1500).key_id == created.key_id

    seen: list[str] = []
    ring.revoked_listeners.append(seen.append)
    ring.revoke(created.key_id)
    ring.apply_revoke(created.key_id)
    assert seen == [created.key_id]
    with pytest.raises(UnauthenticatedError, match="invalid"):
        ring.authenticate(plaintext, 1500)
    with pytest.raises(NotFoundError):
        ring.revoke(created.key_id)
    with pytest.raises(InvalidArgumentError, match="bootstrap"):
        ring.revoke(BOOTSTRAP_KEY_ID)
    with pytest.raises(UnauthenticatedError, match="missing"):
        ring.authenticate(None, 0)
    assert not Keyring("").enabled


def test_authorize_checks_every_queue_of_a_batch() -> None:
    rule = RULES["/fila.v1.FilaService/EnqueueBatch"]
    req = service_pb2.EnqueueBatchRequest(messages=[service_pb2.EnqueueRequest(queue="a"),
                                                    service_pb2.EnqueueRequest(queue="b")])
    authorize(rule, key(("produce", "*")), req)
    with pytest.raises(PermissionDeniedError, match='queue "b"'):
        authorize(rule, key(("produce", "a")), req)


def test_unknown_rpcs_and_key_management_need_a_superadmin() -> None:
    with pytest.raises(PermissionDeniedError):
        authorize(None, key(("admin", "*")), object())
    with pytest.raises(PermissionDeniedError):
        authorize(RULES["/fila.v1.FilaAdmin/CreateApiKey"], key(("admin", "*")),
                  admin_pb2.CreateApiKeyRequest())
    authorize(None, key(superadmin=True), object())


def test_nothing_unbounded_is_stored_or_echoed() -> None:
    ring = Keyring("boot")
    with pytest.raises(NotFoundError) as missing:
        ring.get("x" * 2_000_000)
    assert len(missing.value.message) < 200  # status text travels in headers
    with pytest.raises(InvalidArgumentError, match="longer than 256"):
        ring.create("n" * 257, 0, False, 0)
    created, _, _ = ring.create("n", 0, False, 0)
    ring.apply_put(created)
    with pytest.raises(InvalidArgumentError, match="longer than 257"):
        ring.set_acl(created.key_id, [("produce", "q" * 300)])
    with pytest.raises(InvalidArgumentError, match="limit 1000"):
        ring.set_acl(created.key_id, [("produce", f"q{i}") for i in range(1001)])
    with pytest.raises(InvalidArgumentError) as bad_kind:
        ring.set_acl(created.key_id, [("k" * 100_000, "q")])
    assert len(bad_kind.value.message) < 200
