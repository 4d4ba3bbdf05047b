"""Who holds each lease, and who held one that ended unsettled (the stale-ack rule).

A lease is granted to a consumer stream, which has a client connection (``peer``) and,
for streams opened by our client, a token it sends back with acks and nacks. When a lease
ends without being settled (it expired, or its stream closed) its holder is remembered as
*stale* for that message; an ack or nack from a stale holder while someone else holds the
new lease is refused, so it cannot settle a message now leased to another consumer.

Pure bookkeeping (no I/O, no clock); the core calls it at the lifecycle points.
"""

from __future__ import annotations

__all__ = ["LeaseTable"]


class LeaseTable:
    __slots__ = ("_holder", "_owner", "_stale")

    def __init__(self) -> None:
        self._owner: dict[str, int] = {}  # message id -> consumer id holding its lease
        self._holder: dict[str, tuple[str, str]] = {}  # message id -> (peer, stream token)
        self._stale: dict[str, set[str]] = {}  # message id -> {"p:<peer>", "t:<token>"}

    def grant(self, msg_id: str, consumer: int, peer: str, token: str) -> None:
        self._owner[msg_id] = consumer
        if peer or token:
            self._holder[msg_id] = (peer, token)

    def owner(self, msg_id: str) -> int | None:
        return self._owner.get(msg_id)

    def orphan(self, msg_id: str) -> None:
        """Its stream closed: the lease runs out its grace with no consumer behind it."""
        self._owner.pop(msg_id, None)

    def end(self, msg_id: str, *, unsettled: bool) -> int | None:
        """The lease is over; returns the consumer that held it (None if orphaned).

        ``unsettled``: it expired or was released, so its holder becomes stale.
        """
        holder = self._holder.pop(msg_id, None)
        if unsettled and holder is not None:
            stale = self._stale.setdefault(msg_id, set())
            if holder[0]:
                stale.add("p:" + holder[0])
            if holder[1]:
                stale.add("t:" + holder[1])
        return self._owner.pop(msg_id, None)

    def is_stale(self, msg_id: str, peer: str, token: str) -> bool:
        """Would an ack from (peer, token) settle a lease someone else now holds?

        A stream token (sent by our client) tells two streams on one connection apart;
        without one the connection is the best identity there is.
        """
        stale = self._stale.get(msg_id)
        if not stale or not (token or peer):
            return False
        who = "t:" + token if token else "p:" + peer
        holder = self._holder.get(msg_id)
        current = None
        if holder is not None:
            current = "t:" + holder[1] if token else "p:" + holder[0]
        return who in stale and current != who

    def forget(self, msg_id: str) -> None:
        """The message is gone (acked, dead-lettered, deleted): drop its stale holders."""
        self._stale.pop(msg_id, None)
