"""The blocking client's public API as a Protocol. GENERATED: do not edit.

Written by ``python scripts/gen_sync_client.py`` from :class:`fila.client.Client`
(itself generated from ``fila/_async_client.py``): signatures and docstrings only.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Protocol

from fila._acker import BlockingAcker
from fila.errors import FilaError
from fila.types import (
    Acl,
    ApiKeyInfo,
    BackupInfo,
    ClusterStatus,
    ConsumeMessage,
    CreatedApiKey,
    EnqueueItem,
    HookResult,
    ListedMessage,
    QueueDetails,
    QueueInfo,
    QueueStats,
    ServerInfo,
    StatsHistory,
    StatsSnapshot,
)

__all__ = ["ClientAPI"]


class ClientAPI(Protocol):
    """What :class:`fila.client.Client` offers, method for method."""

    def close(self) -> None:
        """Close the channel; open streams end."""
        ...

    def enqueue(
        self,
        queue: str,
        headers: dict[str, str] | None,
        payload: bytes,
        *,
        delay_ms: int = 0,
    ) -> str:
        """Enqueue a message and return its id (UUIDv7).

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: a bad name, header or delay, or the message is too large.
            OverloadedError: the broker is overloaded or out of disk space; try again later.
        """
        ...

    def consume(
        self, queue: str, *, prefetch: int = 0, max_batch: int = 0
    ) -> Generator[ConsumeMessage, None, None]:
        """Stream leased messages from ``queue``; keepalive frames are skipped.

        ``max_batch`` > 1 lets the broker pack up to that many waiting messages in one
        frame (fewer round trips); the stream still yields them one by one, in order.

        In cluster mode a node that does not own ``queue`` (or stops owning it) ends the
        stream UNAVAILABLE naming the owner (``x-fila-leader-addr``); the stream then
        goes on from the owner, over a channel with the same TLS settings and API key,
        and acks and nacks of what it delivers go there too. At most 5 redirects in a
        row without a message in between.

        Raises (while iterating):
            QueueNotFoundError: the queue does not exist, or was deleted.
            OverloadedError: too many consume streams.
            UnavailableError: the broker went away.
        """
        ...

    def ack(self, queue: str, message_id: str) -> None:
        """Acknowledge a leased message (it is deleted).

        Raises:
            MessageNotFoundError: no current lease for that message.
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def enqueue_many(self, items: Sequence[EnqueueItem]) -> list[str | FilaError]:
        """Enqueue several messages in one call and one durable commit on the broker.

        Returns one entry per item, in order: the new message id, or the error of that
        item alone (e.g. ``QueueNotFoundError``, ``InvalidArgumentError``); the other
        items are stored regardless.

        Raises:
            InvalidArgumentError: more than 1000 items (nothing is stored), or the request
                is larger than the broker accepts.
            OverloadedError: the broker is overloaded or out of disk space; try again later.
        """
        ...

    def ack_many(self, queue: str, message_ids: Sequence[str]) -> list[FilaError | None]:
        """Acknowledge several leased messages of ``queue`` in one call.

        Returns one entry per id, in order: None when acknowledged, else that item's
        error (``MessageNotFoundError`` for no current lease, ``InvalidArgumentError``
        for a malformed id, ``QueueNotFoundError``).

        Raises:
            InvalidArgumentError: more than 1000 ids (nothing is acknowledged).
        """
        ...

    def nack_many(
        self, queue: str, message_ids: Sequence[str], error: str
    ) -> list[FilaError | None]:
        """Report several messages of ``queue`` as failed (``error`` for each) in one call.

        Returns one entry per id, in order: None when settled, else that item's error,
        as for :meth:`ack_many`.

        Raises:
            InvalidArgumentError: more than 1000 ids (nothing is settled).
        """
        ...

    def acker(self, queue: str, *, max_batch: int = 100, max_delay: float = 0.05) -> BlockingAcker:
        """A helper that acks messages of ``queue`` in batches (AckBatch RPCs).

        ``acker.ack(id)`` records an id; they are sent together when ``max_batch`` are
        waiting, ``max_delay`` seconds after the first, on ``flush()`` and on close
        (use it as a context manager).

        Raises:
            Nothing: an id the broker refuses (or an AckBatch that fails as a whole) is
            returned by ``acker.flush()`` and kept in ``acker.failed`` as ``(id, error)``.
        """
        ...

    def extend_lease(self, queue: str, message_id: str, extend_ms: int) -> None:
        """Keep a lease this client holds: it now ends ``extend_ms`` from now (max 12 h).

        Raises:
            MessageNotFoundError: no current lease for that message (as for ``ack``).
            InvalidArgumentError: ``extend_ms`` outside 1..43200000, or a malformed id.
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def nack(self, queue: str, message_id: str, error: str) -> None:
        """Report a failed message; the queue's on_failure hook decides retry or DLQ.

        Raises:
            MessageNotFoundError: no current lease for that message.
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def create_queue(
        self,
        name: str,
        *,
        on_enqueue: str = "",
        on_failure: str = "",
        visibility_timeout_ms: int = 0,
    ) -> str:
        """Create a queue (and its ``.dlq``); return its id (the name).

        Raises:
            AlreadyExistsError: a queue with that name exists.
            InvalidArgumentError: a bad or reserved (``.dlq``) name, a bad timeout, or a
                script that does not compile.
            OverloadedError: the broker's queue limit is reached.
        """
        ...

    def delete_queue(self, name: str) -> None:
        """Delete a queue, its ``.dlq`` and all their messages.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def purge_queue(self, name: str) -> int:
        """Remove the queue's ready and delayed messages; return how many went.

        Leased messages stay with their consumers (they are acked, nacked or expire as
        usual). Messages enqueued while a large purge runs may survive it.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def list_queues(self) -> list[QueueInfo]:
        """Every queue with its depth, in-flight count and consumers.

        Raises:
            UnavailableError: the broker is shutting down.
        """
        ...

    def get_stats(self, queue: str) -> QueueStats:
        """Depth, in-flight, fairness and throttle state of one queue.

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: ``queue`` is empty.
        """
        ...

    def get_queue(self, name: str) -> QueueDetails:
        """A queue's settings: hook scripts, visibility timeout, dead-letter queue.

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def update_queue(
        self,
        name: str,
        *,
        on_enqueue: str | None = None,
        on_failure: str | None = None,
        visibility_timeout_ms: int | None = None,
    ) -> QueueDetails:
        """Change only the given settings; an empty script removes that hook.

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: a bad timeout, or a script that does not compile.
        """
        ...

    def set_config(self, key: str, value: str) -> None:
        """Set a runtime config key (``throttle.*``, ``concurrency.*``, ...); "" unsets it.

        Raises:
            InvalidArgumentError: an empty key, or a value the key does not accept.
        """
        ...

    def get_config(self, key: str) -> str | None:
        """The value, or None when the key is not set.

        Raises:
            InvalidArgumentError: ``key`` is empty.
        """
        ...

    def list_config(self, prefix: str = "") -> list[tuple[str, str]]:
        """Every ``(key, value)`` whose key starts with ``prefix``, sorted by key.

        Raises:
            UnavailableError: the broker cannot be reached.
        """
        ...

    def redrive(
        self,
        dlq: str,
        count: int = 0,
        *,
        fairness_key: str = "",
        dry_run: bool = False,
        message_id: str = "",
    ) -> int:
        """Move up to ``count`` (0 = all) messages from ``dlq`` to its parent; return how many.

        ``message_id``: only that message (``fairness_key``, if given, must match it).

        Raises:
            QueueNotFoundError: the dead-letter queue does not exist.
            MessageNotFoundError: ``message_id`` is not in the dead-letter queue.
            InvalidArgumentError: ``dlq`` is not a dead-letter queue (no ``.dlq`` suffix).
            FailedPreconditionError: its parent queue does not exist, or ``message_id``
                is leased by a consumer.
        """
        ...

    def delete_message(self, queue: str, message_id: str) -> str:
        """Delete one message for good; returns the state it was in ("ready" or "delayed").

        Raises:
            QueueNotFoundError: the queue does not exist.
            MessageNotFoundError: no message with that id is in the queue.
            FailedPreconditionError: the message is leased by a consumer (nack it, or wait
                for its lease to expire).
            InvalidArgumentError: ``message_id`` is empty or not a UUID.
        """
        ...

    def test_hook(
        self,
        hook: str,
        script: str,
        *,
        headers: dict[str, str] | None = None,
        payload_size: int = 0,
        queue: str = "",
        attempts: int = 1,
        error: str = "",
        message_id: str = "",
    ) -> HookResult:
        """Run ``script``'s ``hook`` on a sample message without touching any queue.

        A script that fails at run time is a result (``HookResult.error``), not an error.

        Raises:
            InvalidArgumentError: an unknown hook name, or a script that does not compile.
        """
        ...

    def list_messages(
        self, queue: str, *, fairness_key: str = "", limit: int = 100, page_token: str = ""
    ) -> tuple[list[ListedMessage], str]:
        """One page of messages (not leased by looking) and the next page token ("" at end).

        Raises:
            QueueNotFoundError: the queue does not exist.
        """
        ...

    def watch_stats(
        self, queue: str = "", *, interval_ms: int = 1000, top_keys: int = 50
    ) -> Generator[StatsSnapshot, None, None]:
        """Stream live snapshots every ``interval_ms`` (all queues when ``queue`` is "").

        Raises (while iterating):
            QueueNotFoundError: ``queue`` does not exist.
            OverloadedError: too many WatchStats streams are open.
            UnavailableError: the broker went away.
        """
        ...

    def server_info(self) -> ServerInfo:
        """Version, features, uptime, storage counters and data-dir size of the broker.

        Raises:
            UnavailableError: the broker cannot be reached.
        """
        ...

    def cluster_status(self) -> ClusterStatus:
        """The answering node's view of its cluster: live nodes, each queue's owner and
        how far this node has applied the queue's log. ``enabled`` is False on a single
        node (nothing else is set then).

        Raises:
            RPCError: ``code_name`` ``UNIMPLEMENTED`` from a server older than cluster mode.
        """
        ...

    def create_api_key(
        self, name: str, *, expires_at_ms: int = 0, is_superadmin: bool = False
    ) -> CreatedApiKey:
        """Create an API key; the plaintext ``key`` is returned this once (the broker keeps
        only its hash). ``expires_at_ms``: wall-clock expiry in Unix ms (0 = never).

        Raises:
            InvalidArgumentError: an empty name, or an expiry in the past.
            PermissionDeniedError: the caller is not a superadmin.
        """
        ...

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke a key: its next call is refused and its open streams end.

        Raises:
            NotFoundError: no key with that id.
            PermissionDeniedError: the caller is not a superadmin.
        """
        ...

    def list_api_keys(self) -> list[ApiKeyInfo]:
        """Every stored key (never the key itself), oldest first.

        Raises:
            PermissionDeniedError: the caller is not a superadmin.
        """
        ...

    def set_acl(self, key_id: str, permissions: Sequence[tuple[str, str]]) -> None:
        """Replace a key's permissions: (kind, pattern) pairs, kind ``produce``, ``consume``
        or ``admin``, pattern a queue name, ``*`` or a prefix such as ``orders.*``.

        Raises:
            NotFoundError: no key with that id.
            InvalidArgumentError: an unknown kind or a malformed pattern.
            PermissionDeniedError: the caller is not a superadmin.
        """
        ...

    def get_acl(self, key_id: str) -> Acl:
        """A key's permissions.

        Raises:
            NotFoundError: no key with that id.
            PermissionDeniedError: the caller is not a superadmin.
        """
        ...

    def backup(self, dest: str) -> BackupInfo:
        """Have the broker write a consistent checkpoint of its data into ``dest``.

        ``dest`` is a path on the server's machine: absolute, not existing yet, its parent
        existing. Traffic goes on meanwhile. Restore with ``fila-server restore DEST``.

        Raises:
            InvalidArgumentError: ``dest`` is not a new absolute path outside the data dir.
            OverloadedError: another backup is running.
            StorageError: RocksDB could not write the checkpoint.
        """
        ...

    def stats_history(
        self, queue: str, *, fairness_key: str = "", seconds: int = 0
    ) -> StatsHistory:
        """The server's per-second samples of ``queue`` (rates, depth, wait p95, throttle
        hits) and of its busiest keys, for the last ``seconds`` (0 = all it keeps).
        ``fairness_key`` keeps only that key's series (none if the server does not track it).

        Raises:
            QueueNotFoundError: the queue does not exist.
            InvalidArgumentError: ``queue`` is empty.
            RPCError: ``code_name`` ``UNIMPLEMENTED`` from a server older than the history.
        """
        ...
