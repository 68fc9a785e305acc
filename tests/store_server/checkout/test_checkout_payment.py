"""Age checks, the payment hand-off, the POS callback, freed devices and expiry."""

from __future__ import annotations

from datetime import timedelta

from store_server.baskets.models import Basket
from store_server.checkout.expiry import expire_baskets
from store_server.db import session_scope
from store_server.timeutil import utcnow
from tests.store_server.checkout.conftest import COFFEE, MILK, WINE, Checkout

C13, M13, W13 = COFFEE[1:], MILK[1:], WINE[1:]


def _ready(checkout: Checkout, codes: list[str], **kw: str) -> str:
    basket_id: str = checkout.trip(codes, **kw)["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    return basket_id


def _pay(checkout: Checkout, code: str, reference: str, amount: int, token: str):  # type: ignore[no-untyped-def]
    return checkout.client.post(
        f"/api/pos/handoffs/{code}/paid",
        json={"payment_reference": reference, "amount_cents": amount},
        headers={"Authorization": f"Bearer {token}"},
    )


def test_age_restricted_items_need_an_approval_before_release(checkout: Checkout) -> None:
    basket_id = _ready(checkout, [W13, C13])
    refused = checkout.release(basket_id)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert "age" in refused.json()["error"]["message"]
    view = checkout.basket(basket_id)
    assert view["handoff"] is None and view["age_check"] == "needed"
    assert checkout.shopper().audits_passed == 0  # nothing half-written by the refusal
    approved = checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {"note": "ID"})
    assert approved.status_code == 200
    approval = approved.json()["age_approval"]
    assert approval["approved_by"] == "A" and approval["approved_at"]  # initials, not the login
    again = checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", as_="root")
    assert again.json()["age_approval"] == approval  # the first approver stays on record
    handoff = checkout.release(basket_id).json()["handoff"]
    assert handoff["age_check"]["approved_by"] == "A"


def test_age_approval_without_restricted_items_is_a_conflict(checkout: Checkout) -> None:
    basket_id = _ready(checkout, [C13])
    reply = checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {})
    assert reply.status_code == 409


