"""`fila demo`: noisy, quiet and throttled tenants plus a consumer, so `fila tui` comes alive.

Against a running broker it creates (or updates) queue ``demo`` whose
``on_enqueue`` hook keys messages by the ``tenant`` header and gives the
throttled tenant a throttle key; sets ``throttle.<key>``; then runs producer
and consumer threads until Ctrl-C (exit code 130, like ``fila consume``).

Each tenant's producer pauses while that tenant has more than its target of
messages pending, so the backlog hovers around a steady size however long the
demo runs. What it leaves behind (queue ``demo``, ``demo.dlq`` and the throttle
key) stays for the next run; ``fila demo --cleanup`` removes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from fila.client import Client

__all__ = ["DEMO_HOOK", "cleanup", "demo", "register", "setup"]

DEMO_QUEUE = "demo"
THROTTLE_KEY = "provider:slowpay"
THROTTLE_VALUE = "5,5"  # 5 per second, burst 5: the throttled tenant visibly waits

DEMO_HOOK = """function on_enqueue(msg)
  local tenant = msg.headers["tenant"] or "default"
  local keys = {}
  if msg.headers["provider"] then keys = { "provider:" .. msg.headers["provider"] } end
  return { fairness_key = tenant, weight = tonumber(msg.headers["weight"]) or 1,
           throttle_keys = keys }
end
"""

DEMO_FAILURE_HOOK = """function on_failure(msg)
  if msg.attempts >= 2 then return { action = "dlq" } end
  return { action = "retry" }
