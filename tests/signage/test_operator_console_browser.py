"""The operator console in the system Chromium against a real ``caddie serve``: calendar,
campaign life cycle, creative approval, screen health with a player's screenshot,
reports, logout and user management, at phone and desktop sizes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from store_server.db import make_engine
from tests.browser.chromium import chromium_browser, screenshot_dir
from tests.servers import ServerProcess
from tests.signage.signage_helpers import plan_dict, png_bytes, write_plan
from tests.signage.test_signage_browser import prepare, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SCREENSHOTS = screenshot_dir()
PHONE = (390, 844)
DESKTOP = (1280, 900)
PASSWORD = "correct horse"
IMAGE_LOADED = "img => img.complete && img.naturalWidth > 0"


@dataclass
class Console:
    url: str
    tokens: dict[str, str]
    operator_token: str
    browser: Any


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    from store_server.auth.service import create_user
    from store_server.db import session_scope

    folder = tmp_path_factory.mktemp("console")
    db = f"sqlite:///{folder / 'caddie.db'}"
    plan = plan_dict()
    plan["screens"][1].update(orientation="portrait", resolution="1080x1920")
    tokens = prepare(db, write_plan(folder / "plan", plan), folder / "media", ["S-01", "S-02"])
    engine = make_engine(db)
    with session_scope(engine) as session:
        create_user(session, username="olga", password=PASSWORD, role="operator")
        create_user(session, username="ada", password=PASSWORD, role="admin")
    engine.dispose()
    env = {"CADDIE_MEDIA_DIR": str(folder / "media"), "CADDIE_STATUS_SECONDS": "1"}
    with ServerProcess(db, env=env, log_path=folder / "server.log") as server:
        token = httpx.post(
            server.url + "/api/auth/login", json={"username": "olga", "password": PASSWORD}
        ).json()["token"]
        with chromium_browser() as browser:
            yield Console(server.url, tokens, token, browser)


def page_of(console: Console, size: tuple[int, int] = DESKTOP) -> Any:
    context = console.browser.new_context(viewport={"width": size[0], "height": size[1]})
    return context.new_page()


def log_in(console: Console, page: Any, user: str = "olga") -> None:
    page.goto(console.url + "/signage/console/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(console.url + "/signage/console")


def fits_the_phone(page: Any) -> None:
    """No page-wide horizontal scrolling: wide tables scroll inside their own box."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE[0], f"{page.url} is {width} px wide"


def shot(page: Any, name: str, full_page: bool = True) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def test_campaign_life_cycle_and_history(console: Console) -> None:
    page = page_of(console)
    log_in(console, page)
    page.goto(console.url + "/signage/console/campaigns")
    page.click("#campaigns tr[data-campaign=K-1] a")
    page.wait_for_url("**/console/campaigns/K-1")
    page.click("#lifecycle button[data-action=pause]")
    page.locator("#state", has_text="paused").wait_for()
    page.locator("#history li[data-action=pause]", has_text="by olga").wait_for()
    page.fill("#flight-form input[name=end]", "2030-06-30")
    page.click("#flight-form button[type=submit]")
    page.locator("#history li[data-action=shorten]").wait_for()
    assert "2099-12-31" in page.locator("#history li[data-action=shorten]").inner_text()
    page.click("#lifecycle button[data-action=resume]")
    page.locator("#state", has_text="booked").wait_for()
    # an edit that would overbook is refused with its reason, and nothing changes
    page.fill("#edit-form input[name=share_of_voice]", "1")
    page.locator("#edit-form input[name=days][value=sat]").uncheck()
    page.locator("#edit-form input[name=days][value=sun]").uncheck()
    page.click("#edit-form button[type=submit]")
    page.locator("#edit-ok", has_text="saved").wait_for()  # K-1 alone may take the loop
    page.wait_for_load_state("load")
    page.locator("#history li[data-action=edit]").wait_for()
    shot(page, "signage-campaign-life-cycle")
    # booking an id that exists is refused, not an overwrite
    page.goto(console.url + "/signage/console/campaigns")
    form = page.locator("#booking-form")
    form.locator("input[name=id]").fill("K-1")
    form.locator("input[name=advertiser]").fill("Impostor")
    form.locator("input[name=creatives][value=CR-B]").check()
    form.locator("button[type=submit]").click()
    page.locator("#booking-problems", has_text="exists").wait_for()
    assert "Brand A" in page.locator("#campaigns tr[data-campaign=K-1]").inner_text()
    page.context.close()