def test_handoff_record_carries_lines_totals_taxes_and_codes(checkout: Checkout) -> None:
    reply = checkout.trip([C13, C13, W13])
    basket_id = reply["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {})
    out = checkout.release(basket_id)
    assert out.status_code == 200, out.text
    handoff = out.json()["handoff"]
    assert handoff["basket_id"] == basket_id and handoff["status"] == "released"
    assert [(line["gtin"], line["qty"]) for line in handoff["lines"]] == [(COFFEE, 2), (WINE, 1)]
    assert handoff["total_cents"] == reply["basket"]["total_cents"] == 2 * 349 + 899
    assert handoff["tax_cents"] == reply["basket"]["tax_cents"]
    rates = {t["rate"]: t["tax_cents"] for t in handoff["taxes"]}
    assert set(rates) == {"0.055", "0.20"} and sum(rates.values()) == handoff["tax_cents"]
    assert handoff["pos_payload"] == f"CADDIE-PAY:{handoff['code']}"
    assert handoff["qr_svg"].startswith("<svg") and "<svg" in handoff["code128_svg"]
    assert checkout.release(basket_id).json()["handoff"]["code"] == handoff["code"]
    frozen = checkout.post(f"/api/checkout/baskets/{basket_id}/rescan", {"code": C13})
    assert frozen.status_code == 409
    text = checkout.get(f"/api/checkout/baskets/{basket_id}/receipt.txt").text
    assert "Bordeaux 75 cl" in text and "15.97 EUR" in text and "NOT PAID" in text


def test_pos_paid_is_idempotent_and_frees_the_device(checkout: Checkout) -> None:
    basket_id = _ready(checkout, [C13])
    handoff = checkout.release(basket_id).json()["handoff"]
    token = checkout.pos_token()
    fetched = checkout.client.get(
        f"/api/pos/handoffs/{handoff['pos_payload']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert fetched.status_code == 200 and fetched.json()["total_cents"] == 349
    with checkout.handheld() as hh:  # still locked until paid
        assert hh.start("CARD-1")["code"] == "basket_locked"
    wrong = _pay(checkout, handoff["code"], "R-1", 1, token)
    assert wrong.status_code == 409
    first = _pay(checkout, handoff["code"], "R-1", 349, token)
    assert first.status_code == 200 and first.json()["replayed"] is False
    again = _pay(checkout, handoff["code"], "R-1", 349, token)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["paid_at"] == first.json()["paid_at"]
    other = _pay(checkout, handoff["code"], "R-2", 349, token)
    assert other.status_code == 409
    view = checkout.basket(basket_id)
    assert view["status"] == "paid" and view["handoff"]["payment_reference"] == "R-1"
    assert [a["action"] for a in view["actions"]].count("paid") == 1
    assert checkout.get("/api/checkout/baskets").json()["baskets"] == []
    with checkout.handheld() as hh:  # the device is free for the next shopper
        fresh = hh.start("CARD-2")
        assert fresh["type"] == "basket" and fresh["basket"]["basket_id"] != basket_id
    receipt = checkout.get(f"/api/checkout/baskets/{basket_id}/receipt.txt").text
    assert "PAID" in receipt and "R-1" in receipt and "NOT PAID" not in receipt


def test_pos_authentication_and_store(checkout: Checkout) -> None:
    basket_id = _ready(checkout, [C13])
    code = checkout.release(basket_id).json()["handoff"]["code"]
    other_store = checkout.pos_token("POS-9", "store-2")
    staff = checkout.auth("alice")["Authorization"].split()[1]
    for token, status in (("nope", 401), (staff, 401), (other_store, 403)):
        assert _pay(checkout, code, "R", 349, token).status_code == status
    no_auth = checkout.client.post(f"/api/pos/handoffs/{code}/paid", json={})
    assert no_auth.status_code == 401
    token = checkout.pos_token()
    assert _pay(checkout, "UNKNOWN", "R", 1, token).status_code == 404
    bad = checkout.client.post(
        f"/api/pos/handoffs/{code}/paid",
        json={"payment_reference": "R", "amount_cents": "349"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    # Re-registering a till revokes its old token.
    checkout.pos_token()
    assert _pay(checkout, code, "R", 349, token).status_code == 401


def test_abandoned_baskets_expire_and_free_their_devices(checkout: Checkout) -> None:
    with checkout.handheld("H-2") as hh:  # open, never finished
        idle_id = hh.start("CARD-9")["basket"]["basket_id"]
    unpaid_id = _ready(checkout, [C13])
    code = checkout.release(unpaid_id).json()["handoff"]["code"]
    engine = checkout.client.app.state.caddie.db.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:
        assert expire_baskets(session, minutes=240) == []  # nothing is stale yet
    with checkout.handheld("H-3") as hh:  # active now: must survive
        hh.start("CARD-8")
        hh.scan(M13)
    with session_scope(engine) as session:  # the first two were left five hours ago
        for basket_id in (idle_id, unpaid_id):
            session.get(Basket, basket_id).updated_at = utcnow() - timedelta(hours=5)  # type: ignore[union-attr]
    with session_scope(engine) as session:
        expired = expire_baskets(session, minutes=240)
    assert sorted(b for b, _ in expired) == sorted([idle_id, unpaid_id])
    assert checkout.basket(idle_id)["status"] == "abandoned"
    view = checkout.basket(unpaid_id)
    assert view["status"] == "abandoned" and view["handoff"]["status"] == "expired"
    assert view["actions"][-1]["action"] == "abandoned"
    assert _pay(checkout, code, "R", 349, checkout.pos_token()).status_code == 409
    with checkout.handheld("H-1") as hh:
        assert hh.start("CARD-1")["basket"]["status"] == "open"
