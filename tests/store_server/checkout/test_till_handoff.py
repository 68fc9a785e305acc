"""The till hand-off as a till integrator meets it: the fields /docs declares, amounts
written as money, and payments staff take without an integrated till."""

from __future__ import annotations

from typing import Any

import pytest

from tests.store_server.checkout.conftest import COFFEE, WINE, Checkout

C13, W13 = COFFEE[1:], WINE[1:]


def _released(checkout: Checkout, codes: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    basket_id: str = checkout.trip(codes or [C13, C13])["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    out = checkout.release(basket_id)
    assert out.status_code == 200, out.text
    return basket_id, out.json()["handoff"]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def test_openapi_declares_the_till_fields_and_the_bearer_scheme(checkout: Checkout) -> None:
    schema = checkout.client.get("/openapi.json").json()
    paid = schema["paths"]["/api/pos/handoffs/{code}/paid"]["post"]
    body = paid["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"payment_reference", "amount_cents"}
    assert body["properties"]["amount_cents"]["type"] == "integer"
    reply = _resolve(schema, paid["responses"]["200"]["content"]["application/json"]["schema"])
    for field in ("code", "total_cents", "currency", "lines", "discounts", "taxes", "replayed"):
        assert field in reply["properties"], field
    fetched = schema["paths"]["/api/pos/handoffs/{code}"]["get"]
    assert fetched["security"] == [{"bearer": []}]
    enroll = schema["paths"]["/api/checkout/pos-terminals"]["post"]
    enroll_body = enroll["requestBody"]["content"]["application/json"]["schema"]
    assert "terminal_id" in enroll_body["properties"]
    enroll_reply = _resolve(
        schema, enroll["responses"]["201"]["content"]["application/json"]["schema"]
    )
    assert {"terminal_id", "store_id", "token"} <= set(enroll_reply["properties"])
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    manual = schema["paths"]["/api/checkout/baskets/{basket_id}/manual-payment"]["post"]
    manual_body = manual["requestBody"]["content"]["application/json"]["schema"]
    assert set(manual_body["properties"]) >= {"method", "reference", "amount_cents"}


def test_the_swagger_page_offers_authorize(checkout: Checkout) -> None:
    page = checkout.client.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    # Swagger UI shows its Authorize button when the schema it loads declares a scheme.
    assert checkout.client.get("/openapi.json").json()["components"]["securitySchemes"]


def test_a_wrong_amount_is_explained_in_money(checkout: Checkout) -> None:
    _basket, handoff = _released(checkout)
    token = checkout.pos_token()
    wrong = checkout.client.post(
        f"/api/pos/handoffs/{handoff['code']}/paid",
        json={"payment_reference": "T-1", "amount_cents": 600},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert wrong.status_code == 409
    message = wrong.json()["error"]["message"]
    assert "6.00 EUR" in message and "6.98 EUR" in message
    assert "698" not in message.replace("6.98", "")


def _manual(checkout: Checkout, basket_id: str, body: Any, *, as_: str = "alice") -> Any:
    return checkout.post(f"/api/checkout/baskets/{basket_id}/manual-payment", body, as_=as_)


def test_staff_record_a_cash_payment_with_who_how_and_reference(checkout: Checkout) -> None:
    basket_id, handoff = _released(checkout)
    body = {"method": "cash", "reference": "CASH-2-0042", "amount_cents": handoff["total_cents"]}
    paid = _manual(checkout, basket_id, body)
    assert paid.status_code == 200, paid.text
    assert paid.json()["status"] == "paid" and paid.json()["replayed"] is False
    assert paid.json()["pos_terminal_id"] is None
    again = _manual(checkout, basket_id, body)
    assert again.status_code == 200 and again.json()["replayed"] is True
    view = checkout.basket(basket_id)
    assert view["status"] == "paid"
    logged = [a for a in view["actions"] if a["action"] == "paid"]
    assert len(logged) == 1
    assert logged[0]["actor"] == "staff:alice"
    assert logged[0]["detail"]["method"] == "cash"
    assert logged[0]["detail"]["payment_reference"] == "CASH-2-0042"
    assert checkout.get("/api/checkout/baskets").json()["baskets"] == []
    other = _manual(checkout, basket_id, {**body, "reference": "CASH-2-0043"})
    assert other.status_code == 409


def test_manual_payment_is_for_staff_of_the_store_only(checkout: Checkout) -> None:
    basket_id, handoff = _released(checkout)
    body = {"method": "card_terminal", "reference": "SLIP-9", "amount_cents": 698}
    assert handoff["total_cents"] == 698
    path = f"/api/checkout/baskets/{basket_id}/manual-payment"
    assert checkout.client.post(path, json=body).status_code == 401
    assert _manual(checkout, basket_id, body, as_="olga").status_code == 403
    assert _manual(checkout, basket_id, body, as_="bob").status_code == 403  # other store
    pos = checkout.pos_token()
    till = checkout.client.post(path, json=body, headers={"Authorization": f"Bearer {pos}"})
    assert till.status_code == 401
    assert checkout.basket(basket_id)["status"] != "paid"  # nothing written by refusals
    assert _manual(checkout, basket_id, body, as_="root").status_code == 200


def test_manual_payment_before_release_is_refused(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    body = {"method": "cash", "reference": "C-1", "amount_cents": 349}
    refused = _manual(checkout, basket_id, body)
    assert refused.status_code == 409
    assert "release" in refused.json()["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"method": "cash", "reference": "R", "amount_cents": "698"},
        {"method": "cash", "reference": "R", "amount_cents": 6.98},
        {"method": "cash", "reference": "R", "amount_cents": True},
        {"method": "cash", "reference": "R", "amount_cents": -698},
        {"method": "bitcoin", "reference": "R", "amount_cents": 698},
        {"method": "cash", "reference": "", "amount_cents": 698},
        {"method": "cash", "reference": "x" * 101, "amount_cents": 698},
        {"method": "cash", "reference": "A\x00B", "amount_cents": 698},
        {"method": "cash", "reference": "line\nbreak", "amount_cents": 698},
        {"method": "cash", "reference": "R", "amount_cents": 698, "note": "n" * 501},
        {"method": ["cash"], "reference": "R", "amount_cents": 698},
        {"method": "cash", "reference": "R", "amount_cents": 10**30},
    ],
)
def test_manual_payment_refuses_bad_input_and_writes_nothing(
    checkout: Checkout, body: dict[str, Any]
) -> None:
    basket_id, _handoff = _released(checkout)
    refused = _manual(checkout, basket_id, body)
    assert refused.status_code in (409, 422), refused.text
    assert "error" in refused.json()
    view = checkout.basket(basket_id)
    assert view["status"] != "paid" and view["handoff"]["status"] == "released"
    assert not [a for a in view["actions"] if a["action"] == "paid"]


def test_manual_payment_bodies_that_are_not_json_objects(checkout: Checkout) -> None:
    basket_id, _handoff = _released(checkout)
    path = f"/api/checkout/baskets/{basket_id}/manual-payment"
    headers = {**checkout.auth("alice"), "content-type": "application/json"}
    for raw in (b"", b"[]", b"{", b'"cash"', b"\xff\xfe"):
        reply = checkout.client.post(path, content=raw, headers=headers)
        assert reply.status_code in (400, 422), (raw, reply.text)
    wrong_amount = _manual(
        checkout, basket_id, {"method": "cash", "reference": "R", "amount_cents": 1}
    )
    assert wrong_amount.status_code == 409
    assert "0.01 EUR" in wrong_amount.json()["error"]["message"]
