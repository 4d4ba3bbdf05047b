"""One error tree for server and client, and the one table that maps it to gRPC.

    class                         status code           reason (trailing metadata)
    FilaError
    ├── NotFoundError             NOT_FOUND             NOT_FOUND
    │   ├── QueueNotFoundError                          QUEUE_NOT_FOUND
    │   └── MessageNotFoundError                        MESSAGE_NOT_FOUND
    └── RPCError                  any other status (``.code``: the grpc.StatusCode)
        ├── InvalidArgumentError      INVALID_ARGUMENT      INVALID_ARGUMENT
        ├── AlreadyExistsError        ALREADY_EXISTS        ALREADY_EXISTS
        ├── FailedPreconditionError   FAILED_PRECONDITION   FAILED_PRECONDITION
        ├── OverloadedError           RESOURCE_EXHAUSTED    OVERLOADED
        ├── UnavailableError          UNAVAILABLE           UNAVAILABLE
        ├── StorageError              INTERNAL              STORAGE
        ├── UnauthenticatedError      UNAUTHENTICATED       UNAUTHENTICATED
        └── PermissionDeniedError     PERMISSION_DENIED     PERMISSION_DENIED

As in the published fila-python SDK, a missing queue or message is a
QueueNotFoundError / MessageNotFoundError and every other failure is an
RPCError whose ``code`` is a ``grpc.StatusCode``; the subclasses let callers
branch without comparing codes.

The server raises these from the core; ``service.py`` turns them into a status
with the class's ``code_name`` and sends the class's ``reason`` as trailing
metadata (``fila-error-reason: QUEUE_NOT_FOUND``). The client turns a status
back with :func:`from_status`: by the reason when there is one, so the class a
caller gets never depends on the wording of a message; by the status code (and,
for NOT_FOUND, the published SDK's text rule) when a server sends none. ``grpc``
is not imported here: the table uses status code *names* so the core can import
this module without grpc.
"""

from __future__ import annotations

from typing import Any

# Trailing-metadata key of the machine-readable reason: one of the classes' ``reason``.
REASON_KEY = "fila-error-reason"
# Trailing metadata of an UNAVAILABLE Consume in cluster mode: HOST:PORT of the node that
# serves the queue (the key the published SDKs follow).
LEADER_ADDR_KEY = "x-fila-leader-addr"

__all__ = [
    "LEADER_ADDR_KEY",
    "REASON_KEY",
    "AlreadyExistsError",
    "FailedPreconditionError",
    "FilaError",
    "InvalidArgumentError",
    "MessageNotFoundError",
    "NotFoundError",
    "OverloadedError",
    "PermissionDeniedError",
    "QueueNotFoundError",
    "RPCError",
    "StorageError",
    "UnauthenticatedError",
    "UnavailableError",
    "code_name_for",
    "from_status",
]


class FilaError(Exception):
    """Base of every error Fila raises."""

    code_name = "UNKNOWN"
    # What the server sends as REASON_KEY for this class (and its subclasses that do not
    # set their own); "" sends none, and the client maps by status code alone.
    reason = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class RPCError(FilaError):
    """Any failure other than a missing queue or message; ``code`` says which."""

    def __init__(self, message: str = "", code_name: str | None = None) -> None:
        super().__init__(message)
        if code_name is not None:
            self.code_name = code_name

    @property
    def code(self) -> Any:
        """The ``grpc.StatusCode`` (as the published SDK exposes it)."""
        import grpc  # lazily: the server core imports this module without grpc

        return grpc.StatusCode[self.code_name]


class InvalidArgumentError(RPCError):
    """The request is malformed or a value is out of range."""

    code_name = "INVALID_ARGUMENT"
    reason = "INVALID_ARGUMENT"


class NotFoundError(FilaError):
    """The named thing does not exist."""

    code_name = "NOT_FOUND"
    reason = "NOT_FOUND"


class QueueNotFoundError(NotFoundError):
    """The queue does not exist."""

    reason = "QUEUE_NOT_FOUND"


class MessageNotFoundError(NotFoundError):
    """No current lease for that message in that queue."""

    reason = "MESSAGE_NOT_FOUND"


class AlreadyExistsError(RPCError):
    """A queue with that name exists already."""

    code_name = "ALREADY_EXISTS"
    reason = "ALREADY_EXISTS"


class FailedPreconditionError(RPCError):
    """The request is valid but the broker's state does not allow it."""

    code_name = "FAILED_PRECONDITION"
    reason = "FAILED_PRECONDITION"


class OverloadedError(RPCError):
    """The broker is overloaded (or out of space); try again later."""

    code_name = "RESOURCE_EXHAUSTED"
    reason = "OVERLOADED"


class UnavailableError(RPCError):
    """The broker is shutting down, not ready, or unreachable."""

    code_name = "UNAVAILABLE"
    reason = "UNAVAILABLE"


class StorageError(RPCError):
    """A storage write or read failed."""

    code_name = "INTERNAL"
    reason = "STORAGE"


class UnauthenticatedError(RPCError):
    """Auth is on and the key is missing, invalid, expired or revoked."""

    code_name = "UNAUTHENTICATED"
    reason = "UNAUTHENTICATED"


class PermissionDeniedError(RPCError):
    """Auth is on and the key lacks the permission."""

    code_name = "PERMISSION_DENIED"
    reason = "PERMISSION_DENIED"


# Reason -> the error class a client raises for it (when the status code agrees).
_BY_REASON: dict[str, type[FilaError]] = {
    cls.reason: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        QueueNotFoundError,
        MessageNotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        OverloadedError,
        UnavailableError,
        StorageError,
        UnauthenticatedError,
        PermissionDeniedError,
    )
}

# Status code name -> the error class for a status without a (known) reason. NOT_FOUND
# is refined by context (queue vs message) in from_status.
_BY_CODE: dict[str, type[FilaError]] = {
    cls.code_name: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        OverloadedError,
        UnavailableError,
        StorageError,
        UnauthenticatedError,
        PermissionDeniedError,
    )
}


def code_name_for(error: FilaError) -> str:
    """The gRPC status code name the server answers for ``error``."""
    return error.code_name


def from_status(
    code_name: str, message: str, *, reason: str = "", message_scoped: bool = False
) -> FilaError:
    """Rebuild a client-side error from a status code name, its details and reason.

    ``reason`` (the REASON_KEY trailing metadata) decides the class when it names
    one whose status code is ``code_name``. Without it (an older or another
    server) the code decides, as in the published SDK; ``message_scoped`` marks
    RPCs that name a message (Ack, Nack): their NOT_FOUND means the message,
    unless the text says it is the queue.
    """
    known = _BY_REASON.get(reason) if reason else None
    if known is not None and known.code_name == code_name:
        return known(message)
    if code_name == "NOT_FOUND":
        # Server texts start with the kind of thing missing: 'queue "x" ...'.
        if message.startswith("queue ") or not message_scoped:
            return QueueNotFoundError(message)
        return MessageNotFoundError(message)
    cls = _BY_CODE.get(code_name)
    if cls is None:
        return RPCError(message, code_name)
    return cls(message)
