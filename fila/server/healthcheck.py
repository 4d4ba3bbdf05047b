"""``fila-server --check``: is the broker at an address up? For scripts and container
health checks: exit 0 and one line when gRPC health answers SERVING, else exit 1 and one
line saying why (not serving, no answer, bad address).

The server only listens once recovery is done and every queue's hooks are loaded, and it
answers NOT_SERVING while storage writes fail and while it shuts down, so SERVING here
means ready to take traffic.

TLS: when the server's config turns TLS on (``[tls] cert_file``), or ``FILA_TLS_CA`` is set,
the check speaks TLS, trusting ``FILA_TLS_CA`` (a PEM file; the system roots without it) and
presenting ``FILA_TLS_CERT`` / ``FILA_TLS_KEY`` as its client certificate when the server
asks for one (mutual TLS): the same variables the ``fila`` CLI reads. The health service
needs no API key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["CHECK_TIMEOUT_S", "TlsFiles", "check", "dial_addr", "tls_from_env"]

CHECK_TIMEOUT_S = 3.0


def dial_addr(listen_addr: str) -> str:
    """Where to connect for a listen address: a wildcard host means this machine."""
    host, _, port = listen_addr.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::", ""):
        host = "127.0.0.1"
    return f"{host}:{port}"


@dataclass(frozen=True)
class TlsFiles:
    """PEM contents for a TLS check (each None = not given)."""

    ca: bytes | None = None
    cert: bytes | None = None
    key: bytes | None = None


def tls_from_env(env: Mapping[str, str], server_tls: bool) -> TlsFiles | None:
    """TlsFiles from FILA_TLS_CA / FILA_TLS_CERT / FILA_TLS_KEY, or None for plaintext.

    Raises OSError (naming the variable) if a file cannot be read.
    """
    names = ("FILA_TLS_CA", "FILA_TLS_CERT", "FILA_TLS_KEY")
    if not server_tls and not env.get("FILA_TLS_CA"):
        return None
    contents: list[bytes | None] = []
    for name in names:
        path = env.get(name)
        if not path:
            contents.append(None)
            continue
        try:
            contents.append(Path(path).read_bytes())
        except OSError as exc:
            raise OSError(f"{name}: cannot read {path}: {exc.strerror or exc}") from None
    return TlsFiles(*contents)


def check(addr: str, timeout: float = CHECK_TIMEOUT_S,
          tls: TlsFiles | None = None) -> tuple[bool, str]:
    """(serving, one line for the user) for the broker at ``addr`` (``HOST:PORT``)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        return False, f"cannot check {addr!r}: need HOST:PORT with a port 1..65535"
    if tls is None:
        channel = grpc.insecure_channel(addr)
    else:
        channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(
            root_certificates=tls.ca, private_key=tls.key, certificate_chain=tls.cert))
    with channel:
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
