"""Booked plays, kept in the database, so that a report sums rows instead of scheduling.

A year's report for a mall of 500 screens asked the scheduler for every screen and
day (``plays_for_day``, 180,000 times: many minutes). What a screen's local day books
depends only on its *loop*: its cut (slot length, slots per loop), its time zone and
the campaigns that may play on it that day, targets resolved. So:

* ``signage_booked_loop`` keeps each loop met so far, keyed by a hash of what it
  holds; the campaigns in it are those targeting the screen, booked (the one state
  that plays) and in flight (from their first day to the day after their last, for
  dayparts running past midnight). Screens in different zones, or the same screen
  before and after a campaign's flight, share a loop whenever nothing else differs.
* ``signage_screen_loop`` says which loop each screen had over which days (a run
  from one campaign start or end to the next: tens of rows per screen and year).
* ``signage_booked_day`` / ``signage_booked_play`` count a loop's day once for every
  screen that has it: its slots, and the plays each campaign is booked for.

A loop's counts never go stale, since a change to a campaign makes another loop;
they are counted when a report first needs them and kept (a few milliseconds of
scheduling per loop and day), so a booking never waits for a year of them. On the
benchmark mall (``benchmarks/signage_report_bench.py``: 500 screens, 57 campaigns, a
year) that is 11,717 runs of 1,812 loops, 24,499 loop days to count instead of
182,500 screen days, and bringing every screen's runs along at a commit takes a
fraction of a second, whatever the length of the campaign.

The runs follow the plan in the transaction that changes it (:mod:`signage.plan_cache`
marks the session; :func:`follow_plan` runs at its commit): from each screen's local
today on they are replaced by the new plan's, while earlier days keep the loops they
had, so a change today does not rewrite what was booked on days gone by. Only the
very first time (a new database, or one migrated from before these tables) are past
days taken from the plan as it is, the only one known; a screen the plan gains later
has nothing booked before the day it came.
"""

from __future__ import annotations

import hashlib
import json
import threading
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, and_, bindparam, case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from signage.models import BookedDay, BookedLoop, BookedPlay, BookedSync, ScreenLoop
from signage.plan_cache import plan_revision
from signage.scheduling import (
    CampaignSpec,
    CreativeSpec,
    Daypart,
    ScreenSpec,
    SignalRule,
    Targets,
    plays_for_day,
)
from signage.scheduling.model import FIRST_DAY, LAST_DAY
from store_server.timeutil import utcnow

ONE_DAY = timedelta(days=1)
PLAYING = "booked"  # held, paused and cancelled campaigns play nothing
_CHUNK = 500  # keys per ``IN (…)``

_LOOPS: Table = BookedLoop.__table__  # type: ignore[attr-defined]
_RUNS: Table = ScreenLoop.__table__  # type: ignore[attr-defined]
_DAYS: Table = BookedDay.__table__  # type: ignore[attr-defined]
_PLAYS: Table = BookedPlay.__table__  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- loops


def _campaign_entry(campaign: CampaignSpec) -> dict[str, Any]:
    """What of a campaign the scheduler counts with (not its advertiser or targets)."""
    rule = campaign.signal_rule
    return {
        "id": campaign.id,
        "category": campaign.category,
        "creatives": list(campaign.creatives),
        "start": campaign.start.isoformat(),
        "end": campaign.end.isoformat(),
        "days": sorted(campaign.days),
        "dayparts": [[p.start.isoformat(), p.end.isoformat()] for p in campaign.dayparts],
        "priority": campaign.priority,
        "share_of_voice": campaign.share_of_voice,
        "max_plays_per_hour": campaign.max_plays_per_hour,
        "state": campaign.state,
        "signal_rule": (
            None if rule is None else {"signal": rule.signal, "op": rule.op, "value": rule.value}
        ),
    }


def _campaign_of(entry: Mapping[str, Any]) -> CampaignSpec:
    rule = entry["signal_rule"]
    return CampaignSpec(
        id=entry["id"],
        advertiser="",
        category=entry["category"],
        creatives=tuple(entry["creatives"]),
        start=date.fromisoformat(entry["start"]),
        end=date.fromisoformat(entry["end"]),
        days=frozenset(entry["days"]),
        dayparts=tuple(
            Daypart(time.fromisoformat(a), time.fromisoformat(b)) for a, b in entry["dayparts"]
        ),
        targets=Targets(),  # resolved: the loop's screens are the targeted ones
        priority=entry["priority"],
        share_of_voice=entry["share_of_voice"],
        max_plays_per_hour=entry["max_plays_per_hour"],
        state=entry["state"],
        signal_rule=SignalRule(**rule) if rule else None,
    )


