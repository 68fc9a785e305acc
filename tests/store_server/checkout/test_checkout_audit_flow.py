"""Audits at the exit: decisions stored with reasons, rescans, discrepancies, trust."""

from __future__ import annotations

from collections.abc import Callable

from tests.store_server.checkout.conftest import COFFEE, MILK, WINE, Checkout

C13, M13 = COFFEE[1:], MILK[1:]


def test_finish_locks_the_basket_and_stores_decision_inputs_and_reasons(
    checkout: Checkout,
) -> None:
    reply = checkout.trip([C13, M13])
    basket_id = reply["basket"]["basket_id"]
    assert reply["basket"]["status"] == "audit"
    assert reply["audit"]["decision"] == "partial" and len(reply["audit"]["rescan"]) == 1
    view = checkout.basket(basket_id)
    assert view["status"] == "audit" and view["decision"] == "partial"
    assert view["reasons"][0] == "first trip with a loyalty card"
    assert view["audit"]["inputs"]["total_cents"] == 349 + 115
    assert view["audit"]["inputs"]["history"]["trips"] == 0
    assert view["rescan"] == reply["audit"]["rescan"]
    highlighted = [line["gtin"] for line in view["lines"] if line["status"] == "to_rescan"]
    assert highlighted == reply["audit"]["rescan"]
    queue = checkout.get("/api/checkout/baskets").json()["baskets"]
    assert [q["basket_id"] for q in queue] == [basket_id]
    assert queue[0]["reasons"] == view["reasons"] and queue[0]["total_cents"] == 464
    with checkout.handheld() as hh:  # the shopper can no longer change the basket
        assert hh.scan(C13)["code"] == "basket_locked"


def test_clean_partial_audit_raises_trust_and_double_rescan_is_no_discrepancy(
    checkout: Checkout,
) -> None:
    basket_id = checkout.trip([C13, M13])["basket"]["basket_id"]
    target = checkout.basket(basket_id)["rescan"][0]
    assert checkout.release(basket_id).status_code == 409  # nothing rescanned yet
    assert checkout.rescan(basket_id, target[1:])["outcome"] == "verified"
    again = checkout.rescan(basket_id, target[1:])
    assert again["outcome"] == "duplicate"
    assert again["basket"]["extras"] == [] and again["basket"]["problems"] == []
    released = checkout.release(basket_id)
    assert released.status_code == 200, released.text
    assert released.json()["handoff"]["audit"] == {"decision": "partial", "outcome": "passed"}
    shopper = checkout.shopper()
    assert (shopper.trips, shopper.audits_passed, shopper.discrepancies) == (1, 1, 0)
    assert shopper.last_audit_at is not None


def test_unscanned_item_escalates_to_full_and_counts_against_the_shopper(
    make_checkout: Callable[..., Checkout],
) -> None:
    checkout = make_checkout(
        {
            "base_rate": 1.0,
            "max_probability": 1.0,
            "partial_share": 1.0,
            "partial_items": 1,
            "max_days_without_audit": None,
        }
    )
    basket_id = checkout.trip([C13, M13])["basket"]["basket_id"]
    assert checkout.basket(basket_id)["decision"] == "partial"
    wine = WINE[1:]
    extra = checkout.rescan(basket_id, wine)
    assert extra["outcome"] == "extra"
    assert extra["basket"]["decision"] == "partial"  # a scan alone proves nothing yet
    scan_id = extra["basket"]["extras"][0]["scan_id"]
    view = checkout.post(
        f"/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve",
        {"resolution": "add_to_basket"},
    ).json()
    assert view["decision"] == "full" and view["initial_decision"] == "partial"
    assert set(view["rescan"]) == {COFFEE, MILK, WINE}
    assert view["reasons"][-1].startswith("discrepancy: Bordeaux")
    assert view["total_cents"] == 349 + 115 + 899
    wine_line = next(line for line in view["lines"] if line["gtin"] == WINE)
    assert wine_line["status"] == "verified"  # staff had it in hand
    problems = checkout.release(basket_id).json()["error"]["problems"]
    assert any("rescan" in p for p in problems) and any("age" in p for p in problems)
    checkout.rescan_all(basket_id)
    checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {})
    released = checkout.release(basket_id).json()
    assert released["handoff"]["audit"] == {"decision": "full", "outcome": "discrepancy"}
    shopper = checkout.shopper()
    assert (shopper.audits_passed, shopper.discrepancies) == (0, 1)
    pos = checkout.pos_token()
    paid = checkout.client.post(
        f"/api/pos/handoffs/{released['handoff']['code']}/paid",
        json={"payment_reference": "T1", "amount_cents": released["handoff"]["total_cents"]},
        headers={"Authorization": f"Bearer {pos}"},
    )
    assert paid.status_code == 200, paid.text
    # The next trip is rescanned in full, and says why.
    second = checkout.trip([C13])
    assert second["audit"]["decision"] == "full"
    reasons = checkout.basket(second["basket"]["basket_id"])["reasons"]
    assert any(r.startswith("discrepancy found 0 days ago") for r in reasons)


