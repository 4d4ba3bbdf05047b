"""What the TUI talks to: the blocking client's API, not the client class.

The app is written against this Protocol, so tests can feed it a scripted fake
and the TUI never grows a hidden dependency on gRPC. The Protocol is not
re-declared here: :class:`fila._client_api.ClientAPI` is generated from the
client itself (scripts/gen_sync_client.py), so a change to a client signature
reaches the TUI's type checks at once. Every method is blocking: the app only
calls them from thread workers, and calls ``close()`` on exit so its stream
thread stops.
"""

from __future__ import annotations

from typing import Protocol

from fila._client_api import ClientAPI

__all__ = ["Backend"]


class Backend(ClientAPI, Protocol):
    """:class:`fila.client.Client`, or anything shaped like it (the tests' fake)."""
