"""Runtime config entries: what a key and value may be, and what a limit key means.

Pure: validation and parsing only. The core applies a parsed :class:`LimitSetting` to its
limits; SetConfig, recovery and the tests all go through :func:`check_entry` and
:func:`parse_limit`, so a value is judged the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from fila.errors import InvalidArgumentError
from fila.server.limits import parse_cap, parse_throttle

__all__ = ["MAX_CONFIG_KEY_BYTES", "MAX_CONFIG_VALUE_BYTES", "LimitSetting", "check_entry",
           "parse_limit"]

MAX_CONFIG_KEY_BYTES = 256
MAX_CONFIG_VALUE_BYTES = 1024
_LIMIT_PREFIXES = ("throttle.", "concurrency.")


@dataclass(frozen=True, slots=True)
class LimitSetting:
    """A ``throttle.<key>`` or ``concurrency.<key>`` entry, parsed. ``remove``: no limit."""

    kind: str  # "throttle" | "concurrency"
    key: str
    remove: bool = False
    rate: float = 0.0
    burst: float = 0.0
    cap: int = 0


def check_entry(key: str, value: str) -> str:
    """Validate a config entry; returns the value to store ("" deletes the key).

    Raises:
        InvalidArgumentError: the key or value is out of range, or a limit does not parse.
    """
    if not key or len(key.encode()) > MAX_CONFIG_KEY_BYTES:
        raise InvalidArgumentError(f"config key must be 1-{MAX_CONFIG_KEY_BYTES} bytes")
    if len(value.encode()) > MAX_CONFIG_VALUE_BYTES:
        raise InvalidArgumentError(f"config value must be at most {MAX_CONFIG_VALUE_BYTES} bytes")
    parse_limit(key, value)
    if key.startswith(_LIMIT_PREFIXES) and value.strip() == "":
        return ""  # whitespace only removes a limit: store nothing
    return value


def parse_limit(key: str, value: str) -> LimitSetting | None:
    """The limit a config entry sets (None for keys that are not limits).

    Raises:
        InvalidArgumentError: an empty limit key, or a value that does not parse.
    """
    kind, _, limit_key = key.partition(".")
    if kind not in ("throttle", "concurrency") or not key.startswith(_LIMIT_PREFIXES):
        return None
    if not limit_key:
        raise InvalidArgumentError(f"{kind} key must not be empty ({kind}.<key>)")
    if value.strip() == "":
        return LimitSetting(kind, limit_key, remove=True)
    try:
        if kind == "throttle":
            rate, burst = parse_throttle(value)
            return LimitSetting(kind, limit_key, rate=rate, burst=burst)
        return LimitSetting(kind, limit_key, cap=parse_cap(value))
    except ValueError as exc:
        raise InvalidArgumentError(str(exc)) from exc
