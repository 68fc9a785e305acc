"""Proof of play: the plays a screen reports, checked and stored once each.

A player keeps its proofs while offline and sends them in batches; a batch is checked
whole (every problem listed), plays already stored are skipped (a resent batch counts
once), and plays the screen's own loop could not have played are refused
(``signage.proof_check``). Plain functions taking the session first; they flush.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from signage import proof_check
from signage.models import Campaign, Creative, ProofOfPlay, Screen
from signage.plan_cache import PlanCache
from signage.rollup import add_plays
from signage.service import parse_instant, plan_specs, screen_spec, touch
from store_server.shared.errors import InvalidInput
from store_server.timeutil import as_utc, utcnow

FUTURE_SKEW = timedelta(hours=1)
MAX_PLAY_MS = 86_400_000


def _play_problems(
    index: int, play: object, creatives: set[str], campaigns: set[str], now: datetime
) -> tuple[list[str], dict[str, Any] | None]:
    here = f"plays[{index}]"
    if not isinstance(play, dict):
        return [f"{here}: must be an object"], None
    problems: list[str] = []
    row: dict[str, Any] = {}
    raw_id = play.get("play_id")
    try:
        if not isinstance(raw_id, str):
            raise ValueError
        row["play_id"] = uuid.UUID(raw_id)
    except ValueError:
        problems.append(f"{here}.play_id: must be a UUID string, got {str(raw_id)[:60]!r}")
    creative = play.get("creative_id")
    if not isinstance(creative, str) or creative not in creatives:
        problems.append(f"{here}.creative_id: unknown creative {str(creative)[:60]!r}")
    row["creative_id"] = creative
    campaign = play.get("campaign_id")
    if campaign is not None and (not isinstance(campaign, str) or campaign not in campaigns):
        problems.append(f"{here}.campaign_id: unknown campaign {str(campaign)[:60]!r}")
    row["campaign_id"] = campaign
    started = play.get("started_at")
    try:
        if not isinstance(started, str):
            raise InvalidInput("")
        at = parse_instant(started, f"{here}.started_at")
        if at > now + FUTURE_SKEW:
            problems.append(f"{here}.started_at: {started[:40]} is in the future")
        row["started_at"] = at
    except InvalidInput as exc:
        problems.append(exc.message or f"{here}.started_at: must be an ISO-8601 date-time")
    duration = play.get("duration_ms")
    if isinstance(duration, bool) or not isinstance(duration, int):
        problems.append(f"{here}.duration_ms: must be a whole number of milliseconds")
    elif not 0 <= duration <= MAX_PLAY_MS:
        problems.append(f"{here}.duration_ms: must be from 0 to {MAX_PLAY_MS}, got {duration}")
    row["duration_ms"] = duration
    return problems, (None if problems else row)


@dataclass(frozen=True)
class PlaysRecorded:
    accepted: int
    duplicates: int  # already reported (by play_id), or twice in the batch
    rejected: int  # could not have happened on this screen (signage.proof_check)


def record_plays(
    session: Session,
    screen: Screen,
    body: object,
    *,
    max_batch: int,
    max_age: timedelta = timedelta(hours=72),
    plans: PlanCache | None = None,
) -> PlaysRecorded:
    """Store a batch of plays, idempotent by play_id. A malformed batch is refused whole
    (``InvalidInput``); a well-formed play that the screen's schedule could not have
    played is rejected (:mod:`signage.proof_check`): not stored, counted on the screen
    for the operator to see."""
    plays = body.get("plays") if isinstance(body, dict) else None
    if not isinstance(plays, list):
        message = 'the body must be {"plays": [...]}'
        raise InvalidInput(message, problems=[message])
    if len(plays) > max_batch:
        message = f"too many plays in one batch: {len(plays)}, at most {max_batch}"
        raise InvalidInput(message, problems=[message])
    if not plays:
        return PlaysRecorded(0, 0, 0)
    creatives = set(session.exec(select(Creative.id)).all())
    campaigns = set(session.exec(select(Campaign.id)).all())
    now = utcnow()
    problems: list[str] = []
    rows: dict[uuid.UUID, dict[str, Any]] = {}
    in_batch_dupes = 0
    for i, play in enumerate(plays):
        found, row = _play_problems(i, play, creatives, campaigns, now)
        problems.extend(found)
        if row is not None:
            if row["play_id"] in rows:
                in_batch_dupes += 1
            else:
                rows[row["play_id"]] = {**row, "screen_id": screen.id, "received_at": now}
    if problems:
        count = len(problems)
        shown = problems[:100] + ([f"… and {count - 100} more"] if count > 100 else [])
        raise InvalidInput(f"{count} problem(s) in the plays; none were stored", problems=shown)
    known = set(
        session.exec(select(ProofOfPlay.play_id).where(col(ProofOfPlay.play_id).in_(list(rows))))
    )
    fresh = {key: row for key, row in rows.items() if key not in known}
    reasons = _implausible_plays(session, screen, fresh, now=now, max_age=max_age, plans=plans)
    for key in reasons:
        del fresh[key]
    inserted = 0
    if fresh:
        dialect = session.get_bind().dialect.name
        maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            maker(ProofOfPlay)
            .values(list(fresh.values()))
            .on_conflict_do_nothing(index_elements=["play_id"])
            .returning(col(ProofOfPlay.play_id))
        )
        stored = [fresh[found] for (found,) in session.execute(statement).all()]
        add_plays(session, screen.id, screen.timezone, stored)  # the reports' daily counts
        inserted = len(stored)
    if reasons:
        screen.rejected_plays = (screen.rejected_plays or 0) + len(reasons)
        screen.last_rejection = next(iter(reasons.values()))[:200]
        screen.last_rejected_at = now
    touch(session, screen)
    return PlaysRecorded(inserted, len(plays) - inserted - len(reasons), len(reasons))


def _implausible_plays(
    session: Session,
    screen: Screen,
    rows: Mapping[uuid.UUID, dict[str, Any]],
    *,
    now: datetime,
    max_age: timedelta,
    plans: PlanCache | None,
) -> dict[uuid.UUID, str]:
    """Why each play of ``rows`` that the screen could not have played is rejected."""
    if not rows:
        return {}
    specs = plan_specs(session, plans)
    spec = specs.screens.get(screen.id) or screen_spec(screen)
    campaigns = {c.id: c for c in specs.campaigns}
    reasons: dict[uuid.UUID, str] = {}
    for key, row in rows.items():
        campaign_id = row["campaign_id"]
        why = proof_check.why_implausible(
            screen=spec,
            campaign=campaigns.get(campaign_id) if campaign_id else None,
            creative_id=row["creative_id"],
            started_at=row["started_at"],
            now=now,
            max_age=max_age,
        )
        if why:
            reasons[key] = why
    plausible = [(key, row["started_at"]) for key, row in rows.items() if key not in reasons]
    if plausible:
        slot = timedelta(seconds=screen.slot_seconds)
        first, last = min(p[1] for p in plausible), max(p[1] for p in plausible)
        earlier = session.exec(
            select(ProofOfPlay.started_at).where(
                ProofOfPlay.screen_id == screen.id,
                col(ProofOfPlay.started_at) >= first - slot,
                col(ProofOfPlay.started_at) <= last + slot,
            )
        ).all()
        taken = [proof_check.slot_of(as_utc(at), screen.slot_seconds) for at in earlier]
        for doubled in proof_check.over_the_loop(plausible, taken, screen.slot_seconds):
            assert isinstance(doubled, uuid.UUID)
            reasons[doubled] = f"a second play in one {screen.slot_seconds} s slot of the loop"
    return reasons
