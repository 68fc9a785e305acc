"""``caddie signage load`` prints every problem: a campaign with a mistake of its own
is still judged on its valid parts, so its overbooking (or a too long creative) is
reported in the same run, and never one that fixing the mistake would not bring."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from signage.scheduling import Stored, parse_plan
from signage.service import validate_campaign
from store_server.db import make_engine
from store_server.shared.errors import InvalidInput
from tests.signage.signage_helpers import load_plan_file, write_png

OVERBOOKED = (
    "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on every day all day "
    "(K-1 3, K-2 3) between 2026-11-01 and 2026-12-31"
)


def guaranteed(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "advertiser": "A",
        "creatives": ["CR-1"],
        "start": "2026-11-01",
        "end": "2026-12-31",
        "priority": "guaranteed",
        "share_of_voice": 0.75,
        **fields,
    }


def mall(*campaigns: dict[str, Any]) -> dict[str, Any]:
    return {
        "timezone": "Europe/Paris",
        "screens": [
            {"id": "S-01", "zone": "z1", "groups": ["g1"], "slot_seconds": 10, "slots_per_loop": 4},
            {"id": "S-02", "zone": "z2", "slot_seconds": 10, "slots_per_loop": 4},
        ],
        "creatives": [
            {"id": "CR-1", "media": "ad.png", "duration_s": 10},
            {"id": "CR-LONG", "media": "ad.png", "duration_s": 15},
        ],
        "campaigns": list(campaigns),
    }


def problems_of(data: object, stored: Stored | None = None) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(data, stored=stored)
    return list(caught.value.details["problems"])


ON_S01 = {"targets": {"screens": ["S-01"]}}
BOTH_OVERBOOK = mall(guaranteed("K-1", **ON_S01), guaranteed("K-2", **ON_S01))


@pytest.mark.parametrize(
    ("mutate", "own", "overbooking"),
    [
        (
            lambda d: d["campaigns"][0].update(creatives=["CR-1", "NOPE"]),
            "campaigns[0].creatives[1]: unknown creative 'NOPE'",
            OVERBOOKED,
        ),
        (
            lambda d: d.update(timezone="Mars/Olympus"),
            "timezone: unknown timezone 'Mars/Olympus'",
            OVERBOOKED,
        ),
        (
            lambda d: d["campaigns"][0].update(days=["sat", "funday"]),
            "campaigns[0].days[1]: unknown day 'funday'",
            "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on Saturdays all "
            "day (K-1 3, K-2 3) between 2026-11-07 and 2026-12-26",
        ),
        (
            lambda d: d["campaigns"][0].update(targets={"zones": ["z1"], "groups": ["nogroup"]}),
            "campaigns[0].targets.groups[0]: no screen is in group 'nogroup'",
            OVERBOOKED,
        ),
        (
            lambda d: d["campaigns"][0].update(dayparts=[["10:00", "12:00"], ["25:00", "26:00"]]),
            "campaigns[0].dayparts[1][0]: no such time '25:00'",
            "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on every day "
            "10:00–12:00 (K-1 3, K-2 3) between 2026-11-01 and 2026-12-31",
        ),
        (
            lambda d: d["campaigns"][0].update(max_plays_per_hour=0, category=5),
            "campaigns[0].category: must be a string",
            OVERBOOKED,
        ),
        (
            lambda d: d["campaigns"][0].update(
                signal_rule={"signal": "footfall", "op": "=", "value": 3}
            ),
            "campaigns[0].signal_rule.op: must be one of",
            OVERBOOKED,
        ),
        (
            lambda d: d["campaigns"][0].update(promoted_gtins=["123"]),
            "campaigns[0].promoted_gtins[0]: must be a GTIN",
            OVERBOOKED,
        ),
    ],
    ids=["unknown-creative", "timezone", "day", "group", "daypart", "cap", "rule", "gtin"],
)
def test_a_broken_campaign_is_still_judged_for_overbooking(
    mutate: Any, own: str, overbooking: str
) -> None:
    data = copy.deepcopy(BOTH_OVERBOOK)
    mutate(data)
    problems = problems_of(data)
    assert [p for p in problems if p.startswith(own)], problems
    assert overbooking in problems, problems


def test_a_broken_campaign_is_still_judged_for_slot_lengths() -> None:
    data = mall(guaranteed("K-1", share_of_voice=0.25, creatives=["NOPE", "CR-LONG"]))
    assert problems_of(data) == [
        "campaigns[0].creatives[0]: unknown creative 'NOPE'",
        "campaigns[0].creatives[1]: creative 'CR-LONG' lasts 15 s, longer than the slots of "
        "screen S-01 (10 s), S-02 (10 s)",
    ]


# Pairs that do not overbook: K-1 and K-2 need 3 slots of 4 each, apart in one respect.
APART = {
    "dayparts": ({"dayparts": [["08:00", "10:00"]]}, {"dayparts": [["10:00", "12:00"]]}),
    "days": ({"days": ["mon"]}, {"days": ["tue"]}),
    "targets": ({"targets": {"zones": ["z1"]}}, {"targets": {"zones": ["z2"]}}),
    "flight": ({"end": "2026-11-30"}, {"start": "2026-12-01"}),
}
BROKEN = [
    ("dayparts", {"dayparts": None, "dayprts": [["08:00", "10:00"]]}),
    ("dayparts", {"dayparts": [["08:00", "25:00"]]}),
    ("dayparts", {"dayparts": "08:00-10:00"}),
    ("days", {"days": ["monday-ish"]}),
    ("days", {"days": None, "dys": ["mon"]}),
    ("days", {"days": "mon"}),
    ("targets", {"targets": {"zones": ["z9"]}}),
    ("targets", {"targets": {"zone": ["z1"]}}),
    ("targets", {"targets": {"zones": "z1"}}),
    ("targets", {"targets": ["z1"]}),
    ("flight", {"end": "30 Nov"}),
    ("flight", {"end": "2026-10-01"}),
]


@pytest.mark.parametrize(("apart", "broken"), BROKEN)
def test_a_campaign_too_broken_to_judge_brings_no_overbooking_of_its_own(
    apart: str, broken: dict[str, Any]
) -> None:
    first, second = APART[apart]
    parse_plan(mall(guaranteed("K-1", **first), guaranteed("K-2", **second)))  # fits
    k1 = {k: v for k, v in {**guaranteed("K-1", **first), **broken}.items() if v is not None}
    problems = problems_of(mall(k1, guaranteed("K-2", **second)))
    assert problems and not [p for p in problems if "guaranteed bookings need" in p], problems


def test_overbooking_with_stored_campaigns_is_reported_beside_a_mistake() -> None:
    stored = parse_plan(mall(guaranteed("K-2", **ON_S01)))
    later = mall(guaranteed("K-1", days=["funday", "sun"], **ON_S01))
    problems = problems_of(later, Stored(stored.screens, stored.creatives, stored.campaigns))
    assert problems == [
        "campaigns[0].days[0]: unknown day 'funday' (use mon…sun)",
        "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on Sundays all day "
        "(K-1 3, K-2 3) between 2026-11-01 and 2026-12-27",
    ]


# --------------------------------------------------------------------------- services


def load(url: str, folder: Path, data: dict[str, Any]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_png(folder / "ad.png", "red")
    path = folder / "plan.json"
    path.write_text(json.dumps(data))
    load_plan_file(url, path, folder / "media-store")


def test_load_plan_reports_a_mistake_and_the_overbooking_it_hides(
    db_url: str, tmp_path: Path
) -> None:
    load(db_url, tmp_path / "a", mall(guaranteed("K-2", **ON_S01)))
    later = mall(guaranteed("K-1", creatives=["CR-1", "NOPE"], **ON_S01))
    later["creatives"].append({"id": "CR-GONE", "media": "gone.png", "duration_s": 5})
    with pytest.raises(InvalidInput) as caught:
        load(db_url, tmp_path / "b", later)
    problems = caught.value.details["problems"]
    assert "campaigns[0].creatives[1]: unknown creative 'NOPE'" in problems
    assert OVERBOOKED in problems
    assert [p for p in problems if p.startswith("creatives[2].media: cannot read 'gone.png'")]


def test_a_broken_booking_also_hears_that_it_overbooks(db_url: str, tmp_path: Path) -> None:
    load(db_url, tmp_path / "a", mall(guaranteed("K-2", **ON_S01)))
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            with pytest.raises(InvalidInput) as broken:
                booking = guaranteed("K-1", days=["sun", "funday"], **ON_S01)
                validate_campaign(session, booking, timezone="Europe/Paris")
            with pytest.raises(InvalidInput) as overbooks:
                validate_campaign(session, guaranteed("K-1", **ON_S01), timezone="Europe/Paris")
    finally:
        engine.dispose()
    assert broken.value.details["problems"] == [
        "campaigns[0].days[1]: unknown day 'funday' (use mon…sun)",
        "campaigns: screen S-01: guaranteed bookings need 6 slots of 4 on Sundays all day "
        "(K-1 3, K-2 3) between 2026-11-01 and 2026-12-27",
    ]
    assert "overbook" in overbooks.value.message
    assert overbooks.value.details["problems"] == [OVERBOOKED.removeprefix("campaigns: ")]
