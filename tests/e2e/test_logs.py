"""``[log] format = "json"``: every line the server writes is one JSON object; admin changes
leave an audit line saying what changed and who asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from fila.client import Client

if TYPE_CHECKING:
    from e2e.server_process import ServerProcess


def test_json_logs_and_audit_lines(make_server: Callable[..., ServerProcess]) -> None:
    server = make_server({"log": {"format": "json", "level": "info"}})
    with Client(server.addr) as c:
        c.create_queue("orders")
        c.set_config("throttle.k", "10,10")
        c.delete_queue("orders")
    assert server.stop() == 0
    lines = [json.loads(line) for line in server.log().splitlines()]  # each one parses
    assert any("listening on" in line["msg"] for line in lines)
    audits = [line for line in lines if line["logger"] == "fila.audit"]
    assert [(a["action"], a.get("queue", a.get("key"))) for a in audits] == [
        ("create queue", "orders"), ("set config", "throttle.k"), ("delete queue", "orders")]
    assert all(a["peer"].startswith("ipv4:127.0.0.1:") for a in audits)
    assert audits[1]["detail"] == "10,10"


def test_a_bad_log_format_is_one_line(make_server: Callable[..., ServerProcess]) -> None:
    import subprocess
    import sys

    server = make_server({"log": {"format": "xml"}}, start=False)
    done = subprocess.run([sys.executable, "-m", "fila.server.main"], cwd=server.workdir,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr == ("fila-server: fila.toml [log] format must be one of 'text', 'json', "
                           "got 'xml'\n")


def test_with_auth_the_audit_names_the_api_key(make_server: Callable[..., ServerProcess]
                                               ) -> None:
    boot = "boot-secret-for-the-audit-test"
    server = make_server({"auth": {"bootstrap_apikey": boot}, "log": {"format": "json"}})
    with Client(server.addr, api_key=boot) as root:
        created = root.create_api_key("ops")
        root.set_acl(created.key_id, [("admin", "*")])
    with Client(server.addr, api_key=created.key) as ops:
        ops.create_queue("orders")
    assert server.stop() == 0
    audits = [line for line in map(json.loads, server.log().splitlines())
              if line["logger"] == "fila.audit"]
    assert [a["action"] for a in audits] == ["create api key", "set acl", "create queue"]
    assert audits[2]["caller"] == "ops" and audits[2]["caller_key_id"] == created.key_id
    assert audits[0]["caller_key_id"] == "bootstrap"
    assert created.key not in server.log()  # the plaintext key is never logged
