"""How full a screen's guaranteed inventory is, at every distinct moment of the week.

Guaranteed campaigns are promises, so both the plan loader (refuse overbooking) and
the booking UI ("3 guaranteed slots free on Saturdays 10–12") need the same answer:
the slots that booked *and held* guaranteed campaigns take in each stretch of time
where the set of active campaigns is constant. Held campaigns count because a held
booking is a pencilled-in promise the sales team must not sell twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta

from signage.scheduling.model import (
    CampaignSpec,
    ScreenSpec,
    active_at,
    date_ok,
    daypart_bounds,
    representative_days,
    seconds_of_day,
)

DAY_SECONDS = 86400


@dataclass(frozen=True)
class LoadSegment:
    """Guaranteed slots taken on one weekday, ``start``–``end`` seconds of the local day.

    It stands for every date of that weekday from ``first`` to ``last``.
    """

    weekday: int
    first: date
    last: date
    start: int
    end: int
    campaigns: tuple[tuple[str, int], ...]
    need: int


def guaranteed_campaigns(
    screen: ScreenSpec, campaigns: Sequence[CampaignSpec]
) -> list[CampaignSpec]:
    """Guaranteed campaigns that hold inventory on ``screen`` (booked or held), by id."""
    return sorted(
        (
            c
            for c in campaigns
            if c.priority == "guaranteed" and c.state != "cancelled" and c.targets.matches(screen)
        ),
        key=lambda c: c.id,
    )


def guaranteed_load(screen: ScreenSpec, campaigns: Sequence[CampaignSpec]) -> list[LoadSegment]:
    """Every distinct time segment in which guaranteed campaigns take slots on ``screen``.

    Segments come from cutting dates at flight edges (and the day after, for
    dayparts running past midnight), weekdays, and times of day at daypart edges;
    adjacent times with the same campaigns are merged.
    """
    booked = guaranteed_campaigns(screen, campaigns)
    if not booked:
        return []
    n = screen.slots_per_loop
    slots = {c.id: c.slots_booked(n) for c in booked}
    cuts = [0, *daypart_bounds(booked), DAY_SECONDS]
    by_signature: dict[tuple[bool, ...], list[tuple[int, int, tuple[str, ...]]]] = {}
    loads: list[LoadSegment] = []
    for sample, first, last in representative_days(booked):
        yesterday = sample - timedelta(days=1)
        signature = tuple(
            flag for c in booked for flag in (date_ok(c, sample), date_ok(c, yesterday))
        )
        pieces = by_signature.get(signature)
        if pieces is None:
            pieces = []
            live = [c for i, c in enumerate(booked) if signature[2 * i] or signature[2 * i + 1]]
            for a, b in zip(cuts, cuts[1:], strict=False):
                active = tuple(c.id for c in live if active_at(c, sample, a)[0])
                if pieces and pieces[-1][2] == active and pieces[-1][1] == a:
                    pieces[-1] = (pieces[-1][0], b, active)
                else:
                    pieces.append((a, b, active))
            by_signature[signature] = pieces
        for a, b, active in pieces:
            if active:
                taken = tuple((cid, slots[cid]) for cid in active)
                loads.append(
                    LoadSegment(
                        weekday=sample.weekday(),
                        first=first,
                        last=last,
                        start=a,
                        end=b,
                        campaigns=taken,
                        need=sum(s for _, s in taken),
                    )
                )
    return loads


def guaranteed_free_slots(
    screen: ScreenSpec,
    campaigns: Sequence[CampaignSpec],
    *,
    day: int,
    start: time,
    end: time,
    on: date | None = None,
) -> int:
    """Guaranteed slots per loop still sellable on weekday ``day`` (0 = Monday), start–end.

    The answer is the worst moment of the window (and, without ``on``, of every
    such weekday in any flight), because a guaranteed booking must fit all of it.
    ``end`` before ``start`` runs past midnight into the next day; ``start == end``
    means the whole day.
    """
    if not 0 <= day <= 6:
        raise ValueError(f"day must be 0 (Monday) to 6 (Sunday), got {day}")
    if on is not None and on.weekday() != day:
        raise ValueError(f"{on.isoformat()} is not weekday {day}")
    a, b = seconds_of_day(start), seconds_of_day(end)
    windows: list[tuple[int, date | None, int, int]]
    if a < b:
        windows = [(day, on, a, b)]
    elif a == b:
        windows = [(day, on, 0, DAY_SECONDS)]
    else:
        after = on + timedelta(days=1) if on is not None else None
        windows = [(day, on, a, DAY_SECONDS), ((day + 1) % 7, after, 0, b)]
    worst = 0
    for load in guaranteed_load(screen, campaigns):
        for weekday, when, w_start, w_end in windows:
            if load.weekday != weekday or load.end <= w_start or load.start >= w_end:
                continue
            if when is not None and not (
                load.first <= when <= load.last and (when - load.first).days % 7 == 0
            ):
                continue
            worst = max(worst, load.need)
    return max(0, screen.slots_per_loop - worst)
