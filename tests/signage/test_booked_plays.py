"""Booked plays kept in the database (signage.booked) say what the scheduler says.

After any sequence of plan changes — bookings, edits, pauses, resumptions,
cancellations, flights moved, creatives refused, screens moved or enrolled, a plan
loaded with ``--prune`` — the stored plays of every screen and day from today on are
what ``plays_for_day`` computes from the plan at that moment, and the days before
today keep what the plan booked when they were lived. The check reads what the
change's own transaction stored: a path that changed the plan without bringing the
booked plays along fails it.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from signage import booked, lifecycle, service
from signage.config import SignageSettings
from signage.models import BookedSync, Campaign
from signage.plan_cache import plan_revision
from signage.scheduling import plays_for_day
from store_server.db import make_engine, session_scope
from store_server.shared.errors import CaddieError
from store_server.timeutil import utcnow

TZ = "Europe/Paris"
ONE_DAY = timedelta(days=1)


def _plan(today: date) -> dict[str, Any]:
    def flight(a: int, b: int) -> dict[str, str]:
        return {
            "start": (today + a * ONE_DAY).isoformat(),
            "end": (today + b * ONE_DAY).isoformat(),
        }

    return {
        "timezone": TZ,
        "screens": [
            {
                "id": "S-1",
                "zone": "north",
                "groups": ["food"],
                "slot_seconds": 10,
                "slots_per_loop": 6,
            },
            {"id": "S-2", "zone": "south", "slot_seconds": 10, "slots_per_loop": 6},
            {"id": "S-3", "zone": "north", "slot_seconds": 15, "slots_per_loop": 8},
            {
                "id": "S-4",
                "zone": "east",
                "groups": ["food"],
                "slot_seconds": 10,
                "slots_per_loop": 6,
            },
        ],
        "creatives": [
            {"id": f"CR-{i}", "media": f"https://cdn.example/{i}.png", "duration_s": d}
            for i, d in enumerate((10, 10, 15, 8, 10))
        ],
        "campaigns": [
            {
                "id": "K-G",
                "advertiser": "Brand A",
                "category": "coffee",
                "creatives": ["CR-0"],
                **flight(-5, 20),
                "dayparts": [["10:00", "12:00"]],
                "targets": {"zones": ["north"]},
                "priority": "guaranteed",
                "share_of_voice": 0.2,
            },
            {
                "id": "K-S",
                "advertiser": "Brand B",
                "category": "shoes",
                "creatives": ["CR-1", "CR-3"],
                **flight(-10, 3),
                "priority": "standard",
                "share_of_voice": 0.5,
                "max_plays_per_hour": 40,
            },
            {
                "id": "K-F",
                "advertiser": "Brand C",
                "category": "food",
                "creatives": ["CR-4"],
                **flight(-2, 8),
                "days": ["mon", "wed", "fri", "sat"],
                "dayparts": [["22:00", "02:00"]],
                "targets": {"groups": ["food"]},
                "priority": "standard",
                "share_of_voice": 0.4,
            },
            {
                "id": "K-W",
                "advertiser": "Brand D",
                "category": "tea",
                "creatives": ["CR-2"],
                **flight(1, 4),
                "targets": {"screens": ["S-3"]},
                "priority": "standard",
                "share_of_voice": 0.25,
            },
            {
                "id": "H",
                "advertiser": "Mall",
                "creatives": ["CR-3", "CR-1"],
                **flight(-30, 60),
                "priority": "house",
            },
        ],
    }


def _random_booking(rng: random.Random, n: int, today: date) -> dict[str, Any]:
    start = today + rng.randint(-8, 6) * ONE_DAY
    body: dict[str, Any] = {
        "id": f"K-R{n}",
        "advertiser": rng.choice(["Brand A", "Brand D"]),
        "category": rng.choice(["tea", "coffee", "shoes", None]),
        "creatives": rng.sample(["CR-0", "CR-1", "CR-3", "CR-4"], rng.randint(1, 2)),
        "start": start.isoformat(),
        "end": (start + rng.randint(0, 15) * ONE_DAY).isoformat(),
        "priority": rng.choice(["standard", "standard", "guaranteed", "house"]),
        "share_of_voice": rng.choice([0.1, 0.2, 0.35]),
    }
    if body["priority"] != "house":
        body["targets"] = rng.choice(
            [{}, {"zones": ["north"]}, {"groups": ["food"]}, {"screens": ["S-2", "S-3"]}]
        )
        if rng.random() < 0.4:
            body["dayparts"] = [rng.choice([["08:00", "11:00"], ["18:00", "24:00"]])]
        if rng.random() < 0.3:
            body["max_plays_per_hour"] = rng.choice([20, 100])
    if rng.random() < 0.3:
        body["days"] = rng.sample(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], 3)
    return body


def _change(session: Session, rng: random.Random, step: int, today: date) -> str:
    """One random change to the plan, through the services the API and CLI use."""
    rows = session.exec(select(Campaign)).all()
    live = [c.id for c in rows if c.state != "cancelled"]
    kind = rng.choice(
        [
            "book",
            "book",
            "edit",
            "pause",
            "resume",
            "cancel",
            "move",
            "prune",
            "screen",
            "enroll",
            "refuse",
        ]
    )
    actor, tz = "olga", TZ
    if kind == "book":
        lifecycle.book(session, _random_booking(rng, step, today), actor=actor, timezone=tz)
    elif kind == "edit" and live:
        field, value = rng.choice(
            [
                ("share_of_voice", rng.choice([0.1, 0.25])),
                ("dayparts", [["09:00", "21:00"]]),
                ("days", ["sat", "sun"]),
                ("targets", {"zones": ["south"]}),
                ("max_plays_per_hour", rng.choice([None, 30])),
                ("category", rng.choice(["tea", "food"])),
            ]
        )
        lifecycle.edit(session, rng.choice(live), {field: value}, actor=actor, timezone=tz)
    elif kind in ("pause", "resume", "cancel"):
        applies = lifecycle.TRANSITIONS[kind][0]
        candidates = [c.id for c in rows if c.state in applies]
        if not candidates:
            return "nothing"
        lifecycle.set_state(session, rng.choice(candidates), kind, actor=actor, timezone=tz)  # type: ignore[arg-type]
    elif kind == "move" and live:
        start = today + rng.randint(-4, 4) * ONE_DAY
        lifecycle.move_flight(
            session,
            rng.choice(live),
            start=start,
            end=start + rng.randint(0, 9) * ONE_DAY,
            actor=actor,
            timezone=tz,
        )
    elif kind in ("prune", "screen"):
        document = lifecycle.plan_document(session, timezone=tz)
        if kind == "prune":
            document["campaigns"] = [c for c in document["campaigns"] if rng.random() < 0.7]
        else:
            screen = rng.choice(document["screens"])
            screen["zone"] = rng.choice(["north", "south", "east"])
            screen["groups"] = rng.choice([[], ["food"]])
        lifecycle.load(
            session,
            json.dumps(document),
            base_dir=Path("."),
            settings=SignageSettings(media_dir=Path("media-unused")),
            timezone=tz,
            prune=kind == "prune",
        )
    elif kind == "enroll":
        service.enroll(
            session, [f"S-N{step}"], settings=SignageSettings(), timezone=rng.choice([TZ, "UTC"])
        )
    elif kind == "refuse":
        creative = rng.choice([f"CR-{i}" for i in range(5)])
        service.review_creative(
            session, creative, approved=rng.random() < 0.3, reason="blurred", actor=actor
        )
    else:
        return "nothing"
    return kind


def _stored(session: Session, screen_id: str, days: list[date]) -> dict[date, Counter[str]]:
    """The stored booked plays of a screen's days (days with no loop stored: absent)."""
    out = {}
    for day in days:
        runs = booked.runs(session, first=day, last=day, screen_id=screen_id)
        for run in runs:
            out[day] = booked.counts(session, [run])[run.loop_key].on(day)[0]
    return out


