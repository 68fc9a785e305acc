"""The shopper app's offers (opt in, accept, opt out) over the real protocol, and the
flows that need the shopper server side (``/api/shop/*``, built on its own branch):
kiosk pairing, own-phone join, exit with the hand-off code, paid and the receipt. Those
skip while ``/api/shop/trip`` answers 404 (before the two branches are merged)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.chromium import chromium_browser
from tests.browser.shop_helpers import (
    PHONE,
    Shop,
    axe_violations,
    dump,
    open_shop,
    shop_server,
)
from tests.browser.test_shopper_app import COFFEE, line, type_code, unlock

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

DOG_BISCUITS = "4094609114738"  # category "pet" in the fixture catalog, 9.59
OFFERS = [
    {
        "id": "coffee-pet",
        "kind": "complement",
        "label": "Half price dog biscuits",
        "when_categories": ["coffee"],
        "promotion": {"kind": "percent_off", "categories": ["pet"], "percent": "50"},
    }
]


def test_offers_opt_in_accept_and_opt_out(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    env = {"CADDIE_OFFERS_TEMPLATES": json.dumps(OFFERS)}
    with shop_server(tmp_path, env=env) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = open_shop(context, shop)
        unlock(page)
        consent = page.locator("#consent")
        expect(consent).to_contain_text("You can stop at any time")
        expect(consent).to_contain_text("Wording version shop-2026-12")
        page.get_by_role("button", name="Yes, show me offers").click()
        expect(page.locator("#scan-message")).to_contain_text("You will see offers")
        type_code(page, COFFEE)
        card = page.locator("#offer-list li.offer")
        expect(card).to_contain_text("Half price dog biscuits")
        assert axe_violations(page) == [], dump(axe_violations(page))
        card.get_by_role("button").click()
        expect(page.locator("#scan-message")).to_contain_text("Offer added")
        expect(card).to_have_count(0)
        type_code(page, DOG_BISCUITS)
        expect(line(page, DOG_BISCUITS)).to_be_visible()
        expect(page.locator("#discounts")).to_contain_text("-€4.80")
        expect(page.locator("#total")).to_have_text("€15.48")  # 9.59 + 10.69 - 4.80
        page.get_by_role("button", name="Stop personal offers").click()
        expect(page.locator("#scan-message")).to_contain_text("Personal offers stopped")
        expect(page.get_by_role("button", name="Get personal offers")).to_be_visible()
        consents = shop.rows("SELECT opt_in, wording_version FROM consent_event ORDER BY id")
        assert consents == [(1, "shop-2026-12"), (0, "shop-2026-12")] or consents == [
            (True, "shop-2026-12"),
            (False, "shop-2026-12"),
        ]


def test_finish_shows_the_handoff_code_then_paid_and_the_receipt(tmp_path: Path) -> None:
    """Against the contract (SHOPPER-CONTRACT.md): the page polls GET /api/shop/trip."""
    from playwright.sync_api import expect

    env = {"CADDIE_AUDIT_POLICY": json.dumps({"base_rate": 0.0, "first_trip_always": False})}
    with shop_server(tmp_path, env=env) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = open_shop(context, shop)
        unlock(page)
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        page.get_by_role("button", name="Finish and pay").click()
        expect(page.locator("#exit-next")).to_have_text("Go to the till to pay.")
        basket_id = page.evaluate(
            "JSON.parse(localStorage.getItem('caddie.trip')).basket.basket_id"
        )
        till = Till(shop)
        till.release(basket_id)  # a colleague releases it (or the server did at once)
        expect(page.locator("#handoff-qr svg")).to_be_visible()
        code = page.locator("#handoff-code").inner_text()
        assert axe_violations(page) == [], dump(axe_violations(page))
        till.pay(code)
        expect(page.locator("#exit-paid")).to_be_visible()
        receipt = page.get_by_role("link", name="Your receipt")
        expect(receipt).to_be_visible()
        href = receipt.get_attribute("href")
        assert href and href.startswith("/shop/receipt/")
        page.get_by_role("button", name="Done").click()
        expect(page.get_by_label("Loyalty card")).to_be_visible()  # kiosk: next shopper
        expect(page.locator("#lines li")).to_have_count(0)
        assert page.evaluate("localStorage.getItem('caddie.trip')") is None


class Till:
    """A colleague's console and the till, through the existing checkout and POS APIs."""

    def __init__(self, shop: Shop) -> None:
        from tests.servers import caddie

        password = "shopper-test-admin"
        made = caddie(
            "user",
            "create",
            "root",
            "--role",
            "admin",
            "--database-url",
            shop.database_url,
            env={"CADDIE_NEW_PASSWORD": password},
        )
        assert made.returncode == 0, made.stderr
        self.api = httpx.Client(base_url=shop.server.url, timeout=10)
        login = self.api.post("/api/auth/login", json={"username": "root", "password": password})
        self.admin = {"Authorization": f"Bearer {login.json()['token']}"}
        pos = self.api.post(
            "/api/checkout/pos-terminals", json={"terminal_id": "POS-9"}, headers=self.admin
        )
        self.pos = {"Authorization": f"Bearer {pos.json()['token']}"}

    def release(self, basket_id: str) -> None:
        self.api.post(f"/api/checkout/baskets/{basket_id}/release", headers=self.admin)

    def pay(self, code: str) -> None:
        handoff = self.api.get(f"/api/pos/handoffs/{code}", headers=self.pos).json()
        paid = self.api.post(
            f"/api/pos/handoffs/{code}/paid",
            json={"payment_reference": "TILL-9-0001", "amount_cents": handoff["total_cents"]},
            headers=self.pos,
        )
        assert paid.status_code == 200, paid.text


