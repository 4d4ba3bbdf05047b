"""UUIDv7 message ids (time-ordered), in canonical lowercase hyphenated text.

Canonical UUIDv7 text sorts in creation order, which the store relies on:
scanning ``m/<queue>\\0`` yields messages oldest first. Within one millisecond
the 12-bit ``rand_a`` field is a counter so ids made in the same ms still sort
in creation order.
"""

from __future__ import annotations

import os
import random

__all__ = ["Uuid7Generator"]


class Uuid7Generator:
    """Makes ids from a wall-clock millisecond passed in (no clock read here)."""

    def __init__(self, seed: bytes | None = None) -> None:
        self._last_ms = -1
        self._counter = 0
        self._prefix = ""
        # rand_b only has to keep ids of different processes (or of a restart after the
        # clock stepped back) apart; within this process (ms, counter) is already unique.
        # A seeded PRNG is a tenth of the cost of a urandom syscall per id. A fixed seed is
        # for tests only: ids made in the same millisecond by two generators (a restart
        # under a stopped test clock) sort by rand_b, so a replayed example needs the same.
        self._rand = random.Random(seed if seed is not None else os.urandom(16)).getrandbits

    def new(self, wall_ms: int) -> str:
        if wall_ms <= self._last_ms:
            # Same (or earlier: clock stepped back) millisecond: keep ordering.
            self._counter += 1
            if self._counter > 0xFFF:
                self._last_ms += 1
                self._counter = 0
                self._prefix = _ms_prefix(self._last_ms)
        else:
            self._counter = 0
            self._last_ms = wall_ms
            self._prefix = _ms_prefix(wall_ms)
        rand_b = self._rand(62)
        # variant 0b10 in the top bits of the fourth group
        return (f"{self._prefix}{self._counter:03x}-{0x8000 | rand_b >> 48:04x}-"
                f"{rand_b & 0xFFFFFFFFFFFF:012x}")


def _ms_prefix(wall_ms: int) -> str:
    """``tttttttt-tttt-7``: the 48-bit millisecond timestamp and the version nibble."""
    ms = wall_ms & ((1 << 48) - 1)
    return f"{ms >> 16:08x}-{ms & 0xFFFF:04x}-7"


def is_uuid(text: str) -> bool:
    """True for canonical hyphenated UUID text (any version), case-insensitive."""
    if len(text) != 36 or text[8] != "-" or text[13] != "-" or text[18] != "-" or text[23] != "-":
        return False
    try:
        int(text.replace("-", ""), 16)
    except ValueError:
        return False
    return True
