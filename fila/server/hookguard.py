"""A queue's hooks as the core sees them: settings, decisions, the breaker, the guard.

No Lua here (``hooks.py`` is the only lupa import): the core holds compiled hooks only
through the :class:`Hooks` protocol and never calls them; the shell runs them on the hook
thread and reports back through :meth:`HookGuard.done`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["CircuitBreaker", "EnqueueDecision", "FailureDecision", "HookGuard", "HookSettings",
           "Hooks"]

# How much of a failure's text the stats keep.
MAX_REASON_BYTES = 4096


@dataclass(frozen=True, slots=True)
class HookSettings:
    timeout_ms: int = 10
    memory_limit_bytes: int = 1 << 20
    breaker_threshold: int = 3
    breaker_cooldown_ms: int = 10_000

    @property
    def instruction_budget(self) -> int:
        return self.timeout_ms * 10_000


@dataclass(frozen=True, slots=True)
class EnqueueDecision:
    fairness_key: str = "default"
    weight: int = 1
    throttle_keys: tuple[str, ...] = ()
    delay_ms: int = 0


@dataclass(frozen=True, slots=True)
class FailureDecision:
    action: str = "retry"
    delay_ms: int = 0


class Hooks(Protocol):
    """Compiled hooks of one queue (``hooks.QueueHooks``), as the core holds them."""

    @property
    def has_on_enqueue(self) -> bool: ...

    @property
    def has_on_failure(self) -> bool: ...

    def on_enqueue(self, headers: Mapping[str, str], payload_size: int, queue: str
                   ) -> EnqueueDecision: ...

    def on_failure(self, headers: Mapping[str, str], message_id: str, attempts: int,
                   queue: str, error: str) -> FailureDecision: ...

    def close(self) -> None: ...


class CircuitBreaker:
    """Consecutive-failure breaker; the caller passes the clock in."""

    __slots__ = ("_cooldown_ms", "_open_until", "_threshold", "consecutive", "failures_total")

    def __init__(self, threshold: int, cooldown_ms: int) -> None:
        self._threshold = threshold
        self._cooldown_ms = cooldown_ms
        self._open_until: int | None = None
        self.failures_total = 0
        self.consecutive = 0

    def allow(self, now_ms: int) -> bool:
        # After the cooldown calls are let through as trials; one more failure re-opens it
        # because `consecutive` is still at or above the threshold.
        return self._open_until is None or now_ms >= self._open_until

    def is_open(self, now_ms: int) -> bool:
        return self._open_until is not None and now_ms < self._open_until

    def success(self) -> None:
        self.consecutive = 0
        self._open_until = None

    def failure(self, now_ms: int) -> None:
        self.failures_total += 1
        self.consecutive += 1
        if self._threshold > 0 and self.consecutive >= self._threshold:
            self._open_until = now_ms + self._cooldown_ms


class HookGuard:
    """One queue's compiled hooks behind its circuit breaker, and why they last failed.

    ``hooks`` is None when the queue has no scripts, or when they were dropped: stuck past
    the watchdog, or not compiling after a restart (``error`` says which).
    """

    __slots__ = ("_settings", "breaker", "error", "hooks")

    def __init__(self, hooks: Hooks | None, settings: HookSettings) -> None:
        self._settings = settings
        self.hooks = hooks
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_ms)
        self.error = ""

    def to_run(self, which: str, now_ms: int) -> Hooks | None:
        """The hooks to call for ``which`` ("on_enqueue" / "on_failure"), if any may run."""
        hooks = self.hooks
        if hooks is None:
            return None
        present = hooks.has_on_enqueue if which == "on_enqueue" else hooks.has_on_failure
        if not present or not self.breaker.allow(now_ms):
            return None
        return hooks

    def done(self, hooks: Hooks, error: str | None, now_ms: int, *, stuck: bool = False
             ) -> bool:
        """Record a call's outcome; False if these hooks were replaced meanwhile.

        ``stuck``: the call ran past the watchdog and its runtime is abandoned, so the
        queue runs without hooks until they are replaced (a retry could strand another
        thread).
        """
        if self.hooks is not hooks:
            return False
        if error is None:
            self.breaker.success()
            return True
        self.breaker.failure(now_ms)
        self.error = error[:MAX_REASON_BYTES]
        if stuck:
            self.hooks = None
            self.error += "; hooks disabled until the queue's scripts are updated"
        return True

    def replace(self, hooks: Hooks | None) -> None:
        """New scripts: a fresh breaker and no failure on record."""
        if self.hooks is not None and self.hooks is not hooks:
            self.hooks.close()
        self.hooks = hooks
        self.breaker = CircuitBreaker(self._settings.breaker_threshold,
                                      self._settings.breaker_cooldown_ms)
        self.error = ""

    def drop(self, error: str) -> None:
        """Hooks that could not be installed: the queue runs without them, and says why."""
        self.hooks = None
        self.error = error[:MAX_REASON_BYTES]

    def close(self) -> None:
        if self.hooks is not None:
            self.hooks.close()

    def is_open(self, now_ms: int) -> bool:
        """Open breaker, or hooks dropped for a reason: either way they are not running."""
        return self.breaker.is_open(now_ms) or (self.hooks is None and bool(self.error))