@dataclass(frozen=True)
class Loop:
    """A stored loop made back into what ``plays_for_day`` takes."""

    screen: ScreenSpec
    campaigns: tuple[CampaignSpec, ...]
    creatives: dict[str, CreativeSpec]

    @staticmethod
    def of(spec: Mapping[str, Any]) -> Loop:
        screen = ScreenSpec(
            id="",
            zone="",
            groups=frozenset(),
            slot_seconds=spec["slot_seconds"],
            slots_per_loop=spec["slots_per_loop"],
            timezone=spec["timezone"],
        )
        creatives = {
            c["id"]: CreativeSpec(
                id=c["id"], media="", duration_s=c["duration_s"], approved=c["approved"]
            )
            for c in spec["creatives"]
        }
        return Loop(screen, tuple(_campaign_of(c) for c in spec["campaigns"]), creatives)

    def day(self, day: date, before: datetime | None = None) -> tuple[Counter[str], int]:
        return plays_for_day(self.screen, self.campaigns, self.creatives, day, before=before)


def loop_key(spec: Mapping[str, Any]) -> str:
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


class _LoopSpecs:
    """Loop specs and keys of one plan, each made once however many screens share it."""

    def __init__(self, creatives: Mapping[str, CreativeSpec]) -> None:
        self.creatives = creatives
        self.entries: dict[str, dict[str, Any]] = {}
        self.keys: dict[tuple[object, ...], str] = {}
        self.specs: dict[str, dict[str, Any]] = {}

    def key(self, screen: ScreenSpec, campaigns: Iterable[CampaignSpec]) -> str:
        ordered = sorted(campaigns, key=lambda c: c.id)
        ids = tuple(c.id for c in ordered)
        found = self.keys.get((screen.slot_seconds, screen.slots_per_loop, screen.timezone, ids))
        if found is not None:
            return found
        entries = []
        used: set[str] = set()
        for campaign in ordered:
            entry = self.entries.get(campaign.id)
            if entry is None:
                entry = self.entries[campaign.id] = _campaign_entry(campaign)
            entries.append(entry)
            used.update(campaign.creatives)
        spec = {
            "slot_seconds": screen.slot_seconds,
            "slots_per_loop": screen.slots_per_loop,
            "timezone": screen.timezone,
            "campaigns": entries,
            "creatives": [
                {"id": c.id, "duration_s": c.duration_s, "approved": c.approved}
                for c in sorted(
                    (self.creatives[i] for i in used if i in self.creatives), key=lambda c: c.id
                )
            ],
        }
        key = loop_key(spec)
        self.keys[(screen.slot_seconds, screen.slots_per_loop, screen.timezone, ids)] = key
        self.specs[key] = spec
        return key


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class Run:
    """``screen_id`` had loop ``loop_key`` from ``first`` to ``last`` (local days)."""

    screen_id: str
    first: date
    last: date
    loop_key: str


class _Targeting:
    """The playing campaigns of a plan by what they target, to find a screen's quickly."""

    def __init__(self, campaigns: Iterable[CampaignSpec]) -> None:
        self.everywhere: list[CampaignSpec] = []
        self.by: dict[tuple[str, str], list[CampaignSpec]] = {}
        for campaign in campaigns:
            if campaign.state != PLAYING:
                continue
            targets = campaign.targets
            if targets.everywhere:
                self.everywhere.append(campaign)
            for kind, names in (
                ("zone", targets.zones),
                ("group", targets.groups),
                ("screen", targets.screens),
            ):
                for name in names:
                    self.by.setdefault((kind, name), []).append(campaign)

    def of(self, screen: ScreenSpec) -> list[CampaignSpec]:
        found = {c.id: c for c in self.everywhere}
        wanted = [("zone", screen.zone), ("screen", screen.id)]
        wanted += [("group", g) for g in screen.groups]
        for where in wanted:
            found.update((c.id, c) for c in self.by.get(where, ()))
        return list(found.values())


