"""Error edges found in review: one clear line, the right class, never gRPC's log noise."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from cli_support import CliFn, ProcFn, run_fila

from fila.client import Client
from fila.errors import InvalidArgumentError, RPCError, UnavailableError


def test_oversized_payload_is_a_size_error_not_overload(cli: CliFn, fila: ProcFn,
                                                        tmp_path: Any) -> None:
    assert cli("queue", "create", "big").exit_code == 0
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (5 * 1024 * 1024))
    proc = fila("enqueue", "big", "--file", str(big))
    assert proc.returncode == 1
    assert proc.stderr.startswith("Error: payload exceeds 4194304 bytes")
    assert "overloaded" not in proc.stderr


@pytest.mark.parametrize(("addr", "needle", "code"), [
    # a malformed address is a usage error (exit 2), like any bad argument
    ("http://", 'Error: invalid broker address ""', 2),
    ("nosuchhost.invalid:5555", "Error: cannot connect to broker at nosuchhost.invalid:5555", 1),
])
def test_bad_addresses_give_one_line(addr: str, needle: str, code: int) -> None:
    proc = run_fila(["--addr", addr, "queue", "list"])
    assert proc.returncode == code
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]  # exactly one line
    assert proc.stderr.startswith(needle)


def test_errors_are_rpc_errors_with_a_code_like_the_published_sdk(fila_server: Any) -> None:
    with Client(fila_server.addr) as client:
        client.create_queue("q")
        with pytest.raises(RPCError) as bad:
            client.ack("q", "not-a-uuid")
    assert isinstance(bad.value, InvalidArgumentError)
    assert bad.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with Client("127.0.0.1:1") as nowhere, pytest.raises(RPCError) as down:
        nowhere.list_queues()
    assert isinstance(down.value, UnavailableError)
    assert down.value.code == grpc.StatusCode.UNAVAILABLE
