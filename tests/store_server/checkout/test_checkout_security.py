"""Roles, store isolation, bad input, the live queue socket and the console pages."""

from __future__ import annotations

import pytest
from starlette.websockets import WebSocketDisconnect

from tests.accounts import PASSWORD
from tests.csrf import csrf_headers
from tests.store_server.checkout.conftest import COFFEE, MILK, WINE, Checkout

C13, M13, W13 = COFFEE[1:], MILK[1:], WINE[1:]


def _staff_endpoints(basket_id: str) -> list[tuple[str, str, object]]:
    base = f"/api/checkout/baskets/{basket_id}"
    return [
        ("GET", "/api/checkout/baskets", None),
        ("GET", base, None),
        ("POST", f"{base}/rescan", {"code": C13}),
        ("POST", f"{base}/lines", {"code": C13, "reason": "shopper_request"}),
        ("POST", f"{base}/lines/1/remove", {"qty": 1, "reason": "staff_error"}),
        ("POST", f"{base}/extras/1/resolve", {"resolution": "staff_error"}),
        ("POST", f"{base}/age-approval", {}),
        ("POST", f"{base}/release", None),
        ("GET", f"{base}/receipt.txt", None),
    ]


def test_staff_endpoints_refuse_anonymous_devices_and_operators(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    device = {"Authorization": f"Bearer {checkout.tokens['STAFF-H']}"}
    for method, path, body in _staff_endpoints(basket_id):
        anonymous = checkout.client.request(method, path, json=body)
        assert anonymous.status_code == 401, (path, anonymous.text)
        assert anonymous.json()["error"]["code"] == "unauthorized"
        assert checkout.client.request(method, path, json=body, headers=device).status_code == 401
        operator = checkout.client.request(method, path, json=body, headers=checkout.auth("olga"))
        assert operator.status_code == 403, (path, operator.text)
    # Nothing above changed the basket.
    view = checkout.basket(basket_id)
    assert view["actions"][-1]["action"] == "finished" and view["handoff"] is None


def test_staff_only_see_their_own_store(checkout: Checkout) -> None:
    ours = checkout.trip([C13])["basket"]["basket_id"]
    theirs = checkout.trip([M13], device="OTHER-1", card="CARD-X")["basket"]["basket_id"]
    assert [b["basket_id"] for b in checkout.get("/api/checkout/baskets").json()["baskets"]] == [
        ours
    ]
    bob = [
        b["basket_id"] for b in checkout.get("/api/checkout/baskets", as_="bob").json()["baskets"]
    ]
    assert bob == [theirs]
    for method, path, body in _staff_endpoints(theirs)[1:]:
        reply = checkout.client.request(method, path, json=body, headers=checkout.auth("alice"))
        assert reply.status_code == 403, (path, reply.text)
    everyone = checkout.get("/api/checkout/baskets", as_="root").json()["baskets"]
    assert {b["basket_id"] for b in everyone} == {ours, theirs}
    staff_h = {
        "Authorization": f"Bearer {checkout.tokens['STAFF-H']}",
        "X-Caddie-Device": "STAFF-H",
    }
    cross = checkout.client.post(
        "/api/checkout/handheld/rescan", json={"basket_id": theirs, "code": M13}, headers=staff_h
    )
    assert cross.status_code == 403


@pytest.mark.parametrize(
    "path, body, status, code",
    [
        ("rescan", "not json", 422, "bad_message"),
        ("rescan", "[1, 2]", 422, "bad_message"),
        ("rescan", "{}", 422, "invalid_input"),
        ("rescan", '{"code": 5449}', 422, "invalid_input"),
        ("rescan", '{"code": "5449000000095"}', 404, "unknown_product"),
        ("rescan", '{"code": "1234567890123"}', 422, "invalid_code"),
        ("lines", '{"code": "' + C13 + '", "reason": "because"}', 422, "invalid_input"),
        (
            "lines",
            '{"code": "' + C13 + '", "qty": 0, "reason": "staff_error"}',
            422,
            "invalid_input",
        ),
        ("lines/999999/remove", '{"qty": 1, "reason": "staff_error"}', 404, "not_found"),
        ("lines/abc/remove", '{"qty": 1, "reason": "staff_error"}', 404, "not_found"),
        # str.isdigit() is true for these, int() refuses the first and reads the second
        ("lines/%C2%B2/remove", '{"qty": 1, "reason": "staff_error"}', 404, "not_found"),
        ("lines/%D9%A3/remove", '{"qty": 1, "reason": "staff_error"}', 404, "not_found"),
        ("extras/%C2%B2/resolve", '{"resolution": "staff_error"}', 404, "not_found"),
        ("extras/5/resolve", '{"resolution": "staff_error"}', 404, "not_found"),
        ("extras/5/resolve", '{"resolution": "shrug"}', 422, "invalid_input"),
    ],
)
def test_bad_input_gets_clear_errors_and_changes_nothing(
    checkout: Checkout, path: str, body: str, status: int, code: str
) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    before = checkout.basket(basket_id)
    reply = checkout.client.post(
        f"/api/checkout/baskets/{basket_id}/{path}",
        content=body,
        headers={**checkout.auth("alice"), "content-type": "application/json"},
    )
    assert reply.status_code == status, reply.text
    assert reply.json()["error"]["code"] == code and reply.json()["error"]["message"]
    after = checkout.basket(basket_id)
    assert after["lines"] == before["lines"] and after["actions"] == before["actions"]


def test_unknown_and_unfinished_baskets(checkout: Checkout) -> None:
    assert checkout.get("/api/checkout/baskets/no-such-basket").status_code == 404
    assert checkout.release("x" * 100).status_code == 404
    with checkout.handheld() as hh:
        basket_id = hh.start("CARD-1")["basket"]["basket_id"]
        hh.scan(C13)
    refused = checkout.post(f"/api/checkout/baskets/{basket_id}/rescan", {"code": C13})
    assert refused.status_code == 409 and "not finished" in refused.json()["error"]["message"]
    assert checkout.release(basket_id).status_code == 409


def test_staff_socket_pushes_finished_baskets_of_the_own_store(checkout: Checkout) -> None:
    with checkout.client.websocket_connect("/ws/staff", headers=checkout.auth("alice")) as ws:
        assert ws.receive_json() == {"type": "queue", "baskets": []}
        checkout.trip([M13], device="OTHER-1", card="CARD-X")  # another store: not pushed
        reply = checkout.trip([C13])
        event = ws.receive_json()
        assert event["type"] == "basket" and event["event"] == "basket.finished"
        assert event["basket"]["basket_id"] == reply["basket"]["basket_id"]
        assert event["basket"]["decision"] == "partial" and event["in_queue"] is True
        assert event["basket"]["reasons"][0] == "first trip with a loyalty card"
        checkout.rescan(reply["basket"]["basket_id"], C13)
        assert ws.receive_json()["event"] == "checkout.rescan"


@pytest.mark.parametrize("who, close", [(None, 4401), ("olga", 4403), ("device", 4401)])
def test_staff_socket_refuses_others(checkout: Checkout, who: str | None, close: int) -> None:
    headers = {}
    if who == "device":
        headers = {"Authorization": f"Bearer {checkout.tokens['H-1']}"}
    elif who:
        headers = checkout.auth(who)
    with checkout.client.websocket_connect("/ws/staff", headers=headers) as ws:
        assert ws.receive_json()["type"] == "error"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert closed.value.code == close


def test_staff_socket_refuses_cross_site_pages(checkout: Checkout) -> None:
    headers = {**checkout.auth("alice"), "origin": "https://evil.example"}
    with checkout.client.websocket_connect("/ws/staff", headers=headers) as ws:
        assert ws.receive_json()["code"] == "forbidden"


def test_console_login_pages_and_logout(checkout: Checkout) -> None:
    client = checkout.client
    to_login = client.get("/staff", follow_redirects=False).headers["location"]
    assert to_login == "/staff/login?next=%2Fstaff"  # back to the queue after login
    form = csrf_headers(client)
    wrong = client.post(
        "/staff/login", data={"username": "alice", "password": "nope-nope"}, headers=form
    )
    assert wrong.status_code == 401 and "wrong username or password" in wrong.text
    operator = client.post(
        "/staff/login", data={"username": "olga", "password": PASSWORD}, headers=form
    )
    assert operator.status_code == 403 and "cannot use the checkout console" in operator.text
    assert client.get("/staff", follow_redirects=False).status_code == 303
    ok = client.post(
        "/staff/login",
        data={"username": "alice", "password": PASSWORD},
        headers=form,
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/staff"
    cookie = ok.headers["set-cookie"]
    assert "caddie_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    basket_id = checkout.trip([C13, W13])["basket"]["basket_id"]
    queue = client.get("/staff")
    assert queue.status_code == 200 and basket_id in queue.text
    page = client.get(f"/staff/baskets/{basket_id}")
    assert page.status_code == 200 and 'id="scan-input"' in page.text
    assert "first trip with a loyalty card" in page.text and "Approve age" in page.text
    assert 'class="line to_rescan' in page.text
    other = client.get("/staff/baskets/nope")
    assert other.status_code == 404
    assert client.get("/static/checkout/basket.js").status_code == 200
    client.post("/staff/logout", headers=csrf_headers(client, "/staff"))
    assert client.get("/staff", follow_redirects=False).status_code == 303


def test_receipt_page_after_release(checkout: Checkout) -> None:
    basket_id = checkout.trip([C13])["basket"]["basket_id"]
    checkout.rescan_all(basket_id)
    client = checkout.client
    client.post(
        "/staff/login",
        data={"username": "alice", "password": PASSWORD},
        headers=csrf_headers(client),
    )
    assert client.get(f"/staff/baskets/{basket_id}/receipt").status_code == 404
    code = checkout.release(basket_id).json()["handoff"]["code"]
    page = client.get(f"/staff/baskets/{basket_id}/receipt")
    assert page.status_code == 200 and code in page.text and "NOT PAID" in page.text
    panel = client.get(f"/staff/baskets/{basket_id}/panel")
    assert "<svg" in panel.text and code in panel.text
