"""Edit a queue's Lua hooks: test on a sample message, diff, confirm, apply."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Static, TextArea

from fila.errors import FilaError
from fila.tui.backend import Backend
from fila.tui.screens.base import LiveScreen
from fila.tui.screens.confirm import ConfirmScreen, diff_text
from fila.tui.state import LiveState, Settings
from fila.tui.viewmodel import error_line, hook_result_rows, parse_sample_headers, script_diff
from fila.tui.widgets.lua import LuaArea
from fila.types import HookResult, QueueDetails

__all__ = ["HOOKS", "HookEditorScreen"]

HOOKS = ("on_enqueue", "on_failure")

_TEMPLATES = {
    "on_enqueue": (
        "function on_enqueue(msg)\n"
        '  return { fairness_key = msg.headers["tenant"] or "default" }\n'
        "end\n"
    ),
    "on_failure": (
        "function on_failure(msg)\n"
        '  if msg.attempts >= 3 then return { action = "dlq" } end\n'
        '  return { action = "retry", delay_ms = 1000 * msg.attempts }\n'
        "end\n"
    ),
}


class HookEditorScreen(LiveScreen):
    # Coming back from a dialog must not drop the operator into a text field.
    AUTO_FOCUS = ""  # empty, not None: None would fall back to the app-wide "*"
    WRITE_ACTIONS = frozenset({"apply"})
    BINDINGS = [
        Binding("escape", "back", "Back"),
        # Letters work once Esc has left the editor; the ctrl forms work while typing.
        Binding("ctrl+t,t", "test", "Test", key_display="^t/t"),
        Binding("ctrl+s,a", "apply", "Apply", key_display="^s/a"),
        Binding("ctrl+o,o", "switch_hook", "Other hook", key_display="^o/o"),
        Binding("e", "edit", "Edit script"),
    ]

    def needs(self, action: str) -> tuple[str, str | None] | None:
        # Trying a hook (TestHook) and applying it (UpdateQueue) both need admin on the queue.
        return ("admin", self.queue) if action in ("apply", "test") else None

    def __init__(self, backend: Backend, live: LiveState, settings: Settings, queue: str) -> None:
        super().__init__(backend, live, settings)
        self.queue = queue
        self.hook = HOOKS[0]
        self.running: dict[str, str] = dict.fromkeys(HOOKS, "")
        self.edited: dict[str, str] = dict.fromkeys(HOOKS, "")
        self.loaded = False
        self.last_result: HookResult | None = None
        self.last_error = ""

    def compose_body(self) -> Iterable[Widget]:
        yield Static(id="title", classes="title", markup=False)
        with Horizontal(id="editor-row"):
            yield LuaArea(
                "",
                id="script",
                soft_wrap=False,
                tab_behavior="indent",
                show_line_numbers=True,
                read_only=self.settings.read_only,  # --read-only: look, test, never edit
            )
            with Vertical(id="side"):
                yield Static("Sample headers (key=value)", classes="label", markup=False)
                yield TextArea("tenant=acme\n", id="headers", tab_behavior="focus")
                yield Static("Payload size (bytes)", classes="label", markup=False)
                yield Input("128", id="payload-size", type="integer")
                yield Static("Result", classes="label", markup=False)
                yield Static(
                    "t: test the script on the sample · e: edit it", id="result", markup=False
                )

    @property
    def editor(self) -> LuaArea:
        return self.query_one("#script", LuaArea)

    def changed(self, hook: str) -> bool:
        """Edited differs from running; an untouched template for a missing hook does not count."""
        edited, running = self.edited[hook], self.running[hook]
        return edited != running and not (running == "" and edited in ("", _TEMPLATES[hook]))

    @property
    def dirty(self) -> bool:
        self._stash()
        return any(self.changed(h) for h in HOOKS)

    def on_mount(self) -> None:
        self._paint_title()
        # Start outside the editor, so the keys the footer and the hint offer (t, a, o)
        # act at once instead of typing letters into the script; `e` (or a click) edits.
        self.set_focus(None)
        self._load()

    def _paint_title(self) -> None:
        state = "loading…" if not self.loaded else ""
        if self.loaded:
            self._stash()
            state = "modified" if self.changed(self.hook) else "same as running"
            if not self.running[self.hook]:
                state += " (queue has no " + self.hook + " hook yet)"
        ro = "  READ-ONLY" if self.settings.read_only else ""
        self.query_one("#title", Static).update(f"{self.queue} ▸ {self.hook}  [{state}]{ro}")

    def _stash(self) -> None:
        if self.loaded:
            self.edited[self.hook] = self.editor.text

    # ------------------------------------------------------------------ loading

    @work(thread=True, exclusive=True, group="hook-load")
    def _load(self) -> None:
        try:
            details = self.backend.get_queue(self.queue)
        except FilaError as exc:
            self.app.call_from_thread(self._show_error, f"cannot load queue: {exc.message}")
            return
        self.app.call_from_thread(self._loaded, details)

    def _loaded(self, details: QueueDetails) -> None:
        self.running = {
            "on_enqueue": details.on_enqueue_script,
            "on_failure": details.on_failure_script,
        }
        self.edited = dict(self.running)
        self.loaded = True
        self._show_hook()

    def _show_hook(self) -> None:
        self.editor.load_text(self.edited[self.hook] or _TEMPLATES[self.hook])
        # A template is an unsaved edit: it only becomes the hook if applied.
        self._paint_title()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        if event.text_area.id == "script" and self.loaded:
            self._paint_title()

    # ------------------------------------------------------------------ actions

    def action_edit(self) -> None:
        self.editor.focus()

    def action_switch_hook(self) -> None:
        self._stash()
        self.hook = HOOKS[(HOOKS.index(self.hook) + 1) % len(HOOKS)]
        self._show_hook()

    def action_test(self) -> None:
        headers, problems = parse_sample_headers(self.query_one("#headers", TextArea).text)
        if problems:
            self._show_error("sample headers: " + "; ".join(problems))
            return
        raw_size = self.query_one("#payload-size", Input).value.strip() or "0"
        self.query_one("#result", Static).update("testing…")
        self._run_test(self.hook, self.editor.text, headers, max(0, int(raw_size)))

    @work(thread=True, exclusive=True, group="hook-test")
    def _run_test(self, hook: str, script: str, headers: dict[str, str], size: int) -> None:
        try:
            result = self.backend.test_hook(
                hook,
                script,
                headers=headers,
                payload_size=size,
                queue=self.queue,
                attempts=1,
                error="sample error from the TUI" if hook == "on_failure" else "",
            )
        except FilaError as exc:
            self.app.call_from_thread(self._show_error, exc.message)
            return
        self.app.call_from_thread(self._show_result, hook, result)

    def _show_result(self, hook: str, result: HookResult) -> None:
        self.last_result = result
        if result.error:
            self._show_error(result.error)
            return
        self.last_error = ""
        self.editor.mark_error(None)
        text = Text("OK, the hook returned:\n", style="bold green")
        for name, value in hook_result_rows(hook, result):
            text.append(f"  {name:<14}", style="bold")
            text.append(f"{value}\n")
        self.query_one("#result", Static).update(text)

    def _show_error(self, error: str) -> None:
        self.last_error = error
        line = error_line(error)
        text = Text("Error", style="bold red")
        if line is not None:
            text.append(f" at line {line}", style="bold red")
            # Put the cursor on the offending line so the fix is one keystroke away.
            self.editor.move_cursor((max(0, line - 1), 0))
        self.editor.mark_error(line)
        text.append(f":\n{error}")
        self.query_one("#result", Static).update(text)

    def action_apply(self) -> None:
        if self.settings.read_only or not self.loaded:
            return
        self._stash()
        hook, script = self.hook, self.edited[self.hook]
        diff = script_diff(self.running[hook], script)
        if not diff:
            self.notify("Nothing to apply: the script equals the running one.")
            return

        self._ask(
            ConfirmScreen(
                f"Apply this {hook} to queue {self.queue!r}?", diff_text(diff), yes="Apply"
            ),
            lambda: self._apply(hook, script),
        )

    def _ask(self, dialog: ConfirmScreen, on_yes: Callable[[], object]) -> None:
        """Confirm, then give the keyboard back where it was (Textual would refocus the editor)."""
        before = self.focused

        def answered(yes: bool | None) -> None:
            self.set_focus(before)
            if yes:
                on_yes()

        self.app.push_screen(dialog, answered)

    @work(thread=True, exclusive=True, group="hook-apply")
    def _apply(self, hook: str, script: str) -> None:
        try:
            if hook == "on_enqueue":
                details = self.backend.update_queue(self.queue, on_enqueue=script)
            else:
                details = self.backend.update_queue(self.queue, on_failure=script)
        except FilaError as exc:
            self.app.call_from_thread(self._show_error, f"not applied: {exc.message}")
            return
        self.app.call_from_thread(self._applied, hook, details)

    def _applied(self, hook: str, details: QueueDetails) -> None:
        self.running = {
            "on_enqueue": details.on_enqueue_script,
            "on_failure": details.on_failure_script,
        }
        self.query_one("#result", Static).update(
            Text(f"Applied {hook} to {self.queue}.", style="bold green")
        )
        self.notify(f"Applied {hook} to {self.queue}")
        self._paint_title()

    def action_back(self) -> None:
        if isinstance(self.focused, Input | TextArea):
            self.set_focus(None)  # first Esc leaves a field, the next one leaves the screen
            return
        if not self.loaded or not self.dirty:
            self.dismiss()
            return

        self._ask(ConfirmScreen("Discard your unsaved hook changes?", yes="Discard"), self.dismiss)
