"""The web security layer (store_server.websec) in process: CSRF and Origin checks on
cookie requests, JSON bodies only as JSON, bearer clients untouched, login CSRF and forced
logout refused, security headers on every page, API docs without a CDN.

The same attacks from a real page of another origin, in Chromium against a real
``caddie serve``, are in tests/browser/test_same_site_attacker.py."""

from __future__ import annotations

import re
from typing import Any

import pytest

from store_server.checkout.console import templates as staff_templates
from tests.accounts import PASSWORD
from tests.csrf import csrf_headers, origin_of, page_token
from tests.store_server.checkout.conftest import WINE, Checkout

W13 = WINE[1:]
ELSEWHERE = "http://127.0.0.1:8999"  # another port of the same host: same site


def logged_in(checkout: Checkout, username: str = "alice", page: str = "/staff") -> str:
    """Logs ``checkout.client`` in through the console form, as a browser; returns the
    token the next page shows."""
    client = checkout.client
    client.cookies.clear()
    for who in ("alice", "olga", "root"):  # bearer tokens for the checks, logged in first
        checkout.auth(who)
    login_page = "/staff/login" if page.startswith("/staff") else "/signage/console/login"
    reply = client.post(
        login_page,
        data={"username": username, "password": PASSWORD},
        headers=csrf_headers(client, login_page),
    )
    assert reply.status_code == 200, reply.text  # followed to the console
    return page_token(client.get(page).text)


def age_check(checkout: Checkout, basket_id: str) -> str:
    return str(checkout.basket(basket_id)["age_check"])


def test_a_cookie_request_from_another_origin_or_without_the_token_changes_nothing(
    checkout: Checkout,
) -> None:
    basket_id = checkout.trip([W13])["basket"]["basket_id"]
    token = logged_in(checkout)
    client = checkout.client
    url = f"/api/checkout/baskets/{basket_id}/age-approval"
    own = origin_of(client)
    refused: list[dict[str, str]] = [
        {"Origin": ELSEWHERE, "X-CSRF-Token": token},
        {"Origin": "null", "X-CSRF-Token": token},
        {"Referer": ELSEWHERE + "/attack.html", "X-CSRF-Token": token},
        {"Origin": own, "X-CSRF-Token": token, "Sec-Fetch-Site": "same-site"},
        {"Origin": own},
        {"Origin": own, "X-CSRF-Token": "0" * 64},
        {},
    ]
    for headers in refused:
        reply = client.post(url, json={}, headers=headers)
        assert reply.status_code == 403, (headers, reply.text)
        assert reply.json()["error"]["code"] == "forbidden"
    # A form or text/plain body (what a page of another origin can send unasked).
    for body in ({"content": b"{}", "headers": {"Content-Type": "text/plain"}},):
        reply = client.post(url, **body)
        assert reply.status_code == 403
    assert age_check(checkout, basket_id) == "needed"
    # The console's own script: same origin, the page's token, JSON.
    sent_as_text = client.post(
        url,
        content=b"{}",
        headers={"Origin": own, "X-CSRF-Token": token, "Content-Type": "text/plain"},
    )
    assert sent_as_text.status_code == 415
    assert sent_as_text.json()["error"]["code"] == "unsupported_media_type"
    ok = client.post(url, json={}, headers={"Origin": own, "X-CSRF-Token": token})
    assert ok.status_code == 200, ok.text
    assert age_check(checkout, basket_id) == "approved"


def test_a_token_belongs_to_its_session(checkout: Checkout) -> None:
    basket_id = checkout.trip([W13])["basket"]["basket_id"]
    old_token = logged_in(checkout)
    logged_in(checkout)  # a new session: the old page's token is no longer valid
    reply = checkout.client.post(
        f"/api/checkout/baskets/{basket_id}/age-approval",
        json={},
        headers={"Origin": origin_of(checkout.client), "X-CSRF-Token": old_token},
    )
    assert reply.status_code == 403
    assert age_check(checkout, basket_id) == "needed"