def _scheduled(specs: service.Specs, screen_id: str, day: date) -> Counter[str]:
    screen = specs.screens[screen_id]
    return plays_for_day(screen, specs.campaigns, specs.creatives, day)[0]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stored_booked_plays_follow_every_plan_change(db_url: str, seed: int) -> None:
    engine: Engine = make_engine(db_url)
    rng = random.Random(seed)
    today = utcnow().astimezone(ZoneInfo(TZ)).date()
    with session_scope(engine) as session:
        service.load_plan(
            session,
            json.dumps(_plan(today)),
            base_dir=Path("."),
            settings=SignageSettings(media_dir=Path("media-unused")),
        )
    with Session(engine) as session:
        first_plan = service.load_specs(session)
    first_screens = set(first_plan.screens)
    days = [today + i * ONE_DAY for i in range(-3, 12)]
    changes = Counter[str]()
    try:
        for step in range(14):
            try:
                with session_scope(engine) as session:
                    changes[_change(session, rng, step, today)] += 1
            except CaddieError:
                changes["refused"] += 1
            with Session(engine) as session:
                state = session.get(BookedSync, 1)
                assert state is not None and state.revision == plan_revision(session), (
                    "the change's transaction did not bring the booked plays along"
                )
                specs = service.load_specs(session)
                for screen_id, screen in specs.screens.items():
                    local_today = utcnow().astimezone(ZoneInfo(screen.timezone)).date()
                    stored = _stored(session, screen_id, days)
                    for day in days:
                        if day >= local_today:
                            expected = _scheduled(specs, screen_id, day)
                        elif screen_id in first_screens:  # lived under the first plan
                            expected = _scheduled(first_plan, screen_id, day)
                        else:  # the screen came today: nothing was booked on it before
                            assert day not in stored, (screen_id, day)
                            continue
                        assert stored.get(day) == expected, (step, screen_id, day.isoformat())
    finally:
        engine.dispose()
    assert changes["nothing"] < 14  # the sequence did change the plan


