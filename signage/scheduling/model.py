"""Plain values the loop scheduler works on.

These are frozen so one parsed plan (or one set of database rows turned into specs)
can be shared by every screen's scheduler without anyone changing it underneath.
Conventions that the rest of the package relies on:

* ``CampaignSpec.days`` empty means every day; ``dayparts`` empty means all day;
  ``Targets`` with every set empty means every screen (the plan file's "omitted").
* A ``Daypart`` whose ``end`` is earlier than its ``start`` crosses midnight; its part
  after midnight belongs to the *previous* day for the flight and ``days`` checks
  (Friday 22:00–02:00 plays into Saturday morning, like a broadcast day). A daypart
  whose ``start`` equals its ``end`` lasts all day (the plan file's "00:00"–"24:00").
* Flights lie within ``FIRST_DAY``…``LAST_DAY`` (the plan parser refuses others, and the
  services refuse other days for timelines and reports). The functions here still
  accept any ``date``: a day before the first or after the last one ``date`` can hold
  is simply in no flight, so nothing here overflows on ``date.min`` or ``date.max``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

Priority = Literal["interrupt", "guaranteed", "standard", "house"]
CampaignState = Literal["held", "booked", "paused", "cancelled"]
SignalOp = Literal[">", ">=", "<", "<="]

PRIORITIES: tuple[str, ...] = ("interrupt", "guaranteed", "standard", "house")
# "paused": booked, keeps its inventory, but plays nothing until resumed
STATES: tuple[str, ...] = ("held", "booked", "paused", "cancelled")
DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)
"""The days a flight may cover, and that timelines and reports answer for: wide enough
for any real booking, narrow enough that a typo such as ``9999`` is caught."""
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
"""Screen, creative and campaign ids. They go unescaped into URL paths
(``/signage/screens/{id}/loop``, ``/api/attribution/{id}.json``), command lines
(``caddie screen enroll``) and file names, so none may hold a ``/``, a space, ``%``,
``?`` or ``#``, nor be a ``.`` or ``..`` path segment."""
ID_RULE = "use 1-200 letters, digits or . _ : -, starting with a letter or digit"


