"""One error tree for server and client, and the one table that maps it to gRPC.

    FilaError
    ├── InvalidArgumentError      INVALID_ARGUMENT
    ├── NotFoundError             NOT_FOUND
    │   ├── QueueNotFoundError
    │   └── MessageNotFoundError
    ├── AlreadyExistsError        ALREADY_EXISTS
    ├── FailedPreconditionError   FAILED_PRECONDITION
    ├── OverloadedError           RESOURCE_EXHAUSTED
    ├── UnavailableError          UNAVAILABLE
    ├── StorageError              INTERNAL
    ├── UnauthenticatedError      UNAUTHENTICATED
    ├── PermissionDeniedError     PERMISSION_DENIED
    └── RPCError                  any other code (client side)

The server raises these from the core; ``service.py`` turns them into a status
with :func:`code_for`. The client turns a status back with :func:`from_status`,
so both sides agree on one table. ``grpc`` is imported lazily-free here: the
table uses status code *names* so the core can import this module without grpc.
"""

from __future__ import annotations

__all__ = [
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

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class InvalidArgumentError(FilaError):
    """The request is malformed or a value is out of range."""

    code_name = "INVALID_ARGUMENT"


class NotFoundError(FilaError):
    """The named thing does not exist."""

    code_name = "NOT_FOUND"


class QueueNotFoundError(NotFoundError):
    """The queue does not exist."""


class MessageNotFoundError(NotFoundError):
    """No current lease for that message in that queue."""


class AlreadyExistsError(FilaError):
    """A queue with that name exists already."""

    code_name = "ALREADY_EXISTS"


class FailedPreconditionError(FilaError):
    """The request is valid but the broker's state does not allow it."""

    code_name = "FAILED_PRECONDITION"


class OverloadedError(FilaError):
    """The broker is overloaded (or out of space); try again later."""

    code_name = "RESOURCE_EXHAUSTED"


class UnavailableError(FilaError):
    """The broker is shutting down, not ready, or unreachable."""

    code_name = "UNAVAILABLE"


class StorageError(FilaError):
    """A storage write or read failed."""

    code_name = "INTERNAL"


class UnauthenticatedError(FilaError):
    """Auth is on and the key is missing, invalid, expired or revoked."""

    code_name = "UNAUTHENTICATED"


class PermissionDeniedError(FilaError):
    """Auth is on and the key lacks the permission."""

    code_name = "PERMISSION_DENIED"


class RPCError(FilaError):
    """Any other gRPC failure seen by a client; ``code_name`` says which."""

    def __init__(self, message: str = "", code_name: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code_name = code_name


# Status code name -> the error class a client raises for it. NOT_FOUND is
# refined by context (queue vs message) in from_status.
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


def from_status(code_name: str, message: str, *, message_scoped: bool = False) -> FilaError:
    """Rebuild a client-side error from a status code name and its details.

    ``message_scoped`` marks RPCs that name a message (Ack, Nack): their
    NOT_FOUND means the message, not the queue.
    """
    if code_name == "NOT_FOUND":
        # Server texts start with the kind of thing missing: 'queue "x" ...'.
        if message.startswith("queue ") or not message_scoped:
            return QueueNotFoundError(message)
        return MessageNotFoundError(message)
    cls = _BY_CODE.get(code_name)
    if cls is None:
        return RPCError(message, code_name)
    return cls(message)
