"""Broker addresses: ``host:port``, ``http://host:port``, ``https://host:port``.

Kept free of grpc so the CLI can reject a malformed address before loading it.
"""

from __future__ import annotations

from fila import errors

__all__ = ["parse_addr"]


def parse_addr(addr: str) -> tuple[str, bool]:
    """Split ``http://host:port`` / ``https://host:port`` / ``host:port`` into (target, tls)."""
    addr = addr.strip()
    tls = False
    if addr.startswith("https://"):
        addr, tls = addr[len("https://") :], True
    elif addr.startswith("http://"):
        addr = addr[len("http://") :]
    addr = addr.rstrip("/")
    host, sep, port = addr.rpartition(":")
    if not addr or not sep or not host or not port.isdigit():
        raise errors.InvalidArgumentError(f'invalid broker address "{addr}": expected HOST:PORT')
    return addr, tls
