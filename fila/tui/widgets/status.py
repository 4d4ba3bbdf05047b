"""The top bar (server, live indicator) and the connection banner."""

from __future__ import annotations

from textual.widgets import Static

__all__ = ["ConnectionBanner", "InfoBar"]


class InfoBar(Static):
    """' Fila  127.0.0.1:5555  v0.3.0  up 2h14m  data 1.2 GiB        ● live 1s'."""

    def show(self, left: str, right: str, width: int) -> None:
        gap = max(2, width - len(left) - len(right) - 2)
        self.update(f" {left}{' ' * gap}{right}")


class ConnectionBanner(Static):
    """Shown only while the stats stream is down; says what failed and when we retry."""

    def show(self, text: str | None) -> None:
        self.display = text is not None
        if text is not None:
            self.update(text)
