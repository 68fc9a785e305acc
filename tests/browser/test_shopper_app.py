"""The shopper app end to end in the system Chromium, against a real ``caddie serve``:
scanning with a (fake) camera and by hand, the cart, undo, offline with the IndexedDB
outbox and the service worker, exactly once in the database."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.browser.chromium import chromium_browser, screenshot_dir
from tests.browser.fake_camera import Scene, camera_args, frames, write_y4m
from tests.browser.shop_helpers import (
    PHONE,
    access_lines,
    axe_violations,
    catalog_names,
    dump,
    expect_wasm_policy,
    open_shop,
    proxy_to,
    shop_server,
    wait_for_offline_shell,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

NAMES = catalog_names()
COFFEE, BEANS, WIPES = "5087487868014", "5024227430919", "5439185968969"
BY_HAND, OFFLINE_1, OFFLINE_2 = "8422550068545", "5084973957672", "3790133191009"
WINE = "5051162162605"  # age restricted in the fixture catalog
APPLES_1250_G = "2500001012500"  # restricted circulation: item 00001 (apples), 1250 g
SIZE = (640, 360)
# Screens to look at after a run (not in the README): always a scratch folder.
LOOK = Path(tempfile.gettempdir()) / "caddie-screenshots"


def g14(code: str) -> str:
    return code.zfill(14)


def line(page: Any, code: str) -> Any:
    return page.locator(f"#lines li.line[data-gtin='{g14(code)}']")


def camera_clip(tmp_path: Path, codes: list[str]) -> Path:
    """Each code held up for 0.8 s with 0.8 s of empty view between (5 frames/s), then
    40 s of empty view: the loop must not show an item again while the test looks."""
    scenes = [Scene(None, 5)]
    for code in codes:
        scenes += [Scene(code, 4), Scene(None, 4)]
    scenes.append(Scene(None, 200))
    return write_y4m(tmp_path / "camera.y4m", frames(scenes, SIZE), SIZE, fps=5)


def unlock(page: Any, card: str = "4000000000006") -> None:
    from playwright.sync_api import expect

    expect(page.get_by_label("Loyalty card")).to_be_visible()
    page.get_by_label("Loyalty card").fill(card)
    page.get_by_role("button", name="Start shopping").click()
    expect(page.locator("#screen-cart")).to_be_visible()


def type_code(page: Any, code: str) -> None:
    page.get_by_label("Enter barcode").fill(code)
    page.get_by_role("button", name="Add", exact=True).click()


def shopping_with_coffee(context: Any, shop: Any) -> Any:
    """A page on an unlocked trip with one coffee in the cart, its shell cached."""
    from playwright.sync_api import expect

    page = open_shop(context, shop)
    unlock(page)
    type_code(page, COFFEE)
    expect(line(page, COFFEE)).to_be_visible()
    wait_for_offline_shell(page)
    return page


def test_a_trip_by_camera_and_by_hand_offline_and_reloaded_is_in_the_database_once(
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    clip = camera_clip(tmp_path, [COFFEE, BEANS, WIPES])
    with (
        shop_server(tmp_path) as shop,
        chromium_browser(camera_args(clip)) as browser,
    ):
        context = browser.new_context(viewport=PHONE, locale="en-GB")
        violations: list[str] = []
        context.on(
            "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
        )
        page = open_shop(context, shop)
        expect_wasm_policy(page.reload())
        unlock(page)
        wait_for_offline_shell(page)

        page.get_by_role("button", name="Start camera").click()
        for code in (COFFEE, BEANS, WIPES):
            expect(line(page, code)).to_contain_text(NAMES[g14(code)])
        page.get_by_role("button", name="Stop camera").click()
        expect(page.locator("#announce")).to_contain_text("Added")

        type_code(page, BY_HAND)
        expect(line(page, BY_HAND)).to_be_visible()
        expect(page.locator("#item-count")).to_have_text("4")

        type_code(page, "5087487868015")  # bad check digit: never sent
        expect(page.locator("#scan-message")).to_contain_text("is not a valid barcode")
        type_code(page, "4006381333931")  # a valid GTIN the store does not sell
        expect(page.locator("#scan-message")).to_contain_text("We don't know the product")

        # Remove with undo: the line comes back and nothing reaches the server.
        line(page, BEANS).get_by_role("button", name=f"Remove {NAMES[g14(BEANS)]}").click()
        expect(line(page, BEANS)).to_have_count(0)
        page.get_by_role("button", name="Undo").click()
        expect(line(page, BEANS)).to_be_visible()
        # Removed for good this time (sent when the undo window closes).
        line(page, WIPES).get_by_role("button", name=f"Remove {NAMES[g14(WIPES)]}").click()
        expect(page.locator("#scan-message")).to_contain_text("Removed", timeout=30_000)
        expect(page.locator("#item-count")).to_have_text("3")

        context.set_offline(True)
        expect(page.locator("#offline")).to_be_visible()
        type_code(page, OFFLINE_1)
        type_code(page, OFFLINE_2)
        expect(page.locator("#offline")).to_contain_text("2 scans waiting")
        expect(page.locator("#lines li.pending")).to_have_count(2)

        page.reload()  # offline: the service worker serves the shell, IndexedDB the outbox
        expect(page.locator("#lines li.pending")).to_have_count(2)
        expect(page.locator("#offline")).to_contain_text("2 scans waiting")
        assert shop.basket_lines() == sorted((g14(c), 1) for c in (COFFEE, BEANS, BY_HAND)), (
            "queued scans must not reach the server while offline"
        )
        page.wait_for_timeout(2100)  # longer than a send ever takes: "queued offline"

        context.set_offline(False)
        expect(line(page, OFFLINE_2)).to_be_visible()
        expect(page.locator("#offline")).to_be_hidden()
        expect(page.locator("#lines li.pending")).to_have_count(0)
        expect(page.locator("#item-count")).to_have_text("5")

        page.reload()  # replaying an emptied outbox adds nothing
        expect(page.locator("#item-count")).to_have_text("5")
        expected = sorted((g14(c), 1) for c in (COFFEE, BEANS, BY_HAND, OFFLINE_1, OFFLINE_2))
        assert shop.basket_lines() == expected
        # The two scans that waited for the network count as queued offline, the others not
        # (the count is written just after the reply: wait for it).
        queued_sql = "SELECT COUNT(*) FROM scan_issue WHERE kind = 'queued_offline'"
        deadline = time.monotonic() + 20
        while shop.rows(queued_sql)[0][0] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert shop.rows(queued_sql)[0][0] == 2
        assert violations == []
        assert (
            page.evaluate(
                "() => new Promise(r => { const q = indexedDB.open('caddie-shop');"
                " q.onsuccess = () => { const t = q.result.transaction('outbox');"
                " t.objectStore('outbox').count().onsuccess = e => r(e.target.result); }; })"
            )
            == 0
        )


def test_a_killed_tab_replays_its_outbox_with_the_same_ids(tmp_path: Path) -> None:
    """Scans stored while the socket is down survive the tab being closed; a new tab
    sends them once."""
    from playwright.sync_api import expect

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = shopping_with_coffee(context, shop)
        context.set_offline(True)
        expect(page.locator("#offline")).to_be_visible()
        type_code(page, BEANS)
        type_code(page, BEANS)
        expect(page.locator("#offline")).to_contain_text("2 scans waiting")
        ids = page.evaluate(
            "() => new Promise(r => { const q = indexedDB.open('caddie-shop');"
            " q.onsuccess = () => q.result.transaction('outbox').objectStore('outbox')"
            ".getAllKeys().onsuccess = e => r(e.target.result); })"
        )
        assert len(ids) == 2
        page.close()  # the tab is killed with its outbox on disk
        context.set_offline(False)
        page = context.new_page()
        page.goto(shop.server.url + "/shop")
        expect(line(page, BEANS).locator(".qty")).to_have_text("2")
        assert shop.basket_lines() == sorted([(g14(COFFEE), 1), (g14(BEANS), 2)])
        applied = shop.rows(
            "SELECT request_id FROM handheld_request WHERE device_id = :d AND type = 'scan'",
            d=shop.device_id,
        )
        assert set(ids) <= {r[0] for r in applied}  # sent with the ids stored offline


def test_camera_refused_shows_how_to_allow_it_and_manual_entry_works(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    LOOK.mkdir(parents=True, exist_ok=True)
    with (
        shop_server(tmp_path) as shop,
        chromium_browser(["--use-fake-device-for-media-stream"]) as browser,
    ):
        context = browser.new_context(viewport=PHONE, bypass_csp=True)  # camera not granted
        page = open_shop(context, shop)
        unlock(page)
        page.get_by_role("button", name="Start camera").click()
        help_box = page.locator("#camera-help")
        expect(help_box).to_be_visible()
        expect(help_box).to_contain_text("Allow the camera for this site")
        page.screenshot(path=str(LOOK / "shopper-camera-refused.png"))
        assert axe_violations(page) == [], dump(axe_violations(page))
        type_code(page, WINE)
        expect(line(page, WINE)).to_contain_text("ID checked at the exit")
        type_code(page, APPLES_1250_G)  # a weighed item: 1.25 kg at 2.99 / kg
        apples = page.locator("#lines li.line", has_text="Apples")
        expect(apples).to_contain_text("1.25 kg at €2.99/kg")
        expect(apples.locator(".line-total")).to_have_text("€3.74")
        expect(apples.get_by_role("button", name="One more Apples (per kg)")).to_have_count(0)
        assert len(shop.basket_lines()) == 2


def test_french_from_the_browser_and_switchable(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, locale="fr-FR", bypass_csp=True)
        page = open_shop(context, shop)
        expect(page.get_by_label("Carte de fidélité")).to_be_visible()
        assert page.evaluate("document.documentElement.lang") == "fr"
        page.get_by_label("Carte de fidélité").fill("4000000000006")
        page.get_by_role("button", name="Commencer mes courses").click()
        page.get_by_label("Saisir le code-barres").fill(COFFEE)
        page.get_by_role("button", name="Ajouter", exact=True).click()
        expect(line(page, COFFEE)).to_contain_text("10,69\u00a0€")
        expect(page.locator("#total")).to_have_text("10,69\u00a0€")
        expect(page.locator("#announce")).to_contain_text("ajouté")
        page.get_by_label("Saisir le code-barres").fill("123")
        page.get_by_role("button", name="Ajouter", exact=True).click()
        expect(page.locator("#scan-message")).to_contain_text("n’est pas un code-barres valide")
        page.select_option("#lang", "en")
        expect(page.get_by_label("Enter barcode")).to_be_visible()
        expect(page.locator("#total")).to_have_text("€10.69")
        page.reload()  # the choice is remembered
        expect(page.get_by_label("Enter barcode")).to_be_visible()


def test_every_screen_passes_axe_and_the_cart_screenshot(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    LOOK.mkdir(parents=True, exist_ok=True)
    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = context.new_page()
        page.goto(shop.server.url + "/shop")
        expect(page.locator("#screen-start")).to_be_visible()
        assert axe_violations(page) == [], dump(axe_violations(page))
        page = open_shop(context, shop)
        expect(page.get_by_label("Loyalty card")).to_be_visible()
        page.get_by_label("Loyalty card").fill("12 34; DROP")
        page.get_by_role("button", name="Start shopping").click()
        expect(page.locator("#unlock-error")).to_have_text(
            "A loyalty card number has 1 to 32 letters, digits or dashes."
        )
        assert axe_violations(page) == [], dump(axe_violations(page))
        unlock(page)
        for code in (COFFEE, BEANS, WINE):
            type_code(page, code)
            expect(line(page, code)).to_be_visible()
        type_code(page, BEANS)
        expect(line(page, BEANS).locator(".qty")).to_have_text("2")
        expect(page.locator("#offers")).to_contain_text("shop-2026-12")
        assert axe_violations(page) == [], dump(axe_violations(page))
        page.get_by_role("button", name="No thanks").click()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(screenshot_dir() / "shopper-cart.png"))
        sizes = page.evaluate(
            "() => [...document.querySelectorAll('button, select, input, a.button')]"
            ".filter(e => e.offsetParent !== null)"
            ".map(e => { const r = e.getBoundingClientRect();"
            " return [e.id || e.textContent.trim(), r.width, r.height]; })"
        )
        small = [s for s in sizes if s[1] < 44 or s[2] < 44]
        assert small == [], small
        wait_for_offline_shell(page)
        context.set_offline(True)
        expect(page.locator("#offline")).to_be_visible()
        assert axe_violations(page) == [], dump(axe_violations(page))
        page.screenshot(path=str(LOOK / "shopper-offline.png"))
        context.set_offline(False)
        expect(page.locator("#offline")).to_be_hidden()
        page.get_by_role("button", name="Finish and pay").click()
        expect(page.locator("#screen-exit")).to_be_visible()
        expect(page.locator("#exit-next")).not_to_have_text("Sending your basket…")
        assert axe_violations(page) == [], dump(axe_violations(page))
        page.screenshot(path=str(LOOK / "shopper-exit.png"))


def test_a_second_load_asks_the_server_for_nothing_but_the_basket(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with shop_server(tmp_path) as shop, chromium_browser() as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = shopping_with_coffee(context, shop)
        log = tmp_path / "server.log"
        before = len(access_lines(log))
        page.reload()
        expect(line(page, COFFEE)).to_be_visible()  # the basket, from the socket's welcome
        expect(page.locator("#offline")).to_be_hidden()
        asked = [a for a in access_lines(log)[before:] if a != "GET /shop/sw.js 200"]
        assert asked == ["websocket /ws/handheld open"]


def test_the_loyalty_card_is_scanned_to_unlock(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    card = "2990000123459"  # as printed under the card's EAN-13
    clip = camera_clip(tmp_path, [card])
    with shop_server(tmp_path) as shop, chromium_browser(camera_args(clip)) as browser:
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = open_shop(context, shop)
        page.get_by_role("button", name="Scan my card").click()
        expect(page.locator("#screen-cart")).to_be_visible()
        expect(page.locator("#card-viewfinder")).to_be_hidden()  # the camera is off again
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()
        cards = shop.rows("SELECT loyalty_card FROM basket WHERE device_id = :d", d=shop.device_id)
        assert cards == [(card,)]
        assert shop.basket_lines() == [(g14(COFFEE), 1)]


GS1_DATAMATRIX = f"(01){g14(COFFEE)}(10)L7"  # as printed under the symbol
DIGITAL_LINK = f"https://id.gs1.org/01/{g14(BEANS)}"


@pytest.mark.parametrize("symbologies", [None, "EAN13,EAN8,UPCA,UPCE,DATAMATRIX,QR"])
def test_gs1_datamatrix_and_digital_link_only_where_the_store_reads_them(
    tmp_path: Path, symbologies: str | None
) -> None:
    """A GS1 DataMatrix and a QR code holding a GS1 Digital Link, then an EAN-13 (seen
    last: the clip has played past both). By default only the EAN-13 is added; with
    CADDIE_SHOPPER_SYMBOLOGIES naming DATAMATRIX and QR, all three, by their GTINs."""
    from playwright.sync_api import expect

    scenes = [
        Scene(None, 5),
        Scene(GS1_DATAMATRIX, 4, "gs1_datamatrix"),
        Scene(None, 4),
        Scene(DIGITAL_LINK, 4, "qr"),
        Scene(None, 4),
        Scene(WIPES, 4),
        Scene(None, 200),
    ]
    clip = write_y4m(tmp_path / "camera.y4m", frames(scenes, SIZE), SIZE, fps=5)
    env = {"CADDIE_SHOPPER_SYMBOLOGIES": symbologies} if symbologies else None
    with (
        shop_server(tmp_path, env=env) as shop,
        chromium_browser(camera_args(clip)) as browser,
    ):
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        page = open_shop(context, shop)
        unlock(page)
        page.get_by_role("button", name="Start camera").click()
        expect(line(page, WIPES)).to_be_visible()
        page.get_by_role("button", name="Stop camera").click()
        expected = [WIPES, COFFEE, BEANS] if symbologies else [WIPES]
        for code in expected:
            expect(line(page, code)).to_contain_text(NAMES[g14(code)])
        expect(page.locator("#lines li.line")).to_have_count(len(expected))
        assert shop.basket_lines() == sorted((g14(c), 1) for c in expected)


def outbox_count(page: Any) -> int:
    count: int = page.evaluate(
        "() => new Promise(r => { const q = indexedDB.open('caddie-shop');"
        " q.onsuccess = () => { const t = q.result.transaction('outbox');"
        " t.objectStore('outbox').count().onsuccess = e => r(e.target.result); }; })"
    )
    return count


def set_visibility(page: Any, state: str) -> None:
    """The page told it went to the background (``hidden``) or came back (``visible``),
    as a phone's browser tells it when the screen goes off and on."""
    page.evaluate(
        """state => {
          const seen = (get) => ({configurable: true, get});
          Object.defineProperty(document, "visibilityState", seen(() => state));
          Object.defineProperty(document, "hidden", seen(() => state === "hidden"));
          document.dispatchEvent(new Event("visibilitychange"));
        }""",
        state,
    )


