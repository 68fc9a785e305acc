"""Proof-of-play reports: booked against delivered plays, up to a year at a time.

*Delivered* plays come from the daily rollup (:mod:`signage.rollup`), one row per
screen, local day and campaign, never from the raw plays. *Booked* plays come from
the scheduler (``plays_for_day``: the slots of every loop of the day). Screens whose
loops cannot differ — same cut, time zone and campaigns targeting them — are
counted once per day, and the counts are kept while the plan stays the same.

For today, ``booked_so_far`` counts only the loops that have started, so that the
chart and the delivery percentage compare like with like; future days have none.
Every share is a percentage (``*_pct``, 0–100, one decimal).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from signage import service
from signage.models import PlayRollup
from signage.plan_cache import PlanCache
from signage.rollup import HOUSE
from signage.scheduling import ScreenSpec, plays_for_day
from store_server.shared.errors import InvalidInput
from store_server.timeutil import utcnow

Group = Literal["day", "screen", "campaign"]
MAX_DAYS = 366
DAILY_DAYS = 31  # rows per day and screen: at most a month of them

COLUMNS: dict[str, tuple[str, ...]] = {
    "day": ("day", "screen_id"),
    "screen": ("screen_id",),
    "campaign": (),
}
FIGURES = (
    "campaign_id",
    "advertiser",
    "booked_plays",
    "booked_so_far",
    "delivered_plays",
    "delivery_pct",
    "booked_sov_pct",
    "delivered_sov_pct",
)


def columns(group: Group) -> tuple[str, ...]:
    return COLUMNS[group] + FIGURES


def check_period(first: date, last: date, group: Group) -> None:
    service.check_days(("from", first), ("to", last))
    problems = []
    if last < first:
        problems.append(
            f"to: the last day ({last.isoformat()}) is before the first ({first.isoformat()})"
        )
    elif (last - first).days + 1 > MAX_DAYS:
        problems.append(f"a report covers at most {MAX_DAYS} days")
    elif group == "day" and (last - first).days + 1 > DAILY_DAYS:
        problems.append(
            f"daily rows cover at most {DAILY_DAYS} days: show longer periods "
            "by campaign or by screen"
        )
    if problems:
        raise InvalidInput(problems[0], problems=problems)


# --------------------------------------------------------------------------- booked


@dataclass
class _Booked:
    """Booked counts of one plan: per screen class and day (whole days only)."""

    specs: service.Specs
    classes: dict[str, tuple[Any, ...]]
    days: dict[tuple[tuple[Any, ...], int], tuple[Counter[str], int]]
    # today so far, per class, day and loops started (see ``booked_on``)
    today: dict[tuple[tuple[Any, ...], int, int], Counter[str]] = field(default_factory=dict)


_LOCK = threading.Lock()
_KEPT: list[_Booked] = []  # the newest plans' counts (a plan object is kept while current)


def _booked_of(specs: service.Specs) -> _Booked:
    with _LOCK:
        for kept in _KEPT:
            if kept.specs is specs:
                return kept
        classes = {}
        for screen in specs.screens.values():
            targeting = tuple(c.id for c in specs.campaigns if c.targets.matches(screen))
            classes[screen.id] = (
                screen.slot_seconds,
                screen.slots_per_loop,
                screen.timezone,
                targeting,
            )
        kept = _Booked(specs, classes, {})
        _KEPT.insert(0, kept)
        del _KEPT[2:]
        return kept


def booked_on(
    specs: service.Specs,
    screen: ScreenSpec,
    day: date,
    now: datetime,
) -> tuple[Counter[str], Counter[str], int]:
    """``(booked, booked_so_far, slots)`` of ``screen`` on its local ``day``."""
    tz = ZoneInfo(screen.timezone)
    today = now.astimezone(tz).date()
    if day > today:
        whole, slots = _whole_day(specs, screen, day)
        return whole, Counter(), slots
    whole, slots = _whole_day(specs, screen, day)
    if day < today:
        return whole, whole, slots
    # what has started so far changes only when a loop starts: counted once per class
    # and loop (loops start at multiples of their length since the epoch)
    kept = _booked_of(specs)
    length = screen.slot_seconds * screen.slots_per_loop
    key = (kept.classes[screen.id], day.toordinal(), -(-int(now.timestamp()) // length))
    so_far = kept.today.get(key)
    if so_far is None:
        so_far, _ = plays_for_day(screen, specs.campaigns, specs.creatives, day, before=now)
        if len(kept.today) > 10_000:
            kept.today.clear()
        kept.today[key] = so_far
    return whole, so_far, slots


def _whole_day(specs: service.Specs, screen: ScreenSpec, day: date) -> tuple[Counter[str], int]:
    kept = _booked_of(specs)
    key = (kept.classes[screen.id], day.toordinal())
    found = kept.days.get(key)
    if found is None:
        found = plays_for_day(screen, specs.campaigns, specs.creatives, day)
        kept.days[key] = found
    return found


# --------------------------------------------------------------------------- report


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def report(
    session: Session,
    *,
    first: date,
    last: date,
    group: Group = "day",
    campaign_id: str | None = None,
    screen_id: str | None = None,
    advertiser: str | None = None,
    plans: PlanCache | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Rows of booked and delivered plays, per day and screen, per screen, or per
    campaign, over ``first``…``last`` (local days of each screen)."""
    check_period(first, last, group)
    now = now or utcnow()
    specs = service.plan_specs(session, plans)
    screens = [
        s
        for s in sorted(specs.screens.values(), key=lambda s: s.id)
        if not screen_id or s.id == screen_id
    ]

    def wanted(cid: str) -> bool:
        if campaign_id and cid != campaign_id:
            return False
        return not advertiser or specs.advertisers.get(cid) == advertiser

    # delivered: the rollup, grouped as asked (by day only for daily rows)
    keys: list[Any] = [col(PlayRollup.campaign_id)]
    if group != "campaign" or screen_id:
        keys.append(col(PlayRollup.screen_id))
    if group == "day":
        keys.append(col(PlayRollup.day))
    query = (
        sa_select(*keys, func.sum(col(PlayRollup.plays)))
        .where(col(PlayRollup.day) >= first, col(PlayRollup.day) <= last)
        .group_by(*keys)
    )
    if screen_id:
        query = query.where(col(PlayRollup.screen_id) == screen_id)
    delivered: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for found in session.execute(query).all():
        cid, plays = found[0], found[-1]
        sid = found[1] if len(found) > 2 else ""  # every screen together: one place
        where = found[2].isoformat() if group == "day" else ""
        delivered[(sid, where)][cid] += int(plays)

    booked: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    so_far: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    slots: Counter[tuple[str, str]] = Counter()
    span = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for screen in screens:
        for day in span:
            whole, started, total = booked_on(specs, screen, day, now)
            place = (screen.id, day.isoformat() if group == "day" else "")
            booked[place] += whole
            so_far[place] += started
            slots[place] += total
    return _rows(group, specs, booked, so_far, slots, delivered, wanted)


