"""The exit lane on a busy day, in the system Chromium at phone (390x844), 10-inch tablet
(800x1280) and desktop (1280x900) sizes, against a real ``caddie serve``: promotions and
tax on the basket page, corrections that read as corrections, the log in words, a sound
and a flash per rescan result, Remove confirmed, a payment taken by cash, the history
and its logged card search, the state-first queue with today's figures, a session that
ends mid-basket, and the landing page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from store_server.db import make_engine, migrate
from tests.browser.chromium import chromium_browser, screenshot_dir
from tests.servers import ServerProcess, caddie
from tests.store_server.factories import (
    COFFEE_ITEM,
    MILK_ITEM,
    WINE_ITEM,
    Item,
    add_products,
    add_promotions,
    gtin14,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SHOTS = screenshot_dir()
CHOCOLATE = Item(gtin14("0301111111111"), "Dark chocolate 100 g", "sweets", 250)
UNKNOWN_CODE = "4006381333931"  # a valid EAN-13 that is not in the catalog
POLICY = {"base_rate": 0.0, "first_trip_always": True, "partial_share": 1.0, "partial_items": 1}
PASSWORD = "exit-lane-staff-pw"
SIZES = {"phone": (390, 844), "tablet": (800, 1280), "desktop": (1280, 900)}
DEVICES = tuple(f"H-{n}" for n in range(1, 9))  # one per trip of the module
PROMOTIONS = [
    {
        "id": "P-COFFEE",
        "label": "Coffee: 3 for 2",
        "kind": "multi_buy",
        "gtins": [COFFEE_ITEM.gtin],
        "buy_qty": 3,
        "pay_qty": 2,
    }
]


@dataclass
class Lane:
    server: ServerProcess
    url: str
    db_url: str
    device_tokens: dict[str, str]
    pos_token: str
    free: list[str]

    def trip(self, codes: list[str], card: str) -> dict[str, Any]:
        """A shopper's handheld on the real socket: start, scan, finish."""
        from websockets.sync.client import connect

        device = self.free.pop(0)
        with connect(self.server.ws_url) as ws:

            def request(message: dict[str, Any]) -> dict[str, Any]:
                if message["type"] != "hello":
                    message = {"id": str(uuid.uuid4()), **message}
                ws.send(json.dumps(message))
                reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
                return reply

            hello = {"type": "hello", "protocol": 1, "device_id": device}
            assert request({**hello, "token": self.device_tokens[device]})["type"] == "welcome"
            assert request({"type": "start", "loyalty_card": card})["type"] == "basket"
            for code in codes:
                assert request({"type": "scan", "code": code})["type"] == "ack"
            finished = request({"type": "finish"})
        assert finished["type"] == "checkout", finished
        finished["device"] = device
        return finished


@pytest.fixture(scope="module")
def lane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    folder = tmp_path_factory.mktemp("exit-lane")
    url = f"sqlite:///{folder / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    add_products(engine, (COFFEE_ITEM, MILK_ITEM, WINE_ITEM, CHOCOLATE))
    add_promotions(engine, PROMOTIONS)
    engine.dispose()
    env = {"CADDIE_NEW_PASSWORD": PASSWORD}
    for name, role in (("alice", "staff"), ("root", "admin"), ("olga", "operator")):
        made = caddie("user", "create", name, "--role", role, "--database-url", url, env=env)
        assert made.returncode == 0, made.stderr
    tokens = {}
    for device in DEVICES:
        enrolled = caddie("device", "enroll", device, "--database-url", url)
        tokens[device] = enrolled.stdout.strip().split("\t")[1]
    server_env = {
        "CADDIE_AUDIT_POLICY": json.dumps(POLICY),
        "CADDIE_STAFF_SOCKET_RECHECK_SECONDS": "0.5",
    }
    with ServerProcess(url, env=server_env, log_path=folder / "server.log") as server:
        api = httpx.Client(base_url=server.url, timeout=10)
        login = api.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        pos = api.post("/api/checkout/pos-terminals", json={"terminal_id": "POS-1"}, headers=admin)
        yield Lane(server, server.url, url, tokens, pos.json()["token"], list(DEVICES))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


def _page(browser: Any, size: str) -> Any:
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height})
    return context.new_page()


