"""Pilot tests: press keys through every screen and check what the operator gets."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Button, Input, Static, TextArea

from fila.tui.app import FilaApp
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.config import ConfigScreen
from fila.tui.screens.config_edit import EditConfigScreen
from fila.tui.screens.confirm import ConfirmScreen
from fila.tui.screens.dlq import DlqScreen
from fila.tui.screens.help import HelpScreen
from fila.tui.screens.hook_editor import HookEditorScreen
from fila.tui.screens.overview import OverviewScreen
from fila.tui.screens.queue import QueueScreen
from fila.tui.screens.redrive import RedriveScreen
from fila.tui.widgets.lua import LuaArea
from fila.tui.widgets.status import ConnectionBanner
from fila.tui.widgets.table import RowTable

from .conftest import connected, wait_until
from .fakes import HOOK, FakeBackend, sample_snapshot

MakeApp = Callable[..., FilaApp]


def text_of(app: FilaApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def test_overview_lists_queues_and_enter_opens_keys(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        assert isinstance(app.screen, OverviewScreen)
        table = app.screen.query_one(RowTable)
        assert table.row_keys == ["fair-demo", "fair-demo.dlq", "orders", "orders.dlq"]
        assert "v0.3.0" in str(app.screen.query_one("#infobar", Static).render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        keys = app.screen.query_one("#keys", RowTable)
        assert keys.row_keys[0] == "tenant:acme"
        cells = keys.row_cells("tenant:initech")
        assert cells is not None
        assert cells["why"] == "throttled: provider:stripe until 12:00:03"
        limits = app.screen.query_one("#limits", RowTable)
        assert limits.row_keys == ["provider:stripe", "umbrella"]


async def test_queue_screen_sorts_filters_and_follows_the_stream(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        screen = app.screen
        assert isinstance(screen, QueueScreen)
        keys = screen.query_one("#keys", RowTable)
        await pilot.press("s")  # backlog -> rate
        assert screen.sort == "rate" and keys.row_keys[0] == "tenant:globex"
        await pilot.press("s")  # -> waiting: who is blocked comes first
        assert keys.row_keys[:2] == ["tenant:initech", "tenant:umbrella"]
        await pilot.press("slash", *"glob", "enter")
        assert keys.row_keys == ["tenant:globex"]
        assert "filter: 'glob'" in text_of(app, "#title")
        # a new snapshot repaints the numbers without a key press
        fake.push(sample_snapshot(1))
        await wait_until(
            pilot,
            lambda: (
                app.live.snapshot is not None
                and app.live.snapshot.taken_at_ms == sample_snapshot(1).taken_at_ms
            ),
        )
        assert keys.row_keys == ["tenant:globex"]
        await pilot.press("slash", "escape")
        assert len(keys.row_keys) == 4
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)


async def test_hook_editor_tests_and_applies_with_a_diff(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter", "h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, HookEditorScreen) and app.screen.loaded
        )
        screen = app.screen
        assert isinstance(screen, HookEditorScreen)
        editor = screen.query_one("#script", TextArea)
        assert editor.text == HOOK
        assert isinstance(editor, LuaArea) and editor.language == "lua"  # highlighted
        # test a sample message: the result table comes back
        await pilot.press("ctrl+t")
        await wait_until(pilot, lambda: "fairness_key" in text_of(app, "#result"))
        assert "tenant:acme" in text_of(app, "#result")
        # break the script: the error names its line and the cursor goes there
        await pilot.press("e")  # into the editor
        editor.insert('  error("nope")\n', location=(1, 0))
        await pilot.press("escape", "t")  # Esc leaves the editor, then plain t works
        await wait_until(pilot, lambda: "Error at line 2" in text_of(app, "#result"))
        assert editor.cursor_location == (1, 0)
        assert editor.error_row == 1  # the failing line is marked in the editor
        # fix it differently, then apply: a diff is shown and must be confirmed
        editor.load_text(HOOK.replace('"default"', '"anon"'))
        assert "[modified]" in text_of(app, "#title")
        await wait_until(pilot, lambda: editor.error_row is None)  # an edit clears the mark
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        detail = str(app.screen.query("Static").last().render())
        assert '-  local t = msg.headers["tenant"] or "default"' in detail
        assert '+  local t = msg.headers["tenant"] or "anon"' in detail
        await pilot.press("y")
        await wait_until(
            pilot,
            lambda: (
                fake.queues["fair-demo"].on_enqueue_script == HOOK.replace('"default"', '"anon"')
            ),
        )
        await wait_until(pilot, lambda: "[same as running]" in text_of(app, "#title"))
        assert ("update_queue", "fair-demo", HOOK.replace('"default"', '"anon"'), None) in (
            fake.writes
        )
        await pilot.press("escape")
        assert isinstance(app.screen, QueueScreen)


async def test_hook_editor_opens_with_t_testing_not_typing(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter", "h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, HookEditorScreen) and app.screen.loaded
        )
        screen = app.screen
        assert isinstance(screen, HookEditorScreen)
        assert "t: test" in text_of(app, "#result")
        await pilot.press("t")  # as the hint says: runs the test, types nothing
        await wait_until(pilot, lambda: "fairness_key" in text_of(app, "#result"))
        assert screen.editor.text == HOOK
        assert "[same as running]" in text_of(app, "#title")
        await pilot.press("e", "t")  # e moves into the script; now t is a letter
        assert screen.focused is screen.editor
        assert screen.editor.text == "t" + HOOK


async def test_hook_editor_asks_before_dropping_unsaved_edits(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter", "h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, HookEditorScreen) and app.screen.loaded
        )
        await pilot.press("e", "x")  # into the editor, then typed
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        assert isinstance(app.screen, HookEditorScreen)
        await pilot.press("escape")
        await pilot.press("y")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))


async def test_config_edit_throttle_shows_server_error_then_saves(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ConfigScreen) and app.screen.entries is not None
        )
        table = app.screen.query_one(RowTable)
        assert table.row_keys == [
            "concurrency.umbrella",
            "feature.beta",
            "throttle.provider:stripe",
        ]
        live = table.row_cells("throttle.provider:stripe")
        assert live is not None and live["live"].startswith("▕░░░░░░▏ 0.4/150")
        await pilot.press("slash", *"throttle", "enter")
        assert table.row_keys == ["throttle.provider:stripe"]
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        dialog = app.screen
        value = dialog.query_one("#value", Input)
        value.value = "fast"
        await pilot.press("enter")  # first Enter: the confirmation line
        assert 'Set "throttle.provider:stripe" = "fast" (was "10,150")' in str(
            dialog.query_one("#confirm-line", Static).render()
        )
        await pilot.press("enter")  # second Enter: send; the server says no
        await wait_until(
            pilot, lambda: "expected" in str(dialog.query_one("#error", Static).render())
        )
        assert '✗ invalid value for "throttle.provider:stripe"' in str(
            dialog.query_one("#error", Static).render()
        )
        assert fake.config["throttle.provider:stripe"] == "10,150"
        value.value = "20,40"
        await pilot.press("enter", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigScreen))
        assert fake.config["throttle.provider:stripe"] == "20,40"
        await wait_until(
            pilot,
            lambda: (table.row_cells("throttle.provider:stripe") or {}).get("value") == "20,40",
        )


async def test_config_add_and_delete_ask_first(make_app: MakeApp, fake: FakeBackend) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ConfigScreen) and app.screen.entries is not None
        )
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        await pilot.press(*"concurrency.acme", "enter", *"3", "enter")
        await pilot.press("escape")  # backing out of the confirmation writes nothing
        assert "concurrency.acme" not in fake.config
        await pilot.press("n")
        await wait_until(pilot, lambda: isinstance(app.screen, EditConfigScreen))
        await pilot.press(*"concurrency.acme", "enter", *"3", "enter", "enter")
        await wait_until(pilot, lambda: fake.config.get("concurrency.acme") == "3")
        screen = app.screen
        assert isinstance(screen, ConfigScreen)
        table = screen.query_one(RowTable)
        await wait_until(pilot, lambda: "concurrency.acme" in table.row_keys)
        table.move_cursor(row=table.row_keys.index("feature.beta"))
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_until(pilot, lambda: "feature.beta" not in fake.config)
        assert ("set_config", "feature.beta", "") in fake.writes


async def test_dlq_pages_shows_a_message_and_redrives_after_a_dry_run(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("d")  # on fair-demo: its DLQ
        await wait_until(
            pilot, lambda: isinstance(app.screen, DlqScreen) and not app.screen.fetching
        )
        screen = app.screen
        assert isinstance(screen, DlqScreen)
        assert len(screen.query_one(RowTable).row_keys) == 3
        assert "payment declined (#0)" in text_of(app, "#message")
        await pilot.press("down")
        assert "hex" in text_of(app, "#message")  # binary payload shown as hex
        await pilot.press("k")  # redrive this key (tenant:acme)
        await wait_until(pilot, lambda: isinstance(app.screen, RedriveScreen))
        dialog = app.screen
        assert dialog.query_one("#key", Input).value == "tenant:acme"
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: "Dry run: 2 messages" in str(dialog.query_one("#preview", Static).render()),
        )
        assert fake.writes[-1] == ("redrive", "fair-demo.dlq", 0, "tenant:acme", True)
        assert len(fake.dlq["fair-demo.dlq"]) == 3  # the dry run moved nothing
        assert str(dialog.query_one("#go", Button).label) == "Redrive 2"
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert fake.writes[-1] == ("redrive", "fair-demo.dlq", 0, "tenant:acme", False)
        await wait_until(
            pilot,
            lambda: (
                screen.query_one(RowTable).row_keys == [fake.dlq["fair-demo.dlq"][0].message.id]
            ),
        )


async def test_redrive_count_change_needs_a_new_dry_run(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("down", "enter")  # the .dlq row opens the DLQ screen
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        await pilot.press("r")
        await wait_until(pilot, lambda: isinstance(app.screen, RedriveScreen))
        dialog = app.screen
        await pilot.press("enter")
        await wait_until(pilot, lambda: dialog.preview is not None)
        preview = dialog.query_one("#preview", Static)
        assert "Dry run: 3 messages" in str(preview.render())
        await pilot.press("1")  # count changed after the preview
        # the old count is gone at once, and the button asks for a new dry run
        assert str(preview.render()) == "Enter runs a dry run first."
        assert str(dialog.query_one("#go", Button).label) == "Dry run"
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: "Dry run: 1 message " in str(dialog.query_one("#preview", Static).render()),
        )
        assert all(w[-1] is True for w in fake.writes if w[0] == "redrive")
        await pilot.press("enter")
        await wait_until(pilot, lambda: len(fake.dlq["fair-demo.dlq"]) == 2)


async def test_server_gone_shows_banner_greys_numbers_and_reconnects(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        banner = app.screen.query_one(ConnectionBanner)
        assert not banner.display
        fake.fail()
        await wait_until(pilot, lambda: banner.display)
        assert "Server unavailable at 127.0.0.1:5555" in str(banner.render())
        assert app.screen.has_class("-stale")
        assert "○ offline" in text_of(app, "#infobar")
        # numbers stay on screen (greyed), not wiped
        assert app.screen.query_one(RowTable).row_keys[0] == "fair-demo"
        await wait_until(pilot, lambda: app.live.attempt >= 2)  # it keeps retrying
        opens = fake.stream_opens
        fake.recover()
        await wait_until(pilot, lambda: app.live.connected)
        assert fake.stream_opens == opens + 1
        assert not banner.display and not app.screen.has_class("-stale")
        assert "● live" in text_of(app, "#infobar")


async def test_read_only_hides_every_write(make_app: MakeApp, fake: FakeBackend) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("c")
        await wait_until(
            pilot, lambda: isinstance(app.screen, ConfigScreen) and app.screen.entries is not None
        )
        # the footer's bindings: no add / edit / delete offered
        offered = {a.binding.action for a in app.active_bindings.values() if a.enabled}
        assert "filter" in offered and not {"add", "edit", "delete"} & offered
        await pilot.press("n", "e", "x")
        assert isinstance(app.screen, ConfigScreen)
        await pilot.press("escape", "d")
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        await pilot.press("r", "k")
        assert isinstance(app.screen, DlqScreen)
        await pilot.press("escape", "enter", "h")
        await wait_until(
            pilot, lambda: isinstance(app.screen, HookEditorScreen) and app.screen.loaded
        )
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, HookEditorScreen)
        assert "READ-ONLY" in text_of(app, "#title")
        script = app.screen.editor.text
        app.screen.editor.focus()
        await pilot.press("a", "b", "enter")
        assert app.screen.editor.text == script  # the script cannot even be typed into
        assert fake.writes == []


async def test_help_and_theme(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_body = str(app.screen.query("Static").last().render())
        assert "enter" in help_body and "DLQ" in help_body
        await pilot.press("escape")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("ctrl+t")
        assert app.theme == "textual-light"
        await pilot.press("ctrl+t")
        assert app.theme == "textual-dark"


async def test_command_palette_opens_a_queue(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"Queue orders")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        assert isinstance(app.screen, QueueScreen) and app.screen.queue == "orders"


async def test_q_quits(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("q")
        await wait_until(pilot, lambda: not app.is_running)


async def test_peek_browses_a_queue_without_offering_redrive(
    make_app: MakeApp, fake: FakeBackend
) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        await pilot.press("enter")  # open fair-demo
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await pilot.press("p")
        await wait_until(
            pilot, lambda: isinstance(app.screen, DlqScreen) and not app.screen.fetching
        )
        assert app.screen.dlq == "fair-demo"
        assert "fair-demo ▸ messages" in text_of(app, "#title")
        assert "No messages waiting." in text_of(app, "#message")
        await pilot.press("r")  # redrive is for dead-letter queues only
        assert isinstance(app.screen, DlqScreen)
        assert fake.writes == []


async def test_screens_navigate_by_message_and_get_the_apps_state(make_app: MakeApp) -> None:
    """Each key posts a navigation message; the app pushes the screen, built with its own
    backend, live state and settings (nothing read back through ``screen.app``)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)

        def handed_over() -> bool:
            s = app.screen
            assert isinstance(s, LiveScreen)
            return s.backend is app.backend and s.live is app.live and s.settings is app.settings

        assert handed_over()
        await pilot.press("down", "enter")  # fair-demo.dlq: a DLQ row opens the browser
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert isinstance(app.screen, DlqScreen) and app.screen.dlq == "fair-demo.dlq"
        assert handed_over()
        await pilot.press("escape", "up", "enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        assert handed_over()
        await pilot.press("d")  # the queue's own DLQ, as the stats name it
        await wait_until(pilot, lambda: isinstance(app.screen, DlqScreen))
        assert isinstance(app.screen, DlqScreen) and app.screen.dlq == "fair-demo.dlq"
        await pilot.press("escape", "c")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfigScreen))
        assert handed_over()
        await pilot.press("escape", "h")
        await wait_until(pilot, lambda: isinstance(app.screen, HookEditorScreen))
        assert isinstance(app.screen, HookEditorScreen) and app.screen.queue == "fair-demo"
        assert handed_over()
        assert [type(s).__name__ for s in app.screen_stack[1:]] == [
            "OverviewScreen",
            "QueueScreen",
            "HookEditorScreen",
        ]


