"""End to end: a real fila-server, the fairness scenario, and `fila tui` driven by Pilot.

Noisy and quiet tenants share a queue; a third tenant's messages carry a throttle
key (set by the on_enqueue hook) whose bucket (`throttle.<key>` config) is tiny.
The queue screen must show the tenants' keys and say why the throttled one waits.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from fila.client import Client
from fila.errors import FilaError
from fila.tui.app import Backoff, build_app
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

if TYPE_CHECKING:
    from e2e.certs import Pki
    from e2e.server_process import ServerProcess

HOOK = """function on_enqueue(msg)
  local tenant = msg.headers["tenant"] or "default"
  local keys = {}
  if tenant == "slow" then keys = { "provider:slowpay" } end
  return { fairness_key = tenant, throttle_keys = keys }
end
"""


def _consume(client: Client, stop: threading.Event) -> None:
    try:
        for msg in client.consume("fair", prefetch=4):
            if stop.is_set():
                return
            stop.wait(0.01)  # a slow consumer keeps a backlog for the dashboard
            client.ack("fair", msg.id)
    except (FilaError, ValueError):
        return  # ValueError: the channel was closed under us at the end of the test


async def _wait(pilot: object, cond: Callable[[], bool], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        assert loop.time() < deadline, "timed out waiting for the dashboard"
        await pilot.pause(0.05)  # type: ignore[attr-defined]


@pytest.mark.timeout(90)
async def test_queue_screen_shows_keys_and_why_the_throttled_one_waits(
    fila_server: ServerProcess,
) -> None:
    url = fila_server.url
    with Client(url) as admin:
        admin.create_queue("fair", on_enqueue=HOOK)
        admin.set_config("throttle.provider:slowpay", "1,1")
        for i in range(300):
            admin.enqueue("fair", {"tenant": "noisy"}, b"n%d" % i)
        for i in range(30):
            admin.enqueue("fair", {"tenant": "quiet"}, b"q%d" % i)
        for i in range(30):
            admin.enqueue("fair", {"tenant": "slow"}, b"s%d" % i)

    stop = threading.Event()
    consumer_client = Client(url)
    consumer = threading.Thread(target=_consume, args=(consumer_client, stop), daemon=True)
    consumer.start()
    client = Client(url)
    app = build_app(client, addr=url, backoff=Backoff(first=0.1, maximum=0.5))
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await _wait(pilot, lambda: app.live.queue("fair") is not None, 20)
            await pilot.press("enter")  # "fair" is the first row
            await _wait(pilot, lambda: isinstance(app.screen, QueueScreen), 5)
            table = app.screen.query_one("#keys", RowTable)

            def throttled_shown() -> bool:
                cells = table.row_cells("slow")
                return cells is not None and cells["why"].startswith("throttled: provider:slowpay")

            await _wait(pilot, lambda: {"noisy", "quiet"} <= set(table.row_keys), 20)
            await _wait(pilot, throttled_shown, 20)
            limits = app.screen.query_one("#limits", RowTable)
            assert "provider:slowpay" in limits.row_keys
    finally:
        stop.set()
        consumer_client.close()  # ends the blocked consume stream
        client.close()
        consumer.join(timeout=5)


@pytest.mark.timeout(90)
async def test_tui_over_tls_with_a_key_shows_who_and_disables_what_it_may_not_do(
    make_server: Callable[..., ServerProcess], pki: Pki,
) -> None:
    """`fila tui` through TLS with a consume-only key: the header names the key, the hook
    editor's Apply and Test are disabled, and the header says which permission is missing."""
    from fila.tui.screens.hook_editor import HookEditorScreen
    from fila.tui.widgets.status import InfoBar

    server = make_server({"tls": {"cert_file": str(pki.server_cert),
                                  "key_file": str(pki.server_key)},
                          "auth": {"bootstrap_apikey": "tui-boot"}},
                         ready_tls=(pki.ca.read_bytes(), None, None))
    ca = pki.ca.read_bytes()
    with Client(server.addr, ca_cert=ca, api_key="tui-boot") as admin:
        admin.create_queue("orders")
        admin.create_queue("secret")
        reader = admin.create_api_key("reader")
        admin.set_acl(reader.key_id, [("consume", "orders")])
    client = Client(server.addr, ca_cert=ca, api_key=reader.key)
    app = build_app(client, addr=server.addr, backoff=Backoff(first=0.2, maximum=1.0))
    try:
        async with app.run_test(size=(140, 30)) as pilot:
            def header() -> str:
                bars = app.screen.query(InfoBar)  # none while a new screen composes
                return str(bars.first().render()) if bars else ""

            await _wait(pilot, lambda: app.live.connected and "as reader" in header(), 30)
            # Only the queue the key may see is listed.
            assert {q.name for q in app.live.snapshot.queues} == {"orders"}  # type: ignore[union-attr]
            app._open_hook_editor("orders")
            await _wait(pilot, lambda: isinstance(app.screen, HookEditorScreen), 10)
            screen = app.screen
            await _wait(pilot, lambda: "key lacks admin on orders" in header(), 10)
            assert screen.check_action("apply", ()) is None  # shown disabled
            assert screen.check_action("test", ()) is None
            assert screen.check_action("back", ()) is True
    finally:
        client.close()
