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
* Per screen and local day, segments: stretches with the same eligible campaigns.
  (Sharing segments between screens with the same eligible campaigns was tried:
  on the benchmark plan only ~20% of segments repeat across screens, and keeping
  every screen's compositions alive for reuse cost more in memory and garbage
  collection than it saved.)
* Per segment and cap state a ``_Base`` holds what the loop number cannot change;
  per rotation phase a ``_Composition`` (keyed by which tied standard campaigns get
  the leftover slots, since many phases pick the same ones) holds counts,
  arrangement, reasons and notes; per creative phase, the slot list.
"""

from __future__ import annotations

import math
from bisect import bisect_right
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
_RANK = {"interrupt": 0, "guaranteed": 1, "standard": 2, "house": 3}
_SLOT_CACHE_PERIOD = 720  # creative rotation period up to which slot lists are reused
_VERDICTS = 500_000  # cached date/daypart verdicts per campaign list before starting over

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
    """A campaign that may play on this screen, with what the screen makes of it."""

    campaign: CampaignSpec
    id: str
    rank: int
    want: int
    most: int
    creatives: tuple[CreativeSpec, ...]
    category: str | None
    cat: str | None
    cap: int | None


@dataclass(slots=True, eq=False)
class _Segment:
    """A stretch of one local day during which the same campaigns are eligible."""

    eligible: list[_Entry]
    by_rank: tuple[list[_Entry], ...]
    capped: list[_Entry]
    template: list[Reason | None]
    positions: list[int]
    lo: int  # seconds of the local day the segment covers: lo <= second < hi
    hi: int
    caps: list[tuple[str, int, int]]  # (id, most, cap) of the capped entries
    bases: dict[tuple[int, ...], _Base] = field(default_factory=dict)
    compositions: dict[tuple[object, ...], _Composition] = field(default_factory=dict)
    by_picks: dict[tuple[object, ...], _Composition] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Day:
    template: list[Reason | None]
    candidates: list[_Entry]
    bounds: list[int]
    segments: dict[int, _Segment] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class _Composition:
    """Counts and arrangement for one cap/rotation state of a segment."""

    counts: dict[str, int]
    plan: list[tuple[_Entry | None, int, int]]  # per position: entry, j-th of its c slots, c
    reasons: tuple[Reason, ...]
    notes: tuple[str, ...]
    period: int
    counts_all: dict[str, int]
    slot_lists: dict[int, list[Slot]] = field(default_factory=dict)
    plays: tuple[tuple[str, int], ...] = ()  # (id, slots) of the capped campaigns playing


@dataclass(slots=True, eq=False)
class _Base:
    """One cap state of a segment: which rotations matter and the fixed part (see _base)."""

    periods: tuple[int, int, int]
    fast: bool
    rooms: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)
    reasons: list[Reason | None] = field(default_factory=list)
    std_groups: list[list[_Entry]] = field(default_factory=list)
    std_pos: dict[str, int] = field(default_factory=dict)
    leftover: int = 0
    plus: dict[str, Reason] = field(default_factory=dict)
    house_free: int = 0


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
        self._offsets: dict[int, int] = {}
        self._days: dict[int, _Day] = {}
        self._empty = [
            Slot(p, None, None, None, float(screen.slot_seconds)) for p in range(self.n)
        ]
        self._slots: dict[tuple[int, str, str], Slot] = {}
        index = self.index = _plan_index(campaigns)
        # explanations depend on the campaign and the loop size only: shared by screens
        self._reasons: dict[tuple[object, ...], Reason] = (
            index.explained.setdefault(self.n, {}) if _CACHING else {}
        )
        prepared = index.prepared
        self.position = index.position
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
                i for i, p in enumerate(prepared)
                if p.static is None and (
                    p.everywhere or screen.zone in p.zones or screen.id in p.screens
                    or not p.groups.isdisjoint(screen.groups)
                )
            }
        for i in sorted(targeted):
            p = prepared[i]
            entry = self._entry(p, creatives)
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

    def _entry(self, p: _Prepared, creatives: Mapping[str, CreativeSpec]) -> _Entry | Reason:
        fitting = []
        longest = 0.0
        for creative_id in p.campaign.creatives:
            creative = creatives.get(creative_id)
            if creative is None:
                continue
            if creative.duration_s <= self.screen.slot_seconds:
                fitting.append(creative)
            longest = max(longest, creative.duration_s)
        if not fitting:
            if longest:
                why = f"no creative fits {self.screen.slot_seconds} s slots (shortest too long)"
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
            rank=p.rank,
            want=want,
            most=most,
            creatives=tuple(fitting),
            category=p.category,
            cat=p.cat,
            cap=p.campaign.max_plays_per_hour,
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
        for entry in self.entries:
            if _CACHING:
                why = plan.date_why(entry.campaign, day, ordinal)
            else:
                why = "" if may_play_on(entry.campaign, day) else date_reason(entry.campaign, day)
            if not why:
                candidates.append(entry)
            else:
                template[self.position[entry.id]] = plan.reason(entry.id, why, entry.want)
        day_info = _Day(template, candidates, daypart_bounds(e.campaign for e in candidates))
        self._days[ordinal] = day_info
        return day_info

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
        for entry in day_info.candidates:
            if _CACHING:
                ok, why = plan.active(entry.campaign, day, ordinal, start)
            else:
                ok, why = active_at(entry.campaign, day, start)
            if ok and entry.id in self.signal_why:
                ok, why = self.signal_why[entry.id]
            if ok:
                eligible.append(entry)
            else:
                template[self.position[entry.id]] = plan.reason(entry.id, why, entry.want)
        by_rank: tuple[list[_Entry], ...] = ([], [], [], [])
        for entry in eligible:
            by_rank[entry.rank].append(entry)
        capped = [e for e in eligible if e.cap is not None]
        positions = [self.position[e.id] for e in eligible]
        hi = day_info.bounds[index] if index < len(day_info.bounds) else 86400
        caps = [(e.id, e.most, cast(int, e.cap)) for e in capped]
        segment = _Segment(eligible, by_rank, capped, template, positions, start, hi, caps)
        day_info.segments[index] = segment
        return segment

    # -- loops

    def loop(self, index: int, used: dict[str, int] | None = None) -> Loop:
        """Loop ``index``; ``used`` carries this clock hour's plays of capped campaigns.

        Without ``used`` the hour's earlier loops are scheduled first to find it.
        ``used`` is updated with this loop's plays.
        """
        ts = index * self.length
        local = ts + self.offset(ts)
        if used is None:
            used = {}
            if self.any_capped:
                hour_start = ts - local % 3600
                for earlier in range(-(-hour_start // self.length), index):
                    self._composition(earlier, used)
        segment = self._segment(_EPOCH_ORDINAL + local // 86400, local % 86400)
        composition = self._composition_in(segment, index, used)
        valid_from = EPOCH + timedelta(seconds=ts)
        return Loop(
            screen_id=self.screen.id,
            index=index,
            valid_from=valid_from,
            valid_until=valid_from + timedelta(seconds=self.length),
            slot_seconds=self.screen.slot_seconds,
            slots=list(self._slot_list(composition, index)),
            reasons=composition.reasons,
            notes=composition.notes,
        )

    def _composition(
        self, index: int, used: dict[str, int], local: int | None = None
    ) -> _Composition:
        if local is None:
            ts = index * self.length
            local = ts + self.offset(ts)
        segment = self._segment(_EPOCH_ORDINAL + local // 86400, local % 86400)
        return self._composition_in(segment, index, used)

    def _composition_in(
        self, segment: _Segment, index: int, used: dict[str, int]
    ) -> _Composition:
        """The composition of loop ``index`` in ``segment``; adds its capped plays to ``used``."""
        cap_key = (
            tuple([min(most, max(0, cap - used.get(cid, 0))) for cid, most, cap in segment.caps])
            if segment.caps
            else ()
        )
        if not _CACHING:  # the reference: everything from scratch, general allocation
            rooms = dict(zip((e.id for e in segment.capped), cap_key, strict=True))
            composition = self._compose(segment, rooms, index)
            for entry in segment.capped:
                got = composition.counts.get(entry.id)
                if got:
                    used[entry.id] = used.get(entry.id, 0) + got
            return composition
        base = segment.bases.get(cap_key)
        if base is None:
            rooms = dict(zip((e.id for e in segment.capped), cap_key, strict=True))
            base = self._base(segment, rooms)
            segment.bases[cap_key] = base
        p_int, p_std, p_house = base.periods
        key = (
            cap_key,
            index % p_int if p_int else 0,
            index % p_std if p_std else 0,
            index % p_house if p_house else 0,
        )
        composition = segment.compositions.get(key)
        if composition is None:
            if base.fast:
                # phases that hand the leftover standard slots to the same campaigns
                # give the same composition: share it (ties rotate over ~k phases,
                # but the picks usually repeat much sooner)
                picks = _std_picks(base, segment.by_rank[2], index) if base.leftover else ()
                alias = (cap_key, picks, key[3])
                composition = segment.by_picks.get(alias)
                if composition is None:
                    composition = self._fast_compose(segment, base, index, picks)
                    segment.by_picks[alias] = composition
            else:
                composition = self._compose(segment, base.rooms, index)
            counts = composition.counts
            composition.plays = tuple(
                (e.id, counts[e.id]) for e in segment.capped if counts.get(e.id)
            )
            segment.compositions[key] = composition
        for cid, got in composition.plays:
            used[cid] = used.get(cid, 0) + got
        return composition

    def day_loops(self, day: date) -> Iterator[Loop]:
        """Every loop starting on local ``day``, in order (see ``loops_for_day``).

        The same steps as ``loop`` for each index, with what stays put from one loop
        to the next (segment, clock hour) carried along instead of looked up again.
        """
        tz = self.tz
        start = epoch_seconds(datetime.combine(day, time(0), tzinfo=tz))
        end = epoch_seconds(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        length = self.length
        ordinal = day.toordinal()
        first = -(-start // length) - 1
        last = -(-end // length) + 1
        used: dict[str, int] = {}
        hour = None
        segment = None
        lo = hi = 0
        screen_id = self.screen.id
        slot_seconds = self.screen.slot_seconds
        span = timedelta(seconds=length)
        offset = self.offset
        compose = self._composition_in
        slot_list = self._slot_list
        for index in range(first, last + 1):
            ts = index * length
            local = ts + offset(ts)
            if _EPOCH_ORDINAL + local // 86400 != ordinal:
                continue
            hour_start = ts - local % 3600
            if hour_start != hour:
                hour, used = hour_start, {}
            second = local % 86400
            if segment is None or not lo <= second < hi:
                segment = self._segment(ordinal, second)
                lo, hi = segment.lo, segment.hi
            composition = compose(segment, index, used)
            phase = index % composition.period
            slots = composition.slot_lists.get(phase)
            if slots is None:
                slots = slot_list(composition, index)
            valid_from = EPOCH + timedelta(seconds=ts)
            yield Loop(screen_id, index, valid_from, valid_from + span, slot_seconds,
                       list(slots), composition.reasons, composition.notes)

    def _slot_list(self, composition: _Composition, index: int) -> list[Slot]:
        phase = index % composition.period
        slots = composition.slot_lists.get(phase)
        if slots is not None:
            return slots
        slots = []
        for position, (entry, j, count) in enumerate(composition.plan):
            if entry is None:
                slots.append(self._empty[position])
                continue
            creative = entry.creatives[(index * count + j) % len(entry.creatives)]
            key = (position, entry.id, creative.id)
            slot = self._slots.get(key)
            if slot is None:
                slot = Slot(position, entry.id, creative.id, entry.category, creative.duration_s)
                self._slots[key] = slot
            slots.append(slot)
        if composition.period <= _SLOT_CACHE_PERIOD and _CACHING:
            composition.slot_lists[phase] = slots
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
        full = _Base((len(interrupts), len(standard), len(house)), False, rooms)
        limit = n // 2 if n > 1 else n
        free = n
        if interrupts:
            active = [e for e in interrupts if rooms.get(e.id, n) > 0]
            if active:
                share = n // len(active)
                if n % len(active) or any(rooms.get(e.id, n) < share for e in active):
                    return full
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
            return full  # separation trimming depends on rotation order
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
        counts, reasons = self._allocate(segment, rooms, 0, picks=not p_std)
        result = _Base((0, p_std, p_house), True, rooms)
        result.counts = counts
        result.reasons = reasons
        if p_std:
            groups: dict[int, list[_Entry]] = {}
            for e, want in zip(standard, wants, strict=True):
                rest = want * fixed_free % total
                if rest:
                    groups.setdefault(rest, []).append(e)
            result.std_groups = [groups[r] for r in sorted(groups, reverse=True)]
            result.leftover = leftover
            result.std_pos = {e.id: i for i, e in enumerate(standard)}
            for e, want in zip(standard, wants, strict=True):
                got = counts[e.id] + 1
                key = (e.id, got, ("standard", want, fixed_free, total, 0))
                reason = self._reasons.get(key)
                if reason is None:
                    reason = Reason(e.id, True, got, _explain(e, got, key[2], n), e.want)
                    self._reasons[key] = reason
                result.plus[e.id] = reason
        result.house_free = house_free if p_house else 0
        return result

    def _fast_compose(
        self, segment: _Segment, base: _Base, index: int, picks: tuple[int, ...] | None = None
    ) -> _Composition:
        """A composition from its base plus this loop's rotation (see ``_base``).

        ``picks`` are the standard campaigns (indexes into ``by_rank[2]``) that get a
        leftover slot this loop, when the caller has them already.
        """
        counts = dict(base.counts)
        reasons = list(base.reasons)
        positions = self.position
        if base.leftover:
            standard = segment.by_rank[2]
            if picks is None:
                picks = _std_picks(base, standard, index)
            for i in picks:
                e = standard[i]
                counts[e.id] += 1
                reasons[positions[e.id]] = base.plus[e.id]
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
        reasons: list[Reason | None] | None,
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
                reasons[self.position[e.id]] = self._reason(e, got, key)
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
        """Arrange the counted slots and wrap everything into a composition."""
        n = self.n
        chosen = [e for e in segment.eligible if counts.get(e.id)]
        plan, adjacent, filled = _arrange(n, chosen, counts)
        notes = _notes(adjacent, n - filled)
        period = 1
        for e in chosen:
            if len(e.creatives) > 1:
                period = math.lcm(period, len(e.creatives))
        return _Composition(
            counts={e.id: counts[e.id] for e in chosen},
            plan=plan,
            reasons=tuple(reasons),  # type: ignore[arg-type]
            notes=notes,
            period=period,
            counts_all=counts,
        )

    def _compose(
        self, segment: _Segment, rooms: Mapping[str, int], index: int, *, picks: bool = True
    ) -> _Composition:
        """The composition of one loop, by the general allocation (see ``_allocate``)."""
        counts, reasons = self._allocate(segment, rooms, index, picks=picks)
        return self._finish(segment, counts, reasons)

    def _allocate(
        self, segment: _Segment, rooms: Mapping[str, int], index: int, *, picks: bool = True
    ) -> tuple[dict[str, int], list[Reason | None]]:
        """Allocate slots by priority, keep categories apart, and explain every choice.

        Explanations are keyed by small tuples and their texts made once per
        schedule, because most loops repeat the same explanations. ``picks=False``
        leaves out the leftover standard slots handed out by rotation (``_base``
        adds them per loop).
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
                    if free and counts[e.id] < wants[e.id] and (
                        e.cat is None or by_cat.get(e.cat, 0) < limit_per_cat
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
        reasons = list(segment.template)
        for e, position in zip(segment.eligible, segment.positions, strict=True):
            if e.rank < 3:
                reasons[position] = self._reason(e, counts.get(e.id, 0), why[e.id])
        if house:
            if fixed_free == 0:
                for e in house:
                    counts[e.id] = 0
                    key = ("capped",) if rooms.get(e.id, n) == 0 else ("full",)
                    reasons[self.position[e.id]] = self._reason(e, 0, key)
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
            for name, index in ((p.zones, self.by_zone), (p.groups, self.by_group),
                                (p.screens, self.by_screen)):
                for value in name:
                    index.setdefault(value, []).append(i)
        self.explained: dict[int, dict[tuple[object, ...], Reason]] = {}
        self._dates: dict[tuple[int, int], str] = {}
        self._active: dict[tuple[int, int, int], tuple[bool, str]] = {}
        self._reasons: dict[tuple[str, str, int], Reason] = {}

    def date_why(self, campaign: CampaignSpec, day: date, ordinal: int) -> str:
        """``""`` if ``campaign`` may play on ``day``, else why not."""
        key = (id(campaign), ordinal)
        why = self._dates.get(key)
        if why is None:
            why = "" if may_play_on(campaign, day) else date_reason(campaign, day)
            if len(self._dates) >= _VERDICTS:
                self._dates.clear()
            self._dates[key] = why
        return why

    def active(
        self, campaign: CampaignSpec, day: date, ordinal: int, second: int
    ) -> tuple[bool, str]:
        key = (id(campaign), ordinal, second)
        verdict = self._active.get(key)
        if verdict is None:
            verdict = active_at(campaign, day, second)
            if len(self._active) >= _VERDICTS:
                self._active.clear()
            self._active[key] = verdict
        return verdict

    def reason(self, campaign_id: str, why: str, wanted: int) -> Reason:
        """The (shared) reason a campaign is left out for a date or time ``why``."""
        key = (campaign_id, why, wanted)
        reason = self._reasons.get(key)
        if reason is None:
            reason = Reason(campaign_id, False, 0, why, wanted)
            if len(self._reasons) >= _VERDICTS:
                self._reasons.clear()
            self._reasons[key] = reason
        return reason


_PLANS: dict[tuple[int, ...], _PlanIndex] = {}


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


def _std_picks(base: _Base, standard: list[_Entry], index: int) -> tuple[int, ...]:
    """Which standard campaigns (by place in id order) get this loop's leftover slots.

    Largest remainder first; among equal remainders the rotation by loop number
    decides (the order ``_compose`` would rank them in). Sorted, so equal pick sets
    compare equal whatever the phase.
    """
    k = len(standard)
    shift = index % k
    left = base.leftover
    pos = base.std_pos
    picked: list[int] = []
    for group in base.std_groups:
        if left >= len(group):
            picked.extend(pos[e.id] for e in group)
            left -= len(group)
        else:
            ranked = sorted(group, key=lambda e: (pos[e.id] - shift) % k)[:left]
            picked.extend(pos[e.id] for e in ranked)
            left = 0
        if not left:
            break
    picked.sort()
    return tuple(picked)


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
        cat = entry.cat
        if cat is not None:
            key = ("c", cat)
            if key in sizes:
                size = sizes[key] = sizes[key] + count
                members[key].append((entry, count))
            else:
                size = sizes[key] = count
                members[key] = [(entry, count)]
            if size > biggest:
                biggest = size
        else:
            key = ("k", entry.id)
            sizes[key] = count
            members[key] = [(entry, count)]
    order = _ORDERS.get(n)
    if order is None:
        order = _ORDERS[n] = list(range(0, n, 2)) + list(range(1, n, 2))
    plan: list[tuple[_Entry | None, int, int]] = [_NOTHING] * n
    i = 0
    for _size, key in sorted([(-size, key) for key, size in sizes.items()]):
        for member, count in members[key]:
            for j in range(count):
                plan[order[i]] = (member, j, count)
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
            f"competitive separation impossible: {adjacent} neighbouring pair(s) share "
            "a category"
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
