"""Whether a reported play could have happened: pure rules, no I/O.

A screen's token lets it report plays, and reports are what advertisers are billed on,
so a screen (or whoever took its token) must not be able to report what its schedule
could never have played: a campaign that does not target it, a creative that is not the
campaign's, a time outside the campaign's flight, days or dayparts, a play older than
the player's offline queue can hold, or more plays than its loop has slots. Such plays
are *rejected*: not stored, counted, and shown to the operator (a screen with a wrong
clock shows up the same way, which is what its operator needs to know too).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from signage.scheduling.model import CampaignSpec, ScreenSpec, active_at

# How far a play's start may be from its campaign's window (the screen's clock, a slot
# that began just before the window closed).
TOLERANCE = timedelta(minutes=5)


def why_implausible(
    *,
    screen: ScreenSpec,
    campaign: CampaignSpec | None,
    creative_id: str,
    started_at: datetime,
    now: datetime,
    max_age: timedelta,
) -> str | None:
    """Why this play cannot have happened on ``screen``, or None when it could have.
    ``campaign`` None is a play of house content outside any campaign."""
    if started_at < now - max_age:
        hours = max_age.total_seconds() / 3600
        return f"older than {hours:g} hours"
    if campaign is None:
        return None
    if not campaign.targets.matches(screen):
        return f"campaign {campaign.id} does not target screen {screen.id}"
    if creative_id not in campaign.creatives:
        return f"creative {creative_id} is not one of campaign {campaign.id}'s"
    zone = ZoneInfo(screen.timezone)
    for instant in (started_at, started_at - TOLERANCE, started_at + TOLERANCE):
        local = instant.astimezone(zone)
        second = local.hour * 3600 + local.minute * 60 + local.second
        if active_at(campaign, local.date(), second)[0]:
            return None
    return f"campaign {campaign.id} was not on air at {started_at.isoformat()}"


def slot_of(started_at: datetime, slot_seconds: int) -> int:
    """The loop slot a play starting at ``started_at`` filled. Loops are aligned to
    wall-clock time and a player reports a play when its creative shows, a little after
    the slot began (never before it, by the player's clock): the slot is the one that
    began last."""
    return int(started_at.timestamp() // slot_seconds)


def over_the_loop(
    plays: Iterable[tuple[object, datetime]], taken: Iterable[int], slot_seconds: int
) -> set[object]:
    """The plays (by key) that would be a second play in one slot of this screen's loop,
    counting ``taken`` slots already reported: a screen plays one creative per slot."""
    seen = set(taken)
    extra: set[object] = set()
    for key, started_at in sorted(plays, key=lambda p: p[1]):
        slot = slot_of(started_at, slot_seconds)
        if slot in seen:
            extra.add(key)
        seen.add(slot)
    return extra
