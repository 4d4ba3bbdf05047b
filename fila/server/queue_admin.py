"""Queues, runtime config and hooks as the core sees them: admin changes.

Every change here is *commit, then apply*: a method validates and returns the batch with
``on_commit`` callbacks, which the shell runs once the batch is durable (in commit order).
No read sees a change that a failed commit takes back.
"""

from __future__ import annotations

from collections.abc import Iterable

from fila.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    OverloadedError,
)
from fila.server import keys
from fila.server.dispatch import Dispatcher
from fila.server.effects import Effects
from fila.server.hookguard import (
    Hooks,
)
from fila.server.model import (
    DLQ_SUFFIX,
    Event,
    QueueConfig,
    State,
    transition,
)
from fila.server.queues import (
    check_name,
    check_visibility,
)
from fila.server.runtime_config import LimitSetting, check_entry, parse_limit
from fila.server.store import WriteBatch

__all__ = ["QueueAdmin"]


# (index of the key prefix being purged, last key deleted under it)
PurgeCursor = tuple[int, bytes]


class QueueAdmin(Dispatcher):
    """Queue lifecycle, runtime config and installed hooks."""

    # ---- queues -----------------------------------------------------------------

    def create_queue(self, name: str, on_enqueue: str = "", on_failure: str = "",
                     visibility_timeout_ms: int = 0, hooks: Hooks | None = None
                     ) -> Effects:
        """Create ``name`` (and its DLQ). Visible only once the batch is durable.

        ``hooks`` are the scripts compiled by the shell (the core never runs Lua).
        """
        check_name(name)
        if name.endswith(DLQ_SUFFIX):
            raise InvalidArgumentError(
                f'queue names ending in "{DLQ_SUFFIX}" are reserved for dead-letter queues '
                f'(creating "{name[:-len(DLQ_SUFFIX)]}" creates "{name}")')
        if name in self._queues or name in self._creating:
            raise AlreadyExistsError(f'queue "{name}" already exists')
        vt = check_visibility(visibility_timeout_ms)
        dlq = name + DLQ_SUFFIX
        now_ms = self._clock.wall_ms()
        new = [QueueConfig(name, on_enqueue, on_failure, vt, dlq, now_ms)]
        if dlq not in self._queues and dlq not in self._creating:
            new.append(QueueConfig(dlq, created_at_ms=now_ms))
        if len(self._queues) + len(self._creating) + len(new) > self.settings.max_queues:
            raise OverloadedError(f"too many queues (limit {self.settings.max_queues})")
        effects = Effects()
        names = [c.name for c in new]
        self._creating.update(names)
        for config in new:
            effects.batch.put(keys.queue(config.name), config.encode())

        def apply() -> Effects:
            self._creating.difference_update(names)
            for i, config in enumerate(new):
                self._new_queue(config, hooks if i == 0 else None)
            return Effects()

        def undo() -> Effects:
            self._creating.difference_update(names)
            return Effects()

        effects.on_commit.append(apply)
        effects.undo.append(undo)
        return effects

    def delete_queue(self, name: str) -> Effects:
        """Delete ``name`` and its DLQ once the batch removing their configs is durable.

        Their message records are removed afterwards by :meth:`purge_batch`, chunk by chunk
        (recovery drops whatever a crash leaves of them: records of no queue).
        """
        q = self._queue(name)
        doomed = [name]
        dlq = q.config.dead_letter_queue
        if dlq and dlq in self._queues:
            doomed.append(dlq)
        effects = Effects()
        for qname in doomed:
            effects.batch.delete(keys.queue(qname))
        incarnations = {n: self._queues[n].incarnation for n in doomed}

        def apply() -> Effects:
            done = Effects()
            for qname, inc in incarnations.items():
                dq = self._queues.get(qname)
                if dq is None or dq.incarnation != inc:
                    continue
                del self._queues[qname]
                for rec in list(dq.msgs.values()):
                    self._forget(qname, dq, rec, done)
                for cid in list(dq.consumers):
                    self._consumers.pop(cid, None)
                    done.closed.append(cid)
                dq.guard.close()
                self._purging.add(qname)
            return done

        effects.on_commit.append(apply)
        return effects

    def purge_batch(self, name: str, limit: int, after: PurgeCursor | None = None
                    ) -> tuple[WriteBatch, PurgeCursor] | None:
        """The next chunk of a deleted queue's stored records to remove (None: all gone),
        and where the chunk after it starts.

        ``after`` is the cursor the previous chunk returned: each scan resumes past the last
        key deleted. Starting from the prefix again would walk every tombstone the earlier
        chunks left (RocksDB keeps them until a compaction), which made purging a large
        queue quadratic and starved the rest of the broker while it ran.
        """
        batch = WriteBatch()
        prefixes = (keys.msg_prefix(name), keys.payload_prefix(name), keys.lease_prefix(name))
        first, last = after if after is not None else (0, b"")
        cursor: PurgeCursor = (len(prefixes), b"")
        for i in range(first, len(prefixes)):
            start = last + b"\x00" if i == first and last else None
            for key, _ in self._store.scan(prefixes[i], start):
                batch.delete(key)
                cursor = (i, key)
                if len(batch) >= limit:
                    return batch, cursor
        if len(batch):
            return batch, (len(prefixes), b"")  # every prefix is exhausted
        self._purging.discard(name)
        return None

    # ---- purge (a live queue) ----------------------------------------------------

    def purge_candidates(self, name: str) -> list[str]:
        """Ids a purge removes now: every ready or delayed message of ``name``.

        Taken once, up front (like a redrive's): messages enqueued while a chunked purge
        runs are not part of it. Leased messages are left to their consumers.
        """
        q = self._queue(name)
        return [rec.id for rec in q.msgs.values() if rec.state != State.LEASED]

    def purge_ids(self, name: str, ids: Iterable[str]) -> tuple[int, Effects]:
        """Remove these messages of ``name``; ones settled or leased since they were chosen
        are skipped (a lease in progress is never cut short). Returns how many went."""
        q = self._queue(name)
        effects = Effects()
        count = 0
        for msg_id in ids:
            rec = q.msgs.get(msg_id)
            if rec is None or rec.state == State.LEASED:
                continue
            count += 1
            transition(rec.state, Event.DELETE)  # what DeleteMessage does, message by message
            self._forget(name, q, rec, effects)
            self._fresh.discard(rec.id)
            effects.batch.delete(keys.msg(name, rec.id))
            effects.batch.delete(keys.payload(name, rec.id))
            effects.touched.append((name, rec.id))
        q.counters["purged"] += count
        return count, effects

    def purging(self, name: str) -> bool:
        """True while a deleted queue's records are still being removed."""
        return name in self._purging

    def update_queue(self, name: str, on_enqueue: str | None = None,
                     on_failure: str | None = None,
                     visibility_timeout_ms: int | None = None,
                     hooks: Hooks | None = None) -> tuple[QueueConfig, Effects]:
        """Change hooks and/or the visibility timeout; applied once durable.

        When a script changes, ``hooks`` is the new pair compiled by the shell.
        """
        q = self._queue(name)
        old = q.config
        new_enqueue = old.on_enqueue_script if on_enqueue is None else on_enqueue
        new_failure = old.on_failure_script if on_failure is None else on_failure
        vt = old.visibility_timeout_ms
        if visibility_timeout_ms is not None:
            vt = check_visibility(visibility_timeout_ms)
        scripts_changed = on_enqueue is not None or on_failure is not None
        config = QueueConfig(name, new_enqueue, new_failure, vt, old.dead_letter_queue,
                             old.created_at_ms)
        effects = Effects()
        effects.batch.put(keys.queue(name), config.encode())

        def apply() -> Effects:
            if self._queues.get(name) is not q:
                return Effects()  # deleted meanwhile
            q.config = config
            if scripts_changed:
                q.guard.replace(hooks)
            return Effects()

        effects.on_commit.append(apply)
        return config, effects

    # ---- runtime config ---------------------------------------------------------

    def set_config(self, key: str, value: str) -> Effects:
        value = check_entry(key, value)
        setting = parse_limit(key, value)
        limit = self.settings.max_config_entries
        if key not in self._config and value != "" and len(self._config) >= limit:
            raise OverloadedError(f"too many config entries (limit {limit})")
        effects = Effects()
        if value == "":
            effects.batch.delete(keys.config(key))
        else:
            effects.batch.put(keys.config(key), value.encode())
        effects.on_commit.append(lambda: self._write_config(key, value, setting))
        return effects

    def _write_config(self, key: str, value: str, setting: LimitSetting | None) -> Effects:
        """Set (or with "" remove) a durable config key in memory and its limit."""
        effects = Effects()
        if value == "":
            self._config.pop(key, None)
        else:
            self._config[key] = value
        if setting is not None:
            self._apply_limit(setting)
            self._wake_limit(setting.key, effects)
        return effects

    def _apply_limit(self, setting: LimitSetting) -> None:
        if setting.kind == "throttle":
            if setting.remove:
                self._limits.remove_throttle(setting.key)
            else:
                self._limits.set_throttle(setting.key, setting.rate, setting.burst,
                                          self._clock.monotonic())
        elif setting.remove:
            self._limits.remove_cap(setting.key)
        else:
            self._limits.set_cap(setting.key, setting.cap)

    # ---- hooks ------------------------------------------------------------------

    def hook_done(self, queue: str, hooks: Hooks, error: str | None = None, *,
                  stuck: bool = False) -> None:
        """The shell ran ``hooks`` of ``queue``: feed its breaker (see HookGuard.done)."""
        q = self._queues.get(queue)
        if q is not None and q.guard.done(hooks, error, self._clock.wall_ms(), stuck=stuck) \
                and error is not None:
            q.counters["hook_failures"] += 1

    def scripted_queues(self) -> list[QueueConfig]:
        """Configs of queues that have scripts but no compiled hooks (after recovery)."""
        return [q.config for q in self._queues.values()
                if q.guard.hooks is None and (q.config.on_enqueue_script.strip()
                                        or q.config.on_failure_script.strip())]

    def install_hooks(self, name: str, hooks: Hooks | None, error: str = "") -> None:
        """Attach hooks compiled by the shell after recovery (``error``: they did not compile,
        the queue runs without them and its stats say why)."""
        q = self._queues.get(name)
        if q is None:
            return
        if error:
            q.guard.drop(error)
        else:
            q.guard.replace(hooks)