def _wanted_runs(
    screen: ScreenSpec, targeting: Iterable[CampaignSpec], start: date, loops: _LoopSpecs
) -> list[tuple[date, date, str]]:
    """The screen's loops from ``start`` to the last day plans cover, under this plan:
    a new run wherever a campaign targeting it comes into flight or leaves it."""
    active: dict[str, CampaignSpec] = {}
    changes: dict[date, list[tuple[bool, CampaignSpec]]] = {}
    for campaign in targeting:
        # the day after the day after its last (None: after the last day plans cover,
        # as a row stored before flights were checked may say)
        gone = campaign.end + 2 * ONE_DAY if campaign.end < LAST_DAY else None
        if campaign.start <= start and (gone is None or start < gone):
            active[campaign.id] = campaign
        for day, coming in ((campaign.start, True), (gone, False)):
            if day is not None and start < day <= LAST_DAY:
                changes.setdefault(day, []).append((coming, campaign))
    runs = [(start, LAST_DAY, loops.key(screen, active.values()))]
    for day in sorted(changes):
        for coming, campaign in changes[day]:
            if coming:
                active[campaign.id] = campaign
            else:
                active.pop(campaign.id, None)
        key = loops.key(screen, active.values())
        if key != runs[-1][2]:
            runs[-1] = (runs[-1][0], day - ONE_DAY, runs[-1][2])
            runs.append((day, LAST_DAY, key))
    return runs


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, leaving those already there (loops and counts never change)."""
    if not rows:
        return
    maker = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(maker(table).on_conflict_do_nothing(), rows)


def follow_plan(session: Session, *, now: datetime | None = None) -> None:
    """Bring every screen's loops from its local today on to the plan as it stands.

    Called at the commit of each plan change (see :mod:`signage.plan_cache`), and by
    reports should the plan have moved without it (the first report after migrating)."""
    from signage.service import load_specs  # the services use the plan cache, which calls here

    now = now or utcnow()
    specs = load_specs(session)
    connection = session.connection()
    state = session.get(BookedSync, 1)
    fresh = state is None
    stored: dict[str, list[Run]] = {}
    if not fresh:
        since = now.date() - ONE_DAY  # every time zone's today is at least this
        for row in connection.execute(
            select(_RUNS.c.screen_id, _RUNS.c.first_day, _RUNS.c.last_day, _RUNS.c.loop_key)
            .where(_RUNS.c.last_day >= since)
            .order_by(_RUNS.c.screen_id, _RUNS.c.first_day)
        ):
            stored.setdefault(row[0], []).append(Run(*row))
    else:
        connection.execute(delete(_RUNS))
    loops = _LoopSpecs(specs.creatives)
    targeting = _Targeting(specs.campaigns)
    gone: list[dict[str, Any]] = []
    cut: list[dict[str, Any]] = []
    new: list[dict[str, Any]] = []
    zones: dict[str, ZoneInfo] = {}
    for screen in specs.screens.values():
        tz = zones.get(screen.timezone) or zones.setdefault(
            screen.timezone, ZoneInfo(screen.timezone)
        )
        start = FIRST_DAY if fresh else now.astimezone(tz).date()
        wanted = _wanted_runs(screen, targeting.of(screen), start, loops)
        had = stored.pop(screen.id, [])
        if [(max(r.first, start), r.last, r.loop_key) for r in had if r.last >= start] == wanted:
            continue
        for run in had:
            if run.first >= start:
                gone.append({"s": run.screen_id, "f": run.first})
            elif run.last >= start:  # runs over today: ends yesterday, or goes on as it was
                if wanted[0][2] == run.loop_key:
                    cut.append({"s": run.screen_id, "f": run.first, "l": wanted.pop(0)[1]})
                else:
                    cut.append({"s": run.screen_id, "f": run.first, "l": start - ONE_DAY})
        new.extend(
            {"screen_id": screen.id, "first_day": a, "last_day": b, "loop_key": key}
            for a, b, key in wanted
        )
    for screen_id, had in stored.items():  # no longer in the plan: nothing from today on
        start = now.date()
        for run in had:
            if run.first >= start:
                gone.append({"s": screen_id, "f": run.first})
            elif run.last >= start:
                cut.append({"s": screen_id, "f": run.first, "l": start - ONE_DAY})
    used = {row["loop_key"] for row in new}
    _insert(connection, _LOOPS, [{"key": k, "spec": loops.specs[k]} for k in sorted(used)])
    by_pk = (_RUNS.c.screen_id == bindparam("s")) & (_RUNS.c.first_day == bindparam("f"))
    if gone:
        connection.execute(delete(_RUNS).where(by_pk), gone)
    if cut:
        connection.execute(update(_RUNS).where(by_pk).values(last_day=bindparam("l")), cut)
    if new:
        connection.execute(_RUNS.insert(), new)
    if state is None:
        state = BookedSync(id=1)
    state.revision = plan_revision(session)
    session.add(state)
    session.flush()


def _current(session: Session) -> None:
    state = session.get(BookedSync, 1)
    if state is None or state.revision != plan_revision(session):
        follow_plan(session)


def runs(session: Session, *, first: date, last: date, screen_id: str | None = None) -> list[Run]:
    """The screens' loops over ``first``…``last``, each run cut to the period."""
    _current(session)
    query = select(_RUNS.c.screen_id, _RUNS.c.first_day, _RUNS.c.last_day, _RUNS.c.loop_key).where(
        _RUNS.c.first_day <= last, _RUNS.c.last_day >= first
    )
    if screen_id is not None:
        query = query.where(_RUNS.c.screen_id == screen_id)
    return [
        Run(sid, max(a, first), min(b, last), key)
        for sid, a, b, key in session.connection().execute(query)
    ]


