"""Signage tables: screens, creatives, advertisers, campaigns and proof of play.

Ids of screens, creatives and campaigns are the operator's own strings (the plan
file's ``id``), so re-loading a plan upserts instead of duplicating. Lists that the
scheduler only ever reads whole (a screen's groups, a campaign's days, dayparts and
targets) are JSON columns; the campaign → creative link is a table, because its
order matters (creatives rotate in that order) and foreign keys keep it honest.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class Screen(SQLModel, table=True):
    """A mall screen; ``token_hash`` is the SHA-256 of its current bearer token."""

    __tablename__ = "signage_screen"

    id: str = Field(primary_key=True, max_length=200)
    zone: str = Field(default="unassigned", max_length=200, index=True)
    groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    orientation: str = Field(default="landscape", max_length=16)
    resolution: str = Field(default="1920x1080", max_length=16)
    slot_seconds: int = Field(default=10)
    slots_per_loop: int = Field(default=12)
    timezone: str = Field(default="Europe/Paris", max_length=100)
    # the store whose signals this screen's signal-ruled campaigns read (None: the
    # store server's own CADDIE_STORE_ID)
    store_id: str | None = Field(default=None, max_length=64)
    token_hash: str | None = Field(default=None, max_length=64, unique=True)
    enrolled_at: datetime | None = None
    last_seen: datetime | None = None
    # what the player last said about itself (POST /signage/screens/{id}/status)
    player_version: str | None = Field(default=None, max_length=40)
    loop_in_step: bool | None = None
    cached_creatives: int | None = None
    missing_creatives: int | None = None
    status_at: datetime | None = None
    screenshot_file: str | None = Field(default=None, max_length=80)
    screenshot_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)
    # Reported plays its schedule could not have played (signage.proof_check): how many,
    # the last reason and when, for the operator's screens page.
    rejected_plays: int = Field(default=0)
    last_rejection: str | None = Field(default=None, max_length=200)
    last_rejected_at: datetime | None = None


class Creative(SQLModel, table=True):
    """A piece of media: a file in the media directory (by SHA-256) or a kept URL."""

    __tablename__ = "signage_creative"

    id: str = Field(primary_key=True, max_length=200)
    kind: str = Field(default="image", max_length=16, description="image | video | html")
    media: str = Field(max_length=2000, description="what the operator gave: path or URL")
    url: str | None = Field(default=None, max_length=2000, description="remote media, kept")
    file_name: str | None = Field(default=None, max_length=80, description="in the media dir")
    content_type: str | None = Field(default=None, max_length=80)
    size_bytes: int | None = None
    duration_s: float
    sha256: str | None = Field(default=None, max_length=64)
    # an uploaded creative waits for the operator (pending → approved | refused); one a
    # plan file names is approved by the operator who loads the plan
    approval: str = Field(default="approved", max_length=16, index=True)
    approval_reason: str | None = Field(default=None, max_length=500)
    reviewed_by: str | None = Field(default=None, max_length=80)
    reviewed_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Advertiser(SQLModel, table=True):
    __tablename__ = "signage_advertiser"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, unique=True)


class Campaign(SQLModel, table=True):
    """A booking, stored the way the plan file writes it (days/dayparts as text)."""

    __tablename__ = "signage_campaign"

    id: str = Field(primary_key=True, max_length=200)
    advertiser_id: int = Field(foreign_key="signage_advertiser.id", index=True)
    category: str | None = Field(default=None, max_length=200)
    start: date
    end: date
    days: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    dayparts: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_zones: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_groups: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    target_screens: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    priority: str = Field(max_length=16)
    share_of_voice: float
    max_plays_per_hour: int | None = None
    state: str = Field(default="booked", max_length=16, index=True)
    signal_rule: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # GTIN-14s the campaign advertises; attribution measures their scans (None: none)
    promoted_gtins: list[str] | None = Field(default=None, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class CampaignCreative(SQLModel, table=True):
    """Which creatives a campaign rotates, in order."""

    __tablename__ = "signage_campaign_creative"

    campaign_id: str = Field(foreign_key="signage_campaign.id", primary_key=True, max_length=200)
    position: int = Field(primary_key=True)
    creative_id: str = Field(foreign_key="signage_creative.id", max_length=200, index=True)


class ProofOfPlay(SQLModel, table=True):
    """One creative shown on one screen, as the player reported it (idempotent by play_id)."""

    __tablename__ = "proof_of_play"
    __table_args__ = (
        Index("ix_signage_pop_campaign_started", "campaign_id", "started_at"),
        Index("ix_signage_pop_screen_started", "screen_id", "started_at"),
    )

    play_id: uuid.UUID = Field(primary_key=True)
    screen_id: str = Field(foreign_key="signage_screen.id", max_length=200)
    creative_id: str = Field(foreign_key="signage_creative.id", max_length=200)
    campaign_id: str | None = Field(default=None, foreign_key="signage_campaign.id", max_length=200)
    started_at: datetime
    duration_ms: int
    received_at: datetime = Field(default_factory=utcnow)


class CampaignEvent(SQLModel, table=True):
    """One change to a campaign: who, when, what (``changes``: field → [before, after])."""

    __tablename__ = "signage_campaign_event"

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: str = Field(max_length=200, index=True)
    at: datetime = Field(default_factory=utcnow)
    actor: str = Field(max_length=80)
    action: str = Field(max_length=32)
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class PlayRollup(SQLModel, table=True):
    """Delivered plays per screen, local day and campaign ('' for house fill), kept as
    plays arrive, so a year of reports reads thousands of rows instead of billions."""

    __tablename__ = "signage_play_rollup"
    # covering: a period's plays per campaign are read from the index alone
    __table_args__ = (Index("ix_signage_rollup_day", "day", "campaign_id", "screen_id", "plays"),)

    screen_id: str = Field(primary_key=True, max_length=200)
    day: date = Field(primary_key=True)
    campaign_id: str = Field(primary_key=True, max_length=200)
    plays: int = 0
    duration_ms: int = 0


class PlanRevision(SQLModel, table=True):
    """One row (``id`` 1) whose ``revision`` moves with every change to the plan tables
    above (see :mod:`signage.plan_cache`): server processes keep the plan until it does."""

    __tablename__ = "signage_plan_revision"

    id: int = Field(primary_key=True)
    revision: int = 0
