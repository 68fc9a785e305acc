"""The checkout API's replies as /docs declares them: every route names its body and
its reply, and the declared reply sends exactly what the checkout functions build."""

from __future__ import annotations

import json
from typing import Any

from store_server.checkout import views
from store_server.checkout.records import Actor, get_basket
from store_server.checkout.routes import router
from store_server.offers.service import promotions_for_basket
from tests.store_server.checkout.conftest import COFFEE, MILK, WINE, Checkout

C13, M13, W13 = COFFEE[1:], MILK[1:], WINE[1:]
NO_BODY = {"/api/checkout/baskets/{basket_id}/release"}
NOT_JSON = {"/api/checkout/baskets/{basket_id}/receipt.txt"}


def _component(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref", "")
    assert ref.startswith("#/components/schemas/"), node
    found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def test_every_checkout_route_declares_its_body_and_its_reply(checkout: Checkout) -> None:
    schema = checkout.client.get("/openapi.json").json()
    routes = [
        (route.path, method.lower(), route.status_code or 200)  # type: ignore[attr-defined]
        for route in router.routes
        if route.path.startswith("/api/") and route.path not in NOT_JSON  # type: ignore[attr-defined]
        for method in route.methods  # type: ignore[attr-defined]
    ]
    assert len(routes) >= 18
    for path, method, status in routes:
        operation = schema["paths"][path][method]
        reply = operation["responses"][str(status)]["content"]["application/json"]["schema"]
        assert _component(schema, reply)["properties"], (path, method)
        if method in ("post", "put") and path not in NO_BODY:
            body = operation["requestBody"]["content"]["application/json"]["schema"]
            assert body["properties"], (path, method)


def _same(reply: Any, built: Any) -> None:
    """The same JSON, number types included (1 is not 1.0)."""
    assert json.dumps(reply, sort_keys=True) == json.dumps(built, sort_keys=True, default=str)


def test_declared_replies_send_what_the_checkout_builds(checkout: Checkout) -> None:
    basket_id: str = checkout.trip([C13, C13, W13])["basket"]["basket_id"]
    state = checkout.client.app.state.caddie  # type: ignore[attr-defined]

    def built_detail() -> Any:
        with state.db.reading() as session:
            basket = get_basket(session, basket_id, _actor())
            promotions = promotions_for_basket(session, basket_id, state.promotions.get(session))
            return views.detail(session, basket, promotions)

    rescanned = checkout.rescan(basket_id, M13)  # not in the basket: an extra item
    assert rescanned["outcome"] == "extra"
    _same(rescanned["basket"], built_detail())
    added = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines",
        {"code": C13, "qty": 1, "reason": "missed_by_shopper", "note": "under the bag"},
    )
    assert added.status_code == 201, added.text
    _same(added.json(), built_detail())
    scan_id = rescanned["basket"]["extras"][0]["scan_id"]
    checkout.post(
        f"/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve",
        {"resolution": "staff_error"},
    )
    checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {})
    checkout.rescan_all(basket_id)
    with state.db.reading() as session:
        queue = views.queue(session, "store-1")
    _same(checkout.get("/api/checkout/baskets").json(), {"baskets": queue})

    released = checkout.release(basket_id)
    assert released.status_code == 200, released.text
    reply = released.json()
    with state.db.reading() as session:
        basket = get_basket(session, basket_id, _actor())
        summary = views.summary(session, basket)
        handoff = views.handoff_record(session, basket_id, _actor())
    _same(reply["basket"], summary)
    assert reply["handoff"].pop("qr_svg").startswith("<svg")
    assert reply["handoff"].pop("code128_svg").startswith("<svg")
    _same(reply["handoff"], handoff)
    detail = checkout.basket(basket_id)
    assert detail["handoff"] is not None and detail["corrections"] and detail["age_approval"]
    _same(detail, built_detail())

    policy = checkout.get("/api/checkout/stores/store-1/audit-policy", as_="root").json()
    _same(policy, {"store_id": "store-1", "policy": state.audit_policy.to_dict()})


def _actor() -> Actor:
    return Actor("test", None)
