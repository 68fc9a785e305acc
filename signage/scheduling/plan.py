"""Reading a signage plan file (PROTOCOL.md "Signage plan file") into frozen specs.

``caddie signage load`` must print *every* problem and change nothing, so this
parser never stops at the first mistake: it walks the whole document, records each
problem with a JSON path (``campaigns[2].creatives[0]: unknown creative 'CR-9'``)
and raises one ``InvalidInput`` at the end. A campaign with mistakes is still
judged on its valid parts for overbooking and slot lengths (see ``_campaigns``). It
accepts any Python object (hostile input included) and raises nothing else.

Choices the protocol leaves open, made here:

* unknown fields are problems (a typo such as ``"dayprts"`` would otherwise make a
  campaign play all day); fields starting with ``_`` are comments and ignored;
* ``days`` accepts ``mon``…``sun`` or full names, any case; ``[]`` means every day,
  like an omitted field; ``dayparts`` ``[]`` means all day; times are ``HH:MM`` or
  ``HH:MM:SS``, ``24:00`` may end a daypart, ``00:00``–``24:00`` is all day, an end
  before the start crosses midnight, and an empty daypart (start = end) is refused;
* ``share_of_voice`` is required for guaranteed and standard campaigns and defaults
  to 1 for interrupt and house ones;
* a zone or group in ``targets`` that no screen has is a problem (a typo would
  silently target nothing);
* screen ids follow the rule ``caddie screen enroll`` applies (``model.ID``: 1–200
  letters, digits or ``. _ : -``), so every screen a plan names can be enrolled and
  reached at ``/signage/screens/{id}/…``; creative and campaign ids stay the operator's
  own strings of up to 200 characters (an id holding ``/`` cannot be named in the
  attribution report's URL);
* bounds against absurd values: ``slot_seconds`` 1–3600, ``slots_per_loop``
  1–1000, ``duration_s`` up to a day, ``max_plays_per_hour`` 1–100000, flight
  dates in the years 2000–2099 (``FIRST_DAY``…``LAST_DAY``); at most 1000 problems
  are listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, time
from typing import Any, cast
from zoneinfo import ZoneInfo

from signage.scheduling.availability import LoadSegment, guaranteed_load, overbooked_somewhere
from signage.scheduling.model import (
    DAY_NAMES,
    DAY_PLURALS,
    FIRST_DAY,
    ID_RULE,
    LAST_DAY,
    PRIORITIES,
    STATES,
    CampaignSpec,
    CreativeSpec,
    Daypart,
    Plan,
    ScreenSpec,
    SignalRule,
    Targets,
    is_valid_id,
)
from signage.scheduling.signal_rules import StoreSignalRule
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import InvalidInput
from store_server.shared.gs1 import is_valid_gtin, normalize_gtin

MAX_PROBLEMS = 1000
MAX_ID = 200
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_RESOLUTION = re.compile(r"[1-9][0-9]{0,4}x[1-9][0-9]{0,4}")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_KINDS = ("image", "video", "html")
_ORIENTATIONS = ("landscape", "portrait")
_OPS = (">", ">=", "<", "<=")

_ROOT_KEYS = {"timezone", "screens", "creatives", "campaigns"}
_SCREEN_KEYS = {
    "id",
    "zone",
    "groups",
    "slot_seconds",
    "slots_per_loop",
    "orientation",
    "resolution",
    "store",
}
_CREATIVE_KEYS = {"id", "media", "duration_s", "sha256", "kind"}
_CAMPAIGN_KEYS = {
    "id",
    "advertiser",
    "category",
    "creatives",
    "start",
    "end",
    "days",
    "dayparts",
    "targets",
    "priority",
    "share_of_voice",
    "max_plays_per_hour",
    "state",
    "signal_rule",
    "promoted_gtins",
}
_TARGET_KEYS = {"zones", "groups", "screens"}
_RULE_KEYS = {"signal", "op", "value"}

_MISSING = object()


class _Problems:
    """Collects ``path: message`` lines, keeping the list bounded against hostile input."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.dropped = 0

    def add(self, path: str, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(f"{path}: {message}")
        else:
            self.dropped += 1

    def final(self) -> list[str]:
        if self.dropped:
            return [*self.items, f"… and {self.dropped} more problems"]
        return list(self.items)


def _kind(value: object) -> str:
    """JSON's name for a value's type, for messages read by operators."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(value: object) -> str:
    text = repr(value) if isinstance(value, str) else _kind(value)
    return text if len(text) <= 60 else text[:57] + "…'"


def _join(path: str, key: str) -> str:
    """JSON path of a field; top-level fields are named bare (``timezone``)."""
    return key if path == "plan" else f"{path}.{key}"


def _is_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return not (isinstance(value, float) and not math.isfinite(value))


class _Reader:
    """Field readers that report problems and return None instead of raising."""

    def __init__(self, problems: _Problems) -> None:
        self.p = problems

    def obj(self, value: object, path: str, allowed: set[str]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.p.add(path, f"must be an object, got {_kind(value)}")
            return None
        for key in value:
            if not isinstance(key, str):
                self.p.add(path, f"field names must be strings, got {_kind(key)}")
            elif not _known_field(key, allowed):
                self.p.add(_join(path, key)[:300], "unknown field")
        return value

    def array(self, value: object, path: str) -> list[Any] | None:
        if not isinstance(value, list | tuple):
            self.p.add(path, f"must be a list, got {_kind(value)}")
            return None
        return list(value)

    def text(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool = True,
        limit: int = MAX_ID,
        empty_ok: bool = False,
    ) -> str | None:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            if required:
                self.p.add(path, f"missing field '{key}'")
            return None
        return self.string(value, _join(path, key), limit=limit, empty_ok=empty_ok)

    def string(
        self, value: object, path: str, *, limit: int = MAX_ID, empty_ok: bool = False
    ) -> str | None:
        if not isinstance(value, str):
            self.p.add(path, f"must be a string, got {_kind(value)}")
            return None
        if not value.strip() and not empty_ok:
            self.p.add(path, "must not be empty")
            return None
        if len(value) > limit:
            self.p.add(path, f"longer than {limit} characters")
            return None
        return value

    def screen_id(self, obj: dict[str, Any], path: str) -> str | None:
        """A screen's ``id``, which must follow ``ID``: screens are enrolled and fetched
        by it. A badly spelt id is reported but still returned, so references to it are
        not reported again."""
        value = self.text(obj, "id", path)
        if value is not None and not is_valid_id(value):
            self.p.add(f"{path}.id", f"bad screen id {_show(value)}: {ID_RULE}")
        return value

    def strings(self, obj: dict[str, Any], key: str, path: str) -> list[str] | None:
        """An optional list of strings (missing or null means empty)."""
        value = obj.get(key)
        if value is None:
            return []
        items = self.array(value, f"{path}.{key}")
        if items is None:
            return None
        out = []
        ok = True
        for i, item in enumerate(items):
            text = self.string(item, f"{path}.{key}[{i}]")
            if text is None:
                ok = False
            else:
                out.append(text)
        return out if ok else None

    def integer(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        low: int,
        high: int,
        *,
        required: bool = True,
    ) -> int | None:
        value = obj.get(key, _MISSING)
        if value is _MISSING or (value is None and not required):
            if required:
                self.p.add(path, f"missing field '{key}'")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.p.add(f"{path}.{key}", f"must be a whole number, got {_show(value)}")
            return None
        if not low <= value <= high:
            shown = str(value) if abs(value) < 10**12 else "a huge number"
            self.p.add(f"{path}.{key}", f"must be from {low} to {high}, got {shown}")
            return None
        return value

    def day(self, obj: dict[str, Any], key: str, path: str) -> date | None:
        value = obj.get(key, _MISSING)
        if value is _MISSING:
            self.p.add(path, f"missing field '{key}'")
            return None
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            self.p.add(f"{path}.{key}", f"must be a date YYYY-MM-DD, got {_show(value)}")
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.p.add(f"{path}.{key}", f"no such date {value!r}")
            return None
        if not FIRST_DAY <= day <= LAST_DAY:
            self.p.add(
                f"{path}.{key}",
                f"must be a date in the years {FIRST_DAY.year}–{LAST_DAY.year}, got {value!r}",
            )
            return None
        return day

    def clock(self, value: object, path: str, *, end: bool) -> time | None:
        text = value if isinstance(value, str) else None
        match = _TIME.fullmatch(text) if text is not None else None
        if match is None:
            self.p.add(path, f"must be a time HH:MM, got {_show(value)}")
            return None
        hour, minute, second = (int(g) if g else 0 for g in match.groups())
        if end and (hour, minute, second) == (24, 0, 0):
            return time(0)
        if hour > 23 or minute > 59 or second > 59:
            self.p.add(path, f"no such time {text!r}")
            return None
        return time(hour, minute, second)


@dataclass(frozen=True)
class Stored:
    """What the database holds before a plan is loaded over it.

    A load adds to and updates what is stored (by id), so the rules about the whole
    mall — a creative fits the slots of every screen its campaign targets, guaranteed
    bookings fit every loop — are judged on the result: a file that shortens a
    screen's slots or lengthens a creative is refused if a stored campaign no longer
    fits, just as one that overbooks with stored campaigns is."""

    screens: Sequence[ScreenSpec] = ()
    creatives: Sequence[CreativeSpec] = ()
    campaigns: Sequence[CampaignSpec] = ()


@dataclass(frozen=True)
class _Judged:
    """A campaign the mall-wide checks look at; ``path`` None: a stored one the file
    leaves as it is. ``positions``: where each of ``spec.creatives`` is listed."""

    spec: CampaignSpec
    path: str | None
    positions: tuple[int, ...]


def parse_plan(data: object, *, stored: Stored | None = None) -> Plan:
    """Validate a parsed plan document completely and return it as specs.

    References (creatives, target zones, groups and screens) must be in the document
    itself; slot lengths and overbooking are checked on the document merged over
    ``stored`` (see ``Stored``). Raises ``InvalidInput`` whose
    ``details['problems']`` lists every problem found (``details['overbooking']``
    repeats the overbooking ones, ``details['others']`` counts the rest).
    """
    problems = _Problems()
    read = _Reader(problems)
    root = read.obj(data, "plan", _ROOT_KEYS)
    if root is None:
        raise InvalidInput("invalid signage plan: 1 problem", problems=problems.final())

    timezone = _timezone(read, root)
    screens, screen_ids = _screens(read, root, timezone or "UTC")
    creatives = _creatives(read, root)
    campaigns, judged, campaign_ids = _campaigns(read, root, screens, creatives)

    # the mall as it would be after this load: a file entry replaces the stored one
    # with its id, even a broken entry (what it will be is not known yet)
    before = stored or Stored()
    all_screens = {s.id: s for s in before.screens if s.id not in screen_ids} | screens
    all_creatives: dict[str, CreativeSpec | None] = {c.id: c for c in before.creatives}
    all_creatives.update(creatives)
    judged += [
        _Judged(c, None, tuple(range(len(c.creatives))))
        for c in before.campaigns
        if c.id not in campaign_ids
    ]
    _check_lengths(read, judged, list(all_screens.values()), all_creatives)
    # times are local to each screen, so even a plan whose timezone is wrong can be
    # judged (its screens are read as UTC meanwhile)
    overbooked = check_overbooking(list(all_screens.values()), [j.spec for j in judged])
    for message in overbooked:
        problems.add("campaigns", message)
    found = problems.final()
    if found or timezone is None:
        count = len(problems.items) + problems.dropped
        noun = "problem" if count == 1 else "problems"
        raise InvalidInput(
            f"invalid signage plan: {count} {noun}",
            problems=found,
            overbooking=overbooked,  # the same, unprefixed, for the console's booking
            others=count - len(overbooked),  # problems that are not overbooking
        )
    return Plan(
        timezone=timezone,
        screens=tuple(screens.values()),
        creatives=tuple(c for c in creatives.values() if c is not None),
        campaigns=tuple(campaigns.values()),
    )


def _timezone(read: _Reader, root: dict[str, Any]) -> str | None:
    name = read.text(root, "timezone", "plan", limit=100)
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except Exception:  # zoneinfo raises several types for odd keys; all mean "unknown"
        read.p.add("timezone", f"unknown timezone {_show(name)}")
        return None
    return name


def _items(read: _Reader, root: dict[str, Any], key: str) -> list[Any]:
    value = root.get(key, _MISSING)
    if value is _MISSING:
        read.p.add("plan", f"missing field '{key}'")
        return []
    return read.array(value, key) or []


def _screens(
    read: _Reader, root: dict[str, Any], timezone: str
) -> tuple[dict[str, ScreenSpec], set[str]]:
    """Screens by id, and every id the file gives a screen (broken ones included)."""
    screens: dict[str, ScreenSpec] = {}
    seen: set[str] = set()
    for i, raw in enumerate(_items(read, root, "screens")):
        path = f"screens[{i}]"
        obj = read.obj(raw, path, _SCREEN_KEYS)
        if obj is None:
            continue
        sid = read.screen_id(obj, path)
        if sid is not None:
            if sid in seen:
                read.p.add(f"{path}.id", f"duplicate screen id {sid!r}")
                sid = None
            else:
                seen.add(sid)
        zone = read.text(obj, "zone", path)
        groups = read.strings(obj, "groups", path)
        slot_seconds = read.integer(obj, "slot_seconds", path, 1, 3600)
        slots = read.integer(obj, "slots_per_loop", path, 1, 1000)
        orientation = obj.get("orientation", "landscape")
        if orientation not in _ORIENTATIONS:
            read.p.add(
                f"{path}.orientation", f"must be landscape or portrait, got {_show(orientation)}"
            )
            orientation = None
        resolution = obj.get("resolution", "1920x1080")
        if not isinstance(resolution, str) or not _RESOLUTION.fullmatch(resolution):
            read.p.add(f"{path}.resolution", f"must look like 1920x1080, got {_show(resolution)}")
            resolution = None
        store = obj.get("store")
        if store is not None:
            store = read.string(store, f"{path}.store")
            if store is None:
                continue
        if None in (sid, zone, groups, slot_seconds, slots, orientation, resolution):
            continue
        screens[cast(str, sid)] = ScreenSpec(
            id=cast(str, sid),
            zone=cast(str, zone),
            groups=frozenset(cast(list[str], groups)),
            slot_seconds=cast(int, slot_seconds),
            slots_per_loop=cast(int, slots),
            timezone=timezone,
            orientation=cast(str, orientation),
            resolution=cast(str, resolution),
            store=store,
        )
    return screens, seen


def _creatives(read: _Reader, root: dict[str, Any]) -> dict[str, CreativeSpec | None]:
    """Creatives by id; a broken creative maps to None so references to it stay known."""
    creatives: dict[str, CreativeSpec | None] = {}
    for i, raw in enumerate(_items(read, root, "creatives")):
        path = f"creatives[{i}]"
        obj = read.obj(raw, path, _CREATIVE_KEYS)
        if obj is None:
            continue
        cid = read.text(obj, "id", path)
        if cid is not None and cid in creatives:
            read.p.add(f"{path}.id", f"duplicate creative id {cid!r}")
            continue
        media = read.text(obj, "media", path, limit=2000)
        duration = obj.get("duration_s", _MISSING)
        if duration is _MISSING:
            read.p.add(path, "missing field 'duration_s'")
            duration = None
        elif not _is_number(duration) or not 0 < duration <= 86400:
            read.p.add(
                f"{path}.duration_s",
                f"must be a number of seconds above 0, up to 86400, got {_show(duration)}",
            )
            duration = None
        sha = obj.get("sha256")
        if sha is not None and (not isinstance(sha, str) or not _SHA256.fullmatch(sha)):
            read.p.add(f"{path}.sha256", "must be 64 hexadecimal digits")
            sha = _MISSING
        kind = obj.get("kind", "image")
        if kind not in _KINDS:
            read.p.add(f"{path}.kind", f"must be one of {', '.join(_KINDS)}, got {_show(kind)}")
            kind = None
        if cid is None:
            continue
        if None in (media, duration, kind) or sha is _MISSING:
            creatives[cid] = None
            continue
        creatives[cid] = CreativeSpec(
            id=cid,
            media=cast(str, media),
            duration_s=float(cast(float, duration)),
            sha256=sha.lower() if isinstance(sha, str) else None,
            kind=cast(str, kind),
        )
    return creatives


def _campaigns(
    read: _Reader,
    root: dict[str, Any],
    screens: dict[str, ScreenSpec],
    creatives: dict[str, CreativeSpec | None],
) -> tuple[dict[str, CampaignSpec], list[_Judged], set[str]]:
    """Valid campaigns by id; the campaigns the mall-wide checks judge; every id the
    file gives a campaign (broken ones included).

    A campaign with problems of its own is still judged on its valid parts, so that
    the operator also learns, in the same run, that it overbooks or that one of its
    creatives is too long. Its valid parts only ever ask for less than the campaign
    will once fixed (the days, dayparts and targets it names correctly; its known
    creatives), so what they overbook the fixed campaign overbooks too. A campaign
    whose flight, priority, share of voice or state is unreadable cannot be judged,
    nor one whose every target, day or daypart is wrong (dropping them all would
    turn it into an everywhere, every day, all day campaign), nor one with a field
    of unknown name (``"dayprts"``: what it restricts is not known)."""
    campaigns: dict[str, CampaignSpec] = {}
    judged: list[_Judged] = []
    seen: set[str] = set()
    zones = {s.zone for s in screens.values()}
    groups = {g for s in screens.values() for g in s.groups}
    for i, raw in enumerate(_items(read, root, "campaigns")):
        path = f"campaigns[{i}]"
        obj = read.obj(raw, path, _CAMPAIGN_KEYS)
        if obj is None:
            continue
        before = len(read.p.items) + read.p.dropped
        cid = read.text(obj, "id", path)
        duplicate = cid is not None and cid in seen
        if cid is not None:
            if duplicate:
                read.p.add(f"{path}.id", f"duplicate campaign id {cid!r}")
            seen.add(cid)
        advertiser = read.text(obj, "advertiser", path)
        category = obj.get("category")
        if category is not None:
            category = read.string(category, f"{path}.category")
        chosen = _campaign_creatives(read, obj, path, creatives) or []
        start = read.day(obj, "start", path)
        end = read.day(obj, "end", path)
        if start is not None and end is not None and end < start:
            read.p.add(
                f"{path}.end", f"ends {end.isoformat()}, before it starts {start.isoformat()}"
            )
            end = None
        days = _days(read, obj, path)
        dayparts = _dayparts(read, obj, path)
        targets = _targets(read, obj, path, screens, zones, groups)
        priority = obj.get("priority", _MISSING)
        if priority is _MISSING:
            read.p.add(path, "missing field 'priority'")
        elif priority not in PRIORITIES:
            read.p.add(
                f"{path}.priority", f"must be one of {', '.join(PRIORITIES)}, got {_show(priority)}"
            )
        share = obj.get("share_of_voice", _MISSING)
        if share is _MISSING or share is None:
            if priority in ("guaranteed", "standard"):
                read.p.add(path, f"missing field 'share_of_voice' (required for {priority})")
                share = None
            else:
                share = 1.0
        elif not _is_number(share) or not 0 < share <= 1:
            read.p.add(
                f"{path}.share_of_voice", f"must be above 0 and at most 1, got {_show(share)}"
            )
            share = None
        cap = read.integer(obj, "max_plays_per_hour", path, 1, 100000, required=False)
        state = obj.get("state", "booked")
        if state not in STATES:
            read.p.add(f"{path}.state", f"must be one of {', '.join(STATES)}, got {_show(state)}")
        rule = _signal_rule(read, obj, path)
        promoted = _promoted_gtins(read, obj, path)
        valid = len(read.p.items) + read.p.dropped == before
        if cid is None or duplicate:
            continue
        if (
            None in (start, end, days, dayparts, targets, share)
            or priority not in PRIORITIES
            or state not in STATES
            or _misspelt(obj, _CAMPAIGN_KEYS)  # "dayprts": its dayparts cannot be known
        ):
            continue  # too broken to judge
        campaign = CampaignSpec(
            id=cid,
            advertiser=advertiser or "",
            category=category,
            creatives=tuple(creative_id for _, creative_id in chosen),
            start=cast(date, start),
            end=cast(date, end),
            days=cast(frozenset[int], days),
            dayparts=cast(tuple[Daypart, ...], dayparts),
            targets=cast(Targets, targets),
            priority=priority,
            share_of_voice=float(cast(float, share)),
            max_plays_per_hour=cap,
            state=state,
            signal_rule=rule,
            promoted_gtins=promoted,
        )
        judged.append(_Judged(campaign, path, tuple(j for j, _ in chosen)))
        if valid:
            campaigns[cid] = campaign
    return campaigns, judged, seen


def _known_field(key: object, allowed: set[str]) -> bool:
    """A field name the plan knows, or a comment (``_note``); anything else is reported
    as an unknown field."""
    return isinstance(key, str) and (key in allowed or key.startswith("_"))


def _misspelt(obj: dict[Any, Any], allowed: set[str]) -> bool:
    """Whether ``obj`` has a field that is neither known nor a comment."""
    return not all(_known_field(k, allowed) for k in obj)


def _campaign_creatives(
    read: _Reader, obj: dict[str, Any], path: str, creatives: dict[str, CreativeSpec | None]
) -> list[tuple[int, str]] | None:
    """The campaign's known creatives, each with its place in the list."""
    value = obj.get("creatives", _MISSING)
    if value is _MISSING:
        read.p.add(path, "missing field 'creatives'")
        return None
    items = read.array(value, f"{path}.creatives")
    if items is None:
        return None
    if not items:
        read.p.add(f"{path}.creatives", "must name at least one creative")
        return None
    out: list[tuple[int, str]] = []
    for j, item in enumerate(items):
        here = f"{path}.creatives[{j}]"
        text = read.string(item, here)
        if text is None:
            continue
        if text not in creatives:
            read.p.add(here, f"unknown creative {_show(text)}")
        elif any(text == known for _, known in out):
            read.p.add(here, f"creative {text!r} listed twice")
        else:
            out.append((j, text))
    return out


def _days(read: _Reader, obj: dict[str, Any], path: str) -> frozenset[int] | None:
    """The days named correctly (all of them when the plan has no mistake there);
    None if there are none although some were given, since no days means every day."""
    value = obj.get("days")
    if value is None:
        return frozenset()
    items = read.array(value, f"{path}.days")
    if items is None:
        return None
    days: set[int] = set()
    for j, item in enumerate(items):
        name = item.strip().lower() if isinstance(item, str) else None
        if name in DAY_NAMES:
            days.add(DAY_NAMES.index(name))
        elif name in _FULL_DAYS:
            days.add(_FULL_DAYS.index(name))
        else:
            read.p.add(f"{path}.days[{j}]", f"unknown day {_show(item)} (use mon…sun)")
    return frozenset(days) if days or not items else None


def _dayparts(read: _Reader, obj: dict[str, Any], path: str) -> tuple[Daypart, ...] | None:
    """The dayparts written correctly; None if there are none although some were
    given (no dayparts means all day)."""
    value = obj.get("dayparts")
    if value is None:
        return ()
    items = read.array(value, f"{path}.dayparts")
    if items is None:
        return None
    parts: list[Daypart] = []
    for j, item in enumerate(items):
        here = f"{path}.dayparts[{j}]"
        if not isinstance(item, list | tuple) or len(item) != 2:
            read.p.add(here, f'must be a pair ["HH:MM", "HH:MM"], got {_show(item)}')
            continue
        start = read.clock(item[0], f"{here}[0]", end=False)
        end = read.clock(item[1], f"{here}[1]", end=True)
        if start is None or end is None:
            continue
        if start == end and not (start == time(0) and item[1] == "24:00"):
            read.p.add(here, "starts and ends at the same time (use 00:00–24:00 for all day)")
            continue
        parts.append(Daypart(start, end))
    return tuple(parts) if parts or not items else None


def _targets(
    read: _Reader,
    obj: dict[str, Any],
    path: str,
    screens: dict[str, ScreenSpec],
    zones: set[str],
    groups: set[str],
) -> Targets | None:
    """The targets named correctly; None if there are none although some were given
    (no targets means every screen)."""
    value = obj.get("targets")
    if value is None:
        return Targets()
    here = f"{path}.targets"
    target = read.obj(value, here, _TARGET_KEYS)
    if target is None:
        return None
    lists = {key: read.strings(target, key, here) for key in ("zones", "groups", "screens")}
    known = {"zones": zones, "groups": groups, "screens": set(screens)}
    what = {
        "zones": "no screen is in zone",
        "groups": "no screen is in group",
        "screens": "unknown screen",
    }
    given = _misspelt(target, _TARGET_KEYS)  # "zone": its zones cannot be known
    good: dict[str, frozenset[str]] = {}
    for key, names in lists.items():
        given = given or names is None or bool(names)
        for j, name in enumerate(names or ()):
            if name not in known[key]:
                read.p.add(f"{here}.{key}[{j}]", f"{what[key]} {_show(name)}")
        good[key] = frozenset(n for n in names or () if n in known[key])
    found = Targets(zones=good["zones"], groups=good["groups"], screens=good["screens"])
    return None if given and found.everywhere else found


def _signal_rule(read: _Reader, obj: dict[str, Any], path: str) -> SignalRule | None:
    """A campaign's store-signal rule.

    With a ``store`` it is a store-signal rule (``signage.scheduling.signal_rules``: e.g.
    ``momentum:coffee`` of ``store-1`` above its ``daily_median``), turned into the
    scheduler's rule over the key the signal board fills in. Without one it is the
    original bare form ``{"signal", "op", "value"}`` over a signal named as is.
    """
    value = obj.get("signal_rule")
    if value is None:
        return None
    here = f"{path}.signal_rule"
    if isinstance(value, dict) and "store" in value:
        try:
            return StoreSignalRule.parse(value).scheduler_rule()
        except InvalidInput as exc:
            for problem in cast(list[str], exc.details.get("problems") or [exc.message]):
                read.p.add(here, problem)
            return None
    rule = read.obj(value, here, _RULE_KEYS)
    if rule is None:
        return None
    signal = read.text(rule, "signal", here)
    op = rule.get("op", _MISSING)
    if op not in _OPS:
        read.p.add(f"{here}.op", f"must be one of {' '.join(_OPS)}, got {_show(op)}")
    threshold = rule.get("value", _MISSING)
    if not _is_number(threshold) or abs(threshold) > 1e15:
        read.p.add(f"{here}.value", f"must be a number, got {_show(threshold)}")
        return None
    if signal is None or op not in _OPS:
        return None
    return SignalRule(signal=signal, op=op, value=float(threshold))


def _promoted_gtins(read: _Reader, obj: dict[str, Any], path: str) -> tuple[str, ...]:
    """The GTINs a campaign advertises (optional), as the catalog's GTIN-14s."""
    items = read.strings(obj, "promoted_gtins", path)
    if not items:
        return ()
    out: list[str] = []
    for j, code in enumerate(items):
        if not is_ascii_digits(code) or len(code) not in (8, 12, 13, 14) or not is_valid_gtin(code):
            read.p.add(
                f"{path}.promoted_gtins[{j}]",
                f"must be a GTIN-8/12/13/14 with its check digit, got {_show(code)}",
            )
            continue
        gtin = normalize_gtin(code)
        if gtin not in out:
            out.append(gtin)
    return tuple(out)


def _check_lengths(
    read: _Reader,
    judged: Sequence[_Judged],
    screens: Sequence[ScreenSpec],
    creatives: Mapping[str, CreativeSpec | None],
) -> None:
    """Every creative too long for a targeted screen's slots, for every priority: a
    guaranteed campaign would silently get no slot where none of its creatives fits,
    and the others would lose that creative there. A cancelled campaign plays nowhere,
    so it is not judged; booking it again is (the booking is a plan of its own)."""
    for item in judged:
        if item.spec.state == "cancelled":
            continue
        for j, message in creatives_too_long(item.spec, screens, creatives):
            if item.path is None:
                read.p.add("campaigns", f"stored campaign {item.spec.id!r}: {message}")
            else:
                read.p.add(f"{item.path}.creatives[{item.positions[j]}]", message)


def creatives_too_long(
    campaign: CampaignSpec,
    screens: Iterable[ScreenSpec],
    creatives: Mapping[str, CreativeSpec | None],
) -> list[tuple[int, str]]:
    """``(index in campaign.creatives, problem)`` for each of the campaign's creatives
    that lasts longer than the slots of a screen it targets (creatives not in
    ``creatives``, or None there, are not judged)."""
    known = [(j, c) for j, cid in enumerate(campaign.creatives) if (c := creatives.get(cid))]
    if not known:
        return []
    longest = max(c.duration_s for _, c in known)
    # the cheap comparison first: most screens fit every creative
    targeted = [s for s in screens if s.slot_seconds < longest and campaign.targets.matches(s)]
    out: list[tuple[int, str]] = []
    for j, creative in known:
        short = sorted(
            (s for s in targeted if creative.duration_s > s.slot_seconds), key=lambda s: s.id
        )
        if short:
            names = ", ".join(f"{s.id} ({s.slot_seconds} s)" for s in short[:5])
            more = f" and {len(short) - 5} more" if len(short) > 5 else ""
            out.append(
                (
                    j,
                    f"creative {creative.id!r} lasts {creative.duration_s:g} s, longer than "
                    f"the slots of screen {names}{more}",
                )
            )
    return out


def check_overbooking(
    screens: Sequence[ScreenSpec], campaigns: Sequence[CampaignSpec]
) -> list[str]:
    """Every screen and time where booked + held guaranteed campaigns exceed the loop.

    One message per screen, time of day and set of campaigns, naming the weekdays
    and the dates it covers, e.g. ``screen S-01: guaranteed bookings need 14 slots of
    12 on Saturdays 10:00–12:00 (K-1 6, K-2 8) between 2026-11-07 and 2026-12-26``.
    """
    messages: list[str] = []
    guaranteed = [c for c in campaigns if c.priority == "guaranteed" and c.state != "cancelled"]
    loads: dict[tuple[object, ...], list[LoadSegment]] = {}  # screens with the same bookings
    for screen in sorted(screens, key=lambda s: s.id):
        n = screen.slots_per_loop
        relevant = [c for c in guaranteed if c.targets.matches(screen)]
        if sum(c.slots_booked(n) for c in relevant) <= n:
            continue  # cannot overbook even if all play at once
        shape = (n, tuple(id(c) for c in relevant))
        if shape not in loads:
            # the exact but cheap test clears almost every screen; only overbooked
            # ones pay for the full segment list that the messages are made from
            over = overbooked_somewhere(relevant, n)
            loads[shape] = guaranteed_load(screen, relevant) if over else []
        grouped: dict[tuple[object, ...], tuple[set[int], date, date]] = {}
        for load in loads[shape]:
            if load.need <= n:
                continue
            key = (load.campaigns, load.start, load.end)
            days, first, last = grouped.get(key, (set(), load.first, load.last))
            days.add(load.weekday)
            grouped[key] = (days, min(first, load.first), max(last, load.last))
        for (taken, start, end), (days, first, last) in sorted(
            grouped.items(), key=lambda item: (item[1][1], min(item[1][0]), item[0][1])
        ):
            need = sum(s for _, s in cast(tuple[tuple[str, int], ...], taken))
            listing = ", ".join(f"{cid} {s}" for cid, s in cast(tuple[tuple[str, int], ...], taken))
            when = (
                "on " + first.isoformat()
                if first == last
                else (f"between {first.isoformat()} and {last.isoformat()}")
            )
            messages.append(
                f"screen {screen.id}: guaranteed bookings need {need} slots of {n} on "
                f"{_days_label(days)} {_span_label(cast(int, start), cast(int, end))} "
                f"({listing}) {when}"
            )
    return messages


def _days_label(days: set[int]) -> str:
    if len(days) == 7:
        return "every day"
    names = [DAY_PLURALS[d] for d in sorted(days)]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _span_label(start: int, end: int) -> str:
    if start == 0 and end == 86400:
        return "all day"

    def hhmm(seconds: int) -> str:
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")

    return f"{hhmm(start)}–{hhmm(end)}"
