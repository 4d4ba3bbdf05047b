"""Test certificates, made with ``cryptography``: a CA, a server certificate for
127.0.0.1/localhost, a client certificate, and a second CA with its own client (for
"signed by another CA is refused"). Importable as ``e2e.certs``.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki"]


@dataclass(frozen=True)
class Pki:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    other_client_cert: Path
    other_client_key: Path

    def read(self, path: Path) -> bytes:
        return path.read_bytes()


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def _write_cert(cert: x509.Certificate, path: Path) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _ca(cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return cert, key


def issue(ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], cn: str, *, server: bool,
          cert_path: Path, key_path: Path) -> None:
    """A leaf certificate signed by ``ca``, written to ``cert_path`` / ``key_path``."""
    ca_cert, ca_key = ca
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(
                   [ExtendedKeyUsageOID.SERVER_AUTH if server else
                    ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    _write_cert(builder.sign(ca_key, hashes.SHA256()), cert_path)
    _write_key(key, key_path)


def make_pki(root: Path) -> Pki:
    root.mkdir(parents=True, exist_ok=True)
    ca = _ca("fila test CA")
    other = _ca("some other CA")
    _write_cert(ca[0], root / "ca.pem")
    _write_cert(other[0], root / "other-ca.pem")
    issue(ca, "fila-server", server=True, cert_path=root / "server.pem",
          key_path=root / "server-key.pem")
    issue(ca, "client", server=False, cert_path=root / "client.pem",
          key_path=root / "client-key.pem")
    issue(other, "intruder", server=False, cert_path=root / "other-client.pem",
          key_path=root / "other-client-key.pem")
    return Pki(root, root / "ca.pem", root / "server.pem", root / "server-key.pem",
               root / "client.pem", root / "client-key.pem", root / "other-ca.pem",
               root / "other-client.pem", root / "other-client-key.pem")


def new_ca_and_server(root: Path) -> tuple[Path, Path, Path]:
    """A fresh CA and a server certificate from it (for rotation tests): (ca, cert, key)."""
    root.mkdir(parents=True, exist_ok=True)
    ca = _ca("rotated CA")
    _write_cert(ca[0], root / "ca.pem")
    issue(ca, "fila-server", server=True, cert_path=root / "server.pem",
          key_path=root / "server-key.pem")
    return root / "ca.pem", root / "server.pem", root / "server-key.pem"
