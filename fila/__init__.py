"""Fila: a message broker with fair scheduling and per-key throttling."""

from typing import TYPE_CHECKING

from fila.errors import (
    FilaError,
    MessageNotFoundError,
    QueueNotFoundError,
    RPCError,
)

if TYPE_CHECKING:  # real names for type checkers; imported lazily at run time
    from fila.client import AsyncClient, Client
    from fila.types import ConsumeMessage

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "ConsumeMessage",
    "FilaError",
    "MessageNotFoundError",
    "QueueNotFoundError",
    "RPCError",
    "__version__",
]


def __getattr__(name: str) -> object:
    # Lazy so that `import fila` (e.g. from the server core) does not pull in grpc.
    if name in ("Client", "AsyncClient"):
        from fila import client

        return getattr(client, name)
    if name == "ConsumeMessage":
        from fila.types import ConsumeMessage

        return ConsumeMessage
    raise AttributeError(name)
