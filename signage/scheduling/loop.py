"""The loop scheduler: which creative plays in each slot of a screen's loop.

Everything here is a pure function of the plan and the wall clock, so any process
(API server, player preview, report) computes the same loop for the same instant,
and screens with the same loop length change loops at the same moment.

How one loop is filled (``slots_per_loop`` = n):

1. Eligible campaigns: booked, targeting the screen, in flight, on the day, in a
   daypart, store-signal rule met, with at least one creative that fits the slot,
   and not yet at ``max_plays_per_hour`` — all judged at the loop's start.
2. ``interrupt`` campaigns share every slot (evenly, the remainder rotating).
3. ``guaranteed`` campaigns get ``max(1, round_half_up(sov × n))`` each, in id order.
4. ``standard`` campaigns ask for ``round_half_up(sov × n)``; if the free slots do
   not cover the total, each gets its proportional share (largest remainder; ties
   rotate with the loop number so campaigns take turns). A category holding more
   than ``n // 2`` slots cannot be kept apart, so standard slots beyond that are
   handed back (then offered to other standard campaigns, then to house).
5. ``house`` campaigns fill what is left round-robin (starting point rotating).
6. Slots still empty carry no creative; the player shows its built-in fallback.

Frequency caps are counted per clock hour (local) from the loops that *start* in
that hour, numbered from the first one: a loop's cap state is found by scheduling
that hour's earlier loops, never from what a player reported, so it is
deterministic. Creatives of a campaign rotate with the loop number.

The slots are then arranged so no two neighbours (the last slot neighbours the
first) share a category; see ``_arrange`` for why this always succeeds when any
arrangement does, and otherwise leaves the fewest possible neighbouring pairs.

Speed (a mall day is 500 screens × ~750 loops) comes from caching, never from a
different rule; ``_CACHING = False`` computes every loop from scratch and the tests
compare the two. Layers, outermost first:

* ``_PlanIndex``, per campaign list (by object identity): campaigns sorted once, a
  zone / group / screen-id index to find a screen's campaigns, and the date and
  daypart verdicts, which depend on the campaign and the day, not the screen.
* Per cut (slot length, slots per loop) of that list, ``_Cut``: each campaign's
  ``_Entry`` (which creatives fit, slots wanted), the slots made from it, and the
  ``_Layout`` of every set of counts met so far (arrangement, notes, slot lists) —
  the same counts recur across segments and screens far more than whole loops do.
* Per screen and local day, segments: stretches with the same eligible campaigns.
  (Sharing segments between screens with the same eligible campaigns was tried:
  on the benchmark plan only ~20% of segments repeat across screens, and keeping
  every screen's compositions alive for reuse cost more in memory and garbage
  collection than it saved.)
* Per segment and cap state a ``_Base`` holds what the loop number cannot change,
  and its ``_Composition`` (counts, reasons, layout) per rotation key: which tied
  standard campaigns get the leftover slots (found by bisection, since the phases
  that start the turn at the same campaign pick the same ones) and, when it
  matters, the house phase. ``_walk`` follows caps as the plays left this hour, so
  a loop whose cap state did not change costs a key and a dictionary lookup.

Each loop's reasons are a tuple over every campaign of the plan, so a new
composition copies a few thousand references; templates and bases keep only what
they change, because long-lived copies of those lists cost more in garbage
collection than the copying saves.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import cast
from zoneinfo import ZoneInfo

from signage.scheduling.model import (
    CampaignSpec,
    CreativeSpec,
    ScreenSpec,
    active_at,
    date_reason,
    daypart_bounds,
    may_play_on,
    round_half_up,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# Loops are placed only where every instant they touch, and its local time, is a
# ``datetime``: a few days in from either end of the calendar. Asked for a loop or a
# day beyond, the scheduler raises ValueError, never OverflowError.
_FIRST_DAY = date(1, 1, 4)
_LAST_DAY = date(9999, 12, 27)
_FIRST_TS = (_FIRST_DAY.toordinal() - _EPOCH_ORDINAL) * 86400
_LAST_TS = (_LAST_DAY.toordinal() - _EPOCH_ORDINAL + 1) * 86400
_RANK = {"interrupt": 0, "guaranteed": 1, "standard": 2, "house": 3}
_SLOT_CACHE_PERIOD = 720  # creative rotation period up to which slot lists are reused
_VERDICT_ROWS = 256  # cached days / moments of date and daypart verdicts per campaign list
_LAYOUTS = 100_000  # cached slot layouts per campaign list and cut before starting over

# False makes every loop be computed from scratch by the general allocation: no
# composition, segment or plan caches, no sharing between screens, no fast path.
# Only tests flip it, to check that the caches never change a result.
_CACHING = True


@dataclass(frozen=True)
class Slot:
    """One slot of a loop in play order; ``creative_id`` None means "show the fallback"."""

    position: int
    campaign_id: str | None
    creative_id: str | None
    category: str | None
    duration_s: float


@dataclass(frozen=True)
class Reason:
    """Why a campaign has (or has not) the slots it has in one loop."""

    campaign_id: str
    included: bool
    slots: int
    why: str
    wanted: int = 0


_Reasons = list[Reason | None] | dict[int, Reason | None]  # by place in the plan


@dataclass
class Loop:
    """The slots one screen plays from ``valid_from`` (inclusive) to ``valid_until``.

    ``reasons`` and ``notes`` are tuples shared by every loop with the same
    composition (a loop explains every campaign it was given, so copying them per
    loop would dominate the cost of a day's timeline); ``slots`` is the loop's own.
    """

    screen_id: str
    index: int
    valid_from: datetime
    valid_until: datetime
    slot_seconds: int
    slots: list[Slot]
    reasons: tuple[Reason, ...]
    notes: tuple[str, ...] = ()


def _unplaceable(what: str) -> ValueError:
    return ValueError(
        f"no loops {what}: the scheduler places loops from "
        f"{_FIRST_DAY.isoformat()} to {_LAST_DAY.isoformat()}"
    )


def epoch_seconds(at: datetime) -> int:
    """Whole seconds since the Unix epoch; naive datetimes are taken as UTC (storage time)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - EPOCH
    return delta.days * 86400 + delta.seconds


def loop_index_at(screen: ScreenSpec, at: datetime) -> int:
    """Number of the loop playing at ``at``, counted from the epoch."""
    return epoch_seconds(at) // screen.loop_seconds


def build_loop(
    screen: ScreenSpec,
    campaigns: Sequence[CampaignSpec],
    creatives: Mapping[str, CreativeSpec],
    at: datetime,
    *,
    signals: Mapping[str, float] | None = None,
) -> Loop:
    """The loop that plays on ``screen`` at instant ``at``."""
    schedule = _ScreenSchedule(screen, campaigns, creatives, signals)
    return schedule.loop(loop_index_at(screen, at))


def slot_at(loop: Loop, at: datetime) -> Slot:
    """The slot of ``loop`` on air at ``at`` (which must fall inside the loop)."""
    offset = epoch_seconds(at) - epoch_seconds(loop.valid_from)
    position = offset // loop.slot_seconds
    if not 0 <= position < len(loop.slots):
        raise ValueError(f"{at.isoformat()} is outside loop {loop.index} of {loop.screen_id}")
    return loop.slots[position]


def plays_for_day(
    screen: ScreenSpec,
    campaigns: Sequence[CampaignSpec],
    creatives: Mapping[str, CreativeSpec],
    day: date,
    *,
    before: datetime | None = None,
) -> tuple[Counter[str], int]:
    """Booked slots per campaign on local ``day`` (in loops starting before ``before``,
    if given) and the loops' slots in all: ``loops_for_day`` counted, for reports."""
    schedule = _ScreenSchedule(screen, campaigns, creatives, None)
    return schedule.day_plays(day, epoch_seconds(before) if before is not None else None)


def loops_for_day(
    screen: ScreenSpec,
    campaigns: Sequence[CampaignSpec],
    creatives: Mapping[str, CreativeSpec],
    day: date,
    *,
    signals: Mapping[str, float] | None = None,
) -> Iterator[Loop]:
    """Every loop starting on local ``day``, in order (timelines, reports, benchmarks)."""
    schedule = _ScreenSchedule(screen, campaigns, creatives, signals)
    yield from schedule.day_loops(day)


# --------------------------------------------------------------------------- engine


@dataclass(slots=True, eq=False)
class _Entry:
    """A campaign that may play on screens of one cut, with what the cut makes of it.

    The cut (slot length and slots per loop) decides which creatives fit and how
    many slots the share of voice asks for, so every screen with that cut shares
    the entry, and the slots made from it (one per loop position and creative).
    """

    campaign: CampaignSpec
    id: str
    nth: int  # place in the plan's sorted campaigns (its verdicts are kept there)
    position: int  # place of its reason in every loop's reasons (nth, unless ids repeat)
    rank: int
    want: int
    most: int
    creatives: tuple[CreativeSpec, ...]
    category: str | None
    cat: str | None
    cap: int | None
    group: tuple[str, str]  # what ``_arrange`` keeps apart: ("c", category) or ("k", id)
    slots: list[Slot | None] = field(default_factory=list)  # [position × creatives + k]
    # per count c: its layout cells (entry, j, c) for j < c, made once (see ``_arrange``)
    cells: dict[int, tuple[tuple[_Entry, int, int], ...]] = field(default_factory=dict)
    left_out: dict[str, Reason] = field(default_factory=dict)  # by date or time reason


@dataclass(slots=True, eq=False)
class _Segment:
    """A stretch of one local day during which the same campaigns are eligible."""

    eligible: list[_Entry]
    by_rank: tuple[list[_Entry], ...]
    capped: list[_Entry]
    template: list[Reason | None]
    lo: int  # seconds of the local day the segment covers: lo <= second < hi
    hi: int
    caps: list[tuple[str, int, int]]  # (id, most, cap) of the capped entries
    bases: dict[tuple[int, ...], _Base] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Day:
    template: list[Reason | None]
    candidates: list[_Entry]
    bounds: list[int]
    segments: dict[int, _Segment] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Layout:
    """Where the counted slots of a composition go, and its slot list per creative phase.

    A layout depends only on which campaigns get how many slots, so compositions
    that differ only in their explanations (a cap, a scaled-down share, another
    segment or another screen of the same cut) share one.
    """

    plan: list[tuple[_Entry | None, int, int]]  # per position: entry, j-th of its c slots, c
    notes: tuple[str, ...]
    period: int
    slot_lists: dict[int, list[Slot]] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Composition:
    """Counts, explanations and layout for one cap/rotation state of a segment."""

    counts: dict[str, int]
    reasons: tuple[Reason, ...]
    layout: _Layout
    plays: tuple[tuple[int, int], ...] = ()  # (place in segment.caps, slots) of those playing


@dataclass(slots=True, eq=False)
class _Base:
    """One cap state of a segment: which rotations matter and the fixed part (see _base).

    The compositions of the state are kept here by rotation key (see
    ``_ScreenSchedule._rotation``).
    """

    periods: tuple[int, int, int]
    fast: bool
    rooms: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)
    reasons: list[tuple[int, Reason | None]] = field(default_factory=list)  # over the template
    plus: dict[str, Reason] = field(default_factory=dict)  # reason with a leftover slot
    wants: list[int] = field(default_factory=list)  # of the standard campaigns, capped
    shares: tuple[int, int] = (0, 0)  # slots left for standard campaigns, slots they want
    house_free: int = 0
    # leftover standard slots (fast bases): campaigns (by place in id order) that always
    # get one, the tied ones that take turns, and how many of those get one per loop
    fixed: tuple[int, ...] = ()
    turns: list[int] = field(default_factory=list)
    take: int = 0
    k: int = 1  # standard campaigns, the period of their rotation
    ph: int = 1  # period of the house rotation that matters (1: none)
    compositions: dict[object, _Composition] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Cut:
    """What the screens with one cut share within a campaign list: empty slots, layouts."""

    empty: list[Slot]
    # per campaign (place in the plan): its creatives as looked up, and its entry or
    # why it cannot play on this cut
    entries: list[tuple[tuple[CreativeSpec | None, ...], _Entry | Reason] | None]
    layouts: dict[tuple[object, ...], _Layout] = field(default_factory=dict)


