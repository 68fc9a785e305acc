"""Campaign life cycle, its history, and the plan as a file (export, diff, prune).

Every change to a booking — book, edit, pause, resume, shorten, extend, cancel, and
the changes a plan load makes — goes through :func:`change_campaign`: the campaign
as it will be is checked like a plan file entry against everything stored
(``service.validate_campaign``: field rules, slot lengths, guaranteed overbooking),
saved, and recorded as a :class:`CampaignEvent` (who, when, field → [before, after]).

The plan file is the load format of PROTOCOL.md: :func:`plan_document` writes the
database as one, so ``caddie signage export`` then ``caddie signage load`` changes
nothing, and :func:`plan_diff` says what a load would change.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from sqlmodel import Session, col, select

from signage import service
from signage.config import SignageSettings
from signage.models import Advertiser, Campaign, CampaignCreative, CampaignEvent, Creative, Screen
from store_server.shared.errors import Conflict, InvalidInput, NotFound, shown
from store_server.timeutil import utcnow

Action = Literal[
    "book", "edit", "pause", "resume", "shorten", "extend", "reschedule", "cancel", "load"
]
# what an edit may not touch: the id names the booking, the state has its own actions
NOT_EDITABLE = ("id", "state")
MEDIA_FOLDER = "media"


# --------------------------------------------------------------------------- plan entries


def campaign_entry(row: Campaign, advertiser: str, creatives: list[str]) -> dict[str, Any]:
    """The campaign as a plan file lists it (optional fields only when set)."""
    entry: dict[str, Any] = {"id": row.id, "advertiser": advertiser}
    if row.category is not None:
        entry["category"] = row.category
    entry["creatives"] = list(creatives)
    entry["start"], entry["end"] = row.start.isoformat(), row.end.isoformat()
    if row.days:
        entry["days"] = list(row.days)
    if row.dayparts:
        entry["dayparts"] = [list(p) for p in row.dayparts]
    targets = {
        "zones": list(row.target_zones or ()),
        "groups": list(row.target_groups or ()),
        "screens": list(row.target_screens or ()),
    }
    if any(targets.values()):
        entry["targets"] = targets
    entry["priority"] = row.priority
    entry["share_of_voice"] = row.share_of_voice
    if row.max_plays_per_hour is not None:
        entry["max_plays_per_hour"] = row.max_plays_per_hour
    entry["state"] = row.state
    if row.signal_rule:
        entry["signal_rule"] = dict(row.signal_rule)
    if row.promoted_gtins:
        entry["promoted_gtins"] = list(row.promoted_gtins)
    return entry


def _links(session: Session) -> dict[str, list[str]]:
    links: dict[str, list[str]] = {}
    rows = session.exec(
        select(CampaignCreative).order_by(
            col(CampaignCreative.campaign_id), col(CampaignCreative.position)
        )
    ).all()
    for link in rows:
        links.setdefault(link.campaign_id, []).append(link.creative_id)
    return links


def campaign_entries(session: Session) -> dict[str, dict[str, Any]]:
    """Every stored campaign as its plan entry, by id."""
    names = {a.id: a.name for a in session.exec(select(Advertiser)).all()}
    links = _links(session)
    rows = session.exec(select(Campaign).order_by(col(Campaign.id))).all()
    return {
        r.id: campaign_entry(r, names.get(r.advertiser_id, "?"), links.get(r.id, [])) for r in rows
    }


def one_entry(session: Session, campaign_id: str) -> tuple[Campaign, dict[str, Any]]:
    row = session.get(Campaign, campaign_id)
    if row is None:
        raise NotFound(f"no campaign {shown(campaign_id)}")
    advertiser = session.get(Advertiser, row.advertiser_id)
    links = session.exec(
        select(CampaignCreative.creative_id)
        .where(CampaignCreative.campaign_id == campaign_id)
        .order_by(col(CampaignCreative.position))
    ).all()
    return row, campaign_entry(row, advertiser.name if advertiser else "?", list(links))


def screen_entry(row: Screen) -> dict[str, Any]:
    return service.screen_spec(row).plan_entry()


def creative_entry(row: Creative) -> dict[str, Any]:
    """A creative as a plan lists it: its URL, or its file in the export's media folder."""
    media = row.url or (f"{MEDIA_FOLDER}/{row.file_name}" if row.file_name else row.media)
    entry: dict[str, Any] = {"id": row.id, "media": media, "duration_s": row.duration_s}
    entry["kind"] = row.kind
    if row.sha256:
        entry["sha256"] = row.sha256
    return entry


