"""A plan file is loaded over what is stored: slot lengths are judged on the result.

``caddie signage load`` adds to and updates the stored plan, so a later file that
shortens a screen's slots, lengthens a creative or adds a short-slotted screen where
a stored campaign plays must be refused like a single file that does so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage.models import Campaign, CampaignCreative, Creative, Screen
from signage.scheduling import Stored, parse_plan
from signage.service import load_specs, validate_campaign
from store_server.db import make_engine
from store_server.shared.errors import InvalidInput
from tests.dbrows import rows_in
from tests.signage.signage_helpers import ONE_SCREEN_PLAN as A_PLAN
from tests.signage.signage_helpers import load_plan_file, write_png


def later(**parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"timezone": "Europe/Paris", "screens": [], "creatives": [], "campaigns": [], **parts}


def stored(plan: dict[str, Any] = A_PLAN) -> Stored:
    first = parse_plan(plan)
    return Stored(first.screens, first.creatives, first.campaigns)


def problems_of(data: object, before: Stored) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(data, stored=before)
    return list(caught.value.details["problems"])


SHORT_SCREEN = {"id": "S-01", "zone": "z1", "slot_seconds": 5, "slots_per_loop": 4}
LONG_CREATIVE = {"id": "CR-1", "media": "ad.png", "duration_s": 30}
NEW_SHORT_SCREEN = {"id": "S-02", "zone": "z1", "slot_seconds": 5, "slots_per_loop": 4}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            later(screens=[SHORT_SCREEN]),
            "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 10 s, longer than the "
            "slots of screen S-01 (5 s)",
        ),
        (
            later(creatives=[LONG_CREATIVE]),
            "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 30 s, longer than the "
            "slots of screen S-01 (10 s)",
        ),
        (
            later(screens=[NEW_SHORT_SCREEN]),
            "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 10 s, longer than the "
            "slots of screen S-02 (5 s)",
        ),
    ],
    ids=["shorter-slots", "longer-creative", "short-screen-added"],
)
def test_a_later_plan_that_no_longer_fits_a_stored_campaign_is_refused(
    data: dict[str, Any], expected: str
) -> None:
    assert problems_of(data, stored()) == [expected]
    parse_plan(data)  # alone, with nothing stored, the same file is fine


@pytest.mark.parametrize("priority", ["interrupt", "standard", "house"])
def test_every_priority_is_held_to_slot_lengths(priority: str) -> None:
    first: dict[str, Any] = {**A_PLAN, "campaigns": [dict(A_PLAN["campaigns"][0])]}
    first["campaigns"][0].update(priority=priority, targets={"zones": ["z1"]})
    problems = problems_of(later(screens=[NEW_SHORT_SCREEN]), stored(first))
    assert problems == [
        "campaigns: stored campaign 'K-1': creative 'CR-1' lasts 10 s, longer than the "
        "slots of screen S-02 (5 s)"
    ]


def test_a_cancelled_stored_campaign_does_not_mind_but_booking_it_again_does() -> None:
    first: dict[str, Any] = {
        **A_PLAN,
        "campaigns": [{**A_PLAN["campaigns"][0], "state": "cancelled"}],
    }
    plan = parse_plan(later(screens=[SHORT_SCREEN]), stored=stored(first))
    assert [s.slot_seconds for s in plan.screens] == [5]
    rebooked = later(
        screens=[SHORT_SCREEN],
        creatives=A_PLAN["creatives"],  # references resolve within the file
        campaigns=[{**first["campaigns"][0], "state": "booked"}],
    )
    assert problems_of(rebooked, stored(first)) == [
        "campaigns[0].creatives[0]: creative 'CR-1' lasts 10 s, longer than the slots of "
        "screen S-01 (5 s)"
    ]


def test_a_cancelled_campaign_in_the_file_is_not_held_to_slot_lengths() -> None:
    cancelled = {**A_PLAN["campaigns"][0], "state": "cancelled"}
    plan = parse_plan(
        later(screens=[SHORT_SCREEN], creatives=A_PLAN["creatives"], campaigns=[cancelled])
    )
    assert [c.state for c in plan.campaigns] == ["cancelled"]


def test_a_stored_campaign_targeting_elsewhere_does_not_mind() -> None:
    first: dict[str, Any] = {**A_PLAN, "campaigns": [dict(A_PLAN["campaigns"][0])]}
    first["campaigns"][0]["targets"] = {"zones": ["z1"]}
    elsewhere = {**NEW_SHORT_SCREEN, "zone": "z2"}
    plan = parse_plan(later(screens=[elsewhere]), stored=stored(first))
    assert [s.id for s in plan.screens] == ["S-02"]


def test_a_file_campaign_is_held_to_the_stored_screens_it_targets() -> None:
    before = Stored(screens=stored().screens)  # S-01, zone z1, 10 s
    data = later(
        screens=[{"id": "S-02", "zone": "z1", "slot_seconds": 15, "slots_per_loop": 4}],
        creatives=[{"id": "CR-2", "media": "b.png", "duration_s": 15}],
        campaigns=[
            {
                "id": "K-2",
                "advertiser": "B",
                "creatives": ["CR-2"],
                "start": "2026-11-01",
                "end": "2026-11-30",
                "targets": {"zones": ["z1"]},
                "priority": "standard",
                "share_of_voice": 0.25,
            }
        ],
    )
    assert problems_of(data, before) == [
        "campaigns[0].creatives[0]: creative 'CR-2' lasts 15 s, longer than the slots of "
        "screen S-01 (10 s)"
    ]


def test_a_file_that_fixes_the_campaign_as_well_is_accepted() -> None:
    fixed = later(
        screens=[SHORT_SCREEN],
        creatives=[{"id": "CR-5", "media": "short.png", "duration_s": 5}],
        campaigns=[{**A_PLAN["campaigns"][0], "creatives": ["CR-5"]}],
    )
    plan = parse_plan(fixed, stored=stored())
    assert plan.campaigns[0].creatives == ("CR-5",)


def test_a_stored_campaign_the_file_replaces_badly_is_not_judged_twice() -> None:
    broken = later(
        screens=[SHORT_SCREEN],
        campaigns=[{**A_PLAN["campaigns"][0], "creatives": ["CR-1"], "priority": "loud"}],
    )
    problems = problems_of(broken, stored())
    assert not [p for p in problems if "stored campaign" in p], problems


# --------------------------------------------------------------------------- through load_plan


def write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "ad.png").exists():
        write_png(folder / "ad.png", "red")
    path = folder / name
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "second",
    [later(screens=[SHORT_SCREEN]), later(creatives=[LONG_CREATIVE])],
    ids=["shorter-slots", "longer-creative"],
)
def test_load_plan_refuses_and_changes_nothing(
    db_url: str, tmp_path: Path, second: dict[str, Any]
) -> None:
    media = tmp_path / "media-store"
    load_plan_file(db_url, write(tmp_path, "d1_a.json", A_PLAN), media)
    counts = rows_in(db_url, Screen, Creative, Campaign, CampaignCreative)
    with pytest.raises(InvalidInput) as caught:
        load_plan_file(db_url, write(tmp_path, "d1_b.json", second), media)
    [problem] = caught.value.details["problems"]
    assert problem.startswith("campaigns: stored campaign 'K-1': creative 'CR-1' lasts")
    assert rows_in(db_url, Screen, Creative, Campaign, CampaignCreative) == counts
    engine = make_engine(db_url)
    with Session(engine) as session:
        specs = load_specs(session)
    engine.dispose()
    assert specs.screens["S-01"].slot_seconds == 10
    assert specs.creatives["CR-1"].duration_s == 10


@pytest.mark.parametrize("priority", ["interrupt", "guaranteed", "standard", "house"])
def test_a_booking_is_held_to_the_stored_screens_slots(
    db_url: str, tmp_path: Path, priority: str
) -> None:
    """The console's booking is checked on the stored screens and creatives too."""
    mall = later(
        screens=[
            {"id": "S-01", "zone": "z1", "slot_seconds": 10, "slots_per_loop": 4},
            {"id": "S-02", "zone": "z2", "slot_seconds": 15, "slots_per_loop": 4},
        ],
        creatives=[{"id": "CR-LONG", "media": "ad.png", "duration_s": 15}],
    )
    load_plan_file(db_url, write(tmp_path, "mall.json", mall), tmp_path / "media-store")
    booking = {**A_PLAN["campaigns"][0], "creatives": ["CR-LONG"], "priority": priority}
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            validate_campaign(
                session, {**booking, "targets": {"zones": ["z2"]}}, timezone="Europe/Paris"
            )
            with pytest.raises(InvalidInput) as caught:
                validate_campaign(session, booking, timezone="Europe/Paris")
    finally:
        engine.dispose()
    assert caught.value.details["problems"] == [
        "campaigns[0].creatives[0]: creative 'CR-LONG' lasts 15 s, longer than the slots of "
        "screen S-01 (10 s)"
    ]
