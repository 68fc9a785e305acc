"""Signage services: enrolment, plan loading, loops, bookings, the timeline, uploads.

Plain functions taking the session first; they ``flush`` and never commit (the unit of
work they run in commits once, or rolls everything back). Proof of play is
``signage.proof_of_play``. The
scheduling itself is ``signage.scheduling``: this module only turns rows into its
frozen specs and its answers into rows and replies.
"""

from __future__ import annotations

import json
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import delete
from sqlmodel import Session, col, select

from signage import media
from signage.config import SignageSettings
from signage.models import (
    Advertiser,
    Campaign,
    CampaignCreative,
    Creative,
    Screen,
)
from signage.plan_cache import PlanCache
from signage.scheduling import (
    CampaignSpec,
    CreativeSpec,
    Daypart,
    Loop,
    ScreenSpec,
    SignalRule,
    Stored,
    Targets,
    build_loop,
    creatives_too_long,
    guaranteed_free_slots,
    loops_for_day,
    parse_plan,
)
from signage.scheduling.model import DAY_NAMES, DAY_PLURALS, ID_RULE, day_problem, is_valid_id
from signage.scheduling.signal_rules import MEDIAN_SUFFIX, StoreSignalRule, explain_rules
from store_server import client_json
from store_server.security import hash_token, new_token
from store_server.shared.errors import Forbidden, InvalidInput, NotFound, Unauthorized, shown
from store_server.timeutil import as_utc, utcnow

MEDIA_PREFIX = "/signage/media/"


# --------------------------------------------------------------------------- screens


def enroll(
    session: Session, screen_ids: Sequence[str], *, settings: SignageSettings, timezone: str
) -> list[tuple[str, str]]:
    """Issue a fresh token per screen (revoking the old one); unknown screens get defaults."""
    bad = [s for s in screen_ids if not is_valid_id(s)]
    if bad:
        problems = [f"bad screen id {shown(s)}: {ID_RULE}" for s in bad]
        raise InvalidInput(f"{len(bad)} bad screen id(s)", problems=problems)
    issued = []
    now = utcnow()
    for screen_id in screen_ids:
        token = new_token()
        screen = session.get(Screen, screen_id)
        if screen is None:
            screen = Screen(
                id=screen_id,
                zone=settings.default_zone,
                groups=[],
                slot_seconds=settings.default_slot_seconds,
                slots_per_loop=settings.default_slots_per_loop,
                timezone=timezone,
            )
            session.add(screen)
        screen.token_hash = hash_token(token)
        screen.enrolled_at = now
        issued.append((screen_id, token))
        session.flush()  # the unique token index sees each screen in turn
    return issued


def screen_for_token(session: Session, token: str) -> Screen | None:
    """The screen whose current token this is (None: not a screen token)."""
    if not token or len(token) > 256:
        return None
    return session.exec(select(Screen).where(Screen.token_hash == hash_token(token))).first()


def authenticate_screen(
    session: Session, token: str | None, screen_id: str | None = None
) -> Screen:
    """The screen for ``token``; ``Forbidden`` if it belongs to another screen than asked."""
    screen = screen_for_token(session, token or "")
    if screen is None:
        raise Unauthorized("unknown or revoked screen token")
    if screen_id is not None and screen.id != screen_id:
        raise Forbidden("this token belongs to another screen")
    return screen


def due_for_touch(screen: Screen) -> bool:
    """Whether to remember that the screen called in: at most once a minute, to spare
    writes."""
    return screen.last_seen is None or utcnow() - as_utc(screen.last_seen) > timedelta(seconds=60)


def touch(session: Session, screen: Screen) -> None:
    """Remember when a screen last called in (at most once a minute, to spare writes)."""
    if due_for_touch(screen):
        screen.last_seen = utcnow()
        session.flush()


# --------------------------------------------------------------------------- specs


def _hms(value: time) -> str:
    return value.strftime("%H:%M:%S") if value.second else value.strftime("%H:%M")


def _parse_clock(text: str, *, end: bool) -> time:
    if end and text == "24:00":
        return time(0)
    parts = [int(p) for p in text.split(":")] + [0, 0]
    return time(parts[0], parts[1], parts[2])


def screen_spec(row: Screen) -> ScreenSpec:
    return ScreenSpec(
        id=row.id,
        zone=row.zone,
        groups=frozenset(row.groups or ()),
        slot_seconds=row.slot_seconds,
        slots_per_loop=row.slots_per_loop,
        timezone=row.timezone,
        orientation=row.orientation,
        resolution=row.resolution,
        store=row.store_id,
    )


