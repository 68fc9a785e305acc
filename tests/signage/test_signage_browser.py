"""The player page and the operator console in the system Chromium, against ``caddie serve``."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from signage.models import ProofOfPlay
from store_server.db import make_engine
from tests.browser.chromium import chromium_page, evaluate_settled, screenshot_dir
from tests.dbrows import row_count
from tests.servers import ServerProcess
from tests.signage.signage_helpers import FOREVER, plan_dict, write_plan

pytestmark = [pytest.mark.browser, pytest.mark.integration]
SCREENSHOTS = screenshot_dir()


def fill_saturday_booking(form: Any, campaign: str, advertiser: str, share: str) -> None:
    """The booking form for Saturdays 10:00-12:00 in November on S-01 with creative CR-B."""
    form.locator("input[name=id]").fill(campaign)
    form.locator("input[name=advertiser]").fill(advertiser)
    form.locator("input[name=share_of_voice]").fill(share)
    form.locator("input[name=start]").fill("2026-11-01")
    form.locator("input[name=end]").fill("2026-11-30")
    form.locator("input[name=daypart_start]").fill("10:00")
    form.locator("input[name=daypart_end]").fill("12:00")
    form.locator("input[name=days][value=sat]").check()
    form.locator("input[name=creatives][value=CR-B]").check()
    form.locator("input[name=t_screens][value=S-01]").check()


def wait_for(check: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def pop_rows(url: str) -> int:
    return row_count(url, ProofOfPlay)


def write_posters(folder: Path) -> None:
    """Labelled creatives, so the player screenshot shows what is on air."""
    from PIL import Image, ImageDraw

    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    posters = (
        ("a", "#c1121f", "Brand A coffee"),
        ("b", "#2a9d8f", "Brand B shoes"),
        ("h", "#457b9d", "Mall news"),
    )
    for name, color, label in posters:
        image = Image.new("RGB", (480, 270), color)
        ImageDraw.Draw(image).text((40, 110), label, fill="white", font_size=40)
        image.save(media / f"{name}.png")


def fast_plan() -> dict[str, Any]:
    """One screen, three 1-second slots, three always-on campaigns: one creative each."""
    return {
        "timezone": "Europe/Paris",
        "screens": [{"id": "S-01", "zone": "north", "slot_seconds": 1, "slots_per_loop": 3}],
        "creatives": [
            {"id": "CR-A", "media": "media/a.png", "duration_s": 1},
            {"id": "CR-B", "media": "media/b.png", "duration_s": 1},
            {"id": "CR-H", "media": "media/h.png", "duration_s": 1},
        ],
        "campaigns": [
            {
                "id": "K-A",
                "advertiser": "A",
                "category": "coffee",
                "creatives": ["CR-A"],
                **FOREVER,
                "priority": "guaranteed",
                "share_of_voice": 0.34,
            },
            {
                "id": "K-B",
                "advertiser": "B",
                "category": "shoes",
                "creatives": ["CR-B"],
                **FOREVER,
                "priority": "standard",
                "share_of_voice": 0.34,
            },
            {
                "id": "H",
                "advertiser": "Mall",
                "creatives": ["CR-H"],
                **FOREVER,
                "priority": "house",
            },
        ],
    }


def prepare(db: str, plan: Path, media: Path, screens: list[str]) -> dict[str, str]:
    """Load a plan and enrol screens in-process (the CLI itself is tested elsewhere)."""
    from signage.config import SignageSettings
    from signage.service import enroll, load_plan
    from store_server.db import migrate, session_scope

    migrate(db)
    engine = make_engine(db)
    settings = SignageSettings(media_dir=media)
    try:
        with session_scope(engine) as session:
            load_plan(session, plan.read_bytes(), base_dir=plan.parent, settings=settings)
            return dict(enroll(session, screens, settings=settings, timezone="Europe/Paris"))
    finally:
        engine.dispose()


def test_player_rotates_survives_the_server_going_down_and_reports_later(
    tmp_path: Path,
) -> None:
    db = f"sqlite:///{tmp_path / 'caddie.db'}"
    media_env = {"CADDIE_MEDIA_DIR": str(tmp_path / "media-store")}
    plan = write_plan(tmp_path / "plan", fast_plan())
    write_posters(tmp_path / "plan")
    token = prepare(db, plan, tmp_path / "media-store", ["S-01"])["S-01"]
    server = ServerProcess(db, env=media_env, log_path=tmp_path / "server.log").start()
    try:
        loop = httpx.get(
            server.url + "/signage/screens/S-01/loop", headers={"Authorization": f"Bearer {token}"}
        ).json()
        expected = [s["creative_id"] for s in loop["slots"]]
        assert sorted(expected) == ["CR-A", "CR-B", "CR-H"]
        with chromium_page(viewport=(960, 540)) as page:
            requested: list[str] = []
            page.on("request", lambda request: requested.append(request.url))
            # Paired from the link's fragment: the token never travels in a URL that a
            # proxy could log, only in the body of the pairing POST.
            page.goto(f"{server.url}/signage/screens/S-01/play?flush_s=0.5#token={token}")
            wait_for(  # polled: wait_for_function would need eval, which the CSP refuses
                lambda: evaluate_settled(page, "() => window.caddiePlayer !== undefined"),
                what="the paired player",
            )
            assert "token=" not in page.url  # the token went into a cookie
            assert not [url for url in requested if token in url], requested
            state = lambda: page.evaluate("window.caddiePlayer.state()")  # noqa: E731
            wait_for(lambda: state()["played"] >= 4, what="four plays")

            # in order, in step with the clock: position p of every loop shows slot p
            history = page.evaluate("window.caddiePlayer.history()")
            shown = [h for h in history if h["creative_id"]]
            assert len(shown) >= 4
            for entry in shown:
                assert entry["creative_id"] == expected[entry["position"]]
            positions = [h["position"] for h in history]
            for before, after in zip(positions, positions[1:], strict=False):
                assert after == (before + 1) % 3
            visible = state()["visible"]
            assert visible["kind"] == "img" and visible["src"].startswith("blob:")
            page.screenshot(path=str(SCREENSHOTS / "signage-player.png"))
            wait_for(lambda: pop_rows(db) >= 3, what="proofs while online")

            # the server dies: keep playing from cache, never the black screen
            server.kill()
            wait_for(lambda: state()["online"] is False, what="the player to notice")
            played_at_stop = state()["played"]
            samples = []
            deadline = time.monotonic() + 3.5
            while time.monotonic() < deadline:
                samples.append(state())
                time.sleep(0.25)
            assert all(s["visible"]["kind"] == "img" for s in samples), samples
            assert all(s["visible"]["src"].startswith("blob:") for s in samples)
            settled = [s for s in samples if not s["switching"]]  # not mid-way to the next
            assert {s["creative_id"] for s in settled} == {"CR-A", "CR-B", "CR-H"}
            offline = state()
            assert offline["played"] >= played_at_stop + 3
            assert offline["pending_proofs"] >= 3
            history = page.evaluate("window.caddiePlayer.history()")
            for entry in history[-8:]:
                assert entry["creative_id"] == expected[entry["position"]]
            rows_before = pop_rows(db)

            # the server comes back on the same port and database: the proofs go up
            server = ServerProcess(
                db, port=server.port, env=media_env, log_path=tmp_path / "server.log"
            ).start()
            wait_for(lambda: state()["pending_proofs"] == 0, timeout=20, what="upload")
            wait_for(lambda: state()["online"] is True, what="the player to be back online")
            assert pop_rows(db) >= rows_before + offline["played"] - played_at_stop
    finally:
        server.stop()


def test_operator_books_sees_the_timeline_and_is_refused_overbooking(tmp_path: Path) -> None:
    from store_server.auth.service import create_user
    from store_server.db import session_scope

    db = f"sqlite:///{tmp_path / 'caddie.db'}"
    media_env = {"CADDIE_MEDIA_DIR": str(tmp_path / "media-store")}
    prepare(db, write_plan(tmp_path / "plan", plan_dict()), tmp_path / "media-store", [])
    engine = make_engine(db)
    with session_scope(engine) as session:
        create_user(session, username="olga", password="correct horse", role="operator")
    engine.dispose()
    with ServerProcess(db, env=media_env) as server, chromium_page() as page:
        page.goto(server.url + "/signage/console")
        assert page.url.endswith("/signage/console/login")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", "correct horse")
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/signage/console")
        assert page.locator("#screens tr[data-screen=S-01]").count() == 1

        page.goto(server.url + "/signage/console/campaigns")
        form = page.locator("#booking-form")
        form.locator("input[name=category]").fill("tea")
        form.locator("select[name=priority]").select_option("guaranteed")
        fill_saturday_booking(form, "K-NEW", "Brand C", "0.5")
        availability = page.locator("#booking-form .availability-summary")
        availability.get_by_text(
            "S-01 has 4 guaranteed slots free on Saturdays 10:00–12:00"
        ).wait_for()
        form.locator("button[type=submit]").click()
        page.locator("#booking-ok").get_by_text("booked K-NEW").wait_for()
        availability.get_by_text(
            "S-01 has 4 guaranteed slots free on Saturdays 10:00–12:00"
        ).wait_for()  # own excluded

        page.goto(server.url + "/signage/console/screens/S-01/timeline?day=2026-11-07")
        run = page.locator("li.run[data-from='10:00:00']")
        assert run.locator(".slot", has_text="K-NEW").count() == 3
        run.locator("summary").click()
        reason = run.locator("li[data-campaign=K-NEW]")
        assert "included: guaranteed 3 of 6 slots" in reason.inner_text()
        run.scroll_into_view_if_needed()
        page.screenshot(path=str(SCREENSHOTS / "signage-operator-timeline.png"), full_page=False)

        page.goto(server.url + "/signage/console/campaigns")
        assert page.locator("#campaigns tr[data-campaign=K-NEW]").count() == 1
        form = page.locator("#booking-form")
        fill_saturday_booking(form, "K-MORE", "Brand D", "0.34")
        availability.get_by_text(
            "S-01 has 1 guaranteed slot free on Saturdays 10:00–12:00"
        ).wait_for()
        form.locator("button[type=submit]").click()
        problems = page.locator("#booking-problems")
        problems.get_by_text(
            "screen S-01: guaranteed bookings need 7 slots of 6", exact=False
        ).wait_for()
        assert "overbook" in problems.inner_text()
        page.screenshot(path=str(SCREENSHOTS / "signage-operator-overbooking.png"))
        page.goto(server.url + "/signage/console/campaigns")
        assert page.locator("#campaigns tr[data-campaign=K-MORE]").count() == 0
