"""`fila demo` against a real server: load flows, the throttled tenant waits, Ctrl-C is clean."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import grpc

from e2e.helpers import Stubs, wait_for
from fila.cli.demo import TARGET_PENDING, setup
from fila.client import Client


def test_demo_runs_and_stops_cleanly(fila_server) -> None:  # type: ignore[no-untyped-def]
    fila = shutil.which("fila")
    cmd = [fila] if fila else [sys.executable, "-m", "fila.cli.main"]
    proc = subprocess.Popen([*cmd, "--addr", fila_server.url, "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stubs = Stubs(fila_server.addr)

    def pending_of(tenant: str) -> int:
        try:
            keys = {k.key: k.pending_count for k in stubs.stats("demo").per_key_stats}
        except grpc.RpcError:
            return 0
        return keys.get(tenant, 0)

    try:
        def throttled_tenant() -> object:
            try:
                snap = stubs.stats("demo").snapshot
            except grpc.RpcError:
                return None  # the demo has not created its queue yet
            keys = {k.key: k for k in snap.keys}
            initech = keys.get("initech")
            if snap.delivered_total > 20 and initech is not None and \
                    initech.waiting == "throttled":
                return initech
            return None

        initech = wait_for(throttled_tenant, timeout=30, what="a throttled tenant under load")
        assert initech.waiting_on == "provider:slowpay"

        # The backlog stays around a steady size. The noisy tenant produces faster than it
        # is served: without a cap its backlog grows for as long as the demo runs. With
        # one it hovers near its target; overshoot is what it sends while the backlog
        # watcher polls, so allow 3x for a loaded machine. The slower the machine, the
        # longer this window lasts and the further an uncapped backlog would run away.
        wait_for(lambda: pending_of("acme") >= TARGET_PENDING["acme"], timeout=30,
                 what="the noisy tenant's backlog to fill up")
        delivered = stubs.stats("demo").snapshot.delivered_total
        acme: list[int] = []
        depths: list[int] = []

        def many_more_delivered() -> bool:
            snap = stubs.stats("demo")
            depths.append(snap.depth)
            acme.append(next((k.pending_count for k in snap.per_key_stats if k.key == "acme"), 0))
            return snap.snapshot.delivered_total > delivered + 1500

        wait_for(many_more_delivered, timeout=60, what="1500 more deliveries")
        assert max(acme) <= 3 * TARGET_PENDING["acme"], acme
        assert max(depths) <= 3 * sum(TARGET_PENDING.values()), depths
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        stubs.close()
    assert proc.returncode == 130, err  # Ctrl-C, as `fila consume` reports it
    assert "Demo stopped." in out
    assert "Traceback" not in err


def test_demo_cleanup_removes_what_it_leaves(fila_server) -> None:  # type: ignore[no-untyped-def]
    fila = shutil.which("fila")
    cmd = [fila] if fila else [sys.executable, "-m", "fila.cli.main"]
    with Client(fila_server.addr) as client:
        setup(client)  # what a demo run leaves behind
        assert {q.name for q in client.list_queues()} == {"demo", "demo.dlq"}
    done = subprocess.run([*cmd, "--addr", fila_server.url, "demo", "--cleanup"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ('Removed queue "demo", queue "demo.dlq", '
                           'config "throttle.provider:slowpay"\n')
    with Client(fila_server.addr) as client:
        assert client.list_queues() == []
        assert client.get_config("throttle.provider:slowpay") is None
    again = subprocess.run([*cmd, "--addr", fila_server.url, "demo", "--cleanup"],
                           capture_output=True, text=True, timeout=30)
    assert (again.returncode, again.stdout) == (0, "Nothing to clean up.\n")
