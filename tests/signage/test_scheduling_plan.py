"""Plan file validation: every mistake reported with its JSON path, nothing else raised."""

from __future__ import annotations

import copy
import json
from datetime import date, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signage.scheduling import Daypart, parse_plan
from store_server.shared.errors import InvalidInput

FAST = settings(max_examples=100, deadline=None)


def valid() -> dict[str, Any]:
    """The PROTOCOL.md example, plus a second screen and a house campaign."""
    return {
        "timezone": "Europe/Paris",
        "screens": [
            {
                "id": "S-01",
                "zone": "north-entrance",
                "groups": ["food-court"],
                "slot_seconds": 10,
                "slots_per_loop": 12,
            },
            {"id": "S-02", "zone": "south", "slot_seconds": 15, "slots_per_loop": 8},
        ],
        "creatives": [
            {"id": "CR-1", "media": "path/or/url.png", "duration_s": 10},
            {"id": "CR-2", "media": "b.mp4", "duration_s": 15, "kind": "video"},
        ],
        "campaigns": [
            {
                "id": "K-1",
                "advertiser": "Brand A",
                "category": "coffee",
                "creatives": ["CR-1"],
                "start": "2026-11-01",
                "end": "2026-12-31",
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "dayparts": [["08:00", "12:00"]],
                "targets": {"zones": ["north-entrance"], "groups": [], "screens": []},
                "priority": "guaranteed",
                "share_of_voice": 0.25,
                "max_plays_per_hour": None,
            },
            {
                "id": "H-1",
                "advertiser": "Mall",
                "creatives": ["CR-1"],
                "start": "2026-01-01",
                "end": "2026-12-31",
                "priority": "house",
            },
        ],
    }


def problems_of(data: object) -> list[str]:
    with pytest.raises(InvalidInput) as caught:
        parse_plan(data)
    problems = caught.value.details["problems"]
    assert isinstance(problems, list) and problems
    assert all(isinstance(p, str) for p in problems)
    return problems


def test_protocol_example_parses():
    plan = parse_plan(valid())
    assert plan.timezone == "Europe/Paris"
    assert [s.id for s in plan.screens] == ["S-01", "S-02"]
    assert plan.screens[0].groups == frozenset({"food-court"})
    assert plan.screens[0].timezone == "Europe/Paris"
    k1, h1 = plan.campaigns
    assert k1.days == frozenset(range(7)) and k1.dayparts == (Daypart(time(8), time(12)),)
    assert k1.start == date(2026, 11, 1) and k1.state == "booked"
    assert h1.targets.everywhere and h1.days == frozenset() and h1.share_of_voice == 1.0
    assert plan.creatives[1].kind == "video"


def test_round_trips_through_json_text():
    assert parse_plan(json.loads(json.dumps(valid()))) == parse_plan(valid())


def test_midnight_daypart_and_all_day():
    data = valid()
    data["campaigns"][0]["dayparts"] = [["22:00", "02:00"], ["10:00", "24:00"]]
    parts = parse_plan(data).campaigns[0].dayparts
    assert parts == (Daypart(time(22), time(2)), Daypart(time(10), time(0)))


BAD_CASES = [
    (lambda d: d.update(timezone="Mars/Olympus"), "timezone: unknown timezone 'Mars/Olympus'"),
    (lambda d: d.pop("timezone"), "plan: missing field 'timezone'"),
    (lambda d: d["screens"][0].update(slot_seconds=0), "screens[0].slot_seconds: must be from 1"),
    (
        lambda d: d["screens"][0].update(slot_seconds=10.5),
        "screens[0].slot_seconds: must be a whole number",
    ),
    (
        lambda d: d["screens"][1].update(slots_per_loop="12"),
        "screens[1].slots_per_loop: must be a whole number",
    ),
    (lambda d: d["screens"][1].update(id="S-01"), "screens[1].id: duplicate screen id 'S-01'"),
    (lambda d: d["screens"][0].update(groups="food-court"), "screens[0].groups: must be a list"),
    (lambda d: d["creatives"][1].update(id="CR-1"), "creatives[1].id: duplicate creative id"),
    (lambda d: d["creatives"][0].update(duration_s=-1), "creatives[0].duration_s: must be"),
    (
        lambda d: d["campaigns"][0]["creatives"].append("CR-9"),
        "campaigns[0].creatives[1]: unknown creative 'CR-9'",
    ),
    (lambda d: d["campaigns"][0].update(end="2026-10-01"), "campaigns[0].end: ends 2026-10-01"),
    (lambda d: d["campaigns"][0].update(start="2026-02-30"), "campaigns[0].start: no such date"),
    (lambda d: d["campaigns"][0].update(start="1 Nov"), "campaigns[0].start: must be a date"),
    (
        lambda d: d["campaigns"][0].update(share_of_voice=1.5),
        "campaigns[0].share_of_voice: must be above 0",
    ),
    (lambda d: d["campaigns"][0].update(share_of_voice=0), "campaigns[0].share_of_voice"),
    (
        lambda d: d["campaigns"][0].pop("share_of_voice"),
        "campaigns[0]: missing field 'share_of_voice'",
    ),
    (lambda d: d["campaigns"][0].update(priority="urgent"), "campaigns[0].priority: must be"),
    (
        lambda d: d["campaigns"][0].update(days=["mon", "funday"]),
        "campaigns[0].days[1]: unknown day 'funday'",
    ),
    (
        lambda d: d["campaigns"][0].update(dayparts=[["08:00", "25:00"]]),
        "campaigns[0].dayparts[0][1]: no such time",
    ),
    (lambda d: d["campaigns"][0].update(dayparts=[["08:00"]]), "campaigns[0].dayparts[0]"),
    (
        lambda d: d["campaigns"][0].update(dayparts=[["08:00", "08:00"]]),
        "campaigns[0].dayparts[0]: starts and ends at the same time",
    ),
    (lambda d: d["campaigns"][1].update(id="K-1"), "campaigns[1].id: duplicate campaign id"),
    (
        lambda d: d["campaigns"][0].update(targets={"zones": ["nowhere"]}),
        "campaigns[0].targets.zones[0]: no screen is in zone 'nowhere'",
    ),
    (
        lambda d: d["campaigns"][0].update(targets={"screens": ["S-99"]}),
        "campaigns[0].targets.screens[0]: unknown screen 'S-99'",
    ),
    (
        lambda d: d["campaigns"][0].update(max_plays_per_hour=0),
        "campaigns[0].max_plays_per_hour: must be from 1",
    ),
    (lambda d: d["campaigns"][0].update(state="pending"), "campaigns[0].state: must be"),
    (lambda d: d["campaigns"][0].update(dayprts=[]), "campaigns[0].dayprts: unknown field"),
    (
        lambda d: d["campaigns"][1].update(creatives=["CR-2"]),
        "campaigns[1].creatives[0]: creative 'CR-2' lasts 15 s, longer than the slots of "
        "screen S-01 (10 s)",
    ),
    (
        lambda d: d["campaigns"][0].update(
            signal_rule={"signal": "footfall", "op": "=", "value": 3}
        ),
        "campaigns[0].signal_rule.op: must be one of",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), BAD_CASES)