def plan_document(session: Session, *, timezone: str) -> dict[str, Any]:
    """The stored plan in the load format (PROTOCOL.md), ids in order."""
    screens = session.exec(select(Screen).order_by(col(Screen.id))).all()
    creatives = session.exec(select(Creative).order_by(col(Creative.id))).all()
    zones = {s.timezone for s in screens}
    return {
        "timezone": zones.pop() if len(zones) == 1 else timezone,
        "screens": [screen_entry(r) for r in screens],
        "creatives": [creative_entry(r) for r in creatives],
        "campaigns": list(campaign_entries(session).values()),
    }


# --------------------------------------------------------------------------- history


def _plain(value: Any) -> Any:
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def entry_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Field → [before, after] for every field that differs (None: absent)."""
    keys = sorted(set(before) | set(after))
    return {
        k: [_plain(before.get(k)), _plain(after.get(k))]
        for k in keys
        if before.get(k) != after.get(k)
    }


def record(
    session: Session, campaign_id: str, *, actor: str, action: str, changes: dict[str, Any]
) -> CampaignEvent:
    event = CampaignEvent(
        campaign_id=campaign_id, actor=actor[:80], action=action, changes=changes, at=utcnow()
    )
    session.add(event)
    session.flush()
    return event


def history(session: Session, campaign_id: str) -> list[CampaignEvent]:
    """A campaign's changes, newest first."""
    return list(
        session.exec(
            select(CampaignEvent)
            .where(CampaignEvent.campaign_id == campaign_id)
            .order_by(col(CampaignEvent.at).desc(), col(CampaignEvent.id).desc())
        ).all()
    )


# --------------------------------------------------------------------------- life cycle


def book(session: Session, raw: object, *, actor: str, timezone: str) -> Campaign:
    """A new booking; an id already booked is a conflict (edit that campaign instead)."""
    cid = raw.get("id") if isinstance(raw, dict) else None
    if isinstance(cid, str) and session.get(Campaign, cid) is not None:
        raise Conflict(
            f"campaign {shown(cid)} is already booked: edit it, or choose another id",
            problems=[f"id: campaign {shown(cid)} exists"],
        )
    row = service.book_campaign(session, raw, timezone=timezone)
    _, entry = one_entry(session, row.id)
    record(session, row.id, actor=actor, action="book", changes=entry_changes({}, entry))
    return row


def change_campaign(
    session: Session,
    campaign_id: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    action: Action,
    timezone: str,
) -> tuple[Campaign, dict[str, list[Any]]]:
    """Apply ``fields`` to a stored campaign, re-checked like a booking, and record it."""
    row, before = one_entry(session, campaign_id)
    if row.state == "cancelled":
        raise Conflict(f"campaign {shown(campaign_id)} is cancelled: book a new one instead")
    wanted = {**before, **fields, "id": campaign_id}
    for key in [k for k, v in wanted.items() if v is None and k not in ("category",)]:
        del wanted[key]  # None: take the field away (e.g. no more cap per hour)
    spec = service.validate_campaign(session, wanted, timezone=timezone)
    service.save_campaign(session, spec)
    _, after = one_entry(session, campaign_id)
    changes = entry_changes(before, after)
    if changes:
        record(session, campaign_id, actor=actor, action=action, changes=changes)
    return row, changes


def edit(
    session: Session, campaign_id: str, raw: object, *, actor: str, timezone: str
) -> tuple[Campaign, dict[str, list[Any]]]:
    if not isinstance(raw, dict):
        message = "the body must be a JSON object of the fields to change"
        raise InvalidInput(message, problems=[message])
    problems = []
    if "id" in raw and raw["id"] != campaign_id:
        problems.append("id: cannot be edited (book a new campaign under another id)")
    if "state" in raw:
        problems.append("state: cannot be edited (pause, resume or cancel the campaign)")
    if problems:
        raise InvalidInput(problems[0], problems=problems)
    fields = {k: v for k, v in raw.items() if k not in NOT_EDITABLE}
    return change_campaign(
        session, campaign_id, fields, actor=actor, action="edit", timezone=timezone
    )


TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    # action: (states it applies to, the state it leaves)
    "pause": (("booked",), "paused"),
    "resume": (("paused",), "booked"),
    "cancel": (("booked", "held", "paused"), "cancelled"),
}


def set_state(
    session: Session,
    campaign_id: str,
    action: Literal["pause", "resume", "cancel"],
    *,
    actor: str,
    timezone: str,
) -> Campaign:
    row, _entry = one_entry(session, campaign_id)
    applies, target = TRANSITIONS[action]
    if row.state not in applies:
        raise Conflict(
            f"campaign {shown(campaign_id)} is {row.state}: it cannot be {action}d "
            f"(only when {' or '.join(applies)})"
        )
    changed, _ = change_campaign(
        session, campaign_id, {"state": target}, actor=actor, action=action, timezone=timezone
    )
    return changed


