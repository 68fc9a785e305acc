"""A self-signed certificate for serving HTTPS on a LAN (``caddie demo --lan``).

Phones open the camera only in a secure context, so a newcomer trying the shopper app
from a real phone needs HTTPS even on a home network. The certificate names the
addresses given (IP addresses and host names) and lasts a month; the phone shows a
warning once, which the person accepts. Production sits behind a real certificate
(``caddie serve --ssl-certfile/--ssl-keyfile`` or a proxy)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 30


def self_signed_certificate(
    directory: Path, names: Sequence[str], *, now: dt.datetime | None = None
) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (readable by the owner only) into ``directory``
    for ``names`` (the first is the common name); returns their paths."""
    if not names:
        raise ValueError("a certificate needs at least one address or host name")
    now = now or dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Caddie demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, names[0]),
        ]
    )
    alternative: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key_bytes)
    return cert_path, key_path


def lan_address() -> str:
    """The address this machine reaches the network from (its primary interface), found
    by asking the kernel for a route; no packet is sent. 127.0.0.1 without a network."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed, never answered
            address: str = probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
    return address