def test_each_kind_of_mistake_is_reported_with_its_path(mutate, expected):
    data = valid()
    mutate(data)
    problems = problems_of(data)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_mistakes_are_listed_at_once():
    data = valid()
    mutations = [BAD_CASES[i][0] for i in (0, 2, 9, 13, 17)]
    for mutate in mutations:
        mutate(data)
    problems = problems_of(data)
    for i in (0, 2, 9, 13, 17):
        assert any(p.startswith(BAD_CASES[i][1]) for p in problems), (i, problems)


def test_guaranteed_overbooking_names_screen_time_and_amount():
    data = valid()
    data["campaigns"][0].update(share_of_voice=0.5, days=["sat"], dayparts=[["09:00", "12:00"]])
    data["campaigns"].append(
        {
            "id": "K-2",
            "advertiser": "B",
            "creatives": ["CR-1"],
            "start": "2026-11-15",
            "end": "2027-01-31",
            "dayparts": [["10:00", "14:00"]],
            "priority": "guaranteed",
            "share_of_voice": 0.6667,
            "targets": {"screens": ["S-01"]},
            "state": "held",
        }
    )
    problems = problems_of(data)
    assert problems == [
        "campaigns: screen S-01: guaranteed bookings need 14 slots of 12 on Saturdays "
        "10:00–12:00 (K-1 6, K-2 8) between 2026-11-21 and 2026-12-26"
    ]
    data["campaigns"][-1]["state"] = "cancelled"
    parse_plan(data)


def test_overbooking_found_across_midnight():
    data = valid()
    data["campaigns"][0].update(share_of_voice=0.5, dayparts=[["22:00", "02:00"]], days=["fri"])
    data["campaigns"].append(
        {
            "id": "K-2",
            "advertiser": "B",
            "creatives": ["CR-1"],
            "start": "2026-11-01",
            "end": "2026-11-30",
            "dayparts": [["01:00", "03:00"]],
            "days": ["sat"],
            "priority": "guaranteed",
            "share_of_voice": 0.75,
        }
    )
    problems = problems_of(data)
    assert len(problems) == 1 and "on Saturdays 01:00–02:00 (K-1 6, K-2 9)" in problems[0]


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "plan",
        42,
        {"timezone": 3},
        {"screens": "all"},
        {"timezone": "UTC", "screens": [None, 1, "x"], "creatives": {}, "campaigns": [[]]},
        {
            "timezone": "UTC",
            "screens": [
                {"id": "S", "zone": "z", "slot_seconds": 10**400, "slots_per_loop": -(10**30)}
            ],
            "creatives": [{"id": "C", "media": "m", "duration_s": float("nan")}],
            "campaigns": [
                {
                    "id": {"a": [1]},
                    "share_of_voice": 10**400,
                    "days": "mon",
                    "dayparts": "08:00-12:00",
                    "targets": ["north"],
                    "creatives": "CR-1",
                    "max_plays_per_hour": 1e300,
                    "start": 20261101,
                    "signal_rule": [],
                }
            ],
        },
        {"timezone": "../../etc/passwd", "screens": [], "creatives": [], "campaigns": []},
        {"timezone": "UTC\x00", "screens": [], "creatives": [], "campaigns": [], 7: "x"},
    ],
)
def test_hostile_documents_give_invalid_input(data):
    problems_of(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@FAST
@given(json_values)
def test_arbitrary_json_never_raises_anything_but_invalid_input(data):
    try:
        parse_plan(data)
    except InvalidInput as error:
        assert error.details["problems"]


def _paths(value: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            out += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            out += _paths(inner, (*prefix, i))
    return out


@FAST
@given(st.data(), json_values)
def test_garbage_anywhere_in_a_valid_plan_is_reported_not_raised(data, garbage):
    plan = valid()
    path = data.draw(st.sampled_from(_paths(plan)[1:]))
    target: Any = plan
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = copy.deepcopy(garbage)
    try:
        parse_plan(plan)
    except InvalidInput as error:
        assert error.details["problems"]