def test_an_extra_dismissed_as_staff_error_is_not_a_discrepancy(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    extra = checkout.rescan(basket_id, M13)
    assert extra["outcome"] == "extra"
    scan_id = extra["basket"]["extras"][0]["scan_id"]
    assert checkout.release(basket_id).status_code == 409  # unresolved extra
    view = checkout.post(
        f"/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve",
        {"resolution": "staff_error"},
    ).json()
    assert view["decision"] == "partial" and view["total_cents"] == 349
    again = checkout.post(
        f"/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve",
        {"resolution": "add_to_basket"},
    )
    assert again.status_code == 409
    checkout.rescan_all(basket_id)
    assert checkout.release(basket_id).json()["handoff"]["audit"]["outcome"] == "passed"
    shopper = checkout.shopper()
    assert (shopper.audits_passed, shopper.discrepancies) == (1, 0)


def test_a_correction_taken_back_as_staff_error_is_not_a_discrepancy(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    added = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines",
        {"code": M13, "qty": 1, "reason": "missed_by_shopper", "note": "under the trolley"},
    )
    assert added.status_code == 201, added.text
    view = added.json()
    assert view["decision"] == "full"
    assert view["corrections"][0]["shopper_fault"] is True
    milk = next(line for line in view["lines"] if line["gtin"] == MILK)
    view = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines/{milk['line_id']}/remove",
        {"qty": 1, "reason": "staff_error", "note": "milk was from the next trolley"},
    ).json()
    assert [line["gtin"] for line in view["lines"]] == [COFFEE]
    assert view["corrections"][0]["voided"] is True
    assert not any(c["shopper_fault"] for c in view["corrections"])
    checkout.rescan_all(basket_id)
    assert checkout.release(basket_id).json()["handoff"]["audit"]["outcome"] == "passed"
    shopper = checkout.shopper()
    assert (shopper.audits_passed, shopper.discrepancies) == (1, 0)


def test_removing_an_item_not_in_the_trolley_lowers_the_total_without_penalty(
    checkout: Checkout,
) -> None:
    basket_id = checkout.trip([C13, C13, M13])["basket"]["basket_id"]
    view = checkout.basket(basket_id)
    coffee = next(line for line in view["lines"] if line["gtin"] == COFFEE)
    view = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines/{coffee['line_id']}/remove",
        {"qty": 1, "reason": "not_in_trolley"},
    ).json()
    assert view["total_cents"] == 349 + 115 and view["item_count"] == 2
    too_many = checkout.post(
        f"/api/checkout/baskets/{basket_id}/lines/{coffee['line_id']}/remove",
        {"qty": 5, "reason": "not_in_trolley"},
    )
    assert too_many.status_code == 409 and too_many.json()["error"]["code"] == "not_in_basket"
    checkout.rescan_all(basket_id)
    assert checkout.release(basket_id).json()["handoff"]["audit"]["outcome"] == "passed"
    assert checkout.shopper().discrepancies == 0


def test_staff_mode_handheld_rescans_and_shopper_handheld_may_not(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    url = "/api/checkout/handheld/rescan"
    body = {"basket_id": basket_id, "code": C13}
    staff_h = {
        "Authorization": f"Bearer {checkout.tokens['STAFF-H']}",
        "X-Caddie-Device": "STAFF-H",
    }
    shopper_h = {"Authorization": f"Bearer {checkout.tokens['H-2']}", "X-Caddie-Device": "H-2"}
    assert checkout.client.post(url, json=body, headers=shopper_h).status_code == 403
    bad = {"Authorization": "Bearer nope", "X-Caddie-Device": "STAFF-H"}
    assert checkout.client.post(url, json=body, headers=bad).status_code == 401
    reply = checkout.client.post(url, json=body, headers=staff_h)
    assert reply.status_code == 200, reply.text
    assert reply.json()["outcome"] == "verified"
    actions = checkout.basket(basket_id)["actions"]
    assert actions[-1]["actor"] == "device:STAFF-H" and actions[-1]["action"] == "rescan"


def test_store_policy_override(make_checkout: Callable[..., Checkout]) -> None:
    checkout = make_checkout()
    url = "/api/checkout/stores/store-1/audit-policy"
    bad = checkout.client.put(
        url, json={"policy": {"base_rate": 7, "nope": 1}}, headers=checkout.auth("root")
    )
    assert bad.status_code == 422 and len(bad.json()["error"]["problems"]) == 2
    assert (
        checkout.client.put(
            url,
            json={"policy": {"first_trip_always": False, "base_rate": 0.0}},
            headers=checkout.auth("root"),
        ).status_code
        == 200
    )
    assert (
        checkout.client.put(url, json={"policy": {}}, headers=checkout.auth("alice")).status_code
        == 403
    )
    reply = checkout.trip([C13])
    assert reply["audit"]["decision"] == "none" and reply["basket"]["status"] == "finishing"