class _ScreenSchedule:
    """Everything about one screen that does not change from loop to loop, cached.

    Building a loop is then a dictionary lookup in the common case: the same
    eligible campaigns, cap state and rotation phase give the same composition.
    """

    def __init__(
        self,
        screen: ScreenSpec,
        campaigns: Sequence[CampaignSpec],
        creatives: Mapping[str, CreativeSpec],
        signals: Mapping[str, float] | None,
    ) -> None:
        self.screen = screen
        self.n = screen.slots_per_loop
        self.length = screen.loop_seconds
        self.tz = ZoneInfo(screen.timezone)
        self.signals = signals
        self._offsets: dict[int, int] = _offsets(screen.timezone) if _CACHING else {}
        self._days: dict[int, _Day] = {}
        index = self.index = _plan_index(campaigns)
        cut_key = (screen.slot_seconds, self.n)
        if _CACHING:
            # explanations depend on the campaign and the loop size only: shared by screens
            self._reasons: dict[tuple[object, ...], Reason] = index.explained.setdefault(self.n, {})
            cut = index.cuts.get(cut_key)
            if cut is None:
                cut = index.cuts[cut_key] = _Cut(self._empty_slots(), [None] * len(campaigns))
        else:
            self._reasons = {}
            cut = _Cut(self._empty_slots(), [None] * len(campaigns))
        self.cut = cut
        prepared = index.prepared
        template = list(index.template)
        self.entries: list[_Entry] = []
        self.signal_why: dict[str, tuple[bool, str]] = {}
        if _CACHING:
            targeted = set(index.everywhere)
            targeted.update(index.by_zone.get(screen.zone, ()))
            targeted.update(index.by_screen.get(screen.id, ()))
            for group in screen.groups:
                targeted.update(index.by_group.get(group, ()))
        else:
            targeted = {
                i
                for i, p in enumerate(prepared)
                if p.static is None
                and (
                    p.everywhere
                    or screen.zone in p.zones
                    or screen.id in p.screens
                    or not p.groups.isdisjoint(screen.groups)
                )
            }
        position = index.position
        known = cut.entries
        get = creatives.get
        for i in sorted(targeted):
            p = prepared[i]
            found = tuple(map(get, p.campaign.creatives))
            cached = known[i]
            if cached is not None and cached[0] == found:
                entry = cached[1]
            else:
                entry = self._entry(p, i, position[p.id], found)
                if _CACHING:
                    known[i] = (found, entry)
            if isinstance(entry, Reason):
                template[i] = entry
                continue
            template[i] = None
            self.entries.append(entry)
            rule = p.campaign.signal_rule
            if rule is not None:
                self.signal_why[p.id] = rule.holds(signals)
        self.template = template
        self.any_capped = any(e.cap is not None for e in self.entries)

    def _empty_slots(self) -> list[Slot]:
        seconds = float(self.screen.slot_seconds)
        return [Slot(p, None, None, None, seconds) for p in range(self.n)]

    def _entry(
        self, p: _Prepared, nth: int, position: int, found: tuple[CreativeSpec | None, ...]
    ) -> _Entry | Reason:
        """The entry of ``p`` for this screen's cut, given its creatives as looked up."""
        fitting = []
        longest = 0.0
        waiting = 0
        for creative in found:
            if creative is None:
                continue
            if not creative.approved:
                waiting += 1
                continue
            if creative.duration_s <= self.screen.slot_seconds:
                fitting.append(creative)
            longest = max(longest, creative.duration_s)
        if not fitting:
            if longest:
                why = f"no creative fits {self.screen.slot_seconds} s slots (shortest too long)"
            elif waiting:
                why = "no approved creative (waiting for the operator's approval, or refused)"
            else:
                why = "no creatives"
            return Reason(p.id, False, 0, why)
        n = self.n
        if p.rank in (0, 3):
            want = most = n
        else:
            want = most = _booked(p.campaign.share_of_voice, n, p.rank == 1)
        return _Entry(
            campaign=p.campaign,
            id=p.id,
            nth=nth,
            position=position,
            rank=p.rank,
            want=want,
            most=most,
            creatives=tuple(fitting),
            category=p.category,
            cat=p.cat,
            cap=p.campaign.max_plays_per_hour,
            group=("c", p.cat) if p.cat is not None else ("k", p.id),
        )

    # -- time

    def offset(self, ts: int) -> int:
        """UTC offset in seconds at ``ts``, cached per 15-minute bucket.

        Offset changes happen on 15-minute boundaries in every current zone; a
        bucket whose two ends disagree is never cached, so it stays exact anyway.
        """
        bucket = ts // 900
        cached = self._offsets.get(bucket)
        if cached is not None:
            return cached
        first = self._utcoffset(bucket * 900)
        if first == self._utcoffset(bucket * 900 + 899):
            self._offsets[bucket] = first
            return first
        return self._utcoffset(ts)

    def _utcoffset(self, ts: int) -> int:
        moment = EPOCH + timedelta(seconds=ts)
        offset = moment.astimezone(self.tz).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _day(self, ordinal: int) -> _Day:
        day_info = self._days.get(ordinal)
        if day_info is not None:
            return day_info
        day = date.fromordinal(ordinal)
        template = list(self.template)
        candidates = []
        plan = self.index
        verdicts: list[str | None] = (
            plan.dates(ordinal) if _CACHING else [None] * len(plan.prepared)
        )
        for entry in self.entries:
            why = verdicts[entry.nth]
            if why is None:
                campaign = entry.campaign
                why = "" if may_play_on(campaign, day) else date_reason(campaign, day)
                if _CACHING:
                    verdicts[entry.nth] = why
            if not why:
                candidates.append(entry)
            else:
                template[entry.position] = self._left_out(entry, why)
        day_info = _Day(template, candidates, daypart_bounds(e.campaign for e in candidates))
        self._days[ordinal] = day_info
        return day_info

    @staticmethod
    def _left_out(entry: _Entry, why: str) -> Reason:
        """The (shared) reason ``entry`` is left out for a date or time ``why``."""
        reason = entry.left_out.get(why)
        if reason is None:
            reason = entry.left_out[why] = Reason(entry.id, False, 0, why, entry.want)
        return reason

    def _segment(self, ordinal: int, second: int) -> _Segment:
        day_info = self._day(ordinal)
        index = bisect_right(day_info.bounds, second)
        segment = day_info.segments.get(index)
        if segment is not None:
            return segment
        start = day_info.bounds[index - 1] if index else 0
        day = date.fromordinal(ordinal)
        template = list(day_info.template)
        eligible: list[_Entry] = []
        plan = self.index
        verdicts: list[tuple[bool, str] | None] = (
            plan.moment(ordinal, start) if _CACHING else [None] * len(plan.prepared)
        )
        signal_why = self.signal_why
        for entry in day_info.candidates:
            verdict = verdicts[entry.nth]
            if verdict is None:
                verdict = active_at(entry.campaign, day, start)
                if _CACHING:
                    verdicts[entry.nth] = verdict
            ok, why = verdict
            if ok and signal_why and entry.id in signal_why:
                ok, why = signal_why[entry.id]
            if ok:
                eligible.append(entry)
            else:
                template[entry.position] = self._left_out(entry, why)
        by_rank: tuple[list[_Entry], ...] = ([], [], [], [])
        for entry in eligible:
            by_rank[entry.rank].append(entry)
        capped = [e for e in eligible if e.cap is not None]
        hi = day_info.bounds[index] if index < len(day_info.bounds) else 86400
        caps = [(e.id, e.most, cast(int, e.cap)) for e in capped]
        segment = _Segment(eligible, by_rank, capped, template, start, hi, caps)
        day_info.segments[index] = segment
        return segment

    # -- loops

    def _placeable(self, first: int, last: int, what: str) -> None:
        """Refuse loops ``first``…``last`` unless all of them can be placed (see _FIRST_TS)."""
        if first * self.length < _FIRST_TS or (last + 1) * self.length > _LAST_TS:
            raise _unplaceable(what)

    def loop(self, index: int) -> Loop:
        """Loop ``index``, with caps counted from the first loop of its clock hour."""
        self._placeable(index - 3600 // self.length - 1, index, f"at loop {index}")
        first = index
        if self.any_capped:
            ts = index * self.length
            local = ts + self.offset(ts)
            first = -(-(ts - local % 3600) // self.length)
        *_, (_, ts, composition) = self._walk(first, index, None)  # the last is ``index``
        valid_from = EPOCH + timedelta(seconds=ts)
        return Loop(
            screen_id=self.screen.id,
            index=index,
            valid_from=valid_from,
            valid_until=valid_from + timedelta(seconds=self.length),
            slot_seconds=self.screen.slot_seconds,
            slots=list(self._slots_of(composition.layout, index)),
            reasons=composition.reasons,
            notes=composition.layout.notes,
        )

    def _day_range(self, day: date) -> tuple[int, int]:
        """Loop numbers around local ``day`` (a loop either side: the walk keeps only
        those starting on it); refused unless all can be placed."""
        where = f"on {day.isoformat()}"
        if not _FIRST_DAY <= day <= _LAST_DAY:
            raise _unplaceable(where)
        tz = self.tz
        start = epoch_seconds(datetime.combine(day, time(0), tzinfo=tz))
        end = epoch_seconds(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        first = -(-start // self.length) - 1
        last = -(-end // self.length) + 1
        self._placeable(first, last, where)
        return first, last

    def day_plays(self, day: date, before: int | None = None) -> tuple[Counter[str], int]:
        """Slots per campaign in the loops starting on local ``day`` (those starting
        before epoch second ``before`` only), and the slots of those loops: what
        ``day_loops`` would show, counted without building the loops.

        Without caps, a loop's composition depends on its number only through its
        rotation key, which repeats with a period; so each stretch of one segment
        is counted per key (how many of its loop numbers have that key) instead of
        loop by loop. A year of a screen's reports then costs its segments, not its
        hundreds of thousands of loops."""
        first, last = self._day_range(day)
        if before is not None:
            last = min(last, (before - 1) // self.length)
        times: Counter[int] = Counter()  # composition (by id) -> loops that have it
        kept: dict[int, _Composition] = {}
        if self.any_capped or not _CACHING:
            for _index, _ts, composition in self._walk(first, last, day.toordinal()):
                times[id(composition)] += 1
                kept[id(composition)] = composition
        else:
            for composition, count in self._stretches(first, last, day.toordinal()):
                times[id(composition)] += count
                kept[id(composition)] = composition
        plays: Counter[str] = Counter()
        for key, count in times.items():
            for entry, _j, _count in kept[key].layout.plan:
                if entry is not None:
                    plays[entry.id] += count
        return plays, self.n * sum(times.values())

    def _stretches(self, first: int, last: int, ordinal: int) -> Iterator[tuple[_Composition, int]]:
        """``(composition, loops)`` over loops ``first``…``last`` starting on local day
        ``ordinal``, a segment stretch at a time (no caps: see ``day_plays``)."""
        length = self.length
        day_start = (ordinal - _EPOCH_ORDINAL) * 86400  # local seconds
        index = first
        while index <= last:
            ts = index * length
            off = self.offset(ts)
            local = ts + off
            if _EPOCH_ORDINAL + local // 86400 != ordinal:
                index += 1
                continue
            segment = self._segment(ordinal, local % 86400)
            upto = min(last, (day_start + segment.hi - off - 1) // length)
            if self.offset(upto * length) != off:
                upto = index  # the clock changes within: a loop at a time
            base = self._state(segment, [cap for _, _, cap in segment.caps])
            if base.fast:
                period = math.lcm(base.ph, base.k) if base.turns else base.ph
            else:
                period = math.lcm(*(p or 1 for p in base.periods))
            count = upto - index + 1
            if period >= count:
                picks = [(i, 1) for i in range(index, upto + 1)]
            else:
                picks = [(index + r, (upto - index - r) // period + 1) for r in range(period)]
            for at, loops in picks:
                key = self._rotation(base, at)
                composition = base.compositions.get(key)
                if composition is None:
                    composition = self._new_composition(segment, base, key, at)
                yield composition, loops
            index = upto + 1

    def day_loops(self, day: date) -> Iterator[Loop]:
        """Every loop starting on local ``day``, in order (see ``loops_for_day``)."""
        first, last = self._day_range(day)
        length = self.length
        screen_id = self.screen.id
        slot_seconds = self.screen.slot_seconds
        span = timedelta(seconds=length)
        slots_of = self._slots_of
        after = None
        until = EPOCH
        for index, ts, composition in self._walk(first, last, day.toordinal()):
            layout = composition.layout
            slots = layout.slot_lists.get(index % layout.period)
            if slots is None:
                slots = slots_of(layout, index)
            # consecutive loops: each starts when the one before ends
            valid_from = until if index == after else EPOCH + timedelta(seconds=ts)
            until = valid_from + span
            after = index + 1
            yield Loop(
                screen_id,
                index,
                valid_from,
                until,
                slot_seconds,
                list(slots),
                composition.reasons,
                layout.notes,
            )

    def _walk(
        self, first: int, last: int, ordinal: int | None
    ) -> Iterator[tuple[int, int, _Composition]]:
        """``(index, start, composition)`` of loops ``first``…``last`` in order.

        With ``ordinal``, only the loops starting on that local day, and caps start
        over with each clock hour (``day_loops``); without, every loop, with caps
        counted from ``first`` on (``loop`` starts at the first loop of the hour).

        Caps are followed as the plays each capped campaign of the segment has left
        (``rooms``); the cap state (``_base``) only changes when one of them falls
        below what the campaign could take, so most loops cost a rotation key and a
        dictionary lookup. ``used`` carries the plays over when the segment changes
        within the hour.
        """
        length = self.length
        offsets = self._offsets
        offset = self.offset
        epoch_ordinal = _EPOCH_ORDINAL
        segment: _Segment | None = None
        base: _Base | None = None
        rooms: list[int] | None = None
        used: dict[str, int] = {}
        hour = None
        day = lo = hi = 0
        caps: list[tuple[str, int, int]] = []
        fast = False
        for index in range(first, last + 1):
            ts = index * length
            shift = offsets.get(ts // 900)
            local = ts + (shift if shift is not None else offset(ts))
            here = epoch_ordinal + local // 86400
            if ordinal is not None:
                if here != ordinal:
                    continue
                hour_start = ts - local % 3600
                if hour_start != hour:
                    hour, used, rooms = hour_start, {}, None
            second = local % 86400
            if segment is None or here != day or not lo <= second < hi:
                if segment is not None and rooms is not None:
                    for (cid, _, cap), room in zip(caps, rooms, strict=True):
                        if room != cap:
                            used[cid] = cap - room
                segment = self._segment(here, second)
                day, lo, hi, caps = here, segment.lo, segment.hi, segment.caps
                rooms = None
            if not _CACHING:
                yield index, ts, self._reference(segment, index, used)
                continue
            if rooms is None:
                rooms = [max(0, cap - used.get(cid, 0)) for cid, _, cap in caps]
                base = None
            if base is None:
                base = self._state(segment, rooms)
                fast = base.fast
            key: object
            if fast:  # what ``_rotation`` computes, inline: most loops come here
                turn = index % base.ph
                if base.turns:
                    start = bisect_left(base.turns, index % base.k)
                    if start < len(base.turns):
                        turn += start * base.ph
                key = turn
            else:
                key = self._rotation(base, index)
            composition = base.compositions.get(key)
            if composition is None:
                composition = self._new_composition(segment, base, key, index)
            for place, got in composition.plays:
                room = rooms[place] = rooms[place] - got
                if room < caps[place][1]:
                    base = None  # the cap state changes
            yield index, ts, composition

    def _reference(self, segment: _Segment, index: int, used: dict[str, int]) -> _Composition:
        """Loop ``index`` from scratch by the general allocation; adds its capped plays."""
        rooms = {cid: min(most, max(0, cap - used.get(cid, 0))) for cid, most, cap in segment.caps}
        composition = self._compose(segment, rooms, index)
        for entry in segment.capped:
            got = composition.counts.get(entry.id)
            if got:
                used[entry.id] = used.get(entry.id, 0) + got
        return composition

    def _state(self, segment: _Segment, rooms: list[int]) -> _Base:
        """The base of the cap state where the capped campaigns have ``rooms`` plays left."""
        cap_key = tuple(
            [
                room if room < most else most
                for (_, most, _), room in zip(segment.caps, rooms, strict=True)
            ]
        )
        base = segment.bases.get(cap_key)
        if base is None:
            limits = dict(zip((cid for cid, _, _ in segment.caps), cap_key, strict=True))
            base = segment.bases[cap_key] = self._base(segment, limits)
        return base

    @staticmethod
    def _rotation(base: _Base, index: int) -> object:
        """What of loop ``index``'s number the composition depends on, in ``base``."""
        if not base.fast:
            p_int, p_std, p_house = base.periods
            return (
                index % p_int if p_int else 0,
                index % p_std if p_std else 0,
                index % p_house if p_house else 0,
            )
        ph = base.ph
        key = index % ph
        turns = base.turns
        if turns:
            # the tied standard campaigns that get the leftover slots are the next
            # ``take`` at or after place ``index % k``: phases that start the run at
            # the same campaign give the same composition
            start = bisect_left(turns, index % base.k)
            if start < len(turns):
                key += start * ph
        return key

    def _new_composition(
        self, segment: _Segment, base: _Base, key: object, index: int
    ) -> _Composition:
        """The composition of ``base`` for rotation ``key`` (loop ``index`` has that key)."""
        if base.fast:
            composition = self._fast_compose(
                segment, base, index, _picks(base, cast(int, key) // base.ph)
            )
        else:
            composition = self._compose(segment, base.rooms, index)
        counts = composition.counts
        composition.plays = tuple(
            (place, counts[cid])
            for place, (cid, _, _) in enumerate(segment.caps)
            if counts.get(cid)
        )
        base.compositions[key] = composition
        return composition

    def _slots_of(self, layout: _Layout, index: int) -> list[Slot]:
        """The slots of ``layout`` for loop ``index`` (creatives rotate with the number)."""
        phase = index % layout.period
        slots = layout.slot_lists.get(phase)
        if slots is not None:
            return slots
        n = self.n
        slots = []
        for position, (entry, j, count) in enumerate(layout.plan):
            if entry is None:
                slots.append(self.cut.empty[position])
                continue
            k = len(entry.creatives)
            pick = (index * count + j) % k
            cells = entry.slots
            if not cells:
                cells.extend([None] * (n * k))
            slot = cells[position * k + pick]
            if slot is None:
                creative = entry.creatives[pick]
                slot = Slot(position, entry.id, creative.id, entry.category, creative.duration_s)
                cells[position * k + pick] = slot
            slots.append(slot)
        if layout.period <= _SLOT_CACHE_PERIOD and _CACHING:
            layout.slot_lists[phase] = slots
        return slots

    def _base(self, segment: _Segment, rooms: dict[str, int]) -> _Base:
        """What one cap state of a segment decides whatever the loop number.

        A composition depends on the loop number only through the rotations of
        ``_compose``, and usually only one of them matters: which standard campaigns
        get the leftover slots when demand is scaled down, or how house campaigns
        share what is empty. The base records the rotation periods that matter (the
        cache key leaves the others out, so a segment reuses a few compositions for
        hundreds of loops) and, in the common case, everything but the rotating
        part, so a new phase costs one small adjustment (``_fast_compose``). Cases
        where competitive separation may trim standard slots, or interrupts split
        unevenly or run into caps, keep every rotation and take the general path.
        """
        n = self.n
        interrupts, guaranteed, standard, house = segment.by_rank
        limit = n // 2 if n > 1 else n
        free = n
        if interrupts:
            active = [e for e in interrupts if rooms.get(e.id, n) > 0]
            if active:
                share = n // len(active)
                if n % len(active) or any(rooms.get(e.id, n) < share for e in active):
                    return self._general(segment, rooms)
                if len(active) > 1 and (guaranteed or standard):
                    # "no room: interrupt K-2, K-1 took all slots" names them in turn
                    return self._general(segment, rooms)
                free = 0
        fixed_free = free
        for e in guaranteed:
            fixed_free -= min(rooms.get(e.id, e.want), fixed_free)
        wants = [rooms.get(e.id, e.want) for e in standard]
        total = sum(wants)
        scaled = total > fixed_free
        by_cat: dict[str, int] = {}
        for e in guaranteed:
            if e.cat is not None:
                by_cat[e.cat] = by_cat.get(e.cat, 0) + rooms.get(e.id, e.want)
        for e, want in zip(standard, wants, strict=True):
            if e.cat is not None:
                most = min(want, want * fixed_free // total + 1) if scaled else want
                by_cat[e.cat] = by_cat.get(e.cat, 0) + most
        if any(v > limit for v in by_cat.values()):
            return self._general(segment, rooms)  # trimming depends on rotation order
        p_std = 0
        leftover = 0
        if scaled and fixed_free > 0:
            leftover = fixed_free - sum(w * fixed_free // total for w in wants)
            if leftover and len(standard) > 1:
                p_std = len(standard)
        house_free = fixed_free - total if not scaled else 0
        p_house = 0
        if len(house) > 1 and house_free > 0:
            uniform = house_free % len(house) == 0 and all(
                e.cat is None and e.id not in rooms for e in house
            )
            if not uniform:
                p_house = len(house)
        # the rotation-independent part: phase 0 without the rotating standard picks
        # a base keeps only what differs from the segment's template: bases are many,
        # and each with a copy of every campaign's reason cost the garbage collector
        # more than copying the template again for each composition
        changes: dict[int, Reason | None] = {}
        counts, _ = self._allocate(segment, rooms, 0, picks=not p_std, reasons=changes)
        result = _Base((0, p_std, p_house), True, rooms, counts, list(changes.items()))
        if p_std:
            # leftover slots go by largest remainder; equal remainders take turns
            groups: dict[int, list[int]] = {}
            for place, want in enumerate(wants):
                rest = want * fixed_free % total
                if rest:
                    groups.setdefault(rest, []).append(place)
            fixed: list[int] = []
            left = leftover
            for rest in sorted(groups, reverse=True):
                group = groups[rest]
                if left >= len(group):
                    fixed.extend(group)
                    left -= len(group)
                else:
                    result.turns = group
                    result.take = left
                    left = 0
                if not left:
                    break
            result.fixed = tuple(fixed)
            result.k = p_std
            result.wants = wants
            result.shares = (fixed_free, total)
        if p_house:
            result.house_free = house_free
            result.ph = p_house
        return result

    @staticmethod
    def _general(segment: _Segment, rooms: dict[str, int]) -> _Base:
        """A base whose compositions take the general path, every rotation kept."""
        interrupts, _, standard, house = segment.by_rank
        return _Base((len(interrupts), len(standard), len(house)), False, rooms)

    def _fast_compose(
        self, segment: _Segment, base: _Base, index: int, picks: Sequence[int] | None = None
    ) -> _Composition:
        """A composition from its base plus this loop's rotation (see ``_base``).

        ``picks`` are the standard campaigns (places in ``by_rank[2]``) that get a
        leftover slot this loop, when the caller has them already.
        """
        counts = dict(base.counts)
        reasons = list(segment.template)
        for position, reason in base.reasons:
            reasons[position] = reason
        if base.k > 1:
            standard = segment.by_rank[2]
            if picks is None:
                picks = _std_picks(base, index)
            plus = base.plus
            for place in picks:
                e = standard[place]
                got = counts[e.id] = counts[e.id] + 1
                reason = plus.get(e.id)
                if reason is None:
                    fixed_free, total = base.shares
                    key = ("standard", base.wants[place], fixed_free, total, 0)
                    reason = plus[e.id] = self._reason(e, got, key)
                reasons[e.position] = reason
        if base.house_free:
            self._fill_house(segment, base.rooms, index, counts, base.house_free, reasons)
        return self._finish(segment, counts, reasons)

    def _fill_house(
        self,
        segment: _Segment,
        rooms: Mapping[str, int],
        index: int,
        counts: dict[str, int],
        free: int,
        reasons: _Reasons | None,
    ) -> int:
        """Share ``free`` slots among house campaigns round-robin; returns what is left.

        The first pass skips campaigns whose category already holds ``n // 2``
        slots (so separation stays possible); a second pass fills regardless,
        because a house ad next to its like beats an empty slot.
        """
        n = self.n
        limit = n // 2 if n > 1 else n
        by_cat: dict[str, int] = {}
        for e in segment.eligible:
            got = counts.get(e.id)
            if got and e.cat is not None and e.rank < 3:
                by_cat[e.cat] = by_cat.get(e.cat, 0) + got
        house_order = _rotated(segment.by_rank[3], index)
        for e in house_order:
            counts[e.id] = 0
        respect = True
        while free:
            progress = False
            for e in house_order:
                if not free:
                    break
                if counts[e.id] >= rooms.get(e.id, n):
                    continue
                if respect and e.cat is not None and by_cat.get(e.cat, 0) >= limit:
                    continue
                counts[e.id] += 1
                free -= 1
                progress = True
                if e.cat is not None:
                    by_cat[e.cat] = by_cat.get(e.cat, 0) + 1
            if not progress:
                if not respect:
                    break
                respect = False
        if reasons is not None:
            for e in house_order:
                got = counts[e.id]
                if got:
                    key: tuple[object, ...] = ("house",)
                elif rooms.get(e.id, n) == 0:
                    key = ("capped",)
                else:
                    key = ("taken",)
                reasons[e.position] = self._reason(e, got, key)
        return free

    def _reason(self, entry: _Entry, got: int, key: tuple[object, ...]) -> Reason:
        cache_key = (entry.id, got, key)
        reason = self._reasons.get(cache_key)
        if reason is None:
            reason = Reason(entry.id, got > 0, got, _explain(entry, got, key, self.n), entry.want)
            self._reasons[cache_key] = reason
        return reason

    def _finish(
        self, segment: _Segment, counts: dict[str, int], reasons: list[Reason | None]
    ) -> _Composition:
        """Wrap counts and explanations into a composition, with the layout of the counts."""
        chosen = [e for e in segment.eligible if counts.get(e.id)]
        mine = {e.id: counts[e.id] for e in chosen}
        key = (*chosen, *mine.values())
        layouts = self.cut.layouts
        layout = layouts.get(key)
        if layout is None:
            layout = self._layout(chosen, counts)
            if _CACHING:
                if len(layouts) >= _LAYOUTS:
                    layouts.clear()
                layouts[key] = layout
        return _Composition(mine, tuple(reasons), layout)  # type: ignore[arg-type]

    def _layout(self, chosen: list[_Entry], counts: Mapping[str, int]) -> _Layout:
        """Arrange the counted slots (see ``_arrange``); creatives rotate with ``period``."""
        n = self.n
        plan, adjacent, filled = _arrange(n, chosen, counts)
        period = 1
        for e in chosen:
            if len(e.creatives) > 1:
                period = math.lcm(period, len(e.creatives))
        return _Layout(plan, _notes(adjacent, n - filled), period)

    def _compose(
        self, segment: _Segment, rooms: Mapping[str, int], index: int, *, picks: bool = True
    ) -> _Composition:
        """The composition of one loop, by the general allocation (see ``_allocate``)."""
        reasons: list[Reason | None] = list(segment.template)
        counts, _ = self._allocate(segment, rooms, index, picks=picks, reasons=reasons)
        return self._finish(segment, counts, reasons)

    def _allocate(
        self,
        segment: _Segment,
        rooms: Mapping[str, int],
        index: int,
        *,
        picks: bool = True,
        reasons: _Reasons | None = None,
    ) -> tuple[dict[str, int], _Reasons]:
        """Allocate slots by priority, keep categories apart, and explain every choice.

        Explanations are keyed by small tuples and their texts made once per
        schedule, because most loops repeat the same explanations. ``picks=False``
        leaves out the leftover standard slots handed out by rotation (``_base``
        adds them per loop). The eligible campaigns' reasons are written into
        ``reasons`` by place, by default a copy of the segment's template.
        """
        n = self.n
        counts: dict[str, int] = {}
        why: dict[str, tuple[object, ...]] = {}
        free = n
        interrupts, guaranteed, standard, house = segment.by_rank
        capped_out = ("capped",)

        # 1. interrupts share the whole loop
        takers: list[str] = []
        if interrupts:
            order = _rotated(interrupts, index)
            active = [e for e in order if rooms.get(e.id, n) > 0]
            for e in order:
                if rooms.get(e.id, n) == 0:
                    counts[e.id], why[e.id] = 0, capped_out
            if active:
                base, extra = divmod(n, len(active))
                for i, e in enumerate(active):
                    share = base + (1 if i < extra else 0)
                    got = min(share, rooms.get(e.id, n))
                    counts[e.id] = got
                    free -= got
                    takers.append(e.id)
                    why[e.id] = ("interrupt", got != share)
        blocked = ("blocked", tuple(takers))

        # 2. guaranteed: exact count, id order
        for e in guaranteed:
            limit = rooms.get(e.id, e.want)
            if limit == 0:
                counts[e.id], why[e.id] = 0, capped_out
                continue
            got = limit if limit <= free else free
            counts[e.id] = got
            free -= got
            if got == 0:
                why[e.id] = blocked
            else:
                why[e.id] = ("guaranteed", got == limit)

        # 3. standard: proportional when short
        fixed_free = free
        std_order = _rotated(standard, index) if standard else standard
        wants = {e.id: rooms.get(e.id, e.want) for e in std_order}
        total = sum(wants.values())
        if total <= free:
            counts.update(wants)
            free -= total
        elif free:
            remainders: dict[str, int] = {}
            given = 0
            for e in std_order:
                base, rest = divmod(wants[e.id] * free, total)
                counts[e.id] = base
                given += base
                remainders[e.id] = rest
            leftover = free - given
            if leftover and picks:
                ranked = sorted(std_order, key=lambda e: -remainders[e.id])  # stable: rotation
                for e in ranked[:leftover]:
                    counts[e.id] += 1
            free = 0
        else:
            for e in std_order:
                counts[e.id] = 0
        # keep categories separable: no category above n // 2 through standard slots
        limit_per_cat = n // 2 if n > 1 else n
        by_cat: dict[str, int] = {}
        for e in segment.eligible:
            if e.cat is not None and e.rank < 3 and counts.get(e.id):
                by_cat[e.cat] = by_cat.get(e.cat, 0) + counts[e.id]
        trimmed: dict[str, int] = {}
        for cat, held in sorted(by_cat.items()):
            excess = held - limit_per_cat
            while excess > 0:
                pool = [e for e in std_order if e.cat == cat and counts[e.id] > 0]
                if not pool:
                    break
                victim = max(pool, key=lambda e: counts[e.id])
                counts[victim.id] -= 1
                trimmed[victim.id] = trimmed.get(victim.id, 0) + 1
                by_cat[cat] -= 1
                excess -= 1
                free += 1
        if trimmed:
            progress = True
            while free and progress:
                progress = False
                for e in std_order:
                    if (
                        free
                        and counts[e.id] < wants[e.id]
                        and (e.cat is None or by_cat.get(e.cat, 0) < limit_per_cat)
                    ):
                        counts[e.id] += 1
                        free -= 1
                        progress = True
                        if e.cat is not None:
                            by_cat[e.cat] = by_cat.get(e.cat, 0) + 1
        for e in std_order:
            if e.want == 0:
                why[e.id] = ("zero",)
            elif wants[e.id] == 0:
                why[e.id] = capped_out
            elif counts[e.id] == 0 and fixed_free == 0:
                why[e.id] = blocked
            else:
                why[e.id] = ("standard", wants[e.id], fixed_free, total, trimmed.get(e.id, 0))

        # 4. house fills the rest, round-robin
        if reasons is None:
            reasons = list(segment.template)
        for e in segment.eligible:
            if e.rank < 3:
                reasons[e.position] = self._reason(e, counts.get(e.id, 0), why[e.id])
        if house:
            if fixed_free == 0:
                for e in house:
                    counts[e.id] = 0
                    key = ("capped",) if rooms.get(e.id, n) == 0 else ("full",)
                    reasons[e.position] = self._reason(e, 0, key)
            else:
                self._fill_house(segment, rooms, index, counts, free, reasons)
        return counts, reasons


def _explain(entry: _Entry, got: int, key: tuple[object, ...], n: int) -> str:
    """The operator-facing sentence for an explanation key (see ``_compose``)."""
    kind = key[0]
    cap = entry.cap
    if kind == "capped":
        return f"capped: {cap}/{cap} plays this hour"
    if kind == "blocked":
        takers = cast(tuple[str, ...], key[1])
        if takers:
            return f"no room: interrupt {', '.join(takers)} took all slots"
        return "no room: guaranteed and interrupt took all slots"
    if kind == "interrupt":
        note = f" (cap {cap} plays/hour)" if key[1] else ""
        return f"included: interrupt {got} of {n} slots{note}"
    if kind == "guaranteed":
        if got == entry.want:
            return f"included: guaranteed {got} of {n} slots"
        if key[1]:
            return f"included: guaranteed {got} of {n} slots (cap {cap} plays/hour)"
        return f"included: guaranteed {got} of {n} slots (booked {entry.want}, no room)"
    if kind == "zero":
        share = entry.campaign.share_of_voice
        return f"share of voice {share:g} × {n} slots rounds to 0 slots"
    if kind == "standard":
        _, wanted, fixed_free, total, trimmed = key
        extra = f"; {trimmed} fewer to keep {entry.category} ads apart" if trimmed else ""
        if wanted != entry.want:
            extra += f"; cap {cap} plays/hour"
        if got == 0:
            return (
                f"no room this loop: {fixed_free} slots left for {total} wanted, "
                f"standard campaigns take turns{extra}"
            )
        if got == entry.want:
            return f"included: standard {got} of {n} slots"
        return (
            f"included: standard {got} of {n} slots (wanted {entry.want}; "
            f"{fixed_free} slots left for {total} wanted{extra})"
        )
    if kind == "house":
        return f"included: house {got} of {n} slots"
    if kind == "full":
        return "no room: higher priorities filled every slot"
    return "no room: other campaigns filled the empty slots"


@lru_cache(maxsize=4096)
def _booked(share: float, slots: int, guaranteed: bool) -> int:
    wanted = round_half_up(share, slots)
    return max(1, wanted) if guaranteed else wanted


@dataclass(slots=True, eq=False)
class _Prepared:
    """What the scheduler needs from a campaign whatever the screen (cached by identity)."""

    campaign: CampaignSpec
    id: str
    static: Reason | None
    not_targeted: Reason
    everywhere: bool
    zones: frozenset[str]
    groups: frozenset[str]
    screens: frozenset[str]
    rank: int
    category: str | None
    cat: str | None


_PREPARED: dict[int, _Prepared] = {}


class _PlanIndex:
    """What every screen's schedule needs from one campaign list, computed once.

    Keyed by the identity of the campaign objects (see ``_plan_index``), so 500
    screens scheduled from one list share the sorted campaigns, the reasons of the
    campaigns a screen is not targeted by, an index from zone / group / screen id to
    the campaigns targeting it, and the date and daypart verdicts (which depend on
    the campaign and the local day, never on the screen).
    """

    def __init__(self, campaigns: tuple[CampaignSpec, ...]) -> None:
        self.campaigns = campaigns  # keeps the objects (and so their ids) alive
        prepared = sorted((_prepare(c) for c in campaigns), key=lambda p: p.id)
        self.prepared = prepared
        self.position = {p.id: i for i, p in enumerate(prepared)}
        self.template: list[Reason | None] = []
        self.everywhere: list[int] = []
        self.by_zone: dict[str, list[int]] = {}
        self.by_group: dict[str, list[int]] = {}
        self.by_screen: dict[str, list[int]] = {}
        for i, p in enumerate(prepared):
            if p.static is not None:
                self.template.append(p.static)
                continue
            self.template.append(p.not_targeted)
            if p.everywhere:
                self.everywhere.append(i)
                continue
            for name, index in (
                (p.zones, self.by_zone),
                (p.groups, self.by_group),
                (p.screens, self.by_screen),
            ):
                for value in name:
                    index.setdefault(value, []).append(i)
        self.explained: dict[int, dict[tuple[object, ...], Reason]] = {}
        self.cuts: dict[tuple[int, int], _Cut] = {}
        self._dates: dict[int, list[str | None]] = {}
        self._active: dict[tuple[int, int], list[tuple[bool, str] | None]] = {}

    def dates(self, ordinal: int) -> list[str | None]:
        """Per campaign (place in ``prepared``): ``""`` if it may play on the local day
        ``ordinal``, why not, or None while nobody has asked."""
        row = self._dates.get(ordinal)
        if row is None:
            if len(self._dates) >= _VERDICT_ROWS:
                self._dates.clear()
            row = self._dates[ordinal] = [None] * len(self.prepared)
        return row

    def moment(self, ordinal: int, second: int) -> list[tuple[bool, str] | None]:
        """Per campaign: ``active_at`` at ``second`` of local day ``ordinal`` (None: not
        asked yet)."""
        key = (ordinal, second)
        row = self._active.get(key)
        if row is None:
            if len(self._active) >= _VERDICT_ROWS:
                self._active.clear()
            row = self._active[key] = [None] * len(self.prepared)
        return row


_PLANS: dict[tuple[int, ...], _PlanIndex] = {}
_OFFSETS: dict[str, dict[int, int]] = {}


def _offsets(timezone: str) -> dict[int, int]:
    """The UTC offsets of ``timezone`` by 15-minute bucket, shared by its screens."""
    cached = _OFFSETS.get(timezone)
    if cached is None or len(cached) > 200_000:
        if len(_OFFSETS) >= 64:
            _OFFSETS.clear()
        cached = _OFFSETS[timezone] = {}
    return cached


def _plan_index(campaigns: Sequence[CampaignSpec]) -> _PlanIndex:
    """The shared index of ``campaigns``; the few most recent lists are kept.

    The key is the objects' identities (the index holds the objects, so an id
    cannot be reused by another object while its entry exists); frozen specs
    mean equal identity is equal content.
    """
    key = tuple(map(id, campaigns))
    index = _PLANS.get(key)
    if index is None:
        if len(_PLANS) >= 8:
            _PLANS.pop(next(iter(_PLANS)))
        index = _PLANS[key] = _PlanIndex(tuple(campaigns))
    return index


def _prepare(campaign: CampaignSpec) -> _Prepared:
    """Screen-independent facts about ``campaign``, cached while the same object is used.

    The cache is keyed by object identity and checked with ``is`` (specs are frozen),
    so a campaign list shared by 500 screens is examined once, not 500 times.
    """
    cached = _PREPARED.get(id(campaign))
    if cached is not None and cached.campaign is campaign:
        return cached
    if len(_PREPARED) > 200_000:
        _PREPARED.clear()
    static = None
    if campaign.state == "cancelled":
        static = Reason(campaign.id, False, 0, "cancelled")
    elif campaign.state == "held":
        static = Reason(campaign.id, False, 0, "held, not booked")
    elif campaign.state == "paused":
        static = Reason(campaign.id, False, 0, "paused by the operator")
    targets = campaign.targets
    category = campaign.category or None
    prepared = _Prepared(
        campaign=campaign,
        id=campaign.id,
        static=static,
        not_targeted=Reason(campaign.id, False, 0, f"not targeted ({targets.label()})"),
        everywhere=targets.everywhere,
        zones=targets.zones,
        groups=targets.groups,
        screens=targets.screens,
        rank=_RANK[campaign.priority],
        category=category,
        cat=category.casefold() if category else None,
    )
    _PREPARED[id(campaign)] = prepared
    return prepared


def _picks(base: _Base, start: int) -> list[int]:
    """The standard campaigns (places in id order) that get a leftover slot of ``base``
    when the turn of the tied ones starts at ``base.turns[start]``."""
    turns = base.turns
    end = start + base.take
    return [*base.fixed, *turns[start:end], *turns[: max(0, end - len(turns))]]


def _std_picks(base: _Base, index: int) -> list[int]:
    """Which standard campaigns (places in id order) get loop ``index``'s leftover slots.

    Largest remainder first; among equal remainders the rotation by loop number
    decides, the order ``_compose`` ranks them in: from place ``index % k`` on,
    wrapping around.
    """
    turns = base.turns
    start = bisect_left(turns, index % base.k) if turns else 0
    return _picks(base, start if start < len(turns) else 0)


def _rotated(entries: list[_Entry], index: int) -> list[_Entry]:
    """``entries`` (id order) rotated by the loop number, so ties take turns."""
    if len(entries) < 2:
        return list(entries)
    shift = index % len(entries)
    return entries[shift:] + entries[:shift]


def _arrange(
    n: int, chosen: list[_Entry], counts: Mapping[str, int]
) -> tuple[list[tuple[_Entry | None, int, int]], int, int]:
    """Place slots around the loop so that no two neighbours share a category.

    Slots are grouped (one group per category; every uncategorised campaign and the
    empty slots are groups of their own), groups are sorted largest first, and laid
    out along positions 0, 2, 4, … then 1, 3, 5, …

    Why this is optimal: in a cycle of n, at most ``n // 2`` slots can be pairwise
    non-neighbours, so a category with more than ``n // 2`` slots must touch itself.
    Conversely, if every category has at most ``n // 2`` slots, the largest group
    occupies only even positions, and any later group of size c starts at sequence
    index ≥ c; a run touching itself would need ``c ≥ n/2`` and to start before
    ``n/2`` — impossible (for odd n even the wrap pair n-1/0 is reached only by the
    first group, which then exceeds ``n // 2``). When one category has m > n // 2
    slots it comes first; it fills every even position and its surplus sits on odd
    positions, each adding two neighbouring pairs: ``2m - n`` pairs in all, which is
    the minimum (its slots form at most ``n - m`` runs around the cycle).

    Empty slots are simply the positions left over at the end of that sequence.

    Returns per position ``(entry, j, count)`` — the entry's j-th of ``count`` slots —,
    the number of neighbouring pairs sharing a category, and the slots filled.
    """
    sizes: dict[tuple[str, str], int] = {}
    members: dict[tuple[str, str], list[tuple[_Entry, int]]] = {}
    filled = 0
    biggest = 0
    for entry in chosen:
        count = counts[entry.id]
        filled += count
        key = entry.group  # ("c", category) or ("k", id)
        if entry.cat is not None:
            if key in sizes:
                size = sizes[key] = sizes[key] + count
                members[key].append((entry, count))
            else:
                size = sizes[key] = count
                members[key] = [(entry, count)]
            if size > biggest:
                biggest = size
        else:
            sizes[key] = count
            members[key] = [(entry, count)]
    order = _ORDERS.get(n)
    if order is None:
        order = _ORDERS[n] = list(range(0, n, 2)) + list(range(1, n, 2))
    plan: list[tuple[_Entry | None, int, int]] = [_NOTHING] * n
    i = 0
    for _size, key in sorted([(-size, key) for key, size in sizes.items()]):
        for member, count in members[key]:
            cells = member.cells.get(count)
            if cells is None:
                cells = member.cells[count] = tuple([(member, j, count) for j in range(count)])
            for cell in cells:
                plan[order[i]] = cell
                i += 1
    # the layout is optimal (see above), so the neighbouring pairs follow from the counts
    if n < 2 or biggest <= n // 2:
        adjacent = 0
    elif n == 2:
        adjacent = 1
    else:
        adjacent = 2 * biggest - n
    return plan, adjacent, filled


@lru_cache(maxsize=1024)
def _notes(adjacent: int, empty: int) -> tuple[str, ...]:
    """The notes of a loop with ``adjacent`` same-category neighbours and ``empty`` slots."""
    notes = []
    if adjacent:
        notes.append(
            f"competitive separation impossible: {adjacent} neighbouring pair(s) share a category"
        )
    if empty:
        notes.append(f"{empty} empty slot(s): no house content, player shows its fallback")
    return tuple(notes)


_ORDERS: dict[int, list[int]] = {}
_NOTHING: tuple[_Entry | None, int, int] = (None, 0, 0)


def count_adjacent(categories: Sequence[str | None]) -> int:
    """Neighbouring pairs (the last slot neighbours the first) sharing a category."""
    n = len(categories)
    if n < 2:
        return 0
    pairs = n if n > 2 else 1
    return sum(
        1
        for i in range(pairs)
        if categories[i] is not None and categories[i] == categories[(i + 1) % n]
    )