def creative_spec(row: Creative) -> CreativeSpec:
    return CreativeSpec(
        id=row.id,
        media=row.media,
        duration_s=row.duration_s,
        sha256=row.sha256,
        kind=row.kind,
        approved=row.approval == "approved",
    )


def campaign_spec(row: Campaign, advertiser: str, creatives: Sequence[str]) -> CampaignSpec:
    rule = row.signal_rule
    return CampaignSpec(
        id=row.id,
        advertiser=advertiser,
        category=row.category,
        creatives=tuple(creatives),
        start=row.start,
        end=row.end,
        days=frozenset(DAY_NAMES.index(d) for d in row.days or ()),
        dayparts=tuple(
            Daypart(_parse_clock(a, end=False), _parse_clock(b, end=True))
            for a, b in row.dayparts or ()
        ),
        targets=Targets(
            zones=frozenset(row.target_zones or ()),
            groups=frozenset(row.target_groups or ()),
            screens=frozenset(row.target_screens or ()),
        ),
        priority=row.priority,  # type: ignore[arg-type]
        share_of_voice=row.share_of_voice,
        max_plays_per_hour=row.max_plays_per_hour,
        state=row.state,  # type: ignore[arg-type]
        signal_rule=_scheduler_rule(rule) if rule else None,
        promoted_gtins=tuple(row.promoted_gtins or ()),
    )


def _scheduler_rule(stored: Mapping[str, Any]) -> SignalRule:
    """A stored rule: a store-signal rule (with ``store``) or the bare scheduler form."""
    if "store" in stored:
        return StoreSignalRule.parse(stored).scheduler_rule()
    return SignalRule(**stored)


def store_rule_of(rule: SignalRule) -> StoreSignalRule | None:
    """The store-signal rule a scheduler rule was made from (None: a bare rule).

    The scheduler keeps only ``key op threshold``; the key spells the store, zone and
    signal (``store-1/north/momentum:coffee-daily_median``), so the rule comes back
    from it for storage and explanations."""
    key = rule.signal
    median = key.endswith(MEDIAN_SUFFIX) and rule.value == 0
    parts = (key[: -len(MEDIAN_SUFFIX)] if median else key).split("/")
    if len(parts) not in (2, 3):
        return None
    raw: dict[str, object] = {
        "signal": parts[-1],
        "store": parts[0],
        "op": rule.op,
        "value": "daily_median" if median else rule.value,
    }
    if len(parts) == 3:
        raw["zone"] = parts[1]
    try:
        parsed = StoreSignalRule.parse(raw)
    except InvalidInput:
        return None
    return parsed if parsed.scheduler_rule() == rule else None


@dataclass
class Specs:
    """Everything the scheduler needs, read from the database in one go."""

    screens: dict[str, ScreenSpec]
    campaigns: list[CampaignSpec]
    creatives: dict[str, CreativeSpec]
    creative_rows: dict[str, Creative] = field(default_factory=dict)
    advertisers: dict[str, str] = field(default_factory=dict)  # campaign id -> advertiser


def load_specs(session: Session) -> Specs:
    screens = {r.id: screen_spec(r) for r in session.exec(select(Screen)).all()}
    creative_rows = {r.id: r for r in session.exec(select(Creative)).all()}
    advertisers = {a.id: a.name for a in session.exec(select(Advertiser)).all()}
    links: dict[str, list[str]] = {}
    for link in session.exec(
        select(CampaignCreative).order_by(
            col(CampaignCreative.campaign_id), col(CampaignCreative.position)
        )
    ).all():
        links.setdefault(link.campaign_id, []).append(link.creative_id)
    campaigns = []
    by_campaign = {}
    for row in session.exec(select(Campaign).order_by(col(Campaign.id))).all():
        name = advertisers.get(row.advertiser_id, "?")
        campaigns.append(campaign_spec(row, name, links.get(row.id, [])))
        by_campaign[row.id] = name
    return Specs(
        screens=screens,
        campaigns=campaigns,
        creatives={cid: creative_spec(r) for cid, r in creative_rows.items()},
        creative_rows=creative_rows,
        advertisers=by_campaign,
    )


def kept_specs(session: Session) -> Specs:
    """:func:`load_specs` for keeping beyond this session: its creative rows leave the
    session, so that a rollback of it later in the request cannot expire them."""
    specs = load_specs(session)
    for row in specs.creative_rows.values():
        session.expunge(row)
    return specs