def _log_in(page: Any, lane: Lane, path: str = "/staff", user: str = "alice") -> None:
    page.goto(lane.url + path)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _no_sideways_scroll(page: Any) -> None:
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the page scrolls sideways by {overflow} px"


def _wedge(page: Any, code: str) -> None:
    """A USB scanner: digits a few ms apart, then Enter, into the focused scan field."""
    from playwright.sync_api import expect

    expect(page.locator("#scan-input")).to_be_enabled()
    page.locator("#scan-input").focus()
    page.keyboard.type(code)
    page.keyboard.press("Enter")


@pytest.mark.parametrize("size", list(SIZES))
def test_a_basket_at_the_exit(lane: Lane, browser: Any, size: str) -> None:
    from playwright.sync_api import expect

    codes = [COFFEE_ITEM.gtin[1:]] * 3 + [MILK_ITEM.gtin[1:], WINE_ITEM.gtin[1:]]
    finished = lane.trip(codes, card=f"CARD-{size}")
    basket_id = finished["basket"]["basket_id"]
    shopper_total = finished["basket"]["total_cents"]
    assert shopper_total == 2 * 349 + 115 + 899  # the third coffee is free
    page = _page(browser, size)
    _log_in(page, lane, f"/staff/baskets/{basket_id}")  # back to the basket after login
    expect(page.locator("#scan-input")).to_be_focused()

    # what the shopper saw and what the till will charge: the promotion, tax, the total
    totals = page.locator("#totals")
    expect(totals).to_contain_text("Coffee: 3 for 2")
    expect(totals).to_contain_text("−3.49 EUR")
    expect(page.locator("#subtotal")).to_have_text("20.61 EUR")
    expect(page.locator("#total-to-pay")).to_have_text("17.12 EUR")
    expect(totals).to_contain_text("incl. tax 20.0%")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"exit-basket-{size}.png"), full_page=True)

    target = finished["audit"]["rescan"][0]
    _wedge(page, target[1:])
    expect(page.locator("#scan-result")).to_contain_text("verified")
    expect(page.locator("body")).to_have_attribute("data-last-sound", "verified")
    expect(page.locator("#scanbar")).to_have_class("card scanbar flash-verified")

    _wedge(page, UNKNOWN_CODE)
    expect(page.locator("#scan-result")).to_contain_text(f"Unknown code {UNKNOWN_CODE}")
    expect(page.locator("body")).to_have_attribute("data-last-sound", "unknown")
    expect(page.locator("#scanbar")).to_have_class("card scanbar flash-unknown")

    _wedge(page, CHOCOLATE.gtin[1:])  # in the trolley, never scanned by the shopper
    expect(page.locator("#scan-result")).to_contain_text("NOT in the basket")
    expect(page.locator("body")).to_have_attribute("data-last-sound", "discrepancy")
    expect(page.locator("#scanbar")).to_have_class("card scanbar flash-discrepancy")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"exit-discrepancy-{size}.png"), full_page=True)
    page.click("button[data-action=extra-add]")

    # the correction reads as one: the chocolate line marked as added at the exit, no
    # second "not in the basket" row beside it
    chocolate = page.locator(f".line[data-gtin='{CHOCOLATE.gtin}']")
    expect(chocolate).to_have_count(1)
    expect(chocolate).to_contain_text("+1 added at exit")
    expect(page.locator(".line.extra")).to_have_count(0)
    expect(page.locator("#corrections")).to_contain_text(
        "Added 1 × Dark chocolate 100 g: shopper missed it (discrepancy)"
    )
    expect(page.locator("#basket-decision")).to_have_text("full rescan")

    # Remove asks once more on the button, then removes
    milk = page.locator(f".line[data-gtin='{MILK_ITEM.gtin}']")
    milk.locator("select[name=reason]").select_option("shopper_request")
    milk.locator("button.remove-button").click()
    expect(milk.locator("button.remove-button")).to_have_text("Confirm: remove 1 × Milk 1 L")
    expect(milk).to_have_count(1)
    milk.locator("button.remove-button").click()
    expect(page.locator(f".line[data-gtin='{MILK_ITEM.gtin}']")).to_have_count(0)
    expect(page.locator("#scan-result")).to_contain_text("Removed 1 × Milk 1 L")

    for gtin in (COFFEE_ITEM.gtin, COFFEE_ITEM.gtin, COFFEE_ITEM.gtin, WINE_ITEM.gtin):
        _wedge(page, gtin[1:])
        expect(page.locator("#scan-result")).not_to_contain_text("Unknown")
    expect(page.locator(f".line.verified[data-gtin='{WINE_ITEM.gtin}']")).to_have_count(1)
    page.click("#approve-age")
    expect(page.locator("#ready")).to_be_visible()

    page.locator("#audit-log summary").click()
    log = page.locator("#audit-log")
    expect(log).to_contain_text("Shopper finished: partial rescan of 1 item")
    expect(log).to_contain_text("Rescanned Dark chocolate 100 g: not in the basket")
    expect(log).to_contain_text("Removed 1 × Milk 1 L: shopper's request")
    expect(log).to_contain_text("Age check approved")
    assert "decision=" not in log.inner_text() and "rescan=[" not in log.inner_text()

    page.click("#release")
    expect(page.locator("#handoff-code")).to_be_visible()
    total = page.locator("#total-to-pay").inner_text()
    assert total == "18.47 EUR"  # 3 coffees for 2, the wine and the chocolate; no milk
    handoff = httpx.get(
        f"{lane.url}/api/pos/handoffs/{page.locator('#handoff-code').inner_text()}",
        headers={"Authorization": f"Bearer {lane.pos_token}"},
    ).json()
    assert handoff["total_cents"] == 1847 and handoff["discounts"][0]["amount_cents"] == 349

    # cash at a staffed till, recorded by staff
    page.locator("#manual-payment summary").click()
    form = page.locator("form[data-action=manual-payment]")
    form.locator("select[name=method]").select_option("cash")
    form.locator("input[name=reference]").fill(f"CASH-{size}")
    expect(form.locator("input[name=amount]")).to_have_value("18.47")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"exit-handoff-{size}.png"), full_page=True)
    form.locator("button[type=submit]").click()
    expect(page.locator("#basket-status")).to_have_text("paid")
    page.locator("#audit-log summary").click()
    expect(page.locator("#audit-log")).to_contain_text(
        f"Paid 18.47 EUR by cash, recorded by staff, reference CASH-{size}"
    )
    expect(page.locator("#audit-log")).to_contain_text("alice")

    page.goto(f"{lane.url}/staff/baskets/{basket_id}/receipt")
    expect(page.locator(".receipt")).to_contain_text("Coffee: 3 for 2")
    _no_sideways_scroll(page)

    # the paid basket left the queue for the history
    page.goto(lane.url + "/staff/history?device=" + finished["device"])
    row = page.locator(f"#history-rows tr[data-basket='{basket_id}']")
    expect(row).to_contain_text("18.47 EUR")
    expect(row).to_contain_text(f"CASH-{size}")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"exit-history-{size}.png"), full_page=True)

    page.locator("details.by-card summary").click()
    card = page.locator("#card-search")
    card.locator("input[name=loyalty_card]").fill(f"CARD-{size}")
    card.locator("input[name=reason]").fill("shopper asks for a copy of the receipt")
    card.locator("button[type=submit]").click()
    expect(page.locator(f"#history-rows tr[data-basket='{basket_id}']")).to_have_count(1)
    engine = make_engine(lane.db_url)
    with engine.connect() as conn:
        logged = conn.execute(
            text("SELECT actor, reason, results FROM checkout_lookup WHERE value = :card"),
            {"card": f"CARD-{size}"},
        ).all()
    engine.dispose()
    assert [tuple(r) for r in logged] == [
        ("staff:alice", "shopper asks for a copy of the receipt", 1)
    ]
    page.context.close()


