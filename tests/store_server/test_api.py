"""REST API: accounts, catalog, promotions and devices, each behind its role."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.app import create_app
from store_server.auth.service import create_user
from store_server.config import Settings
from store_server.db import session_scope
from tests.accounts import PASSWORD, auth_headers
from tests.store_server.factories import COFFEE_ITEM, add_products, enroll_devices
from tests.store_server.test_cli import GOOD_ROWS, HEADER
from tests.store_server.wsclient import Handheld


@pytest.fixture
def client(db_url: str, engine: Engine) -> Iterator[TestClient]:
    with session_scope(engine) as session:
        create_user(session, username="admin", password=PASSWORD, role="admin")
        create_user(
            session, username="cashier", password=PASSWORD, role="staff", store_id="store-1"
        )
        create_user(session, username="mall", password=PASSWORD, role="operator")
    add_products(engine)
    app = create_app(Settings(database_url=db_url, environment="test", login_attempts_per_minute=5))
    with TestClient(app) as test_client:
        yield test_client


def test_login_me_logout(client: TestClient) -> None:
    headers = auth_headers(client, "cashier")
    me = client.get("/api/auth/me", headers=headers)
    assert me.json() == {"username": "cashier", "role": "staff", "store_id": "store-1"}
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    revoked = client.get("/api/auth/me", headers=headers)
    assert revoked.status_code == 401 and revoked.json()["error"]["code"] == "unauthorized"


def test_wrong_password_and_brute_force_throttling(client: TestClient) -> None:
    for _ in range(5):
        bad = client.post("/api/auth/login", json={"username": "cashier", "password": "guess"})
        assert bad.status_code == 401
        assert "password" in bad.json()["error"]["message"]
    throttled = client.post("/api/auth/login", json={"username": "cashier", "password": PASSWORD})
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "rate_limited"
    assert throttled.headers["retry-after"] == "60"
    other = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert other.status_code == 200  # throttling is per account


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"username": "", "password": "p"},
        {"username": 5, "password": []},
        {"username": "a" * 81, "password": "p"},
    ],
)
def test_malformed_logins_are_422(client: TestClient, body: dict[str, object]) -> None:
    assert client.post("/api/auth/login", json=body).status_code == 422


def test_catalog_reads_need_staff_and_writes_need_admin(client: TestClient) -> None:
    gtin = COFFEE_ITEM.gtin
    assert client.get(f"/api/catalog/products/{gtin}").status_code == 401
    staff, admin, operator = (
        auth_headers(client, "cashier"),
        auth_headers(client, "admin"),
        auth_headers(client, "mall"),
    )
    product = client.get(f"/api/catalog/products/{gtin}", headers=staff).json()
    assert product["price_cents"] == COFFEE_ITEM.price_cents and product["gtin"] == gtin
    assert client.get(f"/api/catalog/products/{gtin}", headers=operator).status_code == 403
    body = {"name": "Coffee", "category": "coffee", "price_cents": 379, "tax_rate": "0.055"}
    assert client.put(f"/api/catalog/products/{gtin}", json=body, headers=staff).status_code == 403
    updated = client.put(f"/api/catalog/products/{gtin[1:]}", json=body, headers=admin)
    assert updated.status_code == 200 and updated.json()["price_cents"] == 379
    listing = client.get("/api/catalog/products", params={"q": "Coffee"}, headers=staff).json()
    assert listing["total"] == 1 and listing["items"][0]["price_cents"] == 379


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/catalog/products/123", 422),
        ("/api/catalog/products/4006381333931", 404),
        ("/api/catalog/products?limit=0", 422),
        ("/api/catalog/products?limit=abc", 422),
    ],
)
def test_catalog_bad_requests(client: TestClient, path: str, status: int) -> None:
    reply = client.get(path, headers=auth_headers(client, "admin"))
    assert reply.status_code == status
    assert "Traceback" not in reply.text


def test_catalog_csv_import_over_rest_is_all_or_nothing(client: TestClient) -> None:
    admin = auth_headers(client, "admin")
    headers = {**admin, "Content-Type": "text/csv"}
    bad = HEADER + GOOD_ROWS + "123,Bad,x,1,0.2,false,unit\n"
    reply = client.post("/api/catalog/import", content=bad.encode(), headers=headers)
    assert reply.status_code == 422
    assert any("line 8" in p for p in reply.json()["error"]["problems"])
    assert client.get("/api/catalog/products", headers=admin).json()["total"] == 5
    reply = client.post(
        "/api/catalog/import", content=(HEADER + GOOD_ROWS).encode(), headers=headers
    )
    counts = reply.json()
    assert reply.status_code == 200 and counts["created"] + counts["updated"] == 6
    assert client.post("/api/catalog/import", content=b"", headers=headers).status_code == 422
    staff = {**auth_headers(client, "cashier"), "Content-Type": "text/csv"}
    assert client.post("/api/catalog/import", content=b"x", headers=staff).status_code == 403


def test_promotions_api(client: TestClient) -> None:
    admin = auth_headers(client, "admin")
    promo = {
        "label": "Coffee 10% off",
        "kind": "percent_off",
        "gtins": [COFFEE_ITEM.gtin],
        "percent": "10",
    }
    reply = client.put("/api/promotions/P-10", json=promo, headers=admin)
    assert reply.status_code == 200, reply.text
    listed = client.get("/api/promotions", headers=admin).json()["promotions"]
    assert [p["id"] for p in listed] == ["P-10"]
    bad = client.put("/api/promotions/P-11", json={**promo, "kind": "free_lunch"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    imported = client.post(
        "/api/promotions/import",
        content=json.dumps([{**promo, "id": "P-12"}, {**promo, "id": "P-13", "percent": "150"}]),
        headers={**admin, "Content-Type": "application/json"},
    )
    assert imported.status_code == 422
    assert len(client.get("/api/promotions", headers=admin).json()["promotions"]) == 1
    assert client.delete("/api/promotions/P-10", headers=admin).status_code == 204
    assert client.delete("/api/promotions/P-10", headers=admin).status_code == 404


def test_devices_enrolled_and_revoked_over_rest(client: TestClient, engine: Engine) -> None:
    admin = auth_headers(client, "admin")
    reply = client.post("/api/devices", json={"device_ids": ["R-1"]}, headers=admin)
    token = reply.json()[0]["token"]
    with client.websocket_connect("/ws/handheld") as ws:
        assert Handheld(ws).hello("R-1", token)["type"] == "welcome"
    assert client.delete("/api/devices/R-1", headers=admin).status_code == 204
    with client.websocket_connect("/ws/handheld") as ws:
        assert Handheld(ws).hello("R-1", token)["code"] == "unauthorized"
    bad = client.post("/api/devices", json={"device_ids": ["bad id"]}, headers=admin)
    assert bad.status_code == 422
    assert (
        client.post(
            "/api/devices", json={"device_ids": ["R-2"]}, headers=auth_headers(client, "cashier")
        ).status_code
        == 403
    )


def test_a_device_token_is_not_a_login(client: TestClient, engine: Engine) -> None:
    token = enroll_devices(engine, "D-9")["D-9"]
    reply = client.get("/api/catalog/products", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}
    assert "x-request-id" in client.get("/healthz").headers


def test_openapi_documents_the_api(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/catalog/products", "/api/promotions", "/api/auth/login"} <= set(paths)


def test_a_catalog_change_in_another_process_reaches_the_scan_path(
    client: TestClient, engine: Engine
) -> None:
    """Products are cached per process; a catalog write elsewhere (the CLI, another
    server) bumps catalog_version, which every process checks within a second."""
    import time as clock

    from store_server.catalog.service import upsert_products
    from tests.store_server.factories import Item

    token = enroll_devices(engine, "V-1")["V-1"]
    with client.websocket_connect("/ws/handheld") as ws:
        hh = Handheld(ws)
        hh.hello("V-1", token)
        hh.start()
        assert hh.scan(COFFEE_ITEM.gtin[1:])["line"]["unit_price_cents"] == COFFEE_ITEM.price_cents
        with session_scope(engine) as session:  # as 'caddie catalog import' would, elsewhere
            upsert_products(
                session, [Item(COFFEE_ITEM.gtin, "Coffee", "coffee", 419).record()], currency="EUR"
            )
        deadline = clock.monotonic() + 30
        price = None
        while clock.monotonic() < deadline:
            line = hh.scan(COFFEE_ITEM.gtin[1:])["line"]
            price = line["unit_price_cents"]
            if price == 419:
                break
            clock.sleep(0.2)
        assert price == 419