def plan_specs(session: Session, plans: PlanCache | None) -> Specs:
    """The plan for reading only: ``plans``' copy, read again only when it has changed
    (:mod:`signage.plan_cache`); without a cache, read now."""
    return plans.get(session, kept_specs) if plans is not None else load_specs(session)


def media_url(row: Creative | None) -> str | None:
    if row is None:
        return None
    if row.url:
        return row.url
    if row.file_name:
        return MEDIA_PREFIX + row.file_name
    return None


# --------------------------------------------------------------------------- plan loading


@dataclass(frozen=True)
class LoadSummary:
    screens: int
    creatives: int
    campaigns: int
    files_copied: int


@dataclass(frozen=True)
class _PreparedMedia:
    data: bytes
    sniffed: media.Sniffed


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _prepare_media(
    raw: object, base_dir: Path, max_bytes: int
) -> tuple[dict[str, _PreparedMedia], list[str]]:
    """Read, sniff and hash every local media file the raw plan names (all problems).

    A local path must lead, symlinks resolved, to a file inside ``base_dir`` (the plan
    file's folder): the files copied here are served to anyone at ``/signage/media/``,
    so ``../../etc/…`` or ``/home/…`` must not publish whatever the server can read."""
    prepared: dict[str, _PreparedMedia] = {}
    problems: list[str] = []
    items = raw.get("creatives") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        return prepared, problems
    root = base_dir.resolve()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        ref, cid = item.get("media"), item.get("id")
        if not isinstance(ref, str) or not ref.strip() or not isinstance(cid, str):
            continue  # parse_plan reports it
        path = f"creatives[{i}].media"
        if _is_url(ref):
            continue
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", ref) or ref.startswith("data:"):
            problems.append(
                f"{path}: only http(s) URLs or file paths are allowed, got {ref[:60]!r}"
            )
            continue
        named = shown(ref, 200)
        try:
            file = (root / ref).resolve()
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL in the path
            problems.append(f"{path}: creative {cid!r}: {named} is not a file path we can read")
            continue
        if not file.is_relative_to(root):
            problems.append(
                f"{path}: creative {cid!r}: {named} is outside the plan file's folder "
                "(local media must be inside it; anything else needs an http(s) URL)"
            )
            continue
        try:
            info = file.stat()
            if not stat.S_ISREG(info.st_mode):  # a folder, or a pipe that would never end
                problems.append(f"{path}: cannot read {named} (not a regular file)")
                continue
            if info.st_size > max_bytes:
                problems.append(f"{path}: {ref!r} is larger than {max_bytes} bytes")
                continue
            data = file.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: cannot read {ref!r} ({exc.strerror or exc})")
            continue
        try:
            sniffed = media.inspect(data, file.name, max_bytes=max_bytes)
        except InvalidInput as exc:
            for problem in cast(list[str], exc.details.get("problems") or [exc.message]):
                problems.append(f"{path}: {ref!r}: {problem}")
            continue
        declared_kind = item.get("kind")
        if isinstance(declared_kind, str) and declared_kind != sniffed.kind:
            problems.append(
                f"creatives[{i}].kind: says {declared_kind!r} but {ref!r} is {sniffed.content_type}"
            )
        sha = item.get("sha256")
        if isinstance(sha, str) and sha.lower() != sniffed.sha256:
            problems.append(
                f"creatives[{i}].sha256: does not match the file {ref!r} "
                f"(its SHA-256 is {sniffed.sha256})"
            )
        duration = item.get("duration_s")
        if (
            sniffed.duration_s is not None
            and isinstance(duration, int | float)
            and sniffed.duration_s > float(duration) + 0.25
        ):
            problems.append(
                f"creatives[{i}].duration_s: the video lasts "
                f"{sniffed.duration_s:.2f} s, longer than {duration} s"
            )
        prepared[cid] = _PreparedMedia(data, sniffed)
    return prepared, problems