# --------------------------------------------------------------------------- counts


@dataclass
class LoopDays:
    """A loop's counted days: what it books on each."""

    key: str
    loop: Loop
    ordinals: list[int] = field(default_factory=list)
    days: list[tuple[Counter[str], int]] = field(default_factory=list)

    def on(self, day: date) -> tuple[Counter[str], int]:
        return self.days[bisect_left(self.ordinals, day.toordinal())]


def counts(session: Session, wanted: Iterable[Run]) -> dict[str, LoopDays]:
    """Every day of the runs counted, by loop: read, or counted now and stored."""
    needed: dict[str, set[int]] = {}
    for run in wanted:
        needed.setdefault(run.loop_key, set()).update(
            range(run.first.toordinal(), run.last.toordinal() + 1)
        )
    if not needed:
        return {}
    low = date.fromordinal(min(min(d) for d in needed.values()))
    high = date.fromordinal(max(max(d) for d in needed.values()))
    connection = session.connection()
    keys = sorted(needed)
    specs: dict[str, Mapping[str, Any]] = {}
    found: dict[tuple[str, int], tuple[Counter[str], int]] = {}
    for i in range(0, len(keys), _CHUNK):
        chunk = keys[i : i + _CHUNK]
        for key, spec in connection.execute(
            select(_LOOPS.c.key, _LOOPS.c.spec).where(_LOOPS.c.key.in_(chunk))
        ):
            specs[key] = spec
        span = (_DAYS.c.day >= low, _DAYS.c.day <= high, _DAYS.c.loop_key.in_(chunk))
        for key, day, slots in connection.execute(
            select(_DAYS.c.loop_key, _DAYS.c.day, _DAYS.c.slots).where(*span)
        ):
            found[(key, day.toordinal())] = (Counter(), slots)
        for key, day, campaign_id, plays in connection.execute(
            select(_PLAYS.c.loop_key, _PLAYS.c.day, _PLAYS.c.campaign_id, _PLAYS.c.plays).where(
                _PLAYS.c.day >= low, _PLAYS.c.day <= high, _PLAYS.c.loop_key.in_(chunk)
            )
        ):
            kept = found.get((key, day.toordinal()))
            if kept is not None:
                kept[0][campaign_id] = plays
    out: dict[str, LoopDays] = {}
    new_days: list[dict[str, Any]] = []
    new_plays: list[dict[str, Any]] = []
    for key in keys:
        loop = _loop(key, specs[key])
        days = out[key] = LoopDays(key, loop)
        for ordinal in sorted(needed[key]):
            counted = found.get((key, ordinal))
            if counted is None:
                day = date.fromordinal(ordinal)
                counted = loop.day(day)
                new_days.append({"loop_key": key, "day": day, "slots": counted[1]})
                new_plays.extend(
                    {"loop_key": key, "day": day, "campaign_id": cid, "plays": n}
                    for cid, n in sorted(counted[0].items())
                )
            days.ordinals.append(ordinal)
            days.days.append(counted)
    # written last and all at once: a first report counts for a while, holding no lock
    _insert(connection, _DAYS, new_days)
    _insert(connection, _PLAYS, new_plays)
    return out


