"""UUIDv7 message ids (time-ordered), in canonical lowercase hyphenated text.

Canonical UUIDv7 text sorts in creation order, which the store relies on:
scanning ``m/<queue>\\0`` yields messages oldest first. Within one millisecond
the 12-bit ``rand_a`` field is a counter so ids made in the same ms still sort
in creation order.
"""

from __future__ import annotations

import os

__all__ = ["Uuid7Generator"]


class Uuid7Generator:
    """Makes ids from a wall-clock millisecond passed in (no clock read here)."""

    def __init__(self) -> None:
        self._last_ms = -1
        self._counter = 0

    def new(self, wall_ms: int) -> str:
        if wall_ms <= self._last_ms:
            # Same (or earlier: clock stepped back) millisecond: keep ordering.
            wall_ms = self._last_ms
            self._counter += 1
            if self._counter > 0xFFF:
                wall_ms += 1
                self._counter = 0
        else:
            self._counter = 0
        self._last_ms = wall_ms
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (
            (wall_ms & ((1 << 48) - 1)) << 80
            | 0x7 << 76
            | self._counter << 64
            | 0b10 << 62
            | rand_b
        )
        h = f"{value:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_uuid(text: str) -> bool:
    """True for canonical hyphenated UUID text (any version), case-insensitive."""
    if len(text) != 36 or text[8] != "-" or text[13] != "-" or text[18] != "-" or text[23] != "-":
        return False
    try:
        int(text.replace("-", ""), 16)
    except ValueError:
        return False
    return True