def test_a_cancellation_leaves_the_days_gone_by_as_booked(db_url: str) -> None:
    """A campaign cancelled today was still booked yesterday: the report says so, and
    books it no more from today on."""
    from signage import reports

    engine = make_engine(db_url)
    now = utcnow()
    today = now.astimezone(ZoneInfo(TZ)).date()
    try:
        with session_scope(engine) as session:
            service.load_plan(
                session,
                json.dumps(_plan(today)),
                base_dir=Path("."),
                settings=SignageSettings(media_dir=Path("media-unused")),
            )

        def house(first: date, last: date) -> int:
            with session_scope(engine) as session:
                rows = reports.report(session, first=first, last=last, group="campaign", now=now)
            return sum(r["booked_plays"] for r in rows if r["campaign_id"] == "H")

        past, coming = (today - 3 * ONE_DAY, today - ONE_DAY), (today, today + 3 * ONE_DAY)
        before = house(*past), house(*coming)
        assert before[0] > 0 and before[1] > 0
        with session_scope(engine) as session:
            lifecycle.set_state(session, "H", "cancel", actor="olga", timezone=TZ)
        assert (house(*past), house(*coming)) == (before[0], 0)
    finally:
        engine.dispose()


def test_screens_with_the_same_loop_share_its_counts(db_url: str) -> None:
    """S-1 and S-4 differ in zone but, with no zone campaign in flight, not in loop."""
    engine = make_engine(db_url)
    today = utcnow().astimezone(ZoneInfo(TZ)).date()
    plan = _plan(today)
    plan["campaigns"] = [c for c in plan["campaigns"] if c["id"] != "K-G"]
    try:
        with session_scope(engine) as session:
            service.load_plan(
                session,
                json.dumps(plan),
                base_dir=Path("."),
                settings=SignageSettings(media_dir=Path("media-unused")),
            )
        with Session(engine) as session:
            runs = booked.runs(session, first=today, last=today)
        loops = {r.screen_id: r.loop_key for r in runs}
        assert loops["S-1"] == loops["S-4"] != loops["S-2"]
        assert len(set(loops.values())) == 3  # S-3 has another cut
    finally:
        engine.dispose()


def test_a_plan_change_rolled_back_leaves_the_booked_plays(db_url: str) -> None:
    engine = make_engine(db_url)
    today = utcnow().astimezone(ZoneInfo(TZ)).date()
    try:
        with session_scope(engine) as session:
            service.load_plan(
                session,
                json.dumps(_plan(today)),
                base_dir=Path("."),
                settings=SignageSettings(media_dir=Path("media-unused")),
            )
        with Session(engine) as session:
            kept = booked.runs(session, first=today, last=today + 30 * ONE_DAY)
        with pytest.raises(RuntimeError), session_scope(engine) as session:
            lifecycle.set_state(session, "H", "cancel", actor="olga", timezone=TZ)
            session.flush()
            raise RuntimeError("the request failed after the change")
        with Session(engine) as session:
            assert booked.runs(session, first=today, last=today + 30 * ONE_DAY) == kept
    finally:
        engine.dispose()


@pytest.mark.parametrize("group", ["screen", "campaign", "day"])
def test_reports_sum_what_the_scheduler_books(db_url: str, group: str) -> None:
    """Per screen, per campaign or per day: booked plays are the scheduler's over the
    period, and booked so far its plays of the days gone by and of today's loops
    started (time zones apart: an enrolled screen keeps UTC)."""
    from signage import reports

    engine = make_engine(db_url)
    now = utcnow()
    today = now.astimezone(ZoneInfo(TZ)).date()
    try:
        with session_scope(engine) as session:
            service.load_plan(
                session,
                json.dumps(_plan(today)),
                base_dir=Path("."),
                settings=SignageSettings(media_dir=Path("media-unused")),
            )
        first, last = today - 4 * ONE_DAY, today + 4 * ONE_DAY
        with session_scope(engine) as session:
            rows = reports.report(session, first=first, last=last, group=group, now=now)  # type: ignore[arg-type]
            specs = service.load_specs(session)
        booked_by: Counter[tuple[str, str]] = Counter()
        so_far_by: Counter[tuple[str, str]] = Counter()
        for screen in specs.screens.values():
            local = now.astimezone(ZoneInfo(screen.timezone)).date()
            day = first
            while day <= last:
                whole = _scheduled(specs, screen.id, day)
                started = (
                    whole
                    if day < local
                    else plays_for_day(screen, specs.campaigns, specs.creatives, day, before=now)[0]
                    if day == local
                    else Counter[str]()
                )
                place = {"screen": screen.id, "campaign": "", "day": f"{screen.id} {day}"}[group]
                for cid, n in whole.items():
                    booked_by[(place, cid)] += n
                for cid, n in started.items():
                    so_far_by[(place, cid)] += n
                day += ONE_DAY
        place_of = {
            "screen": lambda r: r["screen_id"],
            "campaign": lambda r: "",
            "day": lambda r: f"{r['screen_id']} {r['day']}",
        }[group]
        assert {(place_of(r), r["campaign_id"]): r["booked_plays"] for r in rows} == dict(booked_by)
        assert {
            (place_of(r), r["campaign_id"]): r["booked_so_far"] for r in rows if r["booked_so_far"]
        } == dict(so_far_by)
    finally:
        engine.dispose()