def test_bearer_clients_need_neither_origin_nor_token(checkout: Checkout) -> None:
    basket_id = checkout.trip([W13])["basket"]["basket_id"]
    reply = checkout.post(f"/api/checkout/baskets/{basket_id}/age-approval", {})
    assert reply.status_code == 200, reply.text
    admin = checkout.auth("root")
    till = checkout.client.post(
        "/api/checkout/pos-terminals", json={"terminal_id": "POS-9"}, headers=admin
    )
    assert till.status_code == 201, till.text
    # A JSON body without any Content-Type still works for a bearer client (as before);
    # a body that says it is something else does not.
    untyped = checkout.client.post(
        f"/api/checkout/baskets/{basket_id}/rescan", content=b'{"code": "1"}', headers=admin
    )
    assert untyped.status_code != 415
    as_csv = checkout.client.post(
        "/api/catalog/import",
        content=b"gtin,name\n",
        headers={**admin, "Content-Type": "text/plain"},
    )
    assert as_csv.status_code == 415


def test_login_forms_refuse_other_origins_and_missing_tokens(checkout: Checkout) -> None:
    client = checkout.client
    for login_page in ("/staff/login", "/signage/console/login"):
        client.cookies.clear()
        headers = csrf_headers(client, login_page)
        user = "alice" if login_page.startswith("/staff") else "olga"
        form = {"username": user, "password": PASSWORD}
        for bad in ({**headers, "Origin": ELSEWHERE}, {"Origin": headers["Origin"]}):
            reply = client.post(login_page, data=form, headers=bad, follow_redirects=False)
            assert reply.status_code == 403, reply.text
            assert "caddie_session" not in reply.headers.get("set-cookie", "")
        with_field = {**form, "csrf_token": headers["X-CSRF-Token"]}
        reply = client.post(
            login_page,
            data=with_field,
            headers={"Origin": headers["Origin"]},
            follow_redirects=False,
        )
        assert reply.status_code == 303 and "caddie_session=" in reply.headers["set-cookie"]
    # The JSON login from another origin (a text/plain body a form can send) is refused.
    client.cookies.clear()
    forged = client.post(
        "/api/auth/login",
        content=b'{"username": "alice", "password": "' + PASSWORD.encode() + b'"}',
        headers={"Content-Type": "text/plain", "Origin": ELSEWHERE},
    )
    assert forged.status_code == 403


@pytest.mark.parametrize(
    "page, logout, me",
    [("/staff", "/staff/logout", "/staff"), ("/signage/console", "/signage/console/logout", None)],
)
def test_a_forced_logout_is_refused_and_a_real_one_ends_the_session(
    checkout: Checkout, page: str, logout: str, me: str | None
) -> None:
    user = "alice" if page == "/staff" else "olga"
    token = logged_in(checkout, user, page)
    client = checkout.client
    session = client.cookies["caddie_session"]
    forced = client.post(logout, data={"csrf_token": token}, headers={"Origin": ELSEWHERE})
    assert forced.status_code == 403
    assert client.get("/api/auth/me").status_code == 200  # still logged in, cookie kept
    real = client.post(
        logout,
        data={"csrf_token": token},
        headers={"Origin": origin_of(client)},
        follow_redirects=False,
    )
    assert real.status_code == 303
    gone = client.get("/api/auth/me", headers={"Authorization": f"Bearer {session}"})
    assert gone.status_code == 401  # ended on the server, not only in this browser


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.I)


def assert_secure_page(path: str, reply: Any, *, private: bool) -> None:
    assert reply.status_code == 200, (path, reply.status_code)
    assert reply.headers["content-type"].startswith("text/html"), path
    policy = reply.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"], (path, policy)
    assert directives["frame-ancestors"] == ["'none'"], (path, policy)
    assert directives["object-src"] == ["'none'"], path
    assert reply.headers["x-content-type-options"] == "nosniff", path
    assert reply.headers["referrer-policy"] == "same-origin", path
    if private:
        assert reply.headers["cache-control"] == "no-store", path
    html = reply.text
    assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html))
    assert not HANDLER.search(html), (path, HANDLER.search(html))
    assert "javascript:" not in html.lower(), path
    for src in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert not src.startswith(("http:", "https:", "//")), (path, src)  # nothing from a CDN


