"""docs/examples/pos_till.py, the till client of docs/pos-integration.md, run as a till
runs it against a real ``caddie serve``."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from store_server.db import make_engine, migrate
from tests.servers import REPO, ServerProcess, caddie
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, add_products

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = REPO / "docs" / "examples" / "pos_till.py"
NO_AUDIT = {"base_rate": 0.0, "first_trip_always": False, "max_days_without_audit": None}


def _till(server: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), "--server", server, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CADDIE_POS_TOKEN": token},
    )


def test_the_example_till_pays_a_released_basket(tmp_path: Path) -> None:
    from websockets.sync.client import connect

    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    add_products(engine, (COFFEE_ITEM, MILK_ITEM))
    engine.dispose()
    made = caddie(
        "user", "create", "root", "--role", "admin", "--database-url", url,
        env={"CADDIE_NEW_PASSWORD": "till-example-pw"},
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    device_token = caddie("device", "enroll", "H-1", "--database-url", url).stdout.split()[1]
    env = {"CADDIE_AUDIT_POLICY": json.dumps(NO_AUDIT)}
    with ServerProcess(url, env=env, log_path=tmp_path / "server.log") as server:
        api = httpx.Client(base_url=server.url, timeout=10)
        login = api.post(
            "/api/auth/login", json={"username": "root", "password": "till-example-pw"}
        )
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        till = api.post("/api/checkout/pos-terminals", json={"terminal_id": "POS-3"}, headers=admin)
        till_token = till.json()["token"]
        with connect(server.ws_url) as ws:

            def request(message: dict[str, object]) -> dict[str, object]:
                ws.send(json.dumps({"id": str(uuid.uuid4()), **message}))
                reply: dict[str, object] = json.loads(ws.recv(timeout=10))
                return reply

            ws.send(
                json.dumps(
                    {"type": "hello", "protocol": 1, "device_id": "H-1", "token": device_token}
                )
            )
            assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
            request({"type": "start", "loyalty_card": "CARD-1"})
            for item in (COFFEE_ITEM, COFFEE_ITEM, MILK_ITEM):
                assert request({"type": "scan", "code": item.gtin})["type"] == "ack"
            finished = request({"type": "finish"})
        basket_id = finished["basket"]["basket_id"]  # type: ignore[index]
        released = api.post(f"/api/checkout/baskets/{basket_id}/release", headers=admin)
        assert released.status_code == 200, released.text
        payload = released.json()["handoff"]["pos_payload"]

        wrong = _till(
            server.url, till_token, payload, "--reference", "T-1", "--amount-cents", "800"
        )
        assert wrong.returncode == 1
        assert "the amount 8.00 EUR does not match the total 8.13 EUR" in wrong.stderr

        paid = _till(server.url, till_token, payload, "--reference", "T-1")
        assert paid.returncode == 0, paid.stderr
        assert "2 x Ground coffee 250 g" in paid.stdout and "total 8.13 EUR" in paid.stdout
        assert "paid 8.13 EUR, reference T-1" in paid.stdout
        again = _till(server.url, till_token, payload.lower().split(":")[1], "--reference", "T-1")
        assert again.returncode == 0 and "(reported before)" in again.stdout

        stranger = _till(server.url, "not-a-till-token", payload, "--reference", "T-2")
        assert stranger.returncode == 1 and "401 unauthorized" in stranger.stderr
        view = api.get(f"/api/checkout/baskets/{basket_id}", headers=admin).json()
        assert view["status"] == "paid" and view["handoff"]["payment_reference"] == "T-1"
    gone = _till(server.url, till_token, payload, "--reference", "T-1")
    assert gone.returncode == 2 and "cannot reach" in gone.stderr