def move_flight(
    session: Session,
    campaign_id: str,
    *,
    start: date | None,
    end: date | None,
    actor: str,
    timezone: str,
) -> tuple[Campaign, dict[str, list[Any]]]:
    """A new start and/or end: recorded as shorten (within the old flight), extend
    (covering it) or reschedule."""
    row, _entry = one_entry(session, campaign_id)
    new_start, new_end = start or row.start, end or row.end
    if new_start >= row.start and new_end <= row.end:
        action: Action = "shorten"
    elif new_start <= row.start and new_end >= row.end:
        action = "extend"
    else:
        action = "reschedule"
    fields = {"start": new_start.isoformat(), "end": new_end.isoformat()}
    return change_campaign(
        session, campaign_id, fields, actor=actor, action=action, timezone=timezone
    )


# --------------------------------------------------------------------------- plan diff


def _label(kind: str, entry: Mapping[str, Any]) -> str:
    if kind == "campaign":
        return (
            f"{entry.get('advertiser')}, {entry.get('priority')}, "
            f"{entry.get('start')} → {entry.get('end')}, {entry.get('state', 'booked')}"
        )
    if kind == "screen":
        loop = f"{entry.get('slots_per_loop')} × {entry.get('slot_seconds')} s"
        return f"zone {entry.get('zone')}, {loop}"
    return f"{entry.get('media')}, {entry.get('duration_s')} s"


def plan_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What turns ``before`` into ``after`` (two :func:`plan_document` results), a line
    each: ``+`` added, ``~`` changed (field: old → new), ``-`` removed."""
    lines: list[str] = []
    for section, kind in (
        ("screens", "screen"),
        ("creatives", "creative"),
        ("campaigns", "campaign"),
    ):
        old = {e["id"]: e for e in before.get(section, [])}
        new = {e["id"]: e for e in after.get(section, [])}
        for key in sorted(set(old) | set(new)):
            if key not in old:
                lines.append(f"+ {kind} {key} ({_label(kind, new[key])})")
            elif key not in new:
                lines.append(f"- {kind} {key}")
            else:
                for name, (a, b) in entry_changes(old[key], new[key]).items():
                    lines.append(f"~ {kind} {key}: {name} {_short(a)} → {_short(b)}")
    return lines


def _short(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def prune_campaigns(session: Session, keep: set[str], *, actor: str) -> list[str]:
    """Cancel every stored campaign not in ``keep`` (a plan loaded with ``--prune``)."""
    cancelled = []
    rows = session.exec(select(Campaign).where(col(Campaign.state) != "cancelled")).all()
    for row in rows:
        if row.id in keep:
            continue
        before = row.state
        row.state, row.updated_at = "cancelled", utcnow()
        session.add(row)
        record(
            session,
            row.id,
            actor=actor,
            action="cancel",
            changes={"state": [before, "cancelled"], "reason": [None, "not in the plan file"]},
        )
        cancelled.append(row.id)
    session.flush()
    return cancelled


# --------------------------------------------------------------------------- plan files


@dataclass(frozen=True)
class LoadResult:
    summary: service.LoadSummary
    diff: list[str]
    cancelled: list[str]


def load(
    session: Session,
    text: str | bytes,
    *,
    base_dir: Path,
    settings: SignageSettings,
    timezone: str,
    prune: bool = False,
    dry_run: bool = False,
    actor: str = "caddie signage load",
) -> LoadResult:
    """Load a plan file (``service.load_plan``), then with ``prune`` cancel the stored
    campaigns it omits; record each campaign it changes; say what changed.

    With ``dry_run`` no media file is copied; the caller rolls the session back."""
    before = plan_document(session, timezone=timezone)
    summary = service.load_plan(
        session, text, base_dir=base_dir, settings=settings, copy_media=not dry_run, approver=actor
    )
    named = {c["id"] for c in json.loads(text).get("campaigns") or []}  # validated above
    cancelled = prune_campaigns(session, named, actor=actor) if prune else []
    after = plan_document(session, timezone=timezone)
    old = {c["id"]: c for c in before["campaigns"]}
    for entry in after["campaigns"]:
        cid = entry["id"]
        if cid in cancelled or old.get(cid) == entry:
            continue
        changes = entry_changes(old.get(cid, {}), entry)
        record(session, cid, actor=actor, action="load" if cid in old else "book", changes=changes)
    return LoadResult(summary, plan_diff(before, after), cancelled)


def export_plan(session: Session, path: Path, *, media_dir: Path, timezone: str) -> int:
    """Write the stored plan to ``path`` and its local media files to ``media/`` beside
    it, so that loading the file gives back the same plan. Returns the files copied."""
    document = plan_document(session, timezone=timezone)
    folder = path.parent / MEDIA_FOLDER
    copied = 0
    for row in session.exec(select(Creative).where(col(Creative.file_name).is_not(None))).all():
        source = media_dir / str(row.file_name)
        if row.url or not source.is_file():
            continue
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / str(row.file_name))
        copied += 1
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return copied
