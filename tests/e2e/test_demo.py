"""`fila demo` against a real server: load flows, the throttled tenant waits, Ctrl-C is clean."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import grpc

from e2e.helpers import Stubs, wait_for


def test_demo_runs_and_stops_cleanly(fila_server) -> None:  # type: ignore[no-untyped-def]
    fila = shutil.which("fila")
    cmd = [fila] if fila else [sys.executable, "-m", "fila.cli.main"]
    proc = subprocess.Popen([*cmd, "--addr", fila_server.url, "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stubs = Stubs(fila_server.addr)
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
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        stubs.close()
    assert proc.returncode == 0, err
    assert "Demo stopped." in out
    assert "Traceback" not in err
