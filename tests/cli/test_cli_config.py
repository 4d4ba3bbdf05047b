"""`fila config ...` against a real fila-server."""

from __future__ import annotations

import json

from cli_support import CliFn, ProcFn


def test_set_get_list_as_subprocesses(fila: ProcFn) -> None:
    assert fila("config", "list").stdout == "No config entries found.\n"
    result = fila("config", "set", "app.greeting", "hello world")
    assert (result.returncode, result.stdout) == (0, 'Set "app.greeting" = "hello world"\n')
    assert fila("config", "get", "app.greeting").stdout == "app.greeting: hello world\n"
    assert fila("config", "get", "app.missing").stdout == "app.missing: (not set)\n"


def test_list_with_prefix(cli: CliFn) -> None:
    cli("config", "set", "throttle.tenant:acme", "10,20")
    cli("config", "set", "app.mode", "fast")
    lines = cli("config", "list").stdout.splitlines()
    assert lines[0].split() == ["KEY", "VALUE"]
    assert [line.split() for line in lines[1:]] == [
        ["app.mode", "fast"],
        ["throttle.tenant:acme", "10,20"],
    ]
    only = cli("config", "list", "--prefix", "throttle.").stdout.splitlines()
    assert [line.split()[0] for line in only[1:]] == ["throttle.tenant:acme"]
    none = cli("config", "list", "--prefix", "zzz")
    assert none.stdout == 'No config entries matching prefix "zzz".\n'


def test_json_output(cli: CliFn) -> None:
    cli("config", "set", "app.mode", "fast")
    assert json.loads(cli("config", "get", "app.mode", "--json").stdout) == {
        "key": "app.mode",
        "value": "fast",
    }
    assert json.loads(cli("--json", "config", "get", "nope").stdout) == {
        "key": "nope",
        "value": None,
    }
    assert json.loads(cli("config", "list", "--json").stdout) == [
        {"key": "app.mode", "value": "fast"}
    ]


def test_invalid_throttle_value_is_an_error(cli: CliFn) -> None:
    result = cli("config", "set", "throttle.x", "not-a-rate")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert result.stdout == ""
    assert cli("config", "get", "throttle.x").stdout == "throttle.x: (not set)\n"
