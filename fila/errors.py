"""One error tree for server and client, and the one table that maps it to gRPC.

    FilaError
    ├── NotFoundError             NOT_FOUND
    │   ├── QueueNotFoundError
    │   └── MessageNotFoundError
    └── RPCError                  any other status (``.code``: the grpc.StatusCode)
        ├── InvalidArgumentError      INVALID_ARGUMENT
        ├── AlreadyExistsError        ALREADY_EXISTS
        ├── FailedPreconditionError   FAILED_PRECONDITION
        ├── OverloadedError           RESOURCE_EXHAUSTED
        ├── UnavailableError          UNAVAILABLE
        ├── StorageError              INTERNAL
        ├── UnauthenticatedError      UNAUTHENTICATED
        └── PermissionDeniedError     PERMISSION_DENIED

As in the published fila-python SDK, a missing queue or message is a
QueueNotFoundError / MessageNotFoundError and every other failure is an
RPCError whose ``code`` is a ``grpc.StatusCode``; the subclasses let callers
branch without comparing codes.

The server raises these from the core; ``service.py`` turns them into a status
by their ``code_name`` (:func:`code_name_for`). The client turns a status back with
:func:`from_status`, so both sides agree on one table. The table uses status code
*names*, so the core imports this module without grpc (only ``RPCError.code`` imports it).
"""

from __future__ import annotations

from typing import Any

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


class NotFoundError(FilaError):
    """The named thing does not exist."""

    code_name = "NOT_FOUND"


class QueueNotFoundError(NotFoundError):
    """The queue does not exist."""


class MessageNotFoundError(NotFoundError):
    """No current lease for that message in that queue."""


class AlreadyExistsError(RPCError):
    """A queue with that name exists already."""

    code_name = "ALREADY_EXISTS"


class FailedPreconditionError(RPCError):
    """The request is valid but the broker's state does not allow it."""

    code_name = "FAILED_PRECONDITION"


class OverloadedError(RPCError):
    """The broker is overloaded (or out of space); try again later."""

    code_name = "RESOURCE_EXHAUSTED"


class UnavailableError(RPCError):
    """The broker is shutting down, not ready, or unreachable."""

    code_name = "UNAVAILABLE"


class StorageError(RPCError):
    """A storage write or read failed."""

    code_name = "INTERNAL"


class UnauthenticatedError(RPCError):
    """Auth is on and the key is missing, invalid, expired or revoked."""

    code_name = "UNAUTHENTICATED"


class PermissionDeniedError(RPCError):
    """Auth is on and the key lacks the permission."""

    code_name = "PERMISSION_DENIED"


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
