"""Proof-of-play reports: booked against delivered plays, up to a year at a time.

*Delivered* plays come from the daily rollup (:mod:`signage.rollup`), one row per
screen, local day and campaign, never from the raw plays. *Booked* plays come from
the booked plays kept with the plan (:mod:`signage.booked`): which loop each screen
had on each day, and what each loop books per day, counted once however many
screens share it; past days keep what was booked on them.

For today, ``booked_so_far`` counts only the loops that have started, so that the
chart and the delivery percentage compare like with like; future days have none.
Every share is a percentage (``*_pct``, 0–100, one decimal).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from signage import booked as stored
from signage import service
from signage.models import PlayRollup
from signage.plan_cache import PlanCache
from signage.rollup import HOUSE
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
    runs = stored.runs(session, first=first, last=last, screen_id=screen_id or None)
    if group == "day":  # a month at most: each screen's days
        loops = stored.counts(session, runs)
        for run in runs:
            days = loops[run.loop_key]
            today = stored.today_of(days, now)
            day = run.first
            while day <= run.last:
                place = (run.screen_id, day.isoformat())
                whole, total = days.on(day)
                booked[place] += whole
                slots[place] += total
                if day < today:
                    so_far[place] += whole
                elif day == today:
                    so_far[place] += stored.so_far(days, day, now)
                day += stored.ONE_DAY
        return _rows(group, specs, booked, so_far, slots, delivered, wanted)
    # Up to a year: summed by the database. Days up to the day before yesterday (UTC)
    # are gone by on every screen; the few days around today depend on its time zone.
    stored.complete(session, runs)
    utc_today = now.astimezone(UTC).date()
    by_screen = group == "screen" or bool(screen_id)
    summed, gone_by, day_slots = stored.sums(
        session,
        first=first,
        last=last,
        screen_id=screen_id or None,
        by_screen=by_screen,
        past_last=utc_today - 2 * stored.ONE_DAY,
    )
    for sid, counted in summed.items():
        booked[(sid, "")] += counted
    for sid, counted in gone_by.items():
        so_far[(sid, "")] += counted
    for sid, n in day_slots.items():
        slots[(sid, "")] += n
    near_first = max(first, utc_today - stored.ONE_DAY)
    near_last = min(last, utc_today + stored.ONE_DAY)
    near = [
        stored.Run(r.screen_id, max(r.first, near_first), min(r.last, near_last), r.loop_key)
        for r in runs
        if r.first <= near_last and r.last >= near_first
    ]
    loops = stored.counts(session, near)
    for run in near:
        days = loops[run.loop_key]
        today = stored.today_of(days, now)
        place = (run.screen_id if by_screen else "", "")
        day = run.first
        while day <= run.last:
            if day < today:
                so_far[place] += days.on(day)[0]
            elif day == today:
                so_far[place] += stored.so_far(days, day, now)
            day += stored.ONE_DAY
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
