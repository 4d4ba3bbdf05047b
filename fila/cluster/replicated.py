"""Cluster-wide runtime config and API keys: KV buckets every node applies to itself.

Runtime config (SetConfig keys) and API keys (with their ACLs) are not per queue, so they
have no owner and no log. A change is made on the node that received it (validated and
durable there, as on a single node), then written to its KV bucket; every node's poll
(fila/cluster/node.py, once per round) applies what the buckets say to its own engine,
store and keyring. The buckets are the truth: a node joining a cluster takes their content
in place of its own.
"""

from __future__ import annotations

from nats.js.client import JetStreamContext

from fila.cluster.kvmap import KvMap
from fila.server.auth import BOOTSTRAP_KEY_ID, KEY_PREFIX, ApiKey, Keyring
from fila.server.engine import Engine
from fila.server.store import Store, WriteBatch

__all__ = ["CONFIG_BUCKET", "KEYS_BUCKET", "SharedSettings"]

CONFIG_BUCKET = "fila_config"
KEYS_BUCKET = "fila_apikeys"


class SharedSettings:
    """See the module docstring. Create with :meth:`open`."""

    def __init__(self, config: KvMap, keys: KvMap) -> None:
        self._config = config
        self._keys = keys

    @classmethod
    async def open(cls, js: JetStreamContext, *, replicas: int) -> SharedSettings:
        return cls(await KvMap.open(js, CONFIG_BUCKET, replicas=replicas),
                   await KvMap.open(js, KEYS_BUCKET, replicas=replicas))

    async def set_config(self, key: str, value: str) -> None:
        """Replicate a runtime config change (already applied here) to every node."""
        if value == "":
            await self._config.delete(key)
        else:
            await self._config.put(key, value)

    async def push_key(self, store: Store, key_id: str) -> None:
        """Replicate API key ``key_id`` as ``store`` has it now (created, ACL changed, or
        gone: revoked) to every node."""
        raw = store.get(KEY_PREFIX + key_id.encode())
        if raw is None:
            await self._keys.delete(key_id)
        else:
            await self._keys.put(key_id, raw.decode())

    async def pull(self, engine: Engine, store: Store, keyring: Keyring | None) -> None:
        """Apply the buckets' config and keys to this node."""
        wanted = await self._config.read()
        for key, value in wanted.items():
            if engine.broker.get_config(key) != value:
                await engine.set_config(key, value)
        for key, _ in engine.broker.list_config():
            if key not in wanted:
                await engine.set_config(key, "")
        if keyring is not None:
            await self._pull_keys(engine, store, keyring)

    async def _pull_keys(self, engine: Engine, store: Store, keyring: Keyring) -> None:
        wanted = await self._keys.read()
        have = {k[len(KEY_PREFIX):].decode(): v.decode() for k, v in store.scan(KEY_PREFIX)}
        batch = WriteBatch()
        puts, gone = [], []
        for key_id, record in wanted.items():
            if have.get(key_id) != record and key_id != BOOTSTRAP_KEY_ID:
                batch.put(KEY_PREFIX + key_id.encode(), record.encode())
                puts.append(ApiKey.from_json(key_id, record.encode()))
        for key_id in have.keys() - wanted.keys():
            batch.delete(KEY_PREFIX + key_id.encode())
            gone.append(key_id)
        if not len(batch):
            return
        await engine.write(batch)
        for key in puts:
            keyring.apply_put(key)
        for key_id in gone:
            keyring.apply_revoke(key_id)
