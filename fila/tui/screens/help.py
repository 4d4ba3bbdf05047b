"""'?': what the keys do on the screen you came from, and what the numbers mean."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

__all__ = ["HelpScreen", "help_text"]

_GLOBAL = [
    ("q", "quit"),
    ("?", "this help"),
    ("ctrl+p", "command palette: open a queue, DLQ, hook, config, cluster; theme"),
    ("ctrl+t", "toggle light / dark theme"),
    ("esc", "back"),
]

_ABOUT = {
    "OverviewScreen": "Queues. DEPTH = ready + delayed + leased. WAIT p95 = time from eligible "
    "to delivered. A DLQ row holding messages is red and marked (!). A queue marked ▲ needs "
    "attention (its DLQ grows, its oldest ready message waits too long, or its hook breaker "
    "is open): a says why. P purges ready and delayed messages (leased ones stay).",
    "QueueScreen": "Per fairness key: SHARE vs WEIGHT compares the share of deliveries this "
    "key got with the share its weight asks for. STATE / WHY says why a key waits: "
    "throttled by a limit key (and until when), at a concurrency cap, no consumer, or "
    "waiting its turn. The server sends the top keys by activity; totals are in the title. "
    "Enter on a key opens its messages; t / m set the throttle / cap of the selected limit "
    "key, or of the limit the selected key waits on.",
    "HookEditorScreen": "Esc leaves the editor, so t / a / o work as keys; ctrl+t / ctrl+s / "
    "ctrl+o work while typing. Test never touches the queue; Apply shows a diff first.",
    "ConfigScreen": 'throttle.<key> = "rate,burst"; concurrency.<key> = "n"; an empty '
    "value deletes. LIVE STATE comes from the stats stream.",
    "DlqScreen": "Enter opens a message in the inspector. Redrive always runs a dry run and "
    "shows the count before moving anything.",
    "MessageScreen": "Payloads show as pretty JSON when they parse as a JSON object or array, "
    "else as text when they are UTF-8, else in hex (x switches). Copy puts the message on the "
    "clipboard in the shape `fila peek --json` prints. Redrive and delete ask first; a "
    "message leased by a consumer cannot be deleted.",
    "ClusterScreen": "Cluster mode: one node owns each queue, the others keep copies of its "
    "log. LAG = log entries of the queue the node you are connected to has not applied to "
    "its copy yet (LOG SEQ - APPLIED); (none) = no node holds the queue right now. Refreshed "
    "every interval (GetClusterStatus); `fila cluster status --all` shows every node's lag.",
    "ChartScreen": "One sample per second, kept by the server (15 min by default). Wait p95 "
    "is that of the messages delivered in the second; throttle hits are deliveries a "
    "throttle or concurrency cap refused. The line under the title says where the samples "
    "come from.",
}


def help_text(screen: Screen[object], read_only: bool) -> Text:
    text = Text()
    name = type(screen).__name__
    text.append(f"{name.removesuffix('Screen')} keys\n", style="bold")
    writes: frozenset[str] = getattr(screen, "WRITE_ACTIONS", frozenset())
    for binding in screen.BINDINGS:
        if not isinstance(binding, Binding) or not binding.description:
            continue
        if read_only and binding.action in writes:
            continue
        keys = binding.key_display or binding.key.split(",")[0]
        text.append(f"  {keys:<8}", style="bold")
        text.append(f"{binding.description}\n")
    text.append("\nEverywhere\n", style="bold")
    for keys, what in _GLOBAL:
        text.append(f"  {keys:<8}", style="bold")
        text.append(f"{what}\n")
    if name in _ABOUT:
        text.append(f"\n{_ABOUT[name]}\n")
    if read_only:
        text.append("\nRead-only mode: write actions are hidden.\n", style="italic")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, under: Screen[object], *, read_only: bool = False) -> None:
        super().__init__()
        self.under = under
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("Help (esc closes)", id="question", markup=False)
            with VerticalScroll(id="detail"):
                yield Static(help_text(self.under, self.read_only), markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
