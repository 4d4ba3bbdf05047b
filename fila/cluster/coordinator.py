"""One node's side of queue ownership: stay registered, hold the queues the plan gives it.

Each round (every ``ttl / 3`` seconds when started; tests call :meth:`Coordinator.step`):

1. renew this node's liveness lease (re-register if it lapsed) and every queue lease held;
   a queue whose lease is refused or ran out is *lost* (``on_lost``);
2. read the live nodes and the current holders, and compute the balanced plan
   (fila/cluster/assign.py) over the queues ``queues()`` names;
3. take the free leases the plan gives this node (``on_acquired``), and give up the ones it
   gives to another live node (``on_lost``), so a node that joins gets its share.

The callbacks are where the server will start and stop serving a queue (take_over, then
serve; stop at once). They run on the event loop and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

import nats.errors

from fila.cluster.assign import balanced_assignment
from fila.cluster.ownership import Lease, LeaseTable

__all__ = ["Coordinator"]


class Coordinator:
    def __init__(
        self,
        table: LeaseTable,
        queues: Callable[[], Iterable[str]],
        *,
        on_acquired: Callable[[str, Lease], None] = lambda queue, lease: None,
        on_lost: Callable[[str], None] = lambda queue: None,
    ) -> None:
        self._table = table
        self._queues = queues
        self._on_acquired = on_acquired
        self._on_lost = on_lost
        self.node_id = table.node_id
        self.owned: dict[str, Lease] = {}
        self._registration: Lease | None = None
        self._task: asyncio.Task[None] | None = None

    def owns(self, queue: str) -> bool:
        """True while this node may serve ``queue`` (its lease is valid by the local clock)."""
        lease = self.owned.get(queue)
        return lease is not None and lease.valid()

    async def step(self) -> None:
        """One round; see the module docstring."""
        await self._stay_registered()
        for queue, lease in list(self.owned.items()):
            if not await self._table.renew(lease) or not lease.valid():
                self._lose(queue)
        live = set(await self._table.live_nodes())
        if self._registration is not None and self._registration.valid():
            live.add(self.node_id)  # our own view of ourselves, even if the scan raced
        holders = await self._table.holders()
        queues = list(self._queues())
        if not live or not queues:
            return
        current = {q: h.node for q, h in holders.items()}
        # What this node holds it knows first-hand; a scan that missed a key must not make
        # it give a queue away.
        current.update(dict.fromkeys(self.owned, self.node_id))
        plan = balanced_assignment(queues, live, current)
        for queue, node in sorted(plan.items()):
            if node == self.node_id and queue not in self.owned and queue not in holders:
                got = await self._table.acquire(queue)
                if got is not None:
                    self.owned[queue] = got
                    self._on_acquired(queue, got)
            elif node != self.node_id and queue in self.owned:
                # Planned elsewhere: hand it over (the new holder catches up from the log).
                held = self.owned[queue]
                self._lose(queue)
                await self._table.release(held)
        for queue in [q for q in self.owned if q not in plan]:
            held = self.owned[queue]  # the queue is gone
            self._lose(queue)
            await self._table.release(held)

    async def _stay_registered(self) -> None:
        reg = self._registration
        if reg is not None and await self._table.renew(reg):
            return
        self._registration = await self._table.register()

    def _lose(self, queue: str) -> None:
        lease = self.owned.pop(queue)
        lease.lost = True
        self._on_lost(queue)

    async def take(self, queue: str) -> bool:
        """Acquire ``queue`` now if nobody holds it (a queue just created on this node),
        instead of waiting for the next round; False if another node holds it. The plan
        may still hand it to another node later."""
        if queue in self.owned:
            return True
        got = await self._table.acquire(queue)
        if got is None:
            return False
        if queue in self.owned:  # a round acquired it meanwhile: keep that lease
            await self._table.release(got)
            return True
        self.owned[queue] = got
        self._on_acquired(queue, got)
        return True

    async def give_up(self, queue: str) -> None:
        """Stop holding ``queue`` now and release its lease (fenced by its log, or the
        take-over failed): another node may take it at once."""
        lease = self.owned.get(queue)
        if lease is None:
            return
        self._lose(queue)
        with contextlib.suppress(nats.errors.Error, OSError):
            await self._table.release(lease)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        interval = self._table.ttl / 3
        while True:
            # NATS trouble (a node's loss, an election): try again next round; the leases
            # lapse by themselves (and owns() turns false) if it lasts.
            with contextlib.suppress(nats.errors.Error, OSError):
                await self.step()
            for queue in [q for q, lease in self.owned.items() if not lease.valid()]:
                self._lose(queue)
            await asyncio.sleep(interval)  # the round period, not a synchronisation

    async def stop(self, *, release: bool = True) -> None:
        """Stop the rounds; with ``release``, give up every lease now (a clean shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if release:
            for queue in list(self.owned):
                lease = self.owned[queue]
                self._lose(queue)
                await self._table.release(lease)
            if self._registration is not None:
                await self._table.release(self._registration)
                self._registration = None