@pytest.mark.parametrize("size", list(SIZES))
def test_the_queue_shows_state_first_and_the_day_at_a_glance(
    lane: Lane, browser: Any, size: str
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, size)
    _log_in(page, lane)
    expect(page.locator("#live")).to_have_class("live on")
    waiting_before = int(page.locator("#fig-waiting").inner_text())
    finished = lane.trip([MILK_ITEM.gtin[1:]], card=f"Q-{size}")
    row = page.locator(f"tr[data-basket='{finished['basket']['basket_id']}']")
    expect(row.locator("td").first).to_contain_text("waiting: audit")  # state first
    expect(page.locator("#fig-waiting")).to_have_text(str(waiting_before + 1))
    expect(page.locator("#fig-wait")).not_to_have_text("")
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"exit-queue-{size}.png"), full_page=True)
    page.context.close()


def test_a_session_that_ends_is_announced_and_login_returns_to_the_basket(
    lane: Lane, browser: Any
) -> None:
    from playwright.sync_api import expect

    finished = lane.trip([MILK_ITEM.gtin[1:]], card="SESSION-1")
    basket_id = finished["basket"]["basket_id"]
    page = _page(browser, "phone")
    _log_in(page, lane, f"/staff/baskets/{basket_id}")
    expect(page.locator("#scan-input")).to_be_focused()
    page.wait_for_timeout(300)  # the socket is open (the console rechecks its session)
    disabled = caddie("user", "disable", "alice", "--database-url", lane.db_url)
    assert disabled.returncode == 0, disabled.stderr
    try:
        expect(page.locator("#session-ended")).to_be_visible()
        expect(page.locator("#ended")).to_contain_text("Your session ended")
        expect(page.locator("#ended")).to_contain_text("the basket you had open")
    finally:
        assert caddie("user", "enable", "alice", "--database-url", lane.db_url).returncode == 0
    username = page.locator("input[name=username]")
    expect(username).not_to_be_focused()
    username.focus()
    page.keyboard.type(MILK_ITEM.gtin[1:])  # the next wedge scan lands in the login form
    page.keyboard.press("Enter")
    expect(page.locator("#scan-ignored")).to_be_visible()
    expect(username).to_have_value("")
    assert "/staff/login" in page.url  # nothing was submitted
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / "exit-session-ended-phone.png"), full_page=True)
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{lane.url}/staff/baskets/{basket_id}")
    expect(page.locator("#scan-input")).to_be_focused()
    page.context.close()