def load_plan(
    session: Session,
    text: str | bytes,
    *,
    base_dir: Path,
    settings: SignageSettings,
    copy_media: bool = True,
    approver: str = "caddie signage load",
) -> LoadSummary:
    """Validate a plan completely, then upsert it; ``InvalidInput`` lists every problem.

    Checked together so the operator sees everything at once: the document itself
    and, on the plan merged with what the database already holds (bookings made in
    the console count), slot lengths and guaranteed overbooking (``parse_plan``), then
    every local media file.

    The operator who loads a plan approves the creatives it brings: a new creative, or
    one whose media changed, is approved in ``approver``'s name; one the plan leaves
    as it was keeps its review (a refused creative stays refused). ``copy_media``
    False (a dry run) leaves the media folder alone.
    """
    problems: list[str] = []
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        message = f"not valid JSON: {exc}"
        raise InvalidInput("invalid signage plan: 1 problem", problems=[message]) from None
    except RecursionError:
        # json recurses once per level: ``{"a":`` 5,000 times exhausts the stack; no
        # plan is nested more than a few levels deep
        message = "not valid JSON: nested too deeply (a plan is a few levels deep)"
        raise InvalidInput("invalid signage plan: 1 problem", problems=[message]) from None
    if unusable := client_json.problem_of(raw):  # a lone surrogate, or deep but parsed
        message = f"not valid JSON: {unusable}"
        raise InvalidInput("invalid signage plan: 1 problem", problems=[message])
    current = load_specs(session)
    stored = Stored(
        screens=tuple(current.screens.values()),
        creatives=tuple(current.creatives.values()),
        campaigns=tuple(current.campaigns),
    )
    plan = None
    try:
        plan = parse_plan(raw, stored=stored)
    except InvalidInput as exc:
        problems.extend(cast(list[str], exc.details.get("problems") or [exc.message]))
    files, media_problems = _prepare_media(raw, base_dir, settings.max_upload_bytes)
    problems.extend(media_problems)
    if problems or plan is None:
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        raise InvalidInput(f"invalid signage plan: {count} {noun}", problems=problems)

    copied = 0
    for prepared in files.values():
        if copy_media:
            media.store(settings.media_dir, prepared.data, prepared.sniffed)
            copied += 1
    now = utcnow()
    for spec in plan.screens:
        row = session.get(Screen, spec.id) or Screen(id=spec.id)
        row.zone, row.groups = spec.zone, sorted(spec.groups)
        row.slot_seconds, row.slots_per_loop = spec.slot_seconds, spec.slots_per_loop
        row.orientation, row.resolution = spec.orientation, spec.resolution
        row.timezone, row.updated_at = spec.timezone, now
        row.store_id = spec.store
        session.add(row)
    for creative in plan.creatives:
        item = session.get(Creative, creative.id) or Creative(
            id=creative.id, media=creative.media, duration_s=creative.duration_s, approval=""
        )
        was = (item.url, item.sha256, item.approval)
        item.media, item.duration_s, item.updated_at = creative.media, creative.duration_s, now
        local = files.get(creative.id)
        if local is None:
            item.url, item.file_name = creative.media, None
            item.content_type, item.size_bytes = None, None
            item.kind, item.sha256 = creative.kind, creative.sha256
        else:
            sniffed = local.sniffed
            item.url = None
            item.file_name = sniffed.sha256 + sniffed.extension
            item.content_type, item.size_bytes = sniffed.content_type, sniffed.size
            item.kind, item.sha256 = sniffed.kind, sniffed.sha256
        if not was[2] or was[:2] != (item.url, item.sha256):
            review(item, approved=True, reason=None, actor=approver)
        session.add(item)
    session.flush()
    for campaign in plan.campaigns:
        save_campaign(session, campaign)
    session.flush()
    return LoadSummary(len(plan.screens), len(plan.creatives), len(plan.campaigns), copied)


APPROVALS = ("pending", "approved", "refused")


def review(row: Creative, *, approved: bool, reason: str | None, actor: str) -> None:
    """The operator's decision on a creative (a refusal carries its reason)."""
    row.approval = "approved" if approved else "refused"
    row.approval_reason = None if approved else reason
    row.reviewed_by, row.reviewed_at = actor[:80], utcnow()


def review_creative(
    session: Session, creative_id: str, *, approved: bool, reason: str | None, actor: str
) -> Creative:
    row = session.get(Creative, creative_id)
    if row is None:
        raise NotFound(f"no creative {shown(creative_id)}")
    text = (reason or "").strip()
    if not approved and not text:
        message = "reason: say why the creative is refused (the advertiser reads it)"
        raise InvalidInput(message, problems=[message])
    if len(text) > 500:
        message = f"reason: at most 500 characters, got {len(text)}"
        raise InvalidInput(message, problems=[message])
    review(row, approved=approved, reason=text or None, actor=actor)
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def advertiser_id(session: Session, name: str) -> int:
    row = session.exec(select(Advertiser).where(Advertiser.name == name)).first()
    if row is None:
        row = Advertiser(name=name)
        session.add(row)
        session.flush()
    return cast(int, row.id)


