"""Malformed and oversized input (docs/security.md, "Requests"): a clear status, no state change."""

from __future__ import annotations

import os

import grpc

from e2e.helpers import Stubs, code_of
from fila.v1 import service_pb2

ACCEPTABLE = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.RESOURCE_EXHAUSTED,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL}


def raw_enqueue(channel: grpc.Channel, body: bytes) -> grpc.StatusCode:
    call = channel.unary_unary("/fila.v1.FilaService/Enqueue",
                               request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return code_of(lambda: call(body, timeout=10))


def test_garbage_and_oversized_requests_change_nothing(fila_server) -> None:  # type: ignore[no-untyped-def]
    stubs = Stubs(fila_server.addr)
    stubs.create("q")
    channel = stubs.channel
    # Random bytes, wrong wire types, invalid UTF-8 in a string field.
    assert raw_enqueue(channel, os.urandom(64) + b"\xff\xff") in ACCEPTABLE
    assert raw_enqueue(channel, b"\x0a\x03q\xff\xfe") in ACCEPTABLE  # queue = invalid UTF-8
    assert raw_enqueue(channel, b"\x08\x01") in ACCEPTABLE | {grpc.StatusCode.NOT_FOUND}
    big = b"x" * (5 * 1024 * 1024)
    assert code_of(lambda: stubs.enqueue("q", big)) in ACCEPTABLE
    huge_header = {"h": "v" * (70 * 1024)}
    assert code_of(lambda: stubs.enqueue("q", b"", huge_header)) == \
        grpc.StatusCode.INVALID_ARGUMENT
    many = {f"h{i}": "v" for i in range(10_000)}
    assert code_of(lambda: stubs.enqueue("q", b"", many)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.enqueue("q" * 300)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.create("bad\x00name")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: stubs.svc.Enqueue(service_pb2.EnqueueRequest(
        queue="q", delay_ms=2**63), timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
    # Nothing was stored, and the server still serves normally.
    assert stubs.stats("q").depth == 0
    stubs.enqueue("q", b"ok")
    assert stubs.stats("q").depth == 1
    assert "Traceback" not in fila_server.log()
    stubs.close()


def test_excess_consumers_are_refused_and_others_keep_flowing(make_server) -> None:  # type: ignore[no-untyped-def]
    """One stream over the limit gets RESOURCE_EXHAUSTED; established ones are unaffected."""
    from e2e.helpers import Stream

    server = make_server({"server": {"max_consumers": 2}})
    stubs = Stubs(server.addr)
    stubs.create("q")
    a, b = Stream(stubs, "q"), Stream(stubs, "q")
    stubs.enqueue("q", b"1")
    first = (a, b)
    got = [s for s in first if not s.nothing_within(0.5)]
    assert got, "an established stream received the message"
    third = stubs.svc.Consume(service_pb2.ConsumeRequest(queue="q"))
    assert code_of(lambda: next(iter(third))) == grpc.StatusCode.RESOURCE_EXHAUSTED
    stubs.enqueue("q", b"2")
    received = [m.payload for s in first for m in _drain(s)]
    assert sorted(received) == [b"1", b"2"]
    a.cancel()
    b.cancel()
    stubs.close()


def _drain(stream):  # type: ignore[no-untyped-def]
    out = []
    while not stream.nothing_within(0.3):
        out.append(stream.get())
    return out
