"""Delivered plays per screen, local day and campaign, kept as proof of play arrives.

Reports over months read these few rows instead of every play. A play counts on the
local day (the screen's time zone) it started; house fill counts under ``""``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from signage.models import PlayRollup
from store_server.timeutil import as_utc

HOUSE = ""


def local_day(started_at: datetime, timezone: ZoneInfo) -> date:
    return as_utc(started_at).astimezone(timezone).date()


def add_plays(
    session: Session, screen_id: str, timezone: str, plays: Iterable[Mapping[str, Any]]
) -> None:
    """Count newly stored plays (``started_at``, ``campaign_id``, ``duration_ms``) in."""
    tz = ZoneInfo(timezone)
    counts: Counter[tuple[date, str]] = Counter()
    durations: Counter[tuple[date, str]] = Counter()
    for play in plays:
        key = (local_day(play["started_at"], tz), play["campaign_id"] or HOUSE)
        counts[key] += 1
        durations[key] += int(play["duration_ms"])
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    maker = postgresql.insert if dialect == "postgresql" else sqlite.insert
    rows = [
        {
            "screen_id": screen_id,
            "day": day,
            "campaign_id": campaign,
            "plays": n,
            "duration_ms": durations[(day, campaign)],
        }
        for (day, campaign), n in sorted(counts.items())
    ]
    insert = maker(PlayRollup).values(rows)
    table = PlayRollup.__table__  # type: ignore[attr-defined]
    statement = insert.on_conflict_do_update(
        index_elements=["screen_id", "day", "campaign_id"],
        set_={
            "plays": table.c.plays + insert.excluded.plays,
            "duration_ms": table.c.duration_ms + insert.excluded.duration_ms,
        },
    )
    session.execute(statement)