def save_campaign(session: Session, spec: CampaignSpec) -> Campaign:
    """Upsert one campaign from its spec, replacing its creative list."""
    row = session.get(Campaign, spec.id)
    if row is None:
        row = Campaign(
            id=spec.id,
            advertiser_id=0,
            start=spec.start,
            end=spec.end,
            priority=spec.priority,
            share_of_voice=spec.share_of_voice,
        )
    row.advertiser_id = advertiser_id(session, spec.advertiser)
    row.category = spec.category
    row.start, row.end = spec.start, spec.end
    row.days = [DAY_NAMES[d] for d in sorted(spec.days)]
    row.dayparts = [
        [_hms(p.start), "24:00" if p.end == time(0) else _hms(p.end)] for p in spec.dayparts
    ]
    row.target_zones = sorted(spec.targets.zones)
    row.target_groups = sorted(spec.targets.groups)
    row.target_screens = sorted(spec.targets.screens)
    row.priority, row.share_of_voice = spec.priority, spec.share_of_voice
    row.max_plays_per_hour, row.state = spec.max_plays_per_hour, spec.state
    rule = spec.signal_rule
    store_rule = store_rule_of(rule) if rule else None
    if store_rule is not None:
        row.signal_rule = store_rule.to_dict()
    else:
        row.signal_rule = (
            {"signal": rule.signal, "op": rule.op, "value": rule.value} if rule else None
        )
    row.promoted_gtins = list(spec.promoted_gtins) or None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    session.exec(delete(CampaignCreative).where(col(CampaignCreative.campaign_id) == spec.id))
    for position, creative_id in enumerate(spec.creatives):
        session.add(
            CampaignCreative(campaign_id=spec.id, position=position, creative_id=creative_id)
        )
    session.flush()
    return row


# --------------------------------------------------------------------------- loops


def parse_instant(value: str | None, name: str = "at") -> datetime:
    """An ISO-8601 instant with its UTC offset; naive times are refused as ambiguous."""
    if value is None:
        return utcnow()
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        message = f"{name}: not an ISO-8601 date-time, got {value[:60]!r}"
        raise InvalidInput(message, problems=[message]) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        message = f"{name}: give a UTC offset (e.g. 2026-11-07T10:00:00Z), got {value[:60]!r}"
        raise InvalidInput(message, problems=[message])
    if not 1971 <= parsed.year <= 9000:
        message = f"{name}: year {parsed.year} is out of range"
        raise InvalidInput(message, problems=[message])
    return parsed.astimezone(UTC)


def _iso(value: datetime) -> str:
    return as_utc(value).isoformat().replace("+00:00", "Z")


def screen_store(screen: ScreenSpec, default_store: str) -> str:
    """The store whose signals a screen's signal-ruled campaigns read."""
    return screen.store or default_store


SignalSource = Callable[[Iterable[str]], Mapping[str, float]]
"""Current store signals for some stores (``signage.signals.current_signals``)."""


def explain_signal_reasons(
    loop: Loop, campaigns: Sequence[CampaignSpec], signals: Mapping[str, float]
) -> Loop:
    """``loop`` with the matching rule named in the Reason of every included campaign
    that has a signal rule (the scheduler only explains the rules that keep one out)."""
    ruled = {c.id: c.signal_rule for c in campaigns if c.signal_rule is not None}
    included = {r.campaign_id for r in loop.reasons if r.included and r.campaign_id in ruled}
    if not included:
        return loop
    store_rules: dict[str, StoreSignalRule] = {}
    sentences: dict[str, str] = {}
    for cid in included:
        rule = ruled[cid]
        assert rule is not None
        store_rule = store_rule_of(rule)
        if store_rule is None:
            sentences[cid] = rule.holds(signals)[1]
        else:
            store_rules[cid] = store_rule
    for cid, (_, why) in explain_rules(store_rules, signals).items():
        store_rule = store_rules[cid]
        where = store_rule.store + (f"/{store_rule.zone}" if store_rule.zone else "")
        threshold = store_rule.value
        value = "its daily median" if isinstance(threshold, str) else f"{threshold:g}"
        sentences[cid] = f"{store_rule.signal} in {where} {store_rule.op} {value}: {why}"
    reasons = tuple(
        replace(r, why=f"{r.why}; {sentences[r.campaign_id]}")
        if r.campaign_id in sentences and r.included
        else r
        for r in loop.reasons
    )
    return replace(loop, reasons=reasons)


