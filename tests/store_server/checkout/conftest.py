"""Checkout fixtures: an app on the test database, staff accounts, shopper trips."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from store_server.app import create_app
from store_server.config import Settings
from store_server.db import session_scope
from store_server.devices.service import enroll
from tests.accounts import auth_headers, make_user
from tests.store_server.factories import (
    COFFEE_ITEM,
    MILK_ITEM,
    WINE_ITEM,
    add_products,
    enroll_devices,
)
from tests.store_server.wsclient import Handheld

COFFEE, MILK, WINE = COFFEE_ITEM.gtin, MILK_ITEM.gtin, WINE_ITEM.gtin
# Every first trip is audited, as a partial rescan of one item; later trips only by rule.
TEST_POLICY: dict[str, Any] = {
    "base_rate": 0.0,
    "first_trip_always": True,
    "partial_share": 1.0,
    "partial_items": 1,
    "max_days_without_audit": None,
}


@pytest.fixture
def world(engine: Engine) -> dict[str, str]:
    """Products, shopper handhelds in two stores, a staff-mode handheld and accounts."""
    add_products(engine)
    tokens = enroll_devices(engine, "H-1", "H-2", "H-3")
    tokens |= enroll_devices(engine, "OTHER-1", store_id="store-2")
    with session_scope(engine) as session:
        tokens |= dict(enroll(session, ["STAFF-H"], store_id="store-1", staff_mode=True))
    make_user(engine, "alice", "staff")
    make_user(engine, "bob", "staff", "store-2")
    make_user(engine, "olga", "operator", None)
    make_user(engine, "root", "admin", None)
    return tokens


class Checkout:
    """A test client with the helpers a checkout test needs."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens
        self._auth: dict[str, dict[str, str]] = {}

    def auth(self, username: str) -> dict[str, str]:
        if username not in self._auth:
            self._auth[username] = auth_headers(self.client, username)
        return self._auth[username]

    @contextmanager
    def handheld(self, device: str = "H-1") -> Iterator[Handheld]:
        with self.client.websocket_connect("/ws/handheld") as ws:
            hh = Handheld(ws)
            assert hh.hello(device, self.tokens[device])["type"] == "welcome"
            yield hh

    def trip(
        self, codes: list[str], *, device: str = "H-1", card: str = "CARD-1"
    ) -> dict[str, Any]:
        """A shopper scans ``codes`` and finishes; returns the ``checkout`` reply."""
        with self.handheld(device) as hh:
            assert hh.start(card)["type"] == "basket"
            for code in codes:
                ack = hh.scan(code)
                assert ack["type"] == "ack", ack
            reply = hh.finish()
        assert reply["type"] == "checkout", reply
        return reply

    def post(self, path: str, body: Any = None, *, as_: str = "alice") -> Any:
        return self.client.post(path, json=body, headers=self.auth(as_))

    def get(self, path: str, *, as_: str = "alice") -> Any:
        return self.client.get(path, headers=self.auth(as_))

    def basket(self, basket_id: str, *, as_: str = "alice") -> dict[str, Any]:
        reply = self.get(f"/api/checkout/baskets/{basket_id}", as_=as_)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def rescan(self, basket_id: str, code: str, *, as_: str = "alice") -> dict[str, Any]:
        reply = self.post(f"/api/checkout/baskets/{basket_id}/rescan", {"code": code}, as_=as_)
        assert reply.status_code == 200, reply.text
        data: dict[str, Any] = reply.json()
        return data

    def rescan_all(self, basket_id: str) -> None:
        """Rescan every unit the audit asks for."""
        for line in self.basket(basket_id)["lines"]:
            if line["status"] == "to_rescan":
                for _ in range(line["expected"] - line["verified"]):
                    assert self.rescan(basket_id, line["gtin"])["outcome"] == "verified"

    def release(self, basket_id: str) -> Any:
        return self.post(f"/api/checkout/baskets/{basket_id}/release")

    def pos_token(self, terminal: str = "POS-1", store_id: str = "store-1") -> str:
        reply = self.post(
            "/api/checkout/pos-terminals",
            {"terminal_id": terminal, "store_id": store_id},
            as_="root",
        )
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token

    def shopper(self, card: str = "CARD-1") -> Any:
        from sqlmodel import select

        from store_server.baskets.models import Shopper

        with session_scope(self.client.app.state.caddie.db.engine) as session:  # type: ignore[attr-defined]
            shopper = session.exec(select(Shopper).where(Shopper.loyalty_card == card)).one()
            session.expunge(shopper)
            return shopper


@pytest.fixture
def make_checkout(db_url: str, world: dict[str, str]) -> Iterator[Callable[..., Checkout]]:
    clients: list[TestClient] = []

    def make(policy: dict[str, Any] | None = None, **settings: Any) -> Checkout:
        app = create_app(
            Settings(
                database_url=db_url,
                environment="test",
                audit_policy=TEST_POLICY if policy is None else policy,
                **settings,
            )
        )
        client = TestClient(app)
        client.__enter__()
        clients.append(client)
        return Checkout(client, world)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def checkout(make_checkout: Callable[..., Checkout]) -> Checkout:
    return make_checkout()
