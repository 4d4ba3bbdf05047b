"""``fila-server --check``: is the broker at an address up? For scripts and container
health checks: exit 0 and one line when gRPC health answers SERVING, else exit 1 and one
line saying why (not serving, no answer, bad address).

The server only listens once recovery is done and every queue's hooks are loaded, and it
answers NOT_SERVING while storage writes fail and while it shuts down, so SERVING here
means ready to take traffic.
"""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["CHECK_TIMEOUT_S", "check", "dial_addr"]

CHECK_TIMEOUT_S = 3.0


def dial_addr(listen_addr: str) -> str:
    """Where to connect for a listen address: a wildcard host means this machine."""
    host, _, port = listen_addr.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        host = "127.0.0.1"
    return f"{host}:{port}"


def check(addr: str, timeout: float = CHECK_TIMEOUT_S) -> tuple[bool, str]:
    """(serving, one line for the user) for the broker at ``addr`` (``HOST:PORT``)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        return False, f"cannot check {addr!r}: need HOST:PORT with a port 1..65535"
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # No wait_for_ready: nothing listening (still recovering, or down) is an
            # answer at once, not after the timeout.
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                return False, f"{addr}: no answer within {timeout:g} s"
            if code == grpc.StatusCode.UNAVAILABLE:
                return False, f"{addr}: nothing answering (down, or not listening yet)"
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            return False, f"{addr}: {details or code}"
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{addr}: {status}"
