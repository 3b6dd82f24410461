"""The fake API server's TLS, shaped as kind's: a cluster CA, a serving certificate for 127.0.0.1, and a
client certificate (CN kubernetes-admin, O system:masters) that the kubeconfig carries as *-data."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Certs:
    ca: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _issue(subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Name,
           issuer_key: ec.EllipticCurvePrivateKey, *, ca: bool, usage: list[x509.ObjectIdentifier],
           ips: list[str]) -> bytes:  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )  # fmt: skip
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usage), critical=False)
    if ips:
        names = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips] + [x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@functools.cache
def certs() -> Certs:
    """One CA and its two certificates for the test session (EC keys: quick to make)."""
    ca_key, server_key, client_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    ca = _issue(ca_name, ca_key, ca_name, ca_key, ca=True, usage=[], ips=[])
    server = _issue(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), server_key,
                    ca_name, ca_key, ca=False, usage=[ExtendedKeyUsageOID.SERVER_AUTH], ips=["127.0.0.1"])  # fmt: skip
    client_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                             x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes-admin")])  # fmt: skip
    client = _issue(
        client_name, client_key, ca_name, ca_key, ca=False, usage=[ExtendedKeyUsageOID.CLIENT_AUTH], ips=[]
    )
    return Certs(ca, server, _pem_key(server_key), client, _pem_key(client_key))


def _files(*parts: bytes) -> list[str]:
    folder = Path(tempfile.mkdtemp(prefix="fake-kube-tls-"))
    paths = []
    for i, data in enumerate(parts):
        path = folder / f"{i}.pem"
        path.write_bytes(data)
        paths.append(str(path))
    return paths


def server_context() -> ssl.SSLContext:
    """Serving TLS that asks for a client certificate signed by the cluster CA (one without is anonymous)."""
    c = certs()
    cert, key, ca = _files(c.server_cert, c.server_key, c.ca)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.load_verify_locations(ca)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context() -> ssl.SSLContext:
    """What a client of the fake (a test, the fake kind) uses: the CA and the admin's certificate."""
    c = certs()
    cert, key, ca = _files(c.client_cert, c.client_key, c.ca)
    context = ssl.create_default_context(cafile=ca)
    context.load_cert_chain(cert, key)
    return context