def build_screen_loop(
    specs: Specs,
    screen: ScreenSpec,
    at: datetime,
    *,
    signals: SignalSource | None,
    default_store: str,
) -> Loop:
    """The loop of ``screen`` at ``at`` with its store's current signals applied."""
    values: Mapping[str, float] = (
        signals([screen_store(screen, default_store)]) if signals is not None else {}
    )
    loop = build_loop(screen, specs.campaigns, specs.creatives, at, signals=values)
    return explain_signal_reasons(loop, specs.campaigns, values)


def loop_view(
    session: Session,
    screen_id: str,
    at: datetime,
    *,
    signals: SignalSource | None = None,
    default_store: str = "store-1",
    plans: PlanCache | None = None,
) -> dict[str, Any]:
    """The PROTOCOL.md loop reply for ``screen_id`` at ``at``.

    ``signals`` gives the live store signals (read when the request arrives, so a
    screen switches within one loop of a change); ``reasons`` is an extra field the
    protocol allows, naming the rule that let each signal-ruled campaign in. With
    ``plans`` the plan is read from the database only when it has changed."""
    specs = plan_specs(session, plans)
    screen = specs.screens.get(screen_id)
    if screen is None:
        raise NotFound(f"no screen {screen_id!r}")
    loop = build_screen_loop(specs, screen, at, signals=signals, default_store=default_store)
    slots = []
    for slot in loop.slots:
        row = specs.creative_rows.get(slot.creative_id) if slot.creative_id else None
        slots.append(
            {
                "position": slot.position,
                "campaign_id": slot.campaign_id,
                "creative_id": slot.creative_id,
                "media_url": media_url(row),
                "duration_s": slot.duration_s,
                "sha256": row.sha256 if row is not None else None,
                "kind": row.kind if row is not None else None,
            }
        )
    return {
        "screen_id": screen.id,
        "valid_from": _iso(loop.valid_from),
        "valid_until": _iso(loop.valid_until),
        "slot_seconds": loop.slot_seconds,
        "loop_index": loop.index,
        "slots": slots,
        "reasons": [
            {"campaign_id": r.campaign_id, "included": r.included, "slots": r.slots, "why": r.why}
            for r in loop.reasons
        ],
    }


# --------------------------------------------------------------------------- bookings


def _day_index(value: str) -> int:
    name = value.strip().lower()[:3]
    if name not in DAY_NAMES:
        message = f"day: unknown day {value[:20]!r} (use mon…sun)"
        raise InvalidInput(message, problems=[message])
    return DAY_NAMES.index(name)


def validate_campaign(session: Session, raw: object, *, timezone: str) -> CampaignSpec:
    """Check one booking exactly as a plan file would, against everything already stored.

    The campaign is put in a plan with every stored screen and creative and run
    through ``parse_plan`` over the stored campaigns (field rules, references, slot
    lengths, overbooking), so a booking with mistakes also hears that it overbooks.
    """
    specs = load_specs(session)
    document = {
        "timezone": timezone,
        "screens": [s.plan_entry() for s in specs.screens.values()],
        "creatives": [
            {"id": c.id, "media": c.media or c.id, "duration_s": c.duration_s, "kind": c.kind}
            for c in specs.creatives.values()
        ],
        "campaigns": [raw],
    }
    try:
        plan = parse_plan(document, stored=Stored(campaigns=tuple(specs.campaigns)))
    except InvalidInput as exc:
        overbooking = cast(list[str], exc.details.get("overbooking") or [])
        if overbooking and not exc.details.get("others"):
            raise InvalidInput(
                "refused: this booking would overbook guaranteed inventory", problems=overbooking
            ) from None
        raise
    return plan.campaigns[0]


def book_campaign(session: Session, raw: object, *, timezone: str) -> Campaign:
    return save_campaign(session, validate_campaign(session, raw, timezone=timezone))


def _targets_from(raw: Mapping[str, Iterable[str]]) -> Targets:
    return Targets(
        zones=frozenset(raw.get("zones", ())),
        groups=frozenset(raw.get("groups", ())),
        screens=frozenset(raw.get("screens", ())),
    )


