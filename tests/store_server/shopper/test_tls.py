"""HTTPS for phones: the self-signed certificate ``caddie demo --lan`` makes, and ``caddie
serve --ssl-certfile/--ssl-keyfile`` answering over HTTPS and WSS on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import stat
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from store_server.db import migrate
from store_server.tls import lan_address, self_signed_certificate
from tests.servers import ServerProcess, caddie


def test_the_certificate_names_every_address_and_keeps_its_key_private(tmp_path: Path) -> None:
    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    cert_path, key_path = self_signed_certificate(
        tmp_path / "tls", ["192.168.1.20", "127.0.0.1", "caddie.local"], now=now
    )
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == [
        "192.168.1.20",
        "127.0.0.1",
    ]
    assert names.get_values_for_type(x509.DNSName) == ["caddie.local"]
    assert cert.not_valid_before_utc <= now < cert.not_valid_after_utc
    assert cert.not_valid_after_utc - now == dt.timedelta(days=30)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    # Certificate and key belong together (what a TLS server checks first).
    ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_path, key_path)
    with pytest.raises(ValueError):
        self_signed_certificate(tmp_path / "none", [])


def test_lan_address_is_an_ipv4_address() -> None:
    import ipaddress

    assert ipaddress.ip_address(lan_address()).version == 4


@pytest.mark.integration
def test_serve_answers_over_https_and_wss_with_the_certificate(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    cert, key = self_signed_certificate(tmp_path / "tls", ["127.0.0.1"])
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    enrolled = caddie("device", "enroll", "H-TLS", "--database-url", url)
    device, token = enrolled.stdout.strip().split("\t")
    trusted = ssl.create_default_context(cafile=cert)
    with ServerProcess(url, tls=(cert, key), log_path=tmp_path / "server.log") as server:
        assert server.url.startswith("https://127.0.0.1:")
        reply = httpx.get(server.url + "/healthz", verify=trusted)
        assert reply.status_code == 200 and reply.json() == {"status": "ok"}
        with pytest.raises(httpx.ConnectError):  # not trusted without the certificate
            httpx.get(server.url + "/healthz")
        with pytest.raises(httpx.RemoteProtocolError):  # no plain http on the port
            httpx.get(server.url.replace("https", "http") + "/healthz")
        with connect(server.ws_url, ssl=trusted, open_timeout=10) as ws:
            hello = {"type": "hello", "protocol": 1, "device_id": device, "token": token}
            ws.send(json.dumps(hello))
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"


@pytest.mark.integration
def test_serve_refuses_mismatched_or_missing_tls_files(tmp_path: Path) -> None:
    cert, _key = self_signed_certificate(tmp_path / "a", ["127.0.0.1"])
    _cert, other_key = self_signed_certificate(tmp_path / "b", ["127.0.0.1"])
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    mismatched = caddie(
        "serve", "--database-url", url, "--ssl-certfile", str(cert), "--ssl-keyfile", str(other_key)
    )
    assert mismatched.returncode == 1 and "cannot use" in mismatched.stderr
    assert "Traceback" not in mismatched.stderr
    alone = caddie("serve", "--database-url", url, "--ssl-certfile", str(cert))
    assert alone.returncode == 1 and "go together" in alone.stderr
    missing = caddie(
        "serve", "--database-url", url, "--ssl-certfile", "/nope.pem", "--ssl-keyfile", "/no.pem"
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
