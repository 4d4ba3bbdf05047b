"""API keys and ACLs: who a caller is, and what that key may do. Pure: no grpc, no I/O.

The gRPC side (reading the ``authorization`` metadata, aborting, closing streams) is
``fila/server/auth_guard.py``; persistence is the caller's: every change returns the
:class:`WriteBatch` to commit, and is applied to memory only once that batch is durable
(:meth:`Keyring.apply`), so a key the client was told about is never lost by a crash.

Keys are stored only as SHA-256 digests. A presented key is hashed and looked up by
digest: the lookup never compares secret bytes with attacker-chosen bytes, and the final
``hmac.compare_digest`` keeps the one comparison that remains constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from fila.errors import (
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
)
from fila.server.store import WriteBatch

__all__ = [
    "BOOTSTRAP_KEY_ID",
    "KEY_PREFIX",
    "KINDS",
    "RULES",
    "ApiKey",
    "Keyring",
    "Permission",
    "Rule",
    "bearer_key",
    "check_pattern",
    "digest",
    "pattern_matches",
]

KINDS = ("produce", "consume", "admin")
# Store key layout (store.py): k/<key_id> -> JSON record of one API key with its ACL.
KEY_PREFIX = b"k/"
BOOTSTRAP_KEY_ID = "bootstrap"
# Plaintext keys: "fila_" + 32 random bytes, url-safe base64 (256 bits of entropy).
_KEY_BYTES = 32
_PLAINTEXT_PREFIX = "fila_"
_BEARER = "bearer "
# Bounds, so nothing unbounded is stored or echoed back in an error (gRPC status text
# travels in headers): names and ids as queue names, a pattern a queue name plus "*".
MAX_NAME_BYTES = 256
MAX_PATTERN_BYTES = 257
MAX_PERMISSIONS = 1000


def _short(text: str) -> str:
    return text if len(text) <= 64 else text[:61] + "..."


def digest(plaintext: str) -> bytes:
    return hashlib.sha256(plaintext.encode()).digest()


def check_pattern(pattern: str) -> None:
    """A queue name, ``*``, or a prefix followed by ``*`` (``orders.*``); ``*`` nowhere else."""
    if not pattern:
        raise InvalidArgumentError("ACL pattern must not be empty")
    if len(pattern.encode()) > MAX_PATTERN_BYTES:
        raise InvalidArgumentError(f"ACL pattern is longer than {MAX_PATTERN_BYTES} bytes")
    if "*" in pattern[:-1]:
        raise InvalidArgumentError(f'invalid ACL pattern "{_short(pattern)}": "*" may only '
                                   'end the pattern (e.g. "orders.*")')


def pattern_matches(pattern: str, queue: str) -> bool:
    """``*`` matches every queue, ``orders.*`` every name starting ``orders.``, else exact."""
    if pattern.endswith("*"):
        return queue.startswith(pattern[:-1])
    return pattern == queue


@dataclass(frozen=True, slots=True)
class Permission:
    kind: str
    pattern: str


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    name: str
    digest: bytes = field(repr=False)
    created_at_ms: int
    expires_at_ms: int = 0  # 0 = never
    superadmin: bool = False
    permissions: tuple[Permission, ...] = ()

    def expired(self, now_ms: int) -> bool:
        return self.expires_at_ms != 0 and now_ms >= self.expires_at_ms

    def allows(self, kind: str, queue: str | None) -> bool:
        """``kind`` on ``queue``; ``queue=None`` is a global resource and needs pattern ``*``."""
        if self.superadmin:
            return True
        for p in self.permissions:
            if p.kind == kind and (p.pattern == "*" if queue is None
                                   else pattern_matches(p.pattern, queue)):
                return True
        return False

    def sees(self, queue: str) -> bool:
        """Any permission on ``queue``: it shows in ListQueues / WatchStats, GetStats answers."""
        return self.superadmin or any(pattern_matches(p.pattern, queue)
                                      for p in self.permissions)

    def to_json(self) -> bytes:
        return json.dumps({
            "name": self.name, "sha256": self.digest.hex(), "created_at_ms": self.created_at_ms,
            "expires_at_ms": self.expires_at_ms, "superadmin": self.superadmin,
            "acl": [[p.kind, p.pattern] for p in self.permissions],
        }).encode()

    @classmethod
    def from_json(cls, key_id: str, raw: bytes) -> ApiKey:
        doc = json.loads(raw)
        return cls(key_id, str(doc["name"]), bytes.fromhex(doc["sha256"]),
                   int(doc["created_at_ms"]), int(doc["expires_at_ms"]),
                   bool(doc["superadmin"]),
                   tuple(Permission(str(k), str(p)) for k, p in doc["acl"]))


def bearer_key(value: str | None) -> str | None:
    """The key in an ``authorization`` metadata value ``Bearer <key>`` (scheme case-insensitive)."""
    if value is None or value[:len(_BEARER)].lower() != _BEARER:
        return None
    return value[len(_BEARER):].strip() or None


class Keyring:
    """Every API key by digest, plus the bootstrap key. ``enabled``: auth is on."""

    def __init__(self, bootstrap_key: str = "") -> None:
        self.enabled = bool(bootstrap_key)
        self._by_id: dict[str, ApiKey] = {}
        self._by_digest: dict[bytes, ApiKey] = {}
        # Called with a key id after its revocation is durable (open streams close).
        self.revoked_listeners: list[Callable[[str], None]] = []
        if bootstrap_key:
            self._index(ApiKey(BOOTSTRAP_KEY_ID, "bootstrap (config)", digest(bootstrap_key),
                               0, superadmin=True))

    def _index(self, key: ApiKey) -> None:
        old = self._by_id.pop(key.key_id, None)
        if old is not None:
            self._by_digest.pop(old.digest, None)
        self._by_id[key.key_id] = key
        self._by_digest[key.digest] = key

    def load(self, records: Iterable[tuple[bytes, bytes]]) -> int:
        """Recovery: the ``k/`` records from the store. Returns how many were loaded."""
        n = 0
        for k, v in records:
            key_id = k[len(KEY_PREFIX):].decode()
            if key_id == BOOTSTRAP_KEY_ID:
                continue  # never stored; the config's key wins
            self._index(ApiKey.from_json(key_id, v))
            n += 1
        return n

    # ---- checks (every RPC) ----------------------------------------------------

    def authenticate(self, presented: str | None, now_ms: int) -> ApiKey:
        """The key for ``presented`` (the plaintext), or UnauthenticatedError."""
        if presented is None:
            raise UnauthenticatedError(
                'missing API key (send metadata "authorization: Bearer <key>")')
        d = digest(presented)
        key = self._by_digest.get(d)
        if key is None or not hmac.compare_digest(key.digest, d):
            raise UnauthenticatedError("invalid API key")
        if key.expired(now_ms):
            raise UnauthenticatedError(f'API key "{key.key_id}" has expired')
        return key

    # ---- key management (returns the batch to commit; apply() after it lands) ---

    def get(self, key_id: str) -> ApiKey:
        key = self._by_id.get(key_id)
        if key is None:
            raise NotFoundError(f'API key "{_short(key_id)}" does not exist')
        return key

    def list(self) -> list[ApiKey]:
        return sorted((k for k in self._by_id.values() if k.key_id != BOOTSTRAP_KEY_ID),
                      key=lambda k: (k.created_at_ms, k.key_id))

    def create(self, name: str, expires_at_ms: int, superadmin: bool, now_ms: int
               ) -> tuple[ApiKey, str, WriteBatch]:
        """A new key: (record, plaintext shown once, batch to commit)."""
        if not name:
            raise InvalidArgumentError("API key name must not be empty")
        if len(name.encode()) > MAX_NAME_BYTES:
            raise InvalidArgumentError(f"API key name is longer than {MAX_NAME_BYTES} bytes")
        if expires_at_ms and expires_at_ms <= now_ms:
            raise InvalidArgumentError("expires_at_ms is in the past")
        plaintext = _PLAINTEXT_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
        key = ApiKey(uuid.uuid4().hex, name, digest(plaintext), now_ms, expires_at_ms,
                     superadmin)
        return key, plaintext, self._put(key)

    def revoke(self, key_id: str) -> WriteBatch:
        self._mutable(key_id)
        batch = WriteBatch()
        batch.delete(KEY_PREFIX + key_id.encode())
        return batch

    def set_acl(self, key_id: str, permissions: Sequence[tuple[str, str]]
                ) -> tuple[ApiKey, WriteBatch]:
        key = self._mutable(key_id)
        if len(permissions) > MAX_PERMISSIONS:
            raise InvalidArgumentError(
                f"ACL has {len(permissions)} permissions (limit {MAX_PERMISSIONS})")
        perms: list[Permission] = []
        for kind, pattern in permissions:
            if kind not in KINDS:
                raise InvalidArgumentError(
                    f'unknown permission "{_short(kind)}" (expected {", ".join(KINDS)})')
            check_pattern(pattern)
            if Permission(kind, pattern) not in perms:
                perms.append(Permission(kind, pattern))
        updated = replace(key, permissions=tuple(perms))
        return updated, self._put(updated)

    def apply_put(self, key: ApiKey) -> None:
        self._index(key)

    def apply_revoke(self, key_id: str) -> None:
        key = self._by_id.pop(key_id, None)
        if key is not None:
            self._by_digest.pop(key.digest, None)
        for listener in self.revoked_listeners:
            listener(key_id)

    def _mutable(self, key_id: str) -> ApiKey:
        if key_id == BOOTSTRAP_KEY_ID:
            raise InvalidArgumentError(
                "the bootstrap key comes from the server's config; change it there")
        return self.get(key_id)

    @staticmethod
    def _put(key: ApiKey) -> WriteBatch:
        batch = WriteBatch()
        batch.put(KEY_PREFIX + key.key_id.encode(), key.to_json())
        return batch


# ---- the permission table: one row per RPC ---------------------------------------

QueuesOf = Callable[[Any], list[str | None]]


@dataclass(frozen=True, slots=True)
class Rule:
    """What an RPC needs. ``kind``: produce | consume | admin (on each queue ``queues``
    returns; None = global, needs pattern ``*``), ``see`` (any permission on the queue),
    ``key`` (any valid key; the answer is filtered to what the key may see), or
    ``superadmin`` (key management)."""

    kind: str
    queues: QueuesOf = lambda request: []


def _one(attr: str) -> QueuesOf:
    return lambda request: [getattr(request, attr)]


def _each(repeated: str, attr: str) -> QueuesOf:
    return lambda request: [getattr(item, attr) for item in getattr(request, repeated)]


def _global(request: Any) -> list[str | None]:
    return [None]


def _queue_or_global(request: Any) -> list[str | None]:
    return [request.queue or None]


_SVC = "/fila.v1.FilaService/"
_ADM = "/fila.v1.FilaAdmin/"

# Full gRPC method name -> Rule. A Fila method missing here is refused (fail closed);
# docs/security.md has the same table for people.
RULES: dict[str, Rule] = {
    _SVC + "Enqueue": Rule("produce", _one("queue")),
    _SVC + "EnqueueBatch": Rule("produce", _each("messages", "queue")),
    _SVC + "Consume": Rule("consume", _one("queue")),
    _SVC + "Ack": Rule("consume", _one("queue")),
    _SVC + "Nack": Rule("consume", _one("queue")),
    _SVC + "AckBatch": Rule("consume", _each("items", "queue")),
    _SVC + "NackBatch": Rule("consume", _each("items", "queue")),
    _SVC + "ExtendLease": Rule("consume", _one("queue")),
    _ADM + "ListMessages": Rule("consume", _one("queue")),
    _ADM + "CreateQueue": Rule("admin", _one("name")),
    _ADM + "DeleteQueue": Rule("admin", _one("queue")),
    _ADM + "UpdateQueue": Rule("admin", _one("name")),
    _ADM + "Redrive": Rule("admin", _one("dlq_queue")),
    _ADM + "DeleteMessage": Rule("admin", _one("queue")),
    _ADM + "PurgeQueue": Rule("admin", _one("queue")),
    _ADM + "TestHook": Rule("admin", _queue_or_global),
    _ADM + "SetConfig": Rule("admin", _global),
    _ADM + "GetConfig": Rule("admin", _global),
    _ADM + "ListConfig": Rule("admin", _global),
    _ADM + "GetStats": Rule("see", _one("queue")),
    _ADM + "GetStatsHistory": Rule("see", _one("queue")),
    _ADM + "GetQueue": Rule("see", _one("name")),
    _ADM + "ListQueues": Rule("key"),
    _ADM + "WatchStats": Rule("key"),
    _ADM + "GetServerInfo": Rule("key"),
    _ADM + "GetClusterStatus": Rule("key"),
    _ADM + "CreateApiKey": Rule("superadmin"),
    _ADM + "RevokeApiKey": Rule("superadmin"),
    _ADM + "ListApiKeys": Rule("superadmin"),
    _ADM + "SetAcl": Rule("superadmin"),
    _ADM + "GetAcl": Rule("superadmin"),
    # A copy of every queue's messages and every key's hash: superadmin only.
    _ADM + "Backup": Rule("superadmin"),
}

# WatchStats with a queue set is that queue's view: it needs "see" on it (checked by the
# guard through this rule; without a queue the answer is filtered instead).
WATCH_ONE_QUEUE = Rule("see", _one("queue"))


def authorize(rule: Rule | None, key: ApiKey, request: Any) -> None:
    """PermissionDeniedError unless ``key`` may make this call (``rule`` None: unknown RPC)."""
    if key.superadmin:
        return
    if rule is None or rule.kind == "superadmin":
        raise PermissionDeniedError("this call needs a superadmin key")
    if rule.kind == "key":
        return
    for queue in rule.queues(request):
        if rule.kind == "see":
            ok = queue is not None and key.sees(queue)
            what = "a permission"
        else:
            ok = key.allows(rule.kind, queue)
            what = f'"{rule.kind}" permission'
        if not ok:
            target = f'queue "{queue}"' if queue is not None else 'all queues ("*")'
            raise PermissionDeniedError(f"API key lacks {what} on {target}")
