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
from datetime import date, time

from signage.scheduling.model import (
    CampaignSpec,
    ScreenSpec,
    active_at,
    date_ok,
    daypart_bounds,
    next_day,
    previous_day,
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
        yesterday = previous_day(sample)
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


def overbooked_somewhere(campaigns: Sequence[CampaignSpec], slots_per_loop: int) -> bool:
    """Whether guaranteed ``campaigns`` ever need more than ``slots_per_loop`` at once.

    Exactly ``any(load.need > n for load in guaranteed_load(...))`` for campaigns that
    already target one screen, but cheap, because the plan loader asks it of every
    screen and almost every answer is "no": a sweep over flight dates (ignoring days
    and dayparts) clears most screens at once, and only the dates that sweep cannot
    clear are checked moment by moment. Callers that need the overbooked stretches
    themselves then use ``guaranteed_load``.
    """
    n = slots_per_loop
    booked = [c for c in campaigns if c.priority == "guaranteed" and c.state != "cancelled"]
    slots = [c.slots_booked(n) for c in booked]
    if sum(slots) <= n:
        return False
    # 1. flights only (a midnight-crossing daypart reaches one day past the flight)
    edges: dict[int, int] = {}
    spans: list[tuple[int, int]] = []
    for c, s in zip(booked, slots, strict=True):
        first = c.start.toordinal()
        last = c.end.toordinal() + (1 if any(p.crosses_midnight for p in c.dayparts) else 0)
        spans.append((first, last))
        edges[first] = edges.get(first, 0) + s
        edges[last + 1] = edges.get(last + 1, 0) - s
    hot: list[tuple[int, int]] = []  # date ranges the sweep cannot clear
    running = 0
    ordered = sorted(edges)
    for here, after in zip(ordered, ordered[1:], strict=False):
        running += edges[here]
        if running > n:
            hot.append((here, after - 1))
    if not hot:
        return False
    # 2. moment by moment on the remaining dates; equal date patterns are checked once
    # (a flight ending on date.max reaches no further: there is no day after it)
    seen: set[tuple[tuple[int, bool, bool], ...]] = set()
    for first, last in hot:
        for ordinal in range(first, min(last, date.max.toordinal()) + 1):
            day = date.fromordinal(ordinal)
            yesterday = previous_day(day)
            pattern = []
            for i, c in enumerate(booked):
                a, b = spans[i]
                if a <= ordinal <= b:
                    today, before = date_ok(c, day), date_ok(c, yesterday)
                    if today or before:
                        pattern.append((i, today, before))
            key = tuple(pattern)
            if key in seen:
                continue
            seen.add(key)
            if _peak(booked, slots, key) > n:
                return True
    return False


def _peak(
    booked: Sequence[CampaignSpec], slots: Sequence[int], pattern: Sequence[tuple[int, bool, bool]]
) -> int:
    """Most slots taken at any second of a day, given which flights hold today/yesterday.

    Mirrors ``active_at``: a campaign is active at a second if any of its dayparts
    is (their union, so overlapping dayparts count once).
    """
    events: list[tuple[int, int]] = []
    for i, today, before in pattern:
        c = booked[i]
        spans: list[tuple[int, int]] = []
        if not c.dayparts and today:
            spans.append((0, DAY_SECONDS))
        for part in c.dayparts:
            start, end = seconds_of_day(part.start), seconds_of_day(part.end)
            if start == end:
                if today:
                    spans.append((0, DAY_SECONDS))
            elif start < end:
                if today:
                    spans.append((start, end))
            else:
                if today:
                    spans.append((start, DAY_SECONDS))
                if before:
                    spans.append((0, end))
        spans.sort()
        merged: list[list[int]] = []
        for a, b in spans:
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        for a, b in merged:
            events.append((a, slots[i]))
            events.append((b, -slots[i]))
    events.sort(key=lambda e: (e[0], e[1]))  # ends (negative) before starts at one second
    peak = running = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


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
        windows = [(day, on, a, DAY_SECONDS)]
        after = next_day(on) if on is not None else None
        if on is None or after is not None:  # no part after midnight on date.max
            windows.append(((day + 1) % 7, after, 0, b))
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