def test_kiosk_pairing_link_pairs_once(tmp_path: Path) -> None:
    """``caddie device enroll ID --pair`` prints a /shop/pair#code= link; it works once."""
    from playwright.sync_api import expect

    from tests.servers import caddie

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        made = caddie(
            "device",
            "enroll",
            "K-9",
            "--pair",
            "--base-url",
            shop.server.url,
            "--database-url",
            shop.database_url,
        )
        assert made.returncode == 0, made.stderr
        link = made.stdout.strip().splitlines()[0].split("\t")[1]
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = context.new_page()
        page.goto(link)
        expect(page.locator("#unlock-error")).to_contain_text("This handheld is paired")
        assert "#" not in page.url  # the code does not stay in the address bar
        stored: dict[str, Any] = json.loads(page.evaluate("localStorage.getItem('caddie.device')"))
        assert stored["device_id"] == "K-9" and stored["kind"] == "kiosk"
        unlock(page)
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        again = context.new_page()
        again.goto(link)
        expect(again.locator("#unlock-error")).to_contain_text("already used")


def test_own_phone_join_and_forged_ticket(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from tests.servers import caddie

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        made = caddie(
            "shopper",
            "entrance-code",
            "--base-url",
            shop.server.url,
        )
        assert made.returncode == 0, made.stderr
        entrance = next(w for w in made.stdout.split() if "/shop/join?c=" in w)
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = context.new_page()
        page.goto(entrance)  # 303 → /shop#join=<ticket>
        unlock(page, "4000000000006")
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        stored = json.loads(page.evaluate("localStorage.getItem('caddie.device')"))
        assert stored["kind"] == "phone"

        other = browser.new_context(viewport=PHONE, bypass_csp=True).new_page()
        other.goto(shop.server.url + "/shop#join=forged")
        other.get_by_label("Loyalty card").fill("4000000000006")
        other.get_by_role("button", name="Start shopping").click()
        expect(other.locator("#unlock-error")).to_contain_text("not valid")


def test_the_exit_screen_follows_the_trip_status_of_the_contract(tmp_path: Path) -> None:
    """The page's half of the exit, before the server half exists: ``GET /api/shop/trip``
    answered by this test with the contract's bodies (SHOPPER-CONTRACT.md). The real
    end-to-end trip is test_finish_shows_the_handoff_code_then_paid_and_the_receipt."""
    from playwright.sync_api import expect

    trip: dict[str, Any] = {"status": "audit", "handoff_code": None, "receipt_url": None}
    seen: list[str | None] = []

    def answer(route: Any) -> None:
        seen.append(route.request.headers.get("authorization"))
        body = {"basket": None, "audit": {"decision": "partial", "rescan_count": 2}, **trip}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        context.route("**/api/shop/trip", answer)
        page = open_shop(context, shop)
        unlock(page)
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        page.get_by_role("button", name="Finish and pay").click()
        expect(page.locator("#exit-total")).to_have_text("1 item, €10.69")
        trip["handoff_code"] = "H-1234-5678"
        qr = page.get_by_role("img", name="Show this code at the till: H-1234-5678")
        expect(qr).to_be_visible()
        assert axe_violations(page) == [], dump(axe_violations(page))
        trip.update(status="paid", receipt_url="/shop/receipt/signed-token")
        expect(page.locator("#exit-paid")).to_have_text("Paid. Thank you!")
        expect(page.get_by_role("link", name="Your receipt")).to_have_attribute(
            "href", "/shop/receipt/signed-token"
        )
        expect(qr).to_be_hidden()
        assert seen and set(seen) == {f"Bearer {shop.token}"}
        page.get_by_role("button", name="Done").click()
        expect(page.get_by_label("Loyalty card")).to_be_visible()  # the next shopper
        assert page.evaluate("localStorage.getItem('caddie.trip')") is None
        expect(page.locator("#lines li")).to_have_count(0)
        assert page.locator("#handoff-code").inner_text() == ""


def test_pairing_and_joining_as_the_page_does_them(tmp_path: Path) -> None:
    """The page's half of kiosk pairing and own-phone joining, before the server half
    exists: ``POST /api/shop/pair`` and ``/api/shop/join`` answered by this test with the
    contract's bodies, handing out a real enrolled device so the trip that follows runs
    against the real server. The real ones: test_kiosk_pairing_link_pairs_once and
    test_own_phone_join_and_forged_ticket."""
    from playwright.sync_api import expect

    asked: list[tuple[str, dict[str, Any]]] = []

    with shop_server(tmp_path) as shop, chromium_browser() as browser:

        def pair(route: Any) -> None:
            body = route.request.post_data_json
            asked.append(("pair", body))
            if body["code"] == "used-code":
                error = {"error": {"code": "pairing_used", "message": "used"}}
                route.fulfill(status=410, content_type="application/json", body=json.dumps(error))
                return
            creds = {**shop.credentials, "kind": "kiosk"}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(creds))

        def join(route: Any) -> None:
            body = route.request.post_data_json
            asked.append(("join", body))
            creds = {**shop.credentials, "kind": "phone", "resumed": False}
            route.fulfill(status=200, content_type="application/json", body=json.dumps(creds))

        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        context.route("**/api/shop/pair", pair)
        context.route("**/api/shop/join", join)
        page = context.new_page()
        page.goto(shop.server.url + "/shop/pair#code=used-code")
        expect(page.locator("#unlock-error")).to_contain_text("already used")
        assert page.evaluate("localStorage.getItem('caddie.device')") is None

        page.goto(shop.server.url + "/shop/pair#code=one-time-code")
        expect(page.locator("#unlock-error")).to_contain_text("This handheld is paired")
        assert page.url == shop.server.url + "/shop"  # the code left the address bar
        unlock(page)
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        assert asked[:2] == [("pair", {"code": "used-code"}), ("pair", {"code": "one-time-code"})]

        phone = browser.new_context(viewport=PHONE, bypass_csp=True)
        phone.route("**/api/shop/join", join)
        page = phone.new_page()
        page.goto(shop.server.url + "/shop#join=ticket-1")
        expect(page.get_by_label("Loyalty card")).to_be_visible()
        assert "#" not in page.url
        page.get_by_label("Loyalty card").fill("4000000000006")
        page.get_by_role("button", name="Start shopping").click()
        expect(page.locator("#screen-cart")).to_be_visible()
        assert asked[-1] == ("join", {"ticket": "ticket-1", "loyalty_card": "4000000000006"})
        stored = json.loads(page.evaluate("localStorage.getItem('caddie.device')"))
        assert stored["kind"] == "phone"
        expect(line(page, COFFEE)).to_be_visible()  # the basket this device has open