def _rows(
    group: Group,
    specs: service.Specs,
    booked: dict[tuple[str, str], Counter[str]],
    so_far: dict[tuple[str, str], Counter[str]],
    slots: Counter[tuple[str, str]],
    delivered: dict[tuple[str, str], Counter[str]],
    wanted: Any,
) -> list[dict[str, Any]]:
    if group == "campaign":  # one place: every screen together
        merged: list[dict[tuple[str, str], Counter[str]]] = []
        for table in (booked, so_far, delivered):
            total: Counter[str] = Counter()
            for counts in table.values():
                total += counts
            merged.append({("", ""): total})
        booked, so_far, delivered = merged
        slots = Counter({("", ""): sum(slots.values())})
    rows = []
    for where in sorted(set(booked) | set(delivered)):
        plays_booked, plays_so_far = booked.get(where, Counter()), so_far.get(where, Counter())
        plays_delivered = delivered.get(where, Counter())
        all_delivered = sum(plays_delivered.values())
        ids = {c for c in plays_booked if c} | {c for c in plays_delivered if c != HOUSE}
        for cid in sorted(ids):
            if not wanted(cid):
                continue
            b, s, d = (
                plays_booked.get(cid, 0),
                plays_so_far.get(cid, 0),
                plays_delivered.get(cid, 0),
            )
            row: dict[str, Any] = {}
            if group == "day":
                row["day"], row["screen_id"] = where[1], where[0]
            elif group == "screen":
                row["screen_id"] = where[0]
            row |= {
                "campaign_id": cid,
                "advertiser": specs.advertisers.get(cid, ""),
                "booked_plays": b,
                "booked_so_far": s,
                "delivered_plays": d,
                "delivery_pct": _pct(d, s),
                "booked_sov_pct": _pct(b, slots.get(where, 0)),
                "delivered_sov_pct": _pct(d, all_delivered),
            }
            rows.append(row)
    if group == "day":
        rows.sort(key=lambda r: (r["day"], r["screen_id"], r["campaign_id"]))
    return rows


def totals(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per campaign: booked so far and delivered (the chart compares these two)."""
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        pair = out.setdefault(row["campaign_id"], {"booked_so_far": 0, "delivered": 0})
        pair["booked_so_far"] += row["booked_so_far"]
        pair["delivered"] += row["delivered_plays"]
    return out


def airtime(
    session: Session, *, first: date, last: date, campaigns: Sequence[str]
) -> dict[str, str]:
    """Delivered air time per campaign over the period (``3 h 12 min``), from the rollup."""
    found = dict(
        session.exec(
            select(PlayRollup.campaign_id, func.sum(PlayRollup.duration_ms))
            .where(
                col(PlayRollup.day) >= first,
                col(PlayRollup.day) <= last,
                col(PlayRollup.campaign_id).in_(list(campaigns)),
            )
            .group_by(col(PlayRollup.campaign_id))
        ).all()
    )
    out = {}
    for cid in campaigns:
        minutes = int(found.get(cid) or 0) // 60_000
        out[cid] = (
            f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
        )
    return out