def complete(session: Session, wanted: Sequence[Run]) -> None:
    """Count and store the days of the runs not counted yet (see :func:`counts`).

    Only which days are counted is read (the key index), not what they count."""
    needed: dict[str, list[tuple[int, int]]] = {}
    for run in wanted:
        needed.setdefault(run.loop_key, []).append((run.first.toordinal(), run.last.toordinal()))
    if not needed:
        return
    first = min(r.first for r in wanted)
    last = max(r.last for r in wanted)
    connection = session.connection()
    counted: dict[str, list[int]] = {}
    keys = sorted(needed)
    for i in range(0, len(keys), _CHUNK):
        for key, day in connection.execute(
            select(_DAYS.c.loop_key, _DAYS.c.day).where(
                _DAYS.c.loop_key.in_(keys[i : i + _CHUNK]),
                _DAYS.c.day >= first,
                _DAYS.c.day <= last,
            )
        ):
            counted.setdefault(key, []).append(day.toordinal())
    lacking = set()
    for key, spans in needed.items():
        days = sorted(counted.get(key, ()))
        for a, b in spans:
            if bisect_right(days, b) - bisect_left(days, a) != b - a + 1:
                lacking.add(key)
                break
    if lacking:
        counts(session, [run for run in wanted if run.loop_key in lacking])


def sums(
    session: Session,
    *,
    first: date,
    last: date,
    screen_id: str | None,
    by_screen: bool,
    past_last: date,
) -> tuple[dict[str, Counter[str]], dict[str, Counter[str]], Counter[str]]:
    """Booked plays per screen (``""``: all together) and campaign over the period, the
    same over its days up to ``past_last``, and the slots: summed by the database
    (every day of the period counted, see :func:`complete`)."""

    def joined(table: Table) -> Any:
        return _RUNS.join(
            table,
            and_(
                table.c.loop_key == _RUNS.c.loop_key,
                table.c.day >= _RUNS.c.first_day,
                table.c.day <= _RUNS.c.last_day,
                table.c.day >= first,
                table.c.day <= last,
            ),
        )

    where = [_RUNS.c.first_day <= last, _RUNS.c.last_day >= first]
    if screen_id is not None:
        where.append(_RUNS.c.screen_id == screen_id)
    place: list[Any] = [_RUNS.c.screen_id] if by_screen else []
    past = func.sum(case((_PLAYS.c.day <= past_last, _PLAYS.c.plays), else_=0))
    plays = (
        select(*place, _PLAYS.c.campaign_id, func.sum(_PLAYS.c.plays), past)
        .select_from(joined(_PLAYS))
        .where(*where)
        .group_by(*place, _PLAYS.c.campaign_id)
    )
    slots_query = select(*place, func.sum(_DAYS.c.slots)).select_from(joined(_DAYS)).where(*where)
    if by_screen:
        slots_query = slots_query.group_by(*place)
    connection = session.connection()
    whole: dict[str, Counter[str]] = {}
    before: dict[str, Counter[str]] = {}
    for row in connection.execute(plays):
        values = tuple(row)
        sid = str(values[0]) if by_screen else ""
        cid, n, m = values[-3], values[-2], values[-1]
        whole.setdefault(sid, Counter())[cid] = int(n)
        if m:
            before.setdefault(sid, Counter())[cid] = int(m)
    slots: Counter[str] = Counter()
    for row in connection.execute(slots_query):
        sid, n = (row[0], row[1]) if by_screen else ("", row[0])
        slots[sid] += int(n or 0)
    return whole, before, slots


_LOCK = threading.Lock()
_MADE: dict[str, Loop] = {}  # loops made back from their specs (a key's spec never changes)
_SO_FAR: dict[tuple[str, int, int], Counter[str]] = {}


def _loop(key: str, spec: Mapping[str, Any]) -> Loop:
    with _LOCK:
        loop = _MADE.get(key)
        if loop is None:
            if len(_MADE) > 20_000:
                _MADE.clear()
            loop = _MADE[key] = Loop.of(spec)
        return loop


def so_far(days: LoopDays, day: date, now: datetime) -> Counter[str]:
    """Booked plays of ``day`` in the loops started by ``now``: counted once per loop
    and loops started (they start at multiples of their length since the epoch)."""
    whole, _ = days.on(day)
    if not whole:
        return Counter()
    screen = days.loop.screen
    key = (days.key, day.toordinal(), -(-int(now.timestamp()) // screen.loop_seconds))
    with _LOCK:
        found = _SO_FAR.get(key)
    if found is None:
        found, _ = days.loop.day(day, before=now)
        with _LOCK:
            if len(_SO_FAR) > 10_000:
                _SO_FAR.clear()
            _SO_FAR[key] = found
    return found


def today_of(days: LoopDays, now: datetime) -> date:
    return now.astimezone(ZoneInfo(days.loop.screen.timezone)).date()
