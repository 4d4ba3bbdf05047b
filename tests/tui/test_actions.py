"""Pilot tests for the actions on the row and the attention marks: each action through
its confirmation, the server's answer shown, and refusals (read-only, a key lacking the
permission, the server saying no)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from textual.widgets import Input, Static

from fila.tui.app import FilaApp
from fila.tui.attention import ATTENTION_MARK
from fila.tui.screens.attention import AttentionScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.create_queue import CreateQueueScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import FakeBackend, dead_letters, sample_snapshot

MakeApp = Callable[..., FilaApp]


def text_of(app: FilaApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def notes(app: FilaApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


def select(app: FilaApp, table_id: str, key: str) -> RowTable:
    table = app.screen.query_one(table_id, RowTable)
    table.move_cursor(row=table.row_keys.index(key))
    return table


def limited_key(fake: FakeBackend) -> None:
    """Auth on; the key may consume everywhere and administer fair-demo only."""
    fake.info = replace(
        fake.info,
        auth_enabled=True,
        caller_key_id="k1",
        caller_name="ops-fair",
        caller_permissions=(("consume", "*"), ("admin", "fair-demo")),
    )


# ---- attention ----------------------------------------------------------------------


async def test_queues_needing_attention_are_marked_and_a_shows_why(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake._pending.clear()
    for step in range(3):
        fake.push(sample_snapshot(step, attention=True))
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot, snapshots=3)
        table = app.screen.query_one(RowTable)
        assert table.row_cells("orders")["name"] == ATTENTION_MARK + "orders"  # type: ignore[index]
        assert table.row_cells("fair-demo")["name"] == ATTENTION_MARK + "fair-demo"  # type: ignore[index]
        assert "▲ 2 need attention (a: why)" in text_of(app, "#title")
        select(app, "#queues", "orders")
        await pilot.press("a")
        await wait_until(pilot, lambda: isinstance(app.screen, AttentionScreen))
        assert isinstance(app.screen, AttentionScreen)
        reasons = app.screen.text.splitlines()
        assert reasons[0] == "▲ orders"  # the selected queue first
        assert reasons[1].strip().startswith("oldest ready message has waited 2m07s")
        assert "hook breaker open" in reasons[2]
        assert reasons[3] == "▲ fair-demo"
        assert "DLQ fair-demo.dlq grew by 2 messages" in reasons[4]
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))


async def test_the_wait_threshold_comes_from_the_option(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app(attention_wait_ms=10_000)  # orders' oldest has waited 20 s
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        table = app.screen.query_one(RowTable)
        assert table.row_cells("orders")["name"] == ATTENTION_MARK + "orders"  # type: ignore[index]
        await pilot.press("exclamation_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, AttentionScreen))
        assert isinstance(app.screen, AttentionScreen)
        assert "(threshold 10.0 s)" in app.screen.text


# ---- purge and create from the overview ---------------------------------------------


async def test_purge_asks_with_the_count_then_shows_the_servers_answer(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        select(app, "#queues", "orders")
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert text_of(app, "#question") == 'Purge "orders"?'
        detail = str(app.screen.query_one("#detail Static", Static).render())
        assert "104 in the latest snapshot" in detail  # depth 105, one leased
        assert "1 leased message stays with its consumer." in detail
        await pilot.press("n")  # declined: nothing sent
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        assert fake.writes == []
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: 'Purged 104 messages from "orders"' in notes(app))
        assert fake.writes == [("purge_queue", "orders")]

        fake.fail()  # the server goes away: its error is shown, no traceback
        await pilot.press("P")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: any("orders not purged:" in n for n in notes(app)))


async def test_create_queue_confirms_and_shows_the_servers_refusal(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateQueueScreen))
        dialog = app.screen
        await pilot.press(*"orders", "enter", "enter")  # name, (no timeout), confirm line
        assert text_of(app, "#confirm-line") == (
            'Create "orders" and "orders.dlq"? Press Enter or Confirm.'
        )
        await pilot.press("enter")  # the server says no
        await wait_until(pilot, lambda: "already exists" in text_of(app, "#error"))
        assert text_of(app, "#error") == '✗ queue "orders" already exists'
        assert fake.writes == []
        dialog.query_one("#name", Input).value = "payments"
        dialog.query_one("#timeout", Input).value = "abc"
        dialog.query_one("#timeout", Input).focus()
        await pilot.press("enter")
        assert "whole number" in text_of(app, "#error")
        dialog.query_one("#timeout", Input).value = "60000"
        await pilot.press("enter")
        assert "visibility timeout 60000 ms" in text_of(app, "#confirm-line")
        await pilot.press("escape")  # backing out writes nothing
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        assert fake.writes == []
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateQueueScreen))
        await pilot.press(*"payments", "enter", *"60000", "enter", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, OverviewScreen))
        assert fake.writes == [("create_queue", "payments", 60_000)]
        assert 'Created queue "payments" (and "payments.dlq")' in notes(app)


# ---- limits and keys from the queue screen ------------------------------------------


async def test_a_limit_rows_throttle_and_cap_are_set_through_setconfig(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")  # fair-demo
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("l")
        select(app, "#limits", "provider:stripe")
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        dialog = app.screen
        assert text_of(app, "#question") == "Throttle of provider:stripe"
        value = dialog.query_one("#value", Input)
        assert value.value == "10,150"
        value.value = "fast"
        await pilot.press("enter", "enter")  # confirm line, then send: the server refuses
        await wait_until(pilot, lambda: "expected" in text_of(app, "#error"))
        assert text_of(app, "#error").startswith('✗ invalid value for "throttle.provider:stripe"')
        value.value = "20,40"
        await pilot.press("enter")
        assert 'Set "throttle.provider:stripe" = "20,40" (was "10,150")' in text_of(
            app, "#confirm-line"
        )
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        assert fake.writes == [("set_config", "throttle.provider:stripe", "20,40")]
        assert 'Saved "throttle.provider:stripe"' in notes(app)

        select(app, "#limits", "umbrella")
        await pilot.press("m")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        assert text_of(app, "#question") == "Concurrency cap of umbrella"
        assert app.screen.query_one("#value", Input).value == "5"
        app.screen.query_one("#value", Input).value = "8"
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: fake.config.get("concurrency.umbrella") == "8")


async def test_a_waiting_keys_limit_is_one_key_away(make_app: MakeApp, fake: FakeBackend) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        select(app, "#keys", "tenant:initech")  # throttled by provider:stripe
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        assert app.screen.original_key == "throttle.provider:stripe"
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        select(app, "#keys", "tenant:umbrella")  # at the umbrella cap; it has no throttle yet
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        assert app.screen.original_key == "throttle.umbrella"
        assert app.screen.query_one("#value", Input).value == ""  # Set adds one
        await pilot.press("escape")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        select(app, "#keys", "tenant:acme")  # waits its turn: no limit involved
        await pilot.press("t")
        await wait_until(pilot, lambda: any("Select a limit key" in n for n in notes(app)))
        assert isinstance(app.screen, QueueScreen)
        assert fake.writes == []


async def test_enter_on_a_fairness_key_opens_its_messages(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake.dlq["fair-demo"] = [
        replace(m, message=replace(m.message, queue="fair-demo")) for m in dead_letters(3)
    ]
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        select(app, "#keys", "tenant:globex")
        await pilot.press("enter")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DlqScreen) and not app.screen.fetching
        )
        screen = app.screen
        assert (screen.dlq, screen.fairness_key) == ("fair-demo", "tenant:globex")
        assert "fair-demo ▸ messages of key tenant:globex" in text_of(app, "#title")
        assert [m.message.fairness_key for m in screen.messages] == ["tenant:globex"]
        assert fake.writes == []


# ---- refusals -------------------------------------------------------------------------


async def test_read_only_offers_none_of_the_row_writes(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        offered = {a.binding.action for a in app.active_bindings.values() if a.enabled}
        assert {"attention", "dlq"} <= offered and not {"purge", "create"} & offered
        await pilot.press("P", "n")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("l")
        select(app, "#limits", "provider:stripe")
        await pilot.press("t", "m", "enter")
        assert isinstance(app.screen, QueueScreen)
        assert fake.writes == []


async def test_a_key_lacking_the_permission_sees_the_action_disabled(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    limited_key(fake)
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await wait_until(pilot, lambda: "ops-fair" in text_of(app, "#infobar"))
        select(app, "#queues", "orders")
        await pilot.pause()
        assert app.screen.check_action("purge", ()) is None  # shown, disabled
        assert "key lacks admin on orders: actions off" in text_of(app, "#infobar")
        await pilot.press("P")
        assert isinstance(app.screen, OverviewScreen)
        select(app, "#queues", "fair-demo")  # administered by this key: purge is on
        await pilot.pause()
        assert app.screen.check_action("purge", ()) is True
        assert app.screen.check_action("create", ()) is True  # it may create fair-demo*…

        # …and the server decides on the name: its refusal is shown in the form.
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, CreateQueueScreen))
        await pilot.press(*"payments", "enter", "enter", "enter")
        await wait_until(pilot, lambda: "lacks" in text_of(app, "#error"))
        assert text_of(app, "#error") == "✗ this API key lacks admin on payments"
        await pilot.press("escape")

        await pilot.press("enter")  # into fair-demo: limits are config, admin on "*"
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await wait_until(pilot, lambda: "key lacks admin on *" in text_of(app, "#infobar"))
        await pilot.press("l")
        select(app, "#limits", "provider:stripe")
        await pilot.press("t", "m")
        assert isinstance(app.screen, QueueScreen)
        assert fake.writes == []


async def test_a_key_with_no_admin_grant_cannot_open_the_create_form(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    fake.info = replace(fake.info, auth_enabled=True, caller_name="reader",
                        caller_permissions=(("consume", "*"),))
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await wait_until(pilot, lambda: "reader" in text_of(app, "#infobar"))
        assert "admin on the new queue" in text_of(app, "#infobar")
        await pilot.press("n")
        assert isinstance(app.screen, OverviewScreen)


@pytest.mark.parametrize(
    ("read_only", "hint"), [(False, "n creates one"), (True, "fila queue create NAME")]
)
async def test_an_empty_broker_points_at_the_create_key(
    fake: FakeBackend, make_app: MakeApp, read_only: bool, hint: str
) -> None:
    fake._pending.clear()
    fake.push(replace(sample_snapshot(), queues=(), limits=()))
    app = make_app(read_only=read_only)
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_until(pilot, lambda: app.live.snapshot is not None)
        await pilot.pause()
        assert text_of(app, "#title") == f"Queues — none yet ({hint})"
