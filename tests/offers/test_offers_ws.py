"""Consent and offers on the handheld socket: only with permission, capped, priced in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from store_server.app import create_app
from store_server.baskets.models import Basket
from store_server.config import Settings
from store_server.db import session_scope
from store_server.offers.models import ConsentEvent, OfferGrant
from store_server.offers.service import offer_outcomes
from store_server.timeutil import utcnow
from tests.signals.helpers import BISCUITS_ITEM, SIGNAL_ITEMS, TEA_ITEM, ean13, hello
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM, add_products, enroll_devices
from tests.store_server.wsclient import Handheld

TEMPLATES = [
    {
        "id": "coffee-biscuits",
        "kind": "complement",
        "label": "Half price biscuits",
        "when_categories": ["coffee"],
        "promotion": {"kind": "percent_off", "categories": ["biscuits"], "percent": "50"},
    },
    {
        "id": "coffee-tea",
        "kind": "complement",
        "label": "50c off tea",
        "when_categories": ["coffee"],
        "promotion": {"kind": "amount_off", "categories": ["tea"], "amount_cents": 50},
    },
    {
        "id": "milk-3for2",
        "kind": "one_away",
        "label": "Milk: 3 for 2",
        "promotion": {"kind": "multi_buy", "gtins": [MILK_ITEM.gtin], "buy_qty": 3, "pay_qty": 2},
    },
]


@pytest.fixture
def tokens(engine: Engine) -> dict[str, str]:
    add_products(engine, SIGNAL_ITEMS)
    return enroll_devices(engine, "H-1", "H-2")


@pytest.fixture
def client(
    db_url: str, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("CADDIE_OFFERS_TEMPLATES", json.dumps(TEMPLATES))
    monkeypatch.setenv("CADDIE_OFFERS_MAX_PER_TRIP", "2")
    monkeypatch.setenv("CADDIE_SIGNALS_ENABLED", "false")
    app = create_app(Settings(database_url=db_url, environment="test"))
    with TestClient(app) as test_client:
        yield test_client


class Shopper:
    """A handheld that collects pushed offers apart from replies."""

    def __init__(self, hh: Handheld) -> None:
        self.hh = hh
        self.offers: list[dict[str, Any]] = []

    def request(self, kind: str, **fields: Any) -> dict[str, Any]:
        reply = self.hh.request(kind, **fields)
        while reply["type"] == "offer":  # an offer pushed after the previous reply
            self.offers.append(reply)
            reply = self.hh.ws.receive_json()
        return reply

    def scan(self, item: Any, qty: int = 1) -> dict[str, Any]:
        reply = self.request("scan", code=ean13(item), qty=qty)
        assert reply["type"] == "ack", reply
        return reply

    def consent(self, opt_in: bool, version: str = "offers-v1") -> dict[str, Any]:
        return self.request("consent", opt_in=opt_in, wording_version=version)

    def flush(self) -> None:
        """Collect anything pushed after the last reply (a harmless request answers last)."""
        assert self.request("bogus", id="flush")["code"] == "bad_message"


@contextmanager
def connect(
    client: TestClient,
    tokens: dict[str, str],
    device: str = "H-1",
    features: list[str] | None = None,
) -> Iterator[Shopper]:
    extra = {} if features is None else {"features": features}
    with client.websocket_connect("/ws/handheld") as ws:
        yield Shopper(hello(ws, device, tokens[device], **extra))


def test_a_shopper_who_never_opted_in_gets_no_offer(
    client: TestClient, tokens: dict[str, str]
) -> None:
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-1")
        for item in (COFFEE_ITEM, MILK_ITEM, MILK_ITEM, COFFEE_ITEM):
            shopper.scan(item)
        shopper.flush()
    assert shopper.offers == []


def test_opted_in_shoppers_get_relevant_offers_up_to_the_cap(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-2")
        reply = shopper.consent(True)
        assert reply["type"] == "consent" and reply["opt_in"] is True
        assert reply["wording_version"] == "offers-v1" and reply["recorded_at"]
        shopper.scan(COFFEE_ITEM)
        shopper.flush()
        assert [o["label"] for o in shopper.offers] == ["Half price biscuits"]
        first = shopper.offers[0]
        assert first["why"] == "basket has coffee"
        assert first["promotion"]["kind"] == "percent_off"
        assert first["promotion"]["categories"] == ["biscuits"]
        shopper.scan(MILK_ITEM, qty=2)  # one short of 3 for 2
        shopper.flush()
        assert [o["label"] for o in shopper.offers][1:] == ["Milk: 3 for 2"]
        for item in (TEA_ITEM, COFFEE_ITEM, MILK_ITEM, MILK_ITEM, MILK_ITEM):
            shopper.scan(item)
        shopper.flush()
    assert len(shopper.offers) == 2  # the cap per trip
    with session_scope(engine) as session:
        assert len(session.exec(select(OfferGrant)).all()) == 2


def test_an_accepted_offer_is_priced_into_the_basket_and_kept_to_the_end(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-3")
        shopper.consent(True)
        shopper.scan(COFFEE_ITEM)
        shopper.flush()
        (offer,) = shopper.offers
        accepted = shopper.request("accept_offer", offer_id=offer["offer_id"], id="acc-1")
        assert accepted["type"] == "basket" and accepted["id"] == "acc-1"
        assert accepted["basket"]["total_cents"] == COFFEE_ITEM.price_cents  # nothing yet
        ack = shopper.scan(BISCUITS_ITEM)
        half = (BISCUITS_ITEM.price_cents + 1) // 2  # half up per unit
        assert ack["basket"]["discounts"] == [
            {"label": "Half price biscuits", "amount_cents": half}
        ]
        full = COFFEE_ITEM.price_cents + BISCUITS_ITEM.price_cents
        assert ack["basket"]["total_cents"] == full - half
        again = shopper.request("accept_offer", offer_id=offer["offer_id"], id="acc-1")
        assert again == accepted  # a replayed id: the same reply, nothing changes
        twice = shopper.request("accept_offer", offer_id=offer["offer_id"])
        assert twice["basket"]["discounts"] == ack["basket"]["discounts"]  # not doubled
        checkout = shopper.request("finish")
        assert checkout["type"] == "checkout"
        assert checkout["basket"]["total_cents"] == ack["basket"]["total_cents"]
    with session_scope(engine) as session:
        records = offer_outcomes(
            session, since=utcnow() - timedelta(hours=1), until=utcnow() + timedelta(minutes=1)
        )
    # the biscuits offer, taken; then (after the biscuits scan) the tea offer, not taken
    assert [(r.offer_id == offer["offer_id"], r.accepted, r.categories) for r in records] == [
        (True, True, frozenset({"biscuits"})),
        (False, False, frozenset({"tea"})),
    ]
    assert {r.store_id for r in records} == {"store-1"}


def test_opting_out_mid_trip_stops_offers_at_once(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-4")
        shopper.consent(True)
        shopper.scan(COFFEE_ITEM)
        shopper.flush()
        (pending,) = shopper.offers
        out = shopper.consent(False, "offers-v1")
        assert out["opt_in"] is False
        for item in (MILK_ITEM, MILK_ITEM, COFFEE_ITEM):
            shopper.scan(item)
        shopper.flush()
        assert len(shopper.offers) == 1
        refused = shopper.request("accept_offer", offer_id=pending["offer_id"])
        assert refused["type"] == "error" and refused["code"] == "bad_message"
        assert "opted out" in refused["message"] or "no opt-in" in refused["message"]
        shopper.consent(True, "offers-v2")  # back in, under new wording: offers resume
        shopper.flush()
        assert [o["label"] for o in shopper.offers][1:] == ["Milk: 3 for 2"]  # 2 milks now
        shopper.scan(MILK_ITEM)
        shopper.flush()
        assert len(shopper.offers) == 2  # the cap counts the offer made before opting out
    with session_scope(engine) as session:
        history = session.exec(select(ConsentEvent).order_by(col(ConsentEvent.id))).all()
    assert [(e.opt_in, e.wording_version, e.channel, e.device_id) for e in history] == [
        (True, "offers-v1", "handheld", "H-1"),
        (False, "offers-v1", "handheld", "H-1"),
        (True, "offers-v2", "handheld", "H-1"),
    ]
    assert all(e.recorded_at is not None for e in history)


def test_a_handheld_without_the_feature_never_receives_an_offer(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    with connect(client, tokens) as shopper:  # an old handheld: no "features" in hello
        shopper.request("start", loyalty_card="CARD-5")
        assert shopper.consent(True)["type"] == "consent"
        for item in (COFFEE_ITEM, MILK_ITEM, MILK_ITEM):
            shopper.scan(item)
        shopper.flush()
    assert shopper.offers == []
    with session_scope(engine) as session:
        assert session.exec(select(OfferGrant)).all() == []


def test_history_of_paid_baskets_suggests_a_complement(
    client: TestClient, tokens: dict[str, str], engine: Engine
) -> None:
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-6")
        shopper.scan(COFFEE_ITEM)
        shopper.request("finish")
    with session_scope(engine) as session:
        session.exec(update(Basket).values(status="paid"))
    with connect(client, tokens, features=["offers"]) as shopper:
        shopper.request("start", loyalty_card="CARD-6")
        shopper.consent(True)
        shopper.flush()
        assert shopper.offers[0]["label"] == "Half price biscuits"
        assert shopper.offers[0]["why"] == "usually buys coffee"


def test_consent_and_offers_need_a_basket_and_valid_fields(
    client: TestClient, tokens: dict[str, str]
) -> None:
    with connect(client, tokens, device="H-2", features=["offers"]) as shopper:
        assert shopper.consent(True)["code"] == "no_basket"
        shopper.request("start", loyalty_card="CARD-7")
        for fields in (
            {"opt_in": "yes", "wording_version": "v1"},
            {"opt_in": True},
            {"opt_in": True, "wording_version": "x" * 33},
        ):
            assert shopper.request("consent", **fields)["code"] == "bad_message"
        assert shopper.request("accept_offer")["code"] == "bad_message"
        assert shopper.request("accept_offer", offer_id="nope")["code"] == "bad_message"
        assert shopper.request("teleport")["code"] == "bad_message"  # still unknown


def test_an_offer_of_another_basket_cannot_be_accepted(
    client: TestClient, tokens: dict[str, str]
) -> None:
    with connect(client, tokens, features=["offers"]) as first:
        first.request("start", loyalty_card="CARD-8")
        first.consent(True)
        first.scan(COFFEE_ITEM)
        first.flush()
    with connect(client, tokens, device="H-2", features=["offers"]) as second:
        second.request("start", loyalty_card="CARD-9")
        second.consent(True)
        stolen = second.request("accept_offer", offer_id=first.offers[0]["offer_id"])
        assert stolen["code"] == "bad_message"
