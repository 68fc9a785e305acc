"""The booking calendar: a week or a month of bookings per screen group and per
campaign (a Gantt-like grid), with the guaranteed slots still free each day.

Free capacity is the scheduler's own answer (``guaranteed_free_slots`` for the whole
day on that date): for a group, the fewest free on any of its screens, because a
booking of the group must fit every one of them.
"""

from __future__ import annotations

import calendar as cal
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any, Literal

from sqlmodel import Session

from signage import service
from signage.plan_cache import PlanCache
from signage.scheduling import CampaignSpec, ScreenSpec, guaranteed_free_slots
from signage.scheduling.model import LAST_DAY

UNGROUPED = "(no group)"


def period(day: date, view: Literal["week", "month"]) -> tuple[date, int]:
    """The first day and length of the week (from Monday) or month holding ``day``."""
    if view == "month":
        first = day.replace(day=1)
        length = cal.monthrange(first.year, first.month)[1]
    else:
        first = day - timedelta(days=day.weekday())
        length = 7
    length = min(length, (LAST_DAY - first).days + 1)
    return first, max(1, length)


def plays_on(campaign: CampaignSpec, day: date) -> bool:
    """Whether the campaign's flight and days of week include ``day`` (its state aside)."""
    return (
        campaign.start <= day <= campaign.end
        and (not campaign.days or day.weekday() in campaign.days)
        and campaign.state != "cancelled"
    )


@dataclass(frozen=True)
class Bar:
    """One campaign's row: a cell per day, with its state when it plays that day."""

    campaign_id: str
    advertiser: str
    priority: str
    state: str
    cells: tuple[bool, ...]


@dataclass(frozen=True)
class GroupRow:
    name: str
    screens: tuple[str, ...]
    slots_per_loop: int
    free: tuple[int, ...]  # guaranteed slots free per day (fewest over its screens)
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class Calendar:
    first: date
    days: tuple[date, ...]
    groups: tuple[GroupRow, ...]
    campaigns: tuple[Bar, ...]

    @property
    def previous(self) -> date:
        return self.first - timedelta(days=1)

    @property
    def following(self) -> date:
        return self.days[-1] + timedelta(days=1)


def _free(screen: ScreenSpec, campaigns: list[CampaignSpec], day: date) -> int:
    active = [c for c in campaigns if c.start <= day <= c.end]
    return guaranteed_free_slots(
        screen, active, day=day.weekday(), start=time(0), end=time(0), on=day
    )


def build(
    session: Session, first: date, length: int, *, plans: PlanCache | None = None
) -> Calendar:
    service.check_days(("from", first))
    days = tuple(first + timedelta(days=i) for i in range(length))
    specs = service.plan_specs(session, plans)
    campaigns = sorted(specs.campaigns, key=lambda c: c.id)
    by_group: dict[str, list[ScreenSpec]] = {}
    for screen in sorted(specs.screens.values(), key=lambda s: s.id):
        for group in sorted(screen.groups) or [UNGROUPED]:
            by_group.setdefault(group, []).append(screen)
    free_of: dict[tuple[str, date], int] = {}
    groups = []
    for name, screens in sorted(by_group.items()):
        free = []
        for day in days:
            counts = []
            for screen in screens:
                key = (screen.id, day)
                if key not in free_of:
                    free_of[key] = _free(screen, campaigns, day)
                counts.append(free_of[key])
            free.append(min(counts))
        bars = []
        for c in campaigns:
            targeted = [s for s in screens if c.targets.matches(s)]
            if not targeted:
                continue
            cells = tuple(plays_on(c, d) for d in days)
            if any(cells):
                bars.append(Bar(c.id, c.advertiser, c.priority, c.state, cells))
        groups.append(
            GroupRow(
                name=name,
                screens=tuple(s.id for s in screens),
                slots_per_loop=min(s.slots_per_loop for s in screens),
                free=tuple(free),
                bars=tuple(bars),
            )
        )
    rows = []
    for c in campaigns:
        cells = tuple(plays_on(c, d) for d in days)
        if any(cells):
            rows.append(Bar(c.id, c.advertiser, c.priority, c.state, cells))
    return Calendar(first=first, days=days, groups=tuple(groups), campaigns=tuple(rows))


def _bar(bar: Bar, days: tuple[date, ...]) -> dict[str, Any]:
    return {
        "campaign_id": bar.campaign_id,
        "advertiser": bar.advertiser,
        "priority": bar.priority,
        "state": bar.state,
        "days": [d.isoformat() for d, on in zip(days, bar.cells, strict=True) if on],
    }


def as_dict(view: Calendar) -> dict[str, Any]:
    return {
        "first": view.first.isoformat(),
        "days": [d.isoformat() for d in view.days],
        "groups": [
            {
                "group": g.name,
                "screens": list(g.screens),
                "slots_per_loop": g.slots_per_loop,
                "free": list(g.free),
                "bookings": [_bar(b, view.days) for b in g.bars],
            }
            for g in view.groups
        ],
        "campaigns": [_bar(b, view.days) for b in view.campaigns],
    }
