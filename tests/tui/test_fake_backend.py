"""The TUI's fake backend keeps the client's API: same names, same signatures."""

from __future__ import annotations

import inspect

from fila.client import Client
from fila.tui.backend import Backend

from .fakes import FakeBackend


def test_every_override_has_the_clients_signature() -> None:
    overrides = {
        name for name, value in vars(FakeBackend).items()
        if callable(value) and name in vars(Client) and not name.startswith("_")
    }
    # what the TUI calls, at least
    assert {"watch_stats", "server_info", "list_config", "set_config", "redrive",
            "list_messages", "get_queue", "update_queue", "test_hook", "close",
            "delete_message"} <= overrides
    for name in overrides:
        fake = inspect.signature(getattr(FakeBackend, name))
        real = inspect.signature(getattr(Client, name))
        assert list(fake.parameters.values()) == list(real.parameters.values()), name


def test_the_fake_is_a_backend_and_the_backend_is_the_clients_api() -> None:
    assert Backend in FakeBackend.__mro__
    public = {n for n in vars(Client) if not n.startswith("_")}
    assert public <= {n for n in dir(Backend) if not n.startswith("_")}