@pytest.mark.parametrize(
    "user, shown, hidden",
    [
        (None, ["/staff", "/signage/console", "/manager", "/shop", "/docs"], []),
        ("alice", ["/staff", "/shop", "/docs"], ["/signage/console", "/manager", "/metrics"]),
        ("olga", ["/signage/console", "/shop", "/docs"], ["/staff", "/manager", "/metrics"]),
        ("root", ["/staff", "/signage/console", "/manager", "/metrics", "/docs"], []),
    ],
)
def test_the_landing_page_links_what_the_visitor_can_use(
    lane: Lane, browser: Any, user: str | None, shown: list[str], hidden: list[str]
) -> None:
    from playwright.sync_api import expect

    page = _page(browser, "phone")
    if user is not None:
        reply = page.request.post(
            lane.url + "/api/auth/login", data={"username": user, "password": PASSWORD}
        )
        assert reply.ok
        page.context.add_cookies(
            [{"name": "caddie_session", "value": reply.json()["token"], "url": lane.url}]
        )
    page.goto(lane.url + "/")
    for href in shown:
        expect(page.locator(f"a[data-destination='{href}']")).to_have_count(1)
    for href in hidden:
        expect(page.locator(f"a[data-destination='{href}']")).to_have_count(0)
    _no_sideways_scroll(page)
    page.screenshot(path=str(SHOTS / f"landing-{user or 'anonymous'}-phone.png"), full_page=True)
    page.context.close()


def test_first_contact_pages_in_a_browser(lane: Lane, browser: Any) -> None:
    from playwright.sync_api import expect

    page = _page(browser, "desktop")
    page.goto(lane.url + "/signage")
    expect(page.locator("#console-link")).to_have_attribute("href", "/signage/console")
    metrics = page.goto(lane.url + "/metrics")
    assert metrics is not None and metrics.status == 401
    expect(page.locator("#why")).to_be_visible()
    page.click("#login")
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(lane.url + "/metrics")
    assert "caddie_" in page.content()
    page.goto(lane.url + "/docs")
    expect(page.locator("button.authorize")).to_be_visible()
    page.screenshot(path=str(SHOTS / "docs-authorize.png"))
    page.context.close()