def test_calendar_week_and_month(console: Console) -> None:
    for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_of(console, size)
        log_in(console, page)
        page.goto(console.url + "/signage/console/calendar?view=week&from=2031-11-05")
        table = page.locator("#calendar-groups")
        free = table.locator("tr.free-row[data-group=food-court] td.free")
        assert free.count() == 7
        bar = table.locator("tr[data-group=food-court][data-campaign=K-2] td.on")
        assert bar.count() == 7  # K-2 plays every day on S-01
        if size == PHONE:
            fits_the_phone(page)
        shot(page, f"signage-calendar-week-{name}")
        page.goto(console.url + "/signage/console/calendar?view=month&from=2031-11-05")
        assert page.locator("#calendar-campaigns thead th").count() == 31  # 30 days + names
        if size == PHONE:
            fits_the_phone(page)
        else:
            shot(page, "signage-calendar-month-desktop")
        page.context.close()


def test_creative_approval(console: Console) -> None:
    reply = httpx.post(
        console.url + "/signage/api/creatives",
        files={"file": ("new.png", png_bytes("orange"), "image/png")},
        data={"id": "CR-NEW", "duration_s": "10"},
        headers={"Authorization": f"Bearer {console.operator_token}"},
    )
    assert reply.status_code == 201, reply.text
    page = page_of(console)
    log_in(console, page)
    page.goto(console.url + "/signage/console/creatives")
    row = page.locator("#creatives tr[data-creative=CR-NEW]")
    assert row.get_attribute("data-approval") == "pending"
    page.locator("#pending-note").wait_for()
    row.locator("input[name=reason]").fill("the logo is cut off")
    row.locator(".refuse-form button").click()
    page.wait_for_load_state("load")
    row = page.locator("#creatives tr[data-creative=CR-NEW][data-approval=refused]")
    row.wait_for()
    assert "the logo is cut off" in row.inner_text()
    shot(page, "signage-creative-refused", full_page=False)
    row.locator("button[data-review=approve]").click()
    page.locator("#creatives tr[data-creative=CR-NEW][data-approval=approved]").wait_for()
    page.context.close()


def test_screen_health_shows_the_players_screenshot(console: Console) -> None:
    # S-02 is a portrait screen: the landscape ads are letterboxed in black
    player = page_of(console, (405, 720))
    player.goto(f"{console.url}/signage/screens/S-02/play?token={console.tokens['S-02']}")
    wait_for(
        lambda: player.evaluate("window.caddiePlayer.state().reports") >= 2,
        what="a status report and a screenshot",
    )
    state = player.evaluate("window.caddiePlayer.state()")
    if state["visible"]["kind"] != "fallback":
        hidden = player.evaluate("getComputedStyle(document.getElementById('fallback')).visibility")
        assert hidden == "hidden"  # no placeholder around the ad
        assert (
            player.evaluate("getComputedStyle(document.getElementById('stage')).backgroundColor")
            == "rgb(0, 0, 0)"
        )
    assert player.locator("#status").is_hidden()  # no "offline" label for the public
    shot(player, "signage-player-portrait-letterbox", full_page=False)
    player.goto(f"{console.url}/signage/screens/S-02/play?diagnostics=1")
    player.locator("#status", has_text="S-02").wait_for()
    player.context.close()

    for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_of(console, size)
        log_in(console, page)
        row = page.locator("#screens tr[data-screen=S-02]")
        assert "online" in row.inner_text()
        assert "today" in row.locator("td.last-seen").inner_text()
        assert "portrait 1080x1920" in row.locator("td.format").inner_text()
        assert "0.1.0" in row.inner_text() or "cached" in row.locator("td.cache").inner_text()
        thumb = row.locator("img.shot")
        thumb.wait_for()
        wait_for(lambda shown=thumb: shown.evaluate(IMAGE_LOADED), what="the thumbnail")
        assert page.locator("#screens tr[data-screen=S-01] .badge").inner_text() in (
            "offline",
            "online",
        )
        if size == PHONE:
            fits_the_phone(page)
        shot(page, f"signage-screen-health-{name}")
        page.context.close()