def is_valid_id(value: object) -> bool:
    """Whether ``value`` is an id by ``ID`` (all of it: no trailing newline slips by)."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


DAY_PLURALS: tuple[str, ...] = (
    "Mondays",
    "Tuesdays",
    "Wednesdays",
    "Thursdays",
    "Fridays",
    "Saturdays",
    "Sundays",
)


@dataclass(frozen=True)
class ScreenSpec:
    """One mall screen as the scheduler sees it: where it is and how its loop is cut."""

    id: str
    zone: str
    groups: frozenset[str]
    slot_seconds: int
    slots_per_loop: int
    timezone: str
    orientation: str = "landscape"
    resolution: str = "1920x1080"
    store: str | None = None  # whose store signals its signal-ruled campaigns read

    @property
    def loop_seconds(self) -> int:
        """Loops are this long so that screens with the same cut stay in step."""
        return self.slot_seconds * self.slots_per_loop

    def plan_entry(self) -> dict[str, Any]:
        """The screen as a plan file (PROTOCOL.md) lists it."""
        return {
            "id": self.id,
            "zone": self.zone,
            "groups": sorted(self.groups),
            "slot_seconds": self.slot_seconds,
            "slots_per_loop": self.slots_per_loop,
            "orientation": self.orientation,
            "resolution": self.resolution,
            **({"store": self.store} if self.store else {}),
        }


@dataclass(frozen=True)
class CreativeSpec:
    """A piece of media; ``duration_s`` must fit the slot it plays in."""

    id: str
    media: str
    duration_s: float
    sha256: str | None = None
    kind: str = "image"
    # False while the operator has not approved it (or refused it): it never plays
    approved: bool = True


@dataclass(frozen=True)
class Daypart:
    """A local time window, end exclusive (see the module docstring for midnight)."""

    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    @property
    def all_day(self) -> bool:
        return self.end == self.start

    def label(self) -> str:
        """``08:00–12:00`` as operators write it (``24:00`` for a midnight end)."""
        end = "24:00" if self.end == time(0) else _hhmm(self.end)
        return f"{_hhmm(self.start)}–{end}"


@dataclass(frozen=True)
class Targets:
    """Screens a campaign is for: any screen matching any listed zone, group or id."""

    zones: frozenset[str] = field(default_factory=frozenset)
    groups: frozenset[str] = field(default_factory=frozenset)
    screens: frozenset[str] = field(default_factory=frozenset)

    @property
    def everywhere(self) -> bool:
        return not (self.zones or self.groups or self.screens)

    def matches(self, screen: ScreenSpec) -> bool:
        """Whether ``screen`` is targeted; all-empty targets mean every screen."""
        if self.everywhere:
            return True
        return (
            screen.zone in self.zones
            or screen.id in self.screens
            or not self.groups.isdisjoint(screen.groups)
        )

    def label(self) -> str:
        """``zones north-entrance; groups food-court`` for explanations."""
        parts = []
        for name, values in (
            ("zones", self.zones),
            ("groups", self.groups),
            ("screens", self.screens),
        ):
            if values:
                parts.append(f"{name} {', '.join(sorted(values))}")
        return "; ".join(parts) or "every screen"


@dataclass(frozen=True)
class SignalRule:
    """Play only while a store signal (e.g. ``footfall``) satisfies a comparison.

    Kept as data, not a callable, so rules can be stored, compared and explained.
    """

    signal: str
    op: SignalOp
    value: float

    def holds(self, signals: object) -> tuple[bool, str]:
        """``(satisfied, explanation)`` for the given ``signals`` mapping (or None)."""
        label = f"{self.signal} {self.op} {self.value:g}"
        current = None
        if signals is not None:
            try:
                current = signals[self.signal]  # type: ignore[index]
            except (KeyError, TypeError):
                current = None
        if not isinstance(current, int | float) or isinstance(current, bool):
            return False, f"signal rule {label} not met (no {self.signal} signal)"
        ok = {
            ">": current > self.value,
            ">=": current >= self.value,
            "<": current < self.value,
            "<=": current <= self.value,
        }[self.op]
        verdict = "met" if ok else "not met"
        return ok, f"signal rule {label} {verdict} ({self.signal} = {current:g})"


@dataclass(frozen=True)
class CampaignSpec:
    """A booking: what plays, when, where, how often and how it ranks."""

    id: str
    advertiser: str
    category: str | None
    creatives: tuple[str, ...]
    start: date
    end: date
    days: frozenset[int]
    dayparts: tuple[Daypart, ...]
    targets: Targets
    priority: Priority
    share_of_voice: float
    max_plays_per_hour: int | None
    state: CampaignState = "booked"
    signal_rule: SignalRule | None = None
    # GTIN-14s the campaign advertises: attribution counts their scans (not the scheduler)
    promoted_gtins: tuple[str, ...] = ()

    def slots_booked(self, slots_per_loop: int) -> int:
        """Slots per loop the share of voice asks for (guaranteed ones get at least 1).

        Rounded half up on the decimal the operator typed (``Decimal(repr(x))``):
        0.35 × 10 is 3.5 and becomes 4, where ``round()`` (banker's rounding on a
        binary float that is really 3.4999…) would give 3 and surprise everyone.
        """
        wanted = round_half_up(self.share_of_voice, slots_per_loop)
        if self.priority == "guaranteed":
            return max(1, wanted)
        return wanted


@dataclass(frozen=True)
class Plan:
    """A whole validated plan file (``parse_plan`` builds it)."""

    timezone: str
    screens: tuple[ScreenSpec, ...]
    creatives: tuple[CreativeSpec, ...]
    campaigns: tuple[CampaignSpec, ...]


def round_half_up(share: float, slots: int) -> int:
    """``share × slots`` rounded half up, computed on the decimal the operator wrote."""
    exact = Decimal(repr(float(share))) * slots
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _hhmm(value: time) -> str:
    if value.second:
        return value.strftime("%H:%M:%S")
    return value.strftime("%H:%M")


def day_problem(day: date, name: str) -> str | None:
    """Why ``day`` cannot be asked about (``name: …``), or None if it is within range."""
    if FIRST_DAY <= day <= LAST_DAY:
        return None
    return (
        f"{name}: {day.isoformat()} is outside the days plans cover "
        f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})"
    )


def previous_day(day: date) -> date | None:
    """The day before ``day``; None before the first day ``date`` can hold."""
    return None if day == date.min else day - timedelta(days=1)


def next_day(day: date) -> date | None:
    """The day after ``day``; None after the last day ``date`` can hold."""
    return None if day == date.max else day + timedelta(days=1)


def date_ok(campaign: CampaignSpec, day: date | None) -> bool:
    """Whether ``day`` (local) is inside the flight and on one of the campaign's days.

    None (the day before ``date.min`` or after ``date.max``) is in no flight."""
    if day is None:
        return False
    return campaign.start <= day <= campaign.end and (
        not campaign.days or day.weekday() in campaign.days
    )


def date_reason(campaign: CampaignSpec, day: date) -> str:
    """Why ``date_ok`` is false, in the words the operator console shows."""
    if day < campaign.start:
        return f"outside flight (starts {campaign.start.isoformat()})"
    if day > campaign.end:
        return f"outside flight (ends {campaign.end.isoformat()})"
    plays = ", ".join(DAY_NAMES[d] for d in sorted(campaign.days))
    return f"not on {DAY_PLURALS[day.weekday()]} (plays {plays})"


def seconds_of_day(value: time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def active_at(campaign: CampaignSpec, day: date, second: int) -> tuple[bool, str]:
    """``(active, why not)`` for a campaign at ``second`` past local midnight of ``day``.

    Flight, days and dayparts only; state, targeting and signals are checked by the
    caller. The part of a midnight-crossing daypart after midnight belongs to the
    previous day, so a Friday 22:00–02:00 booking plays until Saturday 02:00.
    """
    if not campaign.dayparts:
        if date_ok(campaign, day):
            return True, ""
        return False, date_reason(campaign, day)
    today = date_ok(campaign, day)
    why_date = ""
    for part in campaign.dayparts:
        start, end = seconds_of_day(part.start), seconds_of_day(part.end)
        if start == end or start <= second < end or (start > end and second >= start):
            if today:
                return True, ""
            why_date = why_date or date_reason(campaign, day)
        elif start > end and second < end:
            yesterday = previous_day(day)
            if date_ok(campaign, yesterday):
                return True, ""
            why_date = why_date or (
                date_reason(campaign, yesterday)
                if yesterday is not None
                else f"outside flight (starts {campaign.start.isoformat()})"
            )
    if why_date:
        return False, why_date
    if not today:
        return False, date_reason(campaign, day)
    labels = ", ".join(part.label() for part in campaign.dayparts)
    return False, f"outside daypart {labels}"


def may_play_on(campaign: CampaignSpec, day: date) -> bool:
    """Whether any moment of local ``day`` can be active (cheap pre-filter)."""
    if date_ok(campaign, day):
        return True
    return any(part.crosses_midnight for part in campaign.dayparts) and date_ok(
        campaign, previous_day(day)
    )


def daypart_bounds(campaigns: Iterable[CampaignSpec]) -> list[int]:
    """Sorted seconds-of-day where some campaign's daypart starts or ends (0 excluded).

    Between two consecutive bounds every campaign is either active throughout or
    not at all, so one check at the segment's start stands for the whole segment.
    """
    bounds: set[int] = set()
    for campaign in campaigns:
        for part in campaign.dayparts:
            bounds.add(seconds_of_day(part.start))
            bounds.add(seconds_of_day(part.end))
    bounds.discard(0)
    return sorted(bounds)


def flight_intervals(campaigns: Iterable[CampaignSpec]) -> list[tuple[date, date]]:
    """Date ranges (inclusive) over which every campaign's date status is constant.

    Status means "today is in flight" and "yesterday was in flight" (the latter for
    midnight-crossing dayparts); weekdays still vary inside a range. Worked on day
    ordinals, so a flight ending on ``date.max`` has its ranges cut off there instead
    of overflowing.
    """
    last_day = date.max.toordinal()
    cuts: set[int] = set()
    for campaign in campaigns:
        for edge in (campaign.start.toordinal(), campaign.end.toordinal() + 1):
            cuts.add(edge)
            cuts.add(edge + 1)
    ordered = sorted(cuts)
    return [
        (date.fromordinal(a), date.fromordinal(min(b - 1, last_day)))
        for a, b in zip(ordered, ordered[1:], strict=False)
        if a <= last_day
    ]


def representative_days(campaigns: Sequence[CampaignSpec]) -> list[tuple[date, date, date]]:
    """``(sample, first, last)``: one sample date per weekday of each flight interval.

    Checking the samples checks every date: inside an interval, a date behaves
    exactly like the sample with the same weekday. ``first``/``last`` bound the dates
    the sample stands for (all of that weekday in ``first..last``).
    """
    samples: list[tuple[date, date, date]] = []
    for first, last in flight_intervals(campaigns):
        span = (last - first).days + 1
        for offset in range(min(span, 7)):
            sample = first + timedelta(days=offset)
            last_same = sample + timedelta(days=7 * ((last - sample).days // 7))
            samples.append((sample, sample, last_same))
    return samples