end
"""

# Pending messages per tenant above which its producer pauses: the backlog stays about
# this size (plus what one poll interval lets through) for as long as the demo runs.
TARGET_PENDING = {"acme": 300, "globex": 40, "initech": 60}
POLL_S = 0.5


def _paced(stop: threading.Event, per_second: float, step: Callable[[int], None]) -> None:
    """Call ``step(i)`` about ``per_second`` times a second until ``stop``."""
    interval = 1.0 / per_second
    due = time.monotonic()
    i = 0
    while not stop.is_set():
        step(i)
        i += 1
        due += interval
        # Pacing, not synchronisation: the wait ends early when the demo stops.
        stop.wait(max(0.0, due - time.monotonic()))


def _producer(
    make_client: Callable[[], Client],
    stop: threading.Event,
    room: dict[str, threading.Event],
    tenant: str,
    per_second: float,
    extra: dict[str, str],
) -> None:
    from fila.errors import FilaError

    with make_client() as client:

        backlog_ok = room[tenant]

        def send(i: int) -> None:
            backlog_ok.wait(1.0)
            if not backlog_ok.is_set():
                return
            headers = {"tenant": tenant, **extra}
            if tenant == "acme" and i % 250 == 249:
                headers["fail"] = "1"  # a few poison messages end in demo.dlq
            try:
                client.enqueue(
                    DEMO_QUEUE, headers, b'{"tenant": "%s", "n": %d}' % (tenant.encode(), i)
                )
            except FilaError:
                stop.wait(1.0)  # broker busy or gone: back off, keep the demo alive

        _paced(stop, per_second, send)


def _consumer(make_client: Callable[[], Client], stop: threading.Event) -> None:
    from fila.errors import FilaError

    while not stop.is_set():
        try:
            with make_client() as client:
                stream = client.consume(DEMO_QUEUE, prefetch=16)
                for msg in stream:
                    if stop.is_set():
                        break
                    stop.wait(0.004)  # pretend to work: ~250 msg/s at most
                    if msg.headers.get("fail"):
                        client.nack(DEMO_QUEUE, msg.id, "simulated failure: card declined")
                    else:
                        client.ack(DEMO_QUEUE, msg.id)
        except FilaError:
            stop.wait(1.0)


def _watch_backlog(
    make_client: Callable[[], Client], stop: threading.Event, room: dict[str, threading.Event]
) -> None:
    from fila.errors import FilaError

    with make_client() as client:
        while not stop.is_set():
            try:
                pending = {key: p for key, p, _, _ in client.get_stats(DEMO_QUEUE).per_key}
            except FilaError:
                pending = {}
            for tenant, event in room.items():
                if pending.get(tenant, 0) > TARGET_PENDING[tenant]:
                    event.clear()
                else:
                    event.set()
            stop.wait(POLL_S)


def setup(client: Client) -> None:
    """Create or update the demo queue and its throttle (idempotent)."""
    from fila.errors import AlreadyExistsError

    try:
        client.create_queue(DEMO_QUEUE, on_enqueue=DEMO_HOOK, on_failure=DEMO_FAILURE_HOOK)
    except AlreadyExistsError:
        client.update_queue(DEMO_QUEUE, on_enqueue=DEMO_HOOK, on_failure=DEMO_FAILURE_HOOK)
    client.set_config(f"throttle.{THROTTLE_KEY}", THROTTLE_VALUE)


def cleanup(client: Client) -> list[str]:
    """Remove what the demo leaves behind; return what was there to remove."""
    from fila.errors import NotFoundError

    removed: list[str] = []
    try:
        client.delete_queue(DEMO_QUEUE)  # its .dlq goes with it
        removed += [f'queue "{DEMO_QUEUE}"', f'queue "{DEMO_QUEUE}.dlq"']
    except NotFoundError:
        pass
    key = f"throttle.{THROTTLE_KEY}"
    if client.get_config(key) is not None:
        client.set_config(key, "")
        removed.append(f'config "{key}"')
    return removed


def demo(
    ctx: typer.Context,
    addr: Annotated[
        str | None,
        typer.Option(
            "--addr",
            envvar="FILA_ADDR",
            show_envvar=True,
            help="Broker address (defaults to the global --addr).",
        ),
    ] = None,
    clean: Annotated[
        bool,
        typer.Option(
            "--cleanup",
            help=f'Remove queues "{DEMO_QUEUE}", "{DEMO_QUEUE}.dlq" and '
            f'"throttle.{THROTTLE_KEY}", then exit.',
        ),
    ] = False,
) -> None:
    """Run a noisy, a quiet and a throttled tenant plus a consumer until Ctrl-C."""
    from fila.cli.base import check_addr, describe_error, open_client
    from fila.cli.tui import _root_addr, root_state
    from fila.errors import FilaError

    target = addr or _root_addr(ctx)
    check_addr(target)

    def make_client() -> Client:
        # The global --api-key / --tls-* options (or env) apply to every demo client.
        return open_client(root_state(ctx, target))

    try:
        with make_client() as client:
            if clean:
                removed = cleanup(client)
                typer.echo("Removed " + ", ".join(removed) if removed else "Nothing to clean up.")
                return
            setup(client)
    except FilaError as exc:
        typer.echo(f"Error: {describe_error(exc, target)}", err=True)
        raise typer.Exit(1) from None

    stop = threading.Event()
    room = {tenant: threading.Event() for tenant in TARGET_PENDING}
    for event in room.values():
        event.set()
    threads = [
        threading.Thread(
            target=_producer, name="noisy", args=(make_client, stop, room, "acme", 300.0, {})
        ),
        threading.Thread(
            target=_producer,
            name="quiet",
            args=(make_client, stop, room, "globex", 8.0, {"weight": "2"}),
        ),
        threading.Thread(
            target=_producer,
            name="throttled",
            args=(make_client, stop, room, "initech", 40.0, {"provider": "slowpay"}),
        ),
        threading.Thread(target=_consumer, name="consumer", args=(make_client, stop)),
        threading.Thread(target=_watch_backlog, name="backlog", args=(make_client, stop, room)),
    ]
    for t in threads:
        t.daemon = True  # a consumer blocked on its stream must not hold up Ctrl-C
        t.start()
    typer.echo(
        f'Demo running on queue "{DEMO_QUEUE}" at {target}: noisy tenant acme, quiet globex, '
        f"throttled initech (throttle.{THROTTLE_KEY} = {THROTTLE_VALUE}). "
        f"Now run `fila tui --addr {target}` in another terminal. Ctrl-C stops; "
        f"`fila demo --cleanup` removes the demo queues afterwards."
    )
    try:
        stop.wait()
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=2.0)
        typer.echo("Demo stopped.")
        raise typer.Exit(130) from None


def register(app: typer.Typer) -> None:
    """Add `fila demo` to the root CLI (called by fila/cli/main.py)."""
    from fila.cli.common import FilaCommand

    app.command("demo", cls=FilaCommand)(demo)