def test_every_console_page_has_the_security_headers_and_no_inline_script(
    checkout: Checkout,
) -> None:
    basket_id = checkout.trip([W13])["basket"]["basket_id"]
    client = checkout.client
    client.cookies.clear()
    for path in ("/staff/login", "/signage/console/login"):
        assert_secure_page(path, client.get(path), private=True)
    logged_in(checkout, "alice")
    checkout.release(basket_id)  # not releasable (age check): the page still renders
    for path in ("/staff", f"/staff/baskets/{basket_id}", "/staff/baskets/nope"):
        reply = client.get(path)
        if path.endswith("nope"):
            assert reply.status_code == 404 and "x-frame-options" in reply.headers
            continue
        assert_secure_page(path, reply, private=True)
        assert reply.headers["x-frame-options"] == "DENY"
    logged_in(checkout, "olga", "/signage/console")
    for path in (
        "/signage/console",
        "/signage/console/creatives",
        "/signage/console/campaigns",
        "/signage/console/reports",
        "/signage/console/attribution",
    ):
        assert_secure_page(path, client.get(path), private=True)


def test_the_receipt_page_needs_no_inline_script() -> None:
    html = staff_templates.get_template("checkout/receipt.html").render(
        r={
            "store_id": "s",
            "lines": [],
            "discounts": [],
            "item_count": 0,
            "total_cents": 0,
            "currency": "EUR",
            "taxes": [],
            "status": "released",
            "basket_id": "b" * 32,
            "code": "C",
        },
        released_local="",
        paid_local="",
        csrf_token="",
    )
    assert not INLINE_SCRIPT.search(html) and not HANDLER.search(html)


@pytest.mark.parametrize("root", ["", "/signage"])
def test_api_docs_are_served_offline_without_inline_script(checkout: Checkout, root: str) -> None:
    client = checkout.client
    for page in ("/docs", "/redoc"):
        reply = client.get(root + page)
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "cdn" not in reply.text.lower()
        assert not INLINE_SCRIPT.search(reply.text)
        for src in re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', reply.text):
            assert src.startswith(root + "/"), (page, src)
            assert client.get(src).status_code == 200, src


def test_hostile_origins_tokens_and_forms_are_refused_not_crashed(checkout: Checkout) -> None:
    basket_id = checkout.trip([W13])["basket"]["basket_id"]
    token = logged_in(checkout)
    client = checkout.client
    own = origin_of(client)
    url = f"/api/checkout/baskets/{basket_id}/age-approval"
    hostile: list[dict[str, Any]] = [
        {"headers": {"Origin": own, "X-CSRF-Token": "é" * 64}, "json": {}},
        {"headers": {"Origin": own, "X-CSRF-Token": token + "\x00"}, "json": {}},
        {"headers": {"Origin": own, "X-CSRF-Token": "a" * 100_000}, "json": {}},
        {"headers": {"Referer": "http://[::1"}, "json": {}},
        {"headers": {"Origin": own + "\u2028"}, "json": {}},
        {"headers": {"Origin": own.upper() + ".evil"}, "json": {}},
        {"headers": {"Origin": own}, "data": {f"f{i}": "x" for i in range(1000)}},
        {"headers": {"Origin": own}, "data": {"csrf_token": ["a", token]}},
        {"headers": {"Origin": own}, "files": {"csrf_token": ("t", token.encode())}},
    ]
    for request in hostile:
        try:
            reply = client.post(url, **request)
        except UnicodeEncodeError:  # the client itself cannot send this header
            continue
        assert reply.status_code in (403, 413, 415), (request["headers"], reply.status_code)
        assert reply.json()["error"]["code"] in ("forbidden", "too_large", "unsupported_media_type")
    assert age_check(checkout, basket_id) == "needed"