def test_reports_and_the_advertiser_report(console: Console) -> None:
    for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_of(console, size)
        log_in(console, page)
        page.goto(console.url + "/signage/console/reports?from=2026-11-08&to=2026-11-01")
        page.locator("#report-problems", has_text="before the first").wait_for()
        assert page.locator("#logout").is_visible()
        page.goto(
            console.url + "/signage/console/reports?from=2026-01-01&to=2026-12-31&group=campaign"
        )
        assert page.locator("#report tbody tr").count() >= 3
        assert "booked so far" in page.locator("figure").inner_text()
        if size == PHONE:
            fits_the_phone(page)
        shot(page, f"signage-reports-{name}")
        page.context.close()
    page = page_of(console)
    log_in(console, page)
    page.goto(
        console.url
        + "/signage/console/reports/advertiser?advertiser=Brand%20A&from=2026-11-01&to=2026-11-30"
    )
    report = page.locator("#advertiser-report")
    assert "Proof of play — Brand A" in report.inner_text()
    assert page.locator("#advertiser-campaigns tbody tr td", has_text="K-1").count() == 1
    page.emulate_media(media="print")
    assert page.locator("header.top").is_hidden() and page.locator("#print").is_hidden()
    shot(page, "signage-advertiser-report-print")
    page.context.close()


def test_users_and_logout(console: Console) -> None:
    for size, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        page = page_of(console, size)
        log_in(console, page, "ada")
        page.click("header a[href$='/console/users']")
        page.wait_for_url("**/console/users")
        user = f"otto-{name}"
        page.fill("#user-form input[name=username]", user)
        page.fill("#user-form input[name=password]", "long enough")
        page.select_option("#user-form select[name=role]", "operator")
        page.click("#user-form button[type=submit]")
        page.locator(f"#users tr[data-user={user}]").wait_for()
        page.click(f"#users tr[data-user={user}] button[data-user-action=disable]")
        page.locator(f"#users tr[data-user={user}] .badge", has_text="disabled").wait_for()
        if size == PHONE:
            fits_the_phone(page)
        shot(page, f"signage-users-{name}")
        refused = httpx.post(
            console.url + "/api/auth/login", json={"username": user, "password": "long enough"}
        )
        assert refused.status_code in (401, 403)
        page.click("#logout")
        page.wait_for_url("**/console/login?bye=1")
        page.locator("#logged-out").wait_for()
        page.goto(console.url + "/signage/console")
        assert page.url.endswith("/signage/console/login")
        page.context.close()
    # an operator has no users page
    page = page_of(console)
    log_in(console, page)
    assert page.locator("header a[href$='/console/users']").count() == 0
    page.goto(console.url + "/signage/console/users")
    assert "admin role" in page.locator("main").inner_text()
    page.context.close()


def test_every_console_page_fits_a_phone(console: Console) -> None:
    page = page_of(console, PHONE)
    log_in(console, page)
    for path in (
        "/signage/console",
        "/signage/console/campaigns",
        "/signage/console/campaigns/K-2",
        "/signage/console/creatives",
        "/signage/console/reports?from=2026-11-01&to=2026-11-02",
        "/signage/console/screens/S-01/timeline?day=2026-11-07",
        "/signage/console/attribution",
    ):
        page.goto(console.url + path)
        fits_the_phone(page)
        # ids stay whole: a cell holding an id is never broken at its hyphens
        for cell in page.locator("td.id").all()[:5]:
            assert cell.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"
    page.goto(console.url + "/signage/console/campaigns")
    shot(page, "signage-campaigns-phone")
    page.context.close()
