"""The shopper app's server-rendered pages in the system Chromium: the entrance screen
(whose QR code must decode to a working join link), the receipt on a phone, and the
page a stale code leads to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.chromium import chromium_page, screenshot_dir
from tests.servers import ServerProcess
from tests.store_server.factories import COFFEE_ITEM, MILK_ITEM
from tests.store_server.shopper.test_shopper_server import (
    SECRET,
    Store,
    _database,
    _server_env,
    shop,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SHOTS = screenshot_dir()
PHONE = (390, 844)


def test_entrance_screen_receipt_and_stale_code_pages(tmp_path: Path) -> None:
    import time

    import zxingcpp
    from PIL import Image

    from store_server.shopper import codes

    url = _database(tmp_path)
    with ServerProcess(url, env=_server_env(), log_path=tmp_path / "server.log") as server:
        store = Store(server, url)
        key = codes.display_key(SECRET, "store-1")
        for size in ((1920, 1080), (1080, 1920)):
            with chromium_page(viewport=size) as page:
                page.goto(f"{server.url}/shop/entrance?key={key}")
                qr = page.locator(".qr svg")
                box = qr.bounding_box()
                assert box is not None and box["width"] >= 0.6 * min(size)  # fills the screen
                shot = SHOTS / f"shopper-entrance-{size[0]}x{size[1]}.png"
                page.screenshot(path=str(shot))
            found = zxingcpp.read_barcodes(Image.open(shot))
            texts = [f.text for f in found if f.format == zxingcpp.BarcodeFormat.QRCode]
            assert len(texts) == 1, found
            assert texts[0].startswith("http://127.0.0.1:8000/shop/join?c=")  # CADDIE_PUBLIC_URL
            code = texts[0].split("?c=", 1)[1]
            assert codes.read_entrance_code(SECRET, code, now=time.time(), minutes=5) == "store-1"

        creds = store.joined("PAGES-CARD")
        done = shop(store, creds, "PAGES-CARD", [COFFEE_ITEM.gtin[1:], MILK_ITEM.gtin[1:]])
        store.release_and_pay(done["basket"]["basket_id"], 349 + 115)
        receipt = store.trip(creds["token"]).json()["receipt_url"]
        with chromium_page(viewport=PHONE) as page:
            failed: list[str] = []  # what the page loads (its style sheet) must all load
            page.on(
                "response",
                lambda r: (
                    failed.append(r.url)
                    if r.status >= 400 and not r.url.endswith("/favicon.ico")
                    else None
                ),
            )
            page.goto(server.url + receipt)
            assert page.get_by_role("heading", name="Caddie self-scan").is_visible()
            assert page.get_by_text(COFFEE_ITEM.name).is_visible()
            assert page.get_by_text("4.64 EUR").first.is_visible()
            assert page.get_by_text("PAID", exact=False).first.is_visible()
            link = page.get_by_role("link", name="Download as text")
            box = link.bounding_box()
            assert box is not None and box["height"] >= 44
            with page.expect_download() as download:
                link.click()
            saved = tmp_path / "receipt.txt"
            download.value.save_as(saved)
            assert COFFEE_ITEM.name in saved.read_text()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE[0]  # nothing wider than the phone
            page.screenshot(path=str(SHOTS / "shopper-receipt-phone.png"), full_page=True)
            assert failed == []

        stale = codes.entrance_code(SECRET, "store-1", time.time() - 3600)
        with chromium_page(viewport=PHONE) as page:
            response = page.goto(f"{server.url}/shop/join?c={stale}")
            assert response is not None and response.status == 410
            assert page.get_by_role("heading", name="This code has expired").is_visible()
            assert page.get_by_text("Scan the code at the store entrance again").is_visible()
            page.screenshot(path=str(SHOTS / "shopper-join-expired-phone.png"))
        store.http.close()