def availability(
    session: Session,
    *,
    targets: Mapping[str, Iterable[str]],
    day: str,
    start: str,
    end: str,
    exclude: str | None = None,
    plans: PlanCache | None = None,
) -> list[dict[str, Any]]:
    """Guaranteed slots still free per targeted screen, with a sentence for the page."""
    weekday = _day_index(day)
    try:
        t_start = _parse_clock(start, end=False)
        t_end = _parse_clock(end, end=True)
    except (ValueError, TypeError):
        message = f"start/end: times must be HH:MM, got {start[:10]!r}–{end[:10]!r}"
        raise InvalidInput(message, problems=[message]) from None
    specs = plan_specs(session, plans)
    wanted = _targets_from(targets)
    campaigns = [c for c in specs.campaigns if c.id != exclude]
    window = f"{_hms(t_start)}–{'24:00' if t_end == time(0) else _hms(t_end)}"
    if t_start == t_end:
        window = "all day"
    out = []
    for screen in sorted(specs.screens.values(), key=lambda s: s.id):
        if not wanted.matches(screen):
            continue
        free = guaranteed_free_slots(screen, campaigns, day=weekday, start=t_start, end=t_end)
        noun = "slot" if free == 1 else "slots"
        out.append(
            {
                "screen_id": screen.id,
                "zone": screen.zone,
                "slots_per_loop": screen.slots_per_loop,
                "free": free,
                "text": f"{screen.id} has {free} guaranteed {noun} free on "
                f"{DAY_PLURALS[weekday]} {window}",
            }
        )
    return out


# --------------------------------------------------------------------------- timeline


def check_days(*days: tuple[str, date]) -> None:
    """``InvalidInput`` naming each ``(name, day)`` outside the days plans cover.

    Flights lie within ``FIRST_DAY``…``LAST_DAY`` (``signage.scheduling.model``), so
    nothing plays on other days; refusing them keeps a typed-in ``9999-12-31`` from
    reaching date arithmetic that cannot go past the end of the calendar."""
    problems = [found for name, day in days if (found := day_problem(day, name))]
    if problems:
        raise InvalidInput(problems[0], problems=problems)


def _same_shape(a: Loop, b: Loop) -> bool:
    return (
        a.reasons == b.reasons
        and a.notes == b.notes
        and [s.campaign_id for s in a.slots] == [s.campaign_id for s in b.slots]
    )


def timeline(
    session: Session,
    screen_id: str,
    day: date,
    *,
    signals: SignalSource | None = None,
    default_store: str = "store-1",
    plans: PlanCache | None = None,
) -> dict[str, Any]:
    """What plays on ``screen_id`` on local ``day``: runs of alike loops, each explained.

    Signal-ruled campaigns are judged on the store's signals as they are now (the
    only ones known), so the timeline shows what the screen would play right now."""
    check_days(("day", day))
    specs = plan_specs(session, plans)
    screen = specs.screens.get(screen_id)
    if screen is None:
        raise NotFound(f"no screen {screen_id!r}")
    values: Mapping[str, float] = (
        signals([screen_store(screen, default_store)]) if signals is not None else {}
    )
    tz = ZoneInfo(screen.timezone)
    runs: list[dict[str, Any]] = []
    current: list[Loop] = []

    def close() -> None:
        if not current:
            return
        first, last = current[0], current[-1]
        creatives_by_campaign: dict[str, set[str]] = {}
        for loop in current[:50]:
            for slot in loop.slots:
                if slot.campaign_id and slot.creative_id:
                    creatives_by_campaign.setdefault(slot.campaign_id, set()).add(slot.creative_id)
        counts = Counter(s.campaign_id for s in first.slots)
        runs.append(
            {
                "from": first.valid_from.astimezone(tz).strftime("%H:%M:%S"),
                "until": last.valid_until.astimezone(tz).strftime("%H:%M:%S"),
                "valid_from": _iso(first.valid_from),
                "valid_until": _iso(last.valid_until),
                "loops": len(current),
                "slots": [
                    {
                        "position": s.position,
                        "campaign_id": s.campaign_id,
                        "creative_id": s.creative_id,
                        "category": s.category,
                    }
                    for s in first.slots
                ],
                "share": {str(k): v for k, v in counts.items()},
                "creatives": {k: sorted(v) for k, v in creatives_by_campaign.items()},
                "reasons": [
                    {
                        "campaign_id": r.campaign_id,
                        "included": r.included,
                        "slots": r.slots,
                        "why": r.why,
                    }
                    for r in first.reasons
                ],
                "notes": list(first.notes),
            }
        )
        current.clear()

    for built in loops_for_day(screen, specs.campaigns, specs.creatives, day, signals=values):
        loop = explain_signal_reasons(built, specs.campaigns, values)
        if current and not _same_shape(current[-1], loop):
            close()
        current.append(loop)
    close()
    return {
        "screen_id": screen.id,
        "day": day.isoformat(),
        "timezone": screen.timezone,
        "slot_seconds": screen.slot_seconds,
        "slots_per_loop": screen.slots_per_loop,
        "runs": runs,
    }


