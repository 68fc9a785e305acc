"""Days at the ends of the calendar: refused with a clear problem, never an overflow.

Flights are refused outside 2000–2099 (the plan file and the booking API share the
parser); timelines, reports and the console pages refuse such days with a 422 or an
error page; and the scheduler itself never raises OverflowError, whatever day or
stored flight it is given (rows written before the parser refused them included).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from signage.attribution.service import campaign_attribution
from signage.models import Campaign, CampaignCreative
from signage.scheduling import (
    CampaignSpec,
    CreativeSpec,
    Daypart,
    ScreenSpec,
    Targets,
    build_loop,
    check_overbooking,
    guaranteed_free_slots,
    loops_for_day,
    parse_plan,
)
from signage.scheduling.availability import guaranteed_load, overbooked_somewhere
from signage.scheduling.model import (
    active_at,
    flight_intervals,
    may_play_on,
    representative_days,
)
from store_server.shared.errors import InvalidInput
from tests.accounts import bearer
from tests.signage.signage_helpers import campaign, plan_dict

FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2099, 12, 31)
SCREEN = ScreenSpec("S-1", "north", frozenset(), 60, 10, "Europe/Paris")
CREATIVES = {"CR-1": CreativeSpec("CR-1", "a.png", 10.0)}
EDGES = [date.min, date(1, 1, 2), date(9999, 12, 30), date.max]


def spec(start: date, end: date, *, overnight: bool = False, **kw: Any) -> CampaignSpec:
    values: dict[str, Any] = {
        "id": "K-1",
        "advertiser": "A",
        "category": None,
        "creatives": ("CR-1",),
        "start": start,
        "end": end,
        "days": frozenset(),
        "dayparts": (Daypart(time(22), time(2)),) if overnight else (),
        "targets": Targets(),
        "priority": "guaranteed",
        "share_of_voice": 0.5,
        "max_plays_per_hour": None,
    }
    values.update(kw)
    return CampaignSpec(**values)


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("start", "end", "bad"),
    [
        ("9999-12-31", "9999-12-31", ("start", "end")),
        ("0001-01-01", "2026-11-30", ("start",)),
        ("1999-12-31", "2026-11-30", ("start",)),
        ("2026-11-01", "2100-01-01", ("end",)),
    ],
)
def test_flight_dates_outside_2000_to_2099_are_problems(
    start: str, end: str, bad: tuple[str, ...]
) -> None:
    plan = plan_dict()
    plan["campaigns"][0].update(start=start, end=end)
    with pytest.raises(InvalidInput) as caught:
        parse_plan(plan)
    problems = caught.value.details["problems"]
    value = {"start": start, "end": end}
    assert problems == [
        f"campaigns[0].{field}: must be a date in the years 2000–2099, got {value[field]!r}"
        for field in bad
    ]


def test_the_first_and_last_days_of_the_range_are_flights() -> None:
    plan = plan_dict()
    plan["campaigns"][0].update(start=FIRST_DAY.isoformat(), end=LAST_DAY.isoformat())
    parsed = parse_plan(plan)
    assert (parsed.campaigns[0].start, parsed.campaigns[0].end) == (FIRST_DAY, LAST_DAY)


# --------------------------------------------------------------------------- the scheduler

days = st.dates(min_value=date.min, max_value=date.max)


@settings(max_examples=150, deadline=None)
@given(days, days, days, st.booleans())
@example(date.max, date.max, date(2026, 11, 2), False)  # a booking for 9999-12-31
@example(date.min, date.min, date.min, True)
@example(date.min, date.max, date.max, True)
@example(date(2026, 1, 1), date.max, date.max, False)
def test_the_scheduler_never_overflows(
    first: date, second: date, day: date, overnight: bool
) -> None:
    start, end = min(first, second), max(first, second)
    campaigns = [spec(start, end, overnight=overnight), spec(start, end, id="K-2")]
    for a, b in flight_intervals(campaigns):
        assert a <= b
    for sample, a, b in representative_days(campaigns):
        assert a <= sample <= b
    for c in campaigns:
        may_play_on(c, day)
        for second_of_day in (0, 3600, 23 * 3600):
            active_at(c, day, second_of_day)
    guaranteed_load(SCREEN, campaigns)
    overbooked_somewhere(campaigns, 1)
    check_overbooking([SCREEN], campaigns)
    for on in (None, day):
        free = guaranteed_free_slots(
            SCREEN, campaigns, day=day.weekday(), start=time(23), end=time(1), on=on
        )
        assert 0 <= free <= SCREEN.slots_per_loop
    try:
        loops = list(loops_for_day(SCREEN, campaigns, CREATIVES, day))
    except ValueError as exc:
        assert "no loops on" in str(exc)
    else:
        assert loops


@pytest.mark.parametrize("day", EDGES)
def test_days_at_the_ends_of_the_calendar_are_a_clear_value_error(day: date) -> None:
    with pytest.raises(ValueError, match=f"no loops on {day.isoformat()}"):
        list(loops_for_day(SCREEN, [spec(date.min, date.max)], {}, day))


@pytest.mark.parametrize("at", [datetime.min, datetime.max])
def test_instants_at_the_ends_of_the_calendar_are_a_clear_value_error(at: datetime) -> None:
    with pytest.raises(ValueError, match="no loops at"):
        build_loop(SCREEN, [spec(date.min, date.max)], {}, at.replace(tzinfo=UTC))


def test_a_flight_to_the_last_day_of_the_calendar_still_plays_and_counts() -> None:
    forever = spec(date.min, date.max, overnight=True)
    loops = list(loops_for_day(SCREEN, [spec(date.min, date.max)], CREATIVES, LAST_DAY))
    assert loops and all(r.included for loop in loops for r in loop.reasons)
    assert flight_intervals([forever])[-1][1] == date.max
    assert overbooked_somewhere([forever, spec(date.min, date.max, id="K-2")], 1)
    assert guaranteed_free_slots(
        SCREEN, [forever], day=date.max.weekday(), start=time(23), end=time(1), on=date.max
    ) == (SCREEN.slots_per_loop - 5)


# --------------------------------------------------------------------------- API and console


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "2100-01-01", "1999-12-31"])
def test_a_timeline_or_report_outside_the_range_is_a_clear_422(
    client: Any, loaded: Any, day: str
) -> None:
    auth = bearer(loaded.operator)
    for path, params in (
        ("/signage/api/screens/S-01/timeline", {"day": day}),
        ("/signage/api/reports", {"from": day, "to": day}),
    ):
        reply = client.get(path, params=params, headers=auth)
        assert reply.status_code == 422, reply.text
        assert day in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "day", [date.min, date(1, 1, 2), date(1999, 12, 31), date(2100, 1, 1), date.max]
)
def test_the_services_refuse_days_outside_the_range(loaded: Any, day: date) -> None:
    from signage import reports, service

    problem = "is outside the days plans cover (2000-01-01 to 2099-12-31)"
    with Session(loaded.engine) as session:
        with pytest.raises(InvalidInput) as caught:
            service.timeline(session, "S-01", day)
        assert caught.value.details["problems"] == [f"day: {day.isoformat()} {problem}"]
        with pytest.raises(InvalidInput) as caught:
            reports.report(session, first=day, last=day)
        assert caught.value.details["problems"] == [
            f"from: {day.isoformat()} {problem}",
            f"to: {day.isoformat()} {problem}",
        ]
        with pytest.raises(InvalidInput) as caught:
            campaign_attribution(
                session,
                "K-1",
                first=day,
                last=day,
                timezone="Europe/Paris",
                default_store="store-1",
            )
        assert f"from: {day.isoformat()} {problem}" in caught.value.details["problems"]


def test_console_pages_answer_days_outside_the_range_with_an_error_page(
    client: Any, loaded: Any
) -> None:
    client.cookies.set("caddie_session", loaded.operator)
    try:
        pages = [
            client.get("/signage/console/screens/S-01/timeline", params={"day": "9999-12-31"}),
            client.get("/signage/console/reports", params={"from": "0001-01-01"}),
            client.get(
                "/signage/console/attribution", params={"campaign": "K-CINEMA", "to": "0001-01-01"}
            ),
            client.get(
                "/signage/console/attribution",
                params={"campaign": "K-CINEMA", "from": "9999-12-31", "to": "9999-12-31"},
            ),
        ]
    finally:
        client.cookies.clear()
    for page in pages:
        assert page.status_code == 200, page.text
        assert "outside the days plans cover" in page.text, page.text


def test_a_booking_outside_the_range_is_refused(client: Any, loaded: Any) -> None:
    body = campaign(start="9999-12-31", end="9999-12-31")
    reply = client.post("/signage/api/campaigns", json=body, headers=bearer(loaded.operator))
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["problems"] == [
        "campaigns[0].start: must be a date in the years 2000–2099, got '9999-12-31'",
        "campaigns[0].end: must be a date in the years 2000–2099, got '9999-12-31'",
    ]
    availability = client.get(
        "/signage/api/availability", params={"day": "mon"}, headers=bearer(loaded.operator)
    )
    assert availability.status_code == 200, availability.text


def test_a_stored_flight_at_the_end_of_the_calendar_breaks_nobody(client: Any, loaded: Any) -> None:
    """A row written before the parser refused such dates still schedules."""
    with Session(loaded.engine) as session:
        session.add(
            Campaign(
                id="K-OLD",
                advertiser_id=1,
                start=date.max,
                end=date.max,
                priority="guaranteed",
                share_of_voice=0.2,
                target_screens=["S-01"],
            )
        )
        session.flush()
        session.add(CampaignCreative(campaign_id="K-OLD", position=0, creative_id="CR-B"))
        session.commit()
    auth = bearer(loaded.operator)
    availability = client.get("/signage/api/availability", params={"day": "mon"}, headers=auth)
    assert availability.status_code == 200, availability.text
    timeline = client.get(
        "/signage/api/screens/S-01/timeline", params={"day": "2099-12-31"}, headers=auth
    )
    assert timeline.status_code == 200, timeline.text
    booked = client.post("/signage/api/campaigns", json=campaign(), headers=auth)
    assert booked.status_code == 201, booked.text
