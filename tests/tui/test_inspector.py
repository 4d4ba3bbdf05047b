"""Pilot tests of the message inspector: open a message from the browser, read it, act on it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace

from textual.pilot import Pilot
from textual.widgets import Static

from fila.tui.app import FilaApp
from fila.tui.message_view import message_export
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.message import MessageScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import FakeBackend, dead_letters

MakeApp = Callable[..., FilaApp]
DLQ = "fair-demo.dlq"


def text_of(app: FilaApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def offered(app: FilaApp) -> set[str]:
    return {a.binding.action for a in app.active_bindings.values() if a.enabled}


async def open_message(pilot: Pilot[None], row: int = 0) -> MessageScreen:
    """From the overview: the fair-demo DLQ, then Enter on its ``row``-th message."""
    app = pilot.app
    await connected(pilot)
    await pilot.press("d")
    await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen) and not app.screen.fetching)
    await pilot.press(*["down"] * row, "enter")
    await wait_until(pilot, lambda: isinstance(app.screen, MessageScreen))
    assert isinstance(app.screen, MessageScreen)
    return app.screen


async def test_enter_opens_the_message_with_everything_the_broker_keeps(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot)
        first = fake.dlq[DLQ][0].message
        assert screen.listed.message == first
        details = text_of(app, "#details")
        for line in (
            f"id            {first.id}",
            "queue         fair-demo.dlq",
            "state         ready",
            "fairness key  tenant:acme",
            "attempts      3",
            "enqueued      2026-01-01 11:58:30  (1m30s ago)",
            "leased        —",
        ):
            assert line in details, (line, details)
        assert text_of(app, "#headers") == "tenant = acme"
        assert text_of(app, "#last-error") == "payment declined (#0)"
        assert text_of(app, "#payload-title") == "payload  12 bytes, JSON"
        assert text_of(app, "#payload") == '{\n  "order": 0\n}'  # pretty-printed
        await pilot.press("x")
        assert text_of(app, "#payload-title") == "payload  12 bytes, hex"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert fake.writes == []


async def test_a_binary_payload_shows_as_hex(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await open_message(pilot, row=1)
        assert text_of(app, "#payload-title") == "payload  5 bytes, hex"
        assert text_of(app, "#payload").startswith("000000  00 01 02 ff 01")


async def test_copy_puts_the_message_on_the_clipboard_as_json(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app(read_only=True)  # copying writes nothing: read-only allows it
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot, row=1)
        await pilot.press("c")
        copied = json.loads(app.clipboard)
        assert copied == message_export(screen.listed)
        assert copied["payload"] is None and copied["payload_base64"] == "AAEC/wE="
        assert copied["last_error"] == "payment declined (#1)"


async def test_delete_asks_first_then_deletes_and_returns_to_the_reloaded_list(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot)
        target = screen.listed.message.id
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert text_of(app, "#question") == "Delete this message from fair-demo.dlq?"
        await pilot.press("n")  # declined: nothing happens
        await wait_until(pilot, lambda: app.screen is screen)
        assert fake.writes == [] and len(fake.dlq[DLQ]) == 3
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert fake.writes == [("delete_message", DLQ, target)]
        browser = app.screen
        await wait_until(pilot, lambda: len(browser.query_one(RowTable).row_keys) == 2)
        assert target not in browser.query_one(RowTable).row_keys
        assert any(
            f"Deleted message {target} from {DLQ} (it was ready)" in n.message
            for n in app._notifications
        )


async def test_redrive_this_message_asks_first_then_moves_only_it(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot, row=2)
        target = screen.listed.message.id
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert text_of(app, "#question") == "Redrive this message to fair-demo?"
        await pilot.press("escape")  # escape declines too
        await wait_until(pilot, lambda: app.screen is screen)
        assert fake.writes == []
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert fake.writes == [("redrive", DLQ, 0, "", False, target)]
        assert [m.message.id for m in fake.dlq[DLQ]] == [m.message.id for m in dead_letters(2)]
        assert any(
            f"Redrive complete: 1 message moved from {DLQ}" in n.message for n in app._notifications
        )


async def test_a_refused_delete_shows_the_servers_answer_and_stays(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake.dlq[DLQ][0] = replace(fake.dlq[DLQ][0], state="leased")
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "✗" in text_of(app, "#status"))
        assert app.screen is screen
        assert "is leased by a consumer" in text_of(app, "#status")
        assert screen.query_one("#status").has_class("-error")
        assert len(fake.dlq[DLQ]) == 3 and not screen.changed


async def test_read_only_offers_no_redrive_or_delete(make_app: MakeApp, fake: FakeBackend) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot)
        assert {"copy", "hex", "back"} <= offered(app)
        assert not {"redrive", "delete"} & offered(app)
        await pilot.press("d", "r")
        assert app.screen is screen and fake.writes == []


async def test_a_key_without_admin_sees_the_actions_disabled_and_why(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    # The key may read the DLQ (consume) but not change it (admin).
    fake.info = replace(
        fake.info,
        auth_enabled=True,
        caller_key_id="k1",
        caller_name="reader",
        caller_permissions=(("consume", "fair-demo*"),),
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_message(pilot)
        assert "key lacks admin on fair-demo.dlq: actions off" in text_of(app, "#infobar")
        assert not {"redrive", "delete"} & offered(app)
        await pilot.press("d", "r")
        assert app.screen is screen and fake.writes == []
        await pilot.press("c")  # reading is still fine
        assert json.loads(app.clipboard)["id"] == screen.listed.message.id


async def test_a_backlog_message_can_be_deleted_but_not_redriven(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake.dlq["fair-demo"] = [
        replace(m, message=replace(m.message, queue="fair-demo", last_error=""))
        for m in dead_letters(2)
    ]
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        await connected(pilot)
        await pilot.press("enter", "p")  # fair-demo's keys, then peek its backlog
        await wait_until(
            pilot, lambda: isinstance(app.screen, DlqScreen) and not app.screen.fetching
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, MessageScreen))
        screen = app.screen
        assert "redrive" not in offered(app) and "delete" in offered(app)
        assert text_of(app, "#last-error") == "—"
        await pilot.press("r")
        assert app.screen is screen and fake.writes == []
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert fake.writes == [("delete_message", "fair-demo", dead_letters(1)[0].message.id)]


async def test_leaving_while_a_delete_runs_still_reports_it(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    """The answer of a slow server arrives after the operator went back: no crash, the
    answer is shown, and the browser reloads when the DLQ's depth moves."""
    gate = threading.Event()
    real_delete = fake.delete_message

    def slow_delete(queue: str, message_id: str) -> str:
        gate.wait(5)
        return real_delete(queue, message_id)

    fake.delete_message = slow_delete  # type: ignore[method-assign]
    app = make_app()
    async with app.run_test(size=(100, 40)) as pilot:
        screen = await open_message(pilot)
        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: app.screen is screen and screen.busy)
        assert "deleting…" in text_of(app, "#status")
        assert "delete" not in offered(app)  # one write at a time
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        gate.set()
        await wait_until(pilot, lambda: screen.changed)
        assert isinstance(app.screen, DlqScreen)
        assert any("Deleted message" in n.message for n in app._notifications)
