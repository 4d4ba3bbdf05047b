"""Number, time and bar formatting for the TUI. Pure: no Textual, no clock.

Every function here is deterministic in its arguments (times come from the
server's snapshots, the timezone is passed in), so the view model and the
snapshot tests never depend on when or where they run.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, tzinfo

__all__ = [
    "DASH",
    "bucketed",
    "fmt_bytes",
    "fmt_clock",
    "fmt_count",
    "fmt_duration_ms",
    "fmt_rate",
    "fmt_uptime",
    "gauge",
    "hex_dump",
    "share_bar",
    "sparkline",
]

DASH = "—"
_BLOCKS = "▁▂▃▄▅▆▇█"


def fmt_count(n: int) -> str:
    """12408 -> '12 408' (a space groups thousands; reads well in a narrow column)."""
    return f"{n:,}".replace(",", " ")


def fmt_rate(per_second: float) -> str:
    """Rates: small ones keep a decimal so a trickle is not shown as 0."""
    if per_second <= 0 or not math.isfinite(per_second):
        return "0"
    if per_second < 10:
        return f"{per_second:.1f}"
    return fmt_count(round(per_second))


def fmt_duration_ms(ms: float) -> str:
    """A wait time: '41 ms', '1.2 s', '2m03s'; zero means 'no sample' and shows a dash."""
    if ms <= 0 or not math.isfinite(ms):
        return DASH
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    total = int(ms // 1000)
    return f"{total // 60}m{total % 60:02d}s"


def fmt_uptime(ms: int) -> str:
    secs = max(0, ms // 1000)
    days, rest = divmod(secs, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def fmt_bytes(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - loop always returns


def fmt_clock(epoch_ms: int, tz: tzinfo) -> str:
    """Wall-clock time of day in the operator's zone (tests pass UTC)."""
    return datetime.fromtimestamp(epoch_ms / 1000, tz).strftime("%H:%M:%S")


def bucketed(values: Sequence[float], cells: int, per_cell: int) -> list[float]:
    """Average the newest ``cells * per_cell`` samples into ``cells`` buckets, newest last.

    Buckets are aligned to the newest sample, so a long history fits a narrow
    column; a short history fills only the right-hand cells.
    """
    if cells <= 0:
        return []
    per_cell = max(1, per_cell)
    out: list[float] = []
    end = len(values)
    while end > 0 and len(out) < cells:
        chunk = values[max(0, end - per_cell) : end]
        out.append(sum(chunk) / len(chunk))
        end -= per_cell
    out.reverse()
    return out


def sparkline(values: Sequence[float], width: int) -> str:
    """Block sparkline scaled to the series' own maximum, right-aligned in ``width``."""
    tail = list(values)[-width:] if width > 0 else []
    if not tail:
        return " " * max(0, width)
    peak = max(tail)
    if peak <= 0:
        line = _BLOCKS[0] * len(tail)
    else:
        top = len(_BLOCKS) - 1
        line = "".join(_BLOCKS[min(top, round(v / peak * top))] for v in tail)
    return line.rjust(width)


def _bar(fraction: float, width: int) -> str:
    fraction = min(1.0, max(0.0, fraction if math.isfinite(fraction) else 0.0))
    filled = round(fraction * width)
    return "█" * filled + "░" * (width - filled)


def share_bar(delivered_share: float, weight_share: float, width: int = 8) -> str:
    """'██████░░ 33%│33%': delivered share drawn, weight share beside it to compare."""
    return (
        f"{_bar(delivered_share, width)} {delivered_share * 100:3.0f}%│{weight_share * 100:3.0f}%"
    )


def gauge(tokens: float, burst: float, width: int = 6) -> str:
    """Token bucket fill: '▕███░░░▏ 0.4/150'."""
    fraction = tokens / burst if burst > 0 else 0.0
    shown = f"{tokens:.1f}" if tokens < 10 else fmt_count(round(tokens))
    cap = f"{burst:g}" if burst < 10_000 else fmt_count(round(burst))
    return f"▕{_bar(fraction, width)}▏ {shown}/{cap}"


def hex_dump(data: bytes, width: int = 16) -> str:
    """Classic offset / hex / ascii dump, for payloads that are not text."""
    lines = []
    for offset in range(0, len(data), width):
        chunk = data[offset : offset + width]
        hexes = " ".join(f"{b:02x}" for b in chunk).ljust(width * 3 - 1)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:06x}  {hexes}  |{text}|")
    return "\n".join(lines)
