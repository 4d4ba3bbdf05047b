"""Every call into Lua the engine makes, run on the hook thread (hookrunner.py).

Compiling a queue's scripts (their top level runs), on_enqueue and on_failure calls (their
outcome feeds the queue's breaker in the core), and TestHook. A job past the watchdog is a
HookStuck: the call gets the default policy and the core drops that queue's hooks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from fila.errors import InvalidArgumentError
from fila.server.broker import MAX_ERROR_BYTES, Broker
from fila.server.hookguard import Hooks, HookSettings
from fila.server.hookrunner import HookRunner, HookStuck
from fila.server.hooks import HookError, QueueHooks
from fila.server.logfmt import fields
from fila.types import HookResult

__all__ = ["HookCalls"]

log = logging.getLogger("fila.engine")


class HookCalls:
    """The engine's hook calls: compile, call, test, all through one HookRunner."""

    def __init__(self, broker: Broker, runner: HookRunner) -> None:
        self.broker = broker
        self.runner = runner
        # Metrics: (queue, hook, seconds) per call, when metrics are on.
        self.observe: Callable[[str, str, float], None] | None = None

    async def compile(self, queue: str, on_enqueue: str, on_failure: str
                            ) -> QueueHooks | None:
        """Compile a queue's scripts on the hook thread (their top level runs there too)."""
        if not on_enqueue.strip() and not on_failure.strip():
            return None
        try:
            return await self.runner.run(f"loading the hooks of queue {queue!r}", QueueHooks,
                                        on_enqueue, on_failure, self.broker.settings.hooks,
                                        self.broker.config_lookup)
        except (HookError, HookStuck) as exc:
            raise InvalidArgumentError(f"queue {queue}: {exc}") from None

    async def load_all(self, only: str | None = None) -> None:
        """After recovery: compile every queue's scripts (the runtime config is loaded);
        with ``only``, that queue's (cluster mode: a queue just loaded)."""
        for config in self.broker.scripted_queues():
            if only is not None and config.name != only:
                continue
            try:
                hooks = await self.compile(config.name, config.on_enqueue_script,
                                                 config.on_failure_script)
            except InvalidArgumentError as exc:
                log.warning("%s; the queue runs without hooks until they are updated", exc,
                            extra=fields(queue=config.name))
                self.broker.install_hooks(config.name, None, str(exc))
            else:
                self.broker.install_hooks(config.name, hooks)

    async def call(self, queue: str, hooks: Hooks, which: str,
                         *args: Any) -> Any:
        """Run one hook call; None (the default policy) if it failed. Feeds the breaker."""
        fn = hooks.on_enqueue if which == "on_enqueue" else hooks.on_failure
        started = time.perf_counter()
        try:
            decision = await self.runner.run(f"{which} of queue {queue!r}", fn, *args)
        except HookStuck as exc:
            self.broker.hook_done(queue, hooks, str(exc), stuck=True)
            return None
        except Exception as exc:  # HookError, or its runtime was replaced under the call
            self.broker.hook_done(queue, hooks, str(exc) or type(exc).__name__)
            return None
        finally:
            if self.observe is not None:
                self.observe(queue, which, time.perf_counter() - started)
        self.broker.hook_done(queue, hooks)
        return decision

    async def test(self, hook: str, script: str, headers: Mapping[str, str],
                        payload_size: int, queue: str, attempts: int, error: str,
                        message_id: str) -> HookResult:
        """Run ``script`` on a sample message; touches no queue. Errors come back as text."""
        if hook not in ("on_enqueue", "on_failure"):
            raise InvalidArgumentError('hook must be "on_enqueue" or "on_failure"')
        try:  # QueueHooks bounds every input (sizes come back as the hook's error text)
            return await self.runner.run(
                "TestHook", _test_hook, hook, script, dict(headers), payload_size, queue,
                attempts, error[:MAX_ERROR_BYTES], message_id, self.broker.settings.hooks,
                self.broker.config_lookup)
        except HookStuck as exc:
            return HookResult(error=str(exc))


def _test_hook(hook: str, script: str, headers: dict[str, str], payload_size: int, queue: str,
               attempts: int, error: str, message_id: str, settings: HookSettings,
               get_config: Any) -> HookResult:
    """TestHook's work, run on the hook thread: compile, call once, describe, close."""
    try:
        hooks = QueueHooks(script if hook == "on_enqueue" else "",
                           script if hook == "on_failure" else "", settings, get_config)
    except HookError as exc:
        return HookResult(error=str(exc))
    try:
        if hook == "on_enqueue":
            d = hooks.on_enqueue(headers, payload_size, queue)
            return HookResult(fairness_key=d.fairness_key, weight=d.weight,
                              throttle_keys=d.throttle_keys, delay_ms=d.delay_ms,
                              raw=hooks.describe_last())
        f = hooks.on_failure(headers, message_id, max(1, attempts), queue, error)
        return HookResult(action=f.action, delay_ms=f.delay_ms, raw=hooks.describe_last())
    except HookError as exc:
        return HookResult(error=str(exc))
    finally:
        hooks.close()
