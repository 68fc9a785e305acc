"""End to end at the exit: a shopper's handheld, the live staff console in the system
Chromium, keyboard-wedge rescans, a discrepancy, an age check, release and the POS."""

from __future__ import annotations

import json
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from store_server.db import make_engine, migrate
from tests.browser.chromium import chromium_page, screenshot_dir
from tests.servers import ServerProcess, caddie
from tests.store_server.factories import (
    COFFEE_ITEM,
    MILK_ITEM,
    WINE_ITEM,
    Item,
    add_products,
    gtin14,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SHOTS = screenshot_dir()
CHOCOLATE = Item(gtin14("0301111111111"), "Dark chocolate 100 g", "sweets", 250)
POLICY = {"base_rate": 0.0, "first_trip_always": True, "partial_share": 1.0, "partial_items": 1}


class Shopper:
    """A simulated handheld on the real socket (the websockets library, as devices use)."""

    def __init__(self, ws: Any, device: str, token: str) -> None:
        self.ws = ws
        self.request({"type": "hello", "protocol": 1, "device_id": device, "token": token})

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        if message["type"] != "hello":
            message = {"id": str(uuid.uuid4()), **message}
        self.ws.send(json.dumps(message))
        reply: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
        return reply


def test_a_shopper_finishes_and_staff_audit_approve_and_release(tmp_path: Path) -> None:
    from playwright.sync_api import expect
    from websockets.sync.client import connect

    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    add_products(engine, (COFFEE_ITEM, MILK_ITEM, WINE_ITEM, CHOCOLATE))
    engine.dispose()
    env = {"CADDIE_NEW_PASSWORD": "checkout-staff-pw"}
    for name, role in (("alice", "staff"), ("root", "admin")):
        made = caddie("user", "create", name, "--role", role, "--database-url", url, env=env)
        assert made.returncode == 0, made.stderr
    enrolled = caddie("device", "enroll", "H-7", "--database-url", url)
    device_token = enrolled.stdout.strip().split("\t")[1]
    server_env = {"CADDIE_AUDIT_POLICY": json.dumps(POLICY)}
    with ServerProcess(url, env=server_env, log_path=tmp_path / "server.log") as server:
        api = httpx.Client(base_url=server.url, timeout=10)
        login = api.post(
            "/api/auth/login", json={"username": "root", "password": env["CADDIE_NEW_PASSWORD"]}
        )
        admin = {"Authorization": f"Bearer {login.json()['token']}"}
        pos = api.post("/api/checkout/pos-terminals", json={"terminal_id": "POS-1"}, headers=admin)
        pos_auth = {"Authorization": f"Bearer {pos.json()['token']}"}

        with ExitStack() as stack, chromium_page() as page:
            page.goto(server.url + "/staff")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", env["CADDIE_NEW_PASSWORD"])
            page.click("button[type=submit]")
            expect(page.locator("#live")).to_have_class("live on")
            expect(page.locator("#queue-empty")).to_be_visible()

            socket = stack.enter_context(connect(server.ws_url))
            shopper = Shopper(socket, "H-7", device_token)
            shopper.request({"type": "start", "loyalty_card": "CARD-77"})
            for item in (COFFEE_ITEM, MILK_ITEM, WINE_ITEM):
                assert shopper.request({"type": "scan", "code": item.gtin[1:]})["type"] == "ack"
            checkout = shopper.request({"type": "finish"})
            basket_id = checkout["basket"]["basket_id"]
            assert checkout["audit"]["decision"] == "partial"

            row = page.locator(f"tr[data-basket='{basket_id}']")
            expect(row).to_contain_text("first trip with a loyalty card")  # no reload
            expect(row).to_contain_text("18+ needed")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "staff-console-queue.png"), full_page=True)

            row.locator("a").click()
            scan = page.locator("#scan-input")
            expect(scan).to_be_focused()
            target = checkout["audit"]["rescan"][0]
            expect(page.locator(f".line.to_rescan[data-gtin='{target}']")).to_be_visible()
            page.screenshot(path=str(SHOTS / "staff-console-basket.png"), full_page=True)

            def wedge(gtin: str) -> None:
                expect(scan).to_be_focused()
                page.keyboard.type(gtin[1:])
                page.keyboard.press("Enter")

            wedge(target)
            expect(page.locator("#scan-result")).to_contain_text("verified")
            expect(page.locator(f".line.verified[data-gtin='{target}']")).to_be_visible()
            wedge(target)  # scanned twice: not an extra item
            expect(page.locator("#scan-result")).to_contain_text("scanned twice")

            wedge(CHOCOLATE.gtin)  # in the trolley, never scanned by the shopper
            expect(page.locator("#scan-result")).to_contain_text("NOT in the basket")
            page.screenshot(path=str(SHOTS / "staff-console-discrepancy.png"), full_page=True)
            page.click("button[data-action=extra-add]")
            expect(page.locator("#basket-decision")).to_have_text("full rescan")
            for item in (COFFEE_ITEM, MILK_ITEM, WINE_ITEM):
                if item.gtin != target:
                    wedge(item.gtin)
                    expect(page.locator(f".line.verified[data-gtin='{item.gtin}']")).to_be_visible()
            expect(page.locator("#release")).to_be_disabled()  # the age check is still open
            page.click("#approve-age")
            expect(page.locator("#ready")).to_be_visible()
            page.click("#release")
            expect(page.locator("#handoff svg").first).to_be_visible()
            code = page.locator("#handoff-code").inner_text()
            page.screenshot(path=str(SHOTS / "staff-console-handoff.png"), full_page=True)

            handoff = api.get(f"/api/pos/handoffs/{code}", headers=pos_auth).json()
            assert handoff["total_cents"] == 349 + 115 + 899 + 250
            assert handoff["audit"] == {"decision": "full", "outcome": "discrepancy"}
            paid = api.post(
                f"/api/pos/handoffs/{code}/paid",
                json={"payment_reference": "TILL-1-0001", "amount_cents": handoff["total_cents"]},
                headers=pos_auth,
            )
            assert paid.status_code == 200, paid.text
            expect(page.locator("#basket-status")).to_have_text("paid")  # pushed live
            page.screenshot(path=str(SHOTS / "staff-console-paid.png"), full_page=True)

            page.goto(server.url + "/staff")
            expect(page.locator(f"tr[data-basket='{basket_id}']")).to_have_count(0)

            fresh = shopper.request({"type": "start", "loyalty_card": "CARD-78"})
            assert fresh["type"] == "basket" and fresh["basket"]["status"] == "open"
        api.close()
