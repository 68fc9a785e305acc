"""``caddie shopper entrance-code`` and ``caddie device enroll --pair``: what they print,
and clear refusals (exit 1, no traceback, nothing written) for what they cannot use."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from store_server.db import migrate
from store_server.devices.models import Device
from store_server.shopper import codes
from store_server.shopper.models import PairingCode
from tests.dbrows import rows_in
from tests.servers import caddie

pytestmark = [pytest.mark.integration]  # real caddie processes

SECRET = "cli-test-secret-0123456789abcdefghijklmn"


def test_entrance_code_prints_a_valid_join_url_and_its_qr_code() -> None:
    shown = caddie(
        "shopper",
        "entrance-code",
        env={"CADDIE_SECRET_KEY": SECRET, "CADDIE_PUBLIC_URL": "https://shop.example.org/"},
    )
    assert shown.returncode == 0, shown.stderr
    (url,) = shown.stdout.splitlines()
    assert url.startswith("https://shop.example.org/shop/join?c=")
    code = url.split("?c=", 1)[1]
    assert codes.read_entrance_code(SECRET, code, now=time.time(), minutes=5) == "store-1"
    assert "█" in shown.stderr or "▀" in shown.stderr


def test_bad_base_urls_are_refused_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    for base in ("ftp://shop", "shop.example.org", "https://", "https://x/?q=1", "https://x/#f"):
        for args in (
            ("shopper", "entrance-code", "--base-url", base),
            ("device", "enroll", "K-1", "--pair", "--base-url", base, "--database-url", url),
        ):
            result = caddie(*args)
            assert result.returncode == 1, (args, result.stdout)
            assert "--base-url" in result.stderr and "Traceback" not in result.stderr
    setting = caddie("shopper", "entrance-code", env={"CADDIE_PUBLIC_URL": "nope"})
    assert setting.returncode == 1 and "CADDIE_PUBLIC_URL" in setting.stderr
    assert rows_in(url, Device, PairingCode) == {"Device": 0, "PairingCode": 0}


def test_pairing_refuses_staff_handhelds_and_bad_ids_and_writes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    staff = caddie("device", "enroll", "S-1", "--pair", "--staff", "--database-url", url)
    assert staff.returncode == 1 and "staff-mode" in staff.stderr
    bad = caddie("device", "enroll", "K-1", "bad id", "é", "--pair", "--database-url", url)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert rows_in(url, Device, PairingCode) == {"Device": 0, "PairingCode": 0}
    good = caddie("device", "enroll", "K-1", "K-2", "--pair", "--database-url", url)
    assert good.returncode == 0
    lines = [line.split("\t") for line in good.stdout.splitlines()]
    assert [device for device, _ in lines] == ["K-1", "K-2"]
    assert all(link.startswith("http://127.0.0.1:8000/shop/pair#code=") for _, link in lines)
    assert rows_in(url, Device, PairingCode) == {"Device": 2, "PairingCode": 2}