def test_the_phone_sleeping_loses_no_scan_and_counts_none_twice(tmp_path: Path) -> None:
    """A phone asleep: the page is hidden and its timers stand still (its clock is
    paused, so no backoff or reply timer fires until the test says so); meanwhile the
    server comes back, or the network silently drops the socket. On waking the page must
    reconnect at once and replay its outbox; the server counts each scan once.

    (Chromium's own freeze, CDP ``Page.setWebLifecycleState``, leaves a headless page
    running, timers and all: the sleep is played with the clock and the visibility.)"""
    from playwright.sync_api import expect

    with (
        shop_server(tmp_path) as shop,
        proxy_to(shop.server.port) as (base, silence_the_network),
        chromium_browser() as browser,
    ):
        context = browser.new_context(viewport=PHONE, bypass_csp=True)
        context.clock.install()  # runs as the real clock until paused
        page = open_shop(context, shop, base=base)
        unlock(page)
        type_code(page, COFFEE)
        expect(line(page, COFFEE)).to_be_visible()

        def sleep_while(happens: Any) -> None:
            now = datetime.fromtimestamp(page.evaluate("Date.now()") / 1000, UTC)
            page.clock.pause_at(now + timedelta(seconds=1))
            set_visibility(page, "hidden")
            happens()
            set_visibility(page, "visible")

        # Scans made while the server is unreachable wait in the outbox...
        shop.server.kill()
        expect(page.locator("#offline")).to_have_text(
            "Offline. Keep scanning: your scans are kept on this device."
        )
        type_code(page, BEANS)
        type_code(page, BEANS)
        expect(page.locator("#offline")).to_contain_text("2 scans waiting")
        expect(page.locator("#lines li.pending")).to_have_count(2)
        assert shop.basket_lines() == [(g14(COFFEE), 1)]

        # ...the phone sleeps, the server comes back meanwhile; on waking they are sent.
        sleep_while(shop.server.start)
        expect(line(page, BEANS).locator(".qty")).to_have_text("2")
        expect(page.locator("#lines li.pending")).to_have_count(0)
        expect(page.locator("#offline")).to_be_hidden()
        assert shop.basket_lines() == sorted([(g14(COFFEE), 1), (g14(BEANS), 2)])

        # The network forgets the sleeping phone: its socket stays open and carries
        # nothing. Awake, the page scans on a new socket, not into the dead one.
        sleep_while(silence_the_network)
        type_code(page, WIPES)
        expect(line(page, WIPES)).to_be_visible()
        expect(page.locator("#lines li.pending")).to_have_count(0)
        expect(page.locator("#offline")).to_be_hidden()

        page.clock.resume()
        page.reload()  # an emptied outbox replays nothing
        expect(page.locator("#item-count")).to_have_text("4")
        assert outbox_count(page) == 0
        assert shop.basket_lines() == sorted([(g14(COFFEE), 1), (g14(BEANS), 2), (g14(WIPES), 1)])
