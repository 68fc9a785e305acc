"""An offer accepted on the handheld is priced the same at the till (console, hand-off)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy.engine import Engine

from tests.signals.helpers import BISCUITS_ITEM, TEA_ITEM, ean13, hello
from tests.store_server.checkout.conftest import Checkout
from tests.store_server.factories import COFFEE_ITEM, add_products

TEMPLATES = [
    {
        "id": "coffee-biscuits",
        "kind": "complement",
        "label": "Half price biscuits",
        "when_categories": ["coffee"],
        "promotion": {"kind": "percent_off", "categories": ["biscuits"], "percent": "50"},
    },
]


@pytest.fixture
def offers_checkout(
    engine: Engine, make_checkout: Callable[..., Checkout], monkeypatch: pytest.MonkeyPatch
) -> Checkout:
    add_products(engine, (BISCUITS_ITEM, TEA_ITEM))
    monkeypatch.setenv("CADDIE_OFFERS_TEMPLATES", json.dumps(TEMPLATES))
    monkeypatch.setenv("CADDIE_SIGNALS_ENABLED", "false")
    return make_checkout(
        policy={
            "base_rate": 1.0,
            "partial_share": 0.0,
            "first_trip_always": True,
            "max_days_without_audit": None,
        }
    )


def _trip_with_accepted_offer(checkout: Checkout) -> dict[str, object]:
    """Coffee, accept the biscuits offer, biscuits twice, finish: the ``checkout`` reply."""
    with checkout.client.websocket_connect("/ws/handheld") as ws:
        hh = hello(ws, "H-1", checkout.tokens["H-1"], features=["offers"])
        assert hh.start("CARD-OFFER")["type"] == "basket"
        assert hh.request("consent", opt_in=True, wording_version="offers-v1")["opt_in"]
        assert hh.scan(ean13(COFFEE_ITEM))["type"] == "ack"
        offer = ws.receive_json()  # pushed after the ack
        assert offer["type"] == "offer", offer
        accepted = hh.request("accept_offer", offer_id=offer["offer_id"])
        assert accepted["type"] == "basket", accepted
        for _ in range(2):
            ack = hh.scan(ean13(BISCUITS_ITEM))
            assert ack["type"] == "ack", ack
        reply = hh.finish()
    assert reply["type"] == "checkout", reply
    return reply


def test_the_till_prices_an_accepted_offer_like_the_handheld(
    offers_checkout: Checkout,
) -> None:
    checkout = offers_checkout
    reply = _trip_with_accepted_offer(checkout)
    shown = reply["basket"]
    assert isinstance(shown, dict)
    half = 2 * ((BISCUITS_ITEM.price_cents + 1) // 2)
    assert shown["discounts"] == [{"label": "Half price biscuits", "amount_cents": half}]
    full = COFFEE_ITEM.price_cents + 2 * BISCUITS_ITEM.price_cents
    assert shown["total_cents"] == full - half
    basket_id = str(shown["basket_id"])

    view = checkout.basket(basket_id)  # the staff console's view
    assert view["discounts"] == shown["discounts"]
    assert view["total_cents"] == shown["total_cents"]
    checkout.rescan_all(basket_id)
    # a staff correction re-prices the basket: the offer must survive it
    added = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines",
        {"code": ean13(BISCUITS_ITEM), "qty": 1, "reason": "missed_by_shopper"},
    )
    assert added.status_code == 201, added.text
    three = 3 * ((BISCUITS_ITEM.price_cents + 1) // 2)
    assert added.json()["discounts"] == [{"label": "Half price biscuits", "amount_cents": three}]
    out = checkout.release(basket_id)
    assert out.status_code == 200, out.text
    handoff = out.json()["handoff"]
    total = COFFEE_ITEM.price_cents + 3 * BISCUITS_ITEM.price_cents - three
    assert handoff["total_cents"] == total
    receipt = checkout.get(f"/api/checkout/baskets/{basket_id}/receipt.txt").text
    assert "Half price biscuits" in receipt and f"{total / 100:.2f} EUR" in receipt