def screens_overview(session: Session) -> list[dict[str, Any]]:
    rows = session.exec(select(Screen).order_by(col(Screen.id))).all()
    return [
        {
            "id": r.id,
            "zone": r.zone,
            "groups": list(r.groups or ()),
            "orientation": r.orientation,
            "resolution": r.resolution,
            "slot_seconds": r.slot_seconds,
            "slots_per_loop": r.slots_per_loop,
            "timezone": r.timezone,
            "enrolled": r.token_hash is not None,
            "last_seen": _iso(r.last_seen) if r.last_seen else None,
            "rejected_plays": r.rejected_plays or 0,
            "last_rejection": r.last_rejection,
            "last_rejected_at": _iso(r.last_rejected_at) if r.last_rejected_at else None,
        }
        for r in rows
    ]


def save_upload(
    session: Session,
    *,
    creative_id: str,
    data: bytes,
    file_name: str | None,
    duration_s: float | None,
    targets: Mapping[str, Iterable[str]],
    settings: SignageSettings,
) -> Creative:
    """A creative uploaded in the console: sniffed, measured, stored.

    Its length must fit the slots of the screens named in ``targets`` and, when it
    replaces a creative of that id, of every screen a stored campaign playing it
    targets (whatever the campaign's priority, and unless it is cancelled, as a plan
    file is checked)."""
    problems = []
    if not is_valid_id(creative_id):
        problems.append(f"id: {ID_RULE}")
    sniffed = None
    try:
        sniffed = media.inspect(data, file_name, max_bytes=settings.max_upload_bytes)
    except InvalidInput as exc:
        problems.extend(cast(list[str], exc.details.get("problems") or [exc.message]))
    length = duration_s
    if sniffed is not None and sniffed.duration_s is not None:
        length = max(sniffed.duration_s, duration_s or 0)
    if length is None or not 0 < length <= 86400:
        problems.append("duration_s: give the seconds the creative lasts (above 0)")
    else:
        wanted = _targets_from(targets)
        specs = load_specs(session)
        short = [s for s in specs.screens.values() if wanted.matches(s) and s.slot_seconds < length]
        by_slot: dict[int, list[str]] = {}
        for s in sorted(short, key=lambda s: s.id):
            by_slot.setdefault(s.slot_seconds, []).append(s.id)
        for seconds, ids in sorted(by_slot.items()):
            noun = "screen" if len(ids) == 1 else f"{len(ids)} screens:"
            problems.append(
                f"duration_s: {length:g} s is longer than the {seconds} s slots of "
                f"{noun} {', '.join(ids)}"
            )
        replaced = CreativeSpec(id=creative_id, media=file_name or "", duration_s=length)
        for campaign in specs.campaigns:
            if creative_id not in campaign.creatives or campaign.state == "cancelled":
                continue
            found = creatives_too_long(campaign, specs.screens.values(), {creative_id: replaced})
            problems.extend(f"duration_s: stored campaign {campaign.id!r}: {m}" for _, m in found)
    if problems or sniffed is None:
        raise InvalidInput("; ".join(problems), problems=problems)
    file_name_stored = media.store(settings.media_dir, data, sniffed)
    row = session.get(Creative, creative_id) or Creative(
        id=creative_id, media=file_name or file_name_stored, duration_s=cast(float, length)
    )
    if row.sha256 != sniffed.sha256 or row.url is not None:
        # new media waits for the operator's approval before it can play
        row.approval, row.approval_reason = "pending", None
        row.reviewed_by = row.reviewed_at = None
    row.media = (file_name or file_name_stored)[:2000]
    row.url = None
    row.file_name = file_name_stored
    row.content_type, row.size_bytes = sniffed.content_type, sniffed.size
    row.kind, row.sha256 = sniffed.kind, sniffed.sha256
    row.duration_s = float(cast(float, length))
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row
