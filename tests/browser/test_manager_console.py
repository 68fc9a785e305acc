"""The manager console in the system Chromium: login, every page at phone and desktop
sizes, a recommendation applied, and the staff console naming the policy version."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from store_server.db import make_engine, migrate
from store_server.manager.history import HistorySpec, write_history
from tests.browser.chromium import chromium_page, screenshot_dir
from tests.servers import ServerProcess, caddie

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.slow]

SHOTS = screenshot_dir()
PASSWORD = "manager-browser-pw"


def test_a_manager_reads_the_console_and_applies_a_recommendation(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    url = f"sqlite:///{tmp_path / 'caddie.db'}"
    migrate(url)
    engine = make_engine(url)
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=20
    )
    write_history(
        engine,
        HistorySpec(
            start=start,
            days=20,
            trips_per_day=150,
            seed=8,
            base_audit_rate=0.3,
            partial_share=0.0,
            miss_rates={"dairy": 0.06},
            default_miss_rate=0.002,
        ),
    )
    engine.dispose()
    for name, role in (("meg", "manager"), ("sam", "staff")):
        made = caddie(
            "user",
            "create",
            name,
            "--role",
            role,
            "--database-url",
            url,
            env={"CADDIE_NEW_PASSWORD": PASSWORD},
        )
        assert made.returncode == 0, made.stderr
    with ServerProcess(url, log_path=tmp_path / "server.log") as server:
        with chromium_page(viewport=(1280, 900)) as page:
            errors: list[str] = []
            page.on(
                "pageerror", lambda e: errors.append(str(e))
            )  # script errors (there is no script)
            page.goto(server.url + "/manager")
            expect(page).to_have_url(server.url + "/manager/login")
            page.fill("input[name=username]", "sam")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page.locator(".error")).to_contain_text("cannot use the manager console")
            page.fill("input[name=username]", "meg")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            expect(page).to_have_url(server.url + "/manager")
            # A week inside the history: the current week, in the store's time zone, may
            # have begun after the history ends (a Monday just after midnight there).
            inside = (start + timedelta(days=10)).date().isoformat()
            page.goto(f"{server.url}/manager?range=week&date={inside}")
            expect(page.locator("#fig-trips_started .value")).not_to_have_text("0")
            page.select_option("select[name=range]", "month")
            page.click("form.range button[type=submit]")
            expect(page.locator(".period")).to_contain_text(" to ")
            expect(page.locator("svg.chart").first).to_be_visible()
            page.screenshot(path=str(SHOTS / "manager-console.png"), full_page=False)
            page.click("nav.pages >> text=Audits and loss")
            expect(page.locator("#fig-unrecovered .value")).to_contain_text("EUR")
            page.screenshot(path=str(SHOTS / "manager-console-loss.png"), full_page=True)
            page.click("nav.pages >> text=Audit policy")
            rec = page.locator(".rec").first
            expect(rec).to_contain_text("dairy")
            expect(rec).to_contain_text("expected effect")
            rec.locator("button[type=submit]").click()
            expect(page.locator("#versions")).to_contain_text("risky_categories")
            page.screenshot(path=str(SHOTS / "manager-console-policy.png"), full_page=True)
            assert not errors, errors
        with chromium_page(viewport=(390, 844), is_mobile=True, has_touch=True) as phone:
            phone.goto(server.url + "/manager/login")
            phone.fill("input[name=username]", "meg")
            phone.fill("input[name=password]", PASSWORD)
            phone.click("button[type=submit]")
            expect(phone.locator("#fig-trips_started")).to_be_visible()
            width = phone.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the page scrolls sideways on a phone ({width} px)"
            phone.screenshot(path=str(SHOTS / "manager-console-phone.png"), full_page=False)
