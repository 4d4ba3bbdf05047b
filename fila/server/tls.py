"""TLS on the gRPC port: the certificate files, checked at start and re-read on SIGHUP.

gRPC's dynamic server credentials ask a fetcher for a new certificate configuration at
each TLS handshake; :meth:`CertificateReloader.reload` (SIGHUP) reads and checks the
files and hands the next handshake the new configuration. Connections already open keep
the certificate they were made with. A reload that fails (a half-written file, a key that
does not match) is logged and the old certificate stays in use.

The files are checked with the standard ``ssl`` module before gRPC sees them, because gRPC
would accept unreadable PEM at start and only fail each handshake later.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from typing import Any

import grpc

from fila.server.config import ServerConfig

__all__ = ["CertificateReloader", "TlsError"]

log = logging.getLogger("fila.server.tls")


class TlsError(Exception):
    """A certificate, key or CA file is missing, unreadable or invalid (one line of text)."""


@dataclass(frozen=True, slots=True)
class _Material:
    cert: bytes
    key: bytes
    ca: bytes | None


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise TlsError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _no_password() -> bytes:
    # An encrypted key would make ssl prompt on the terminal; refuse it instead.
    raise TlsError("the private key is encrypted; fila-server needs an unencrypted key file")


def load_material(cfg: ServerConfig) -> _Material:
    cert = _read(cfg.tls_cert_file, "[tls] cert_file")
    key = _read(cfg.tls_key_file, "[tls] key_file")
    ca = _read(cfg.tls_ca_file, "[tls] ca_file") if cfg.tls_ca_file else None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cfg.tls_cert_file, cfg.tls_key_file, password=_no_password)
    except ssl.SSLError as exc:
        raise TlsError(f"[tls] cert_file {cfg.tls_cert_file} and key_file {cfg.tls_key_file} "
                       f"are not a PEM certificate and its private key ({exc.reason or exc})"
                       ) from exc
    except OSError as exc:
        raise TlsError(f"cannot read [tls] cert_file/key_file: {exc.strerror}") from exc
    if ca is not None:
        try:
            ctx.load_verify_locations(cafile=cfg.tls_ca_file)
        except (ssl.SSLError, OSError) as exc:
            raise TlsError(f"[tls] ca_file {cfg.tls_ca_file} is not a PEM CA certificate "
                           f"({getattr(exc, 'reason', None) or exc})") from exc
    return _Material(cert, key, ca)


def _configuration(m: _Material) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration([(m.key, m.cert)], root_certificates=m.ca)


class CertificateReloader:
    """Server credentials whose certificate files can be re-read while serving."""

    def __init__(self, cfg: ServerConfig) -> None:
        self._cfg = cfg
        self._initial = _configuration(load_material(cfg))
        self._next: grpc.ServerCertificateConfiguration | None = None
        self.mutual = bool(cfg.tls_ca_file)

    def credentials(self) -> grpc.ServerCredentials:
        # The stub says the fetcher returns a configuration; gRPC documents None as
        # "no change", which is what every handshake but the first after a reload gets.
        fetch: Any = self._fetch
        return grpc.dynamic_ssl_server_credentials(
            self._initial, fetch, require_client_authentication=self.mutual)

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC's core at each handshake: None keeps the current configuration.
        new, self._next = self._next, None
        return new

    def reload(self) -> bool:
        """Re-read the files (SIGHUP). True if the next handshake uses them."""
        try:
            material = load_material(self._cfg)
        except TlsError as exc:
            log.error("TLS reload failed, keeping the current certificate: %s", exc)
            return False
        self._next = _configuration(material)
        log.info("TLS certificate files re-read; new connections use them")
        return True