# Eighth blocks: the sparkline alphabet, and what Textual draws at a scrollbar thumb's ends
# (not ▄, which is also the bottom edge of a dialog's thick border).
PARTIAL_BLOCKS = set("▁▂▃▅▆▇")


async def test_help_dialog_shows_no_stray_sparkline_glyphs(make_app: MakeApp) -> None:
    app = make_app(read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await connected(pilot)
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        # at 80 columns the keys table shows no sparkline; the help text needs a scrollbar
        assert not PARTIAL_BLOCKS & set(app.export_screenshot())
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.pause()
        assert not PARTIAL_BLOCKS & set(app.export_screenshot())


async def test_a_scrolling_queue_list_shows_no_stray_sparkline_glyphs() -> None:
    from dataclasses import replace
    from datetime import UTC

    from fila.tui.app import Backoff, build_app
    from fila.types import QueueSnapshot

    base = sample_snapshot()
    many = replace(base, queues=base.queues + tuple(
        QueueSnapshot(f"queue-{i:02}", depth=i) for i in range(40)))
    backend = FakeBackend([many])
    app = build_app(backend, addr="127.0.0.1:5555", tz=UTC,
                    backoff=Backoff(first=0.01, maximum=0.05))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await connected(pilot)
            table = app.screen.query_one(RowTable)
            assert len(table.row_keys) == 44  # more rows than fit: the table scrolls
            await pilot.press("down", "down", "down", "down", "down")
            await pilot.pause()
            # the DLV 5 MIN column has dropped at 80 columns: no sparkline may show at all
            assert "trend" not in [c.key for c in table.shown_columns]
            assert not PARTIAL_BLOCKS & set(app.export_screenshot())
    finally:
        backend.close()


async def test_keys_stream_per_watched_queue_only(make_app: MakeApp, fake: FakeBackend) -> None:
    """The every-queue stream asks for no keys to speak of; opening a queue streams its keys,
    and leaving it stops that stream (at scale, keys of every queue cost the most)."""
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await connected(pilot)
        assert fake.stream_requests == [("", 1)]
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, QueueScreen))
        await wait_until(pilot, lambda: ("fair-demo", 100) in fake.stream_requests)
        keys = app.screen.query_one("#keys", RowTable)
        await wait_until(pilot, lambda: len(keys.row_keys) > 1)  # all four tenants, not one
        assert app.live.keys_queue == "fair-demo"
        fake.push(sample_snapshot(1))
        await wait_until(pilot, lambda: len(app.live.history.keys) == 4)
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.live.keys_queue is None)
        assert app.live.keys_snapshot is None
        fake.push(sample_snapshot(2))
        await wait_until(pilot, lambda: not fake._streams)  # the per-queue stream ended
