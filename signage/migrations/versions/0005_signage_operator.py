"""signage: campaign history, creative approval, screen health, delivered-play rollups

Revision ID: 0005_signage_operator
Revises: 0004_signage_security
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_signage_operator"
down_revision: str | Sequence[str] | None = "0004_signage_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCREEN_COLUMNS = (
    sa.Column("player_version", sa.String(length=40), nullable=True),
    sa.Column("loop_in_step", sa.Boolean(), nullable=True),
    sa.Column("cached_creatives", sa.Integer(), nullable=True),
    sa.Column("missing_creatives", sa.Integer(), nullable=True),
    sa.Column("status_at", sa.DateTime(), nullable=True),
    sa.Column("screenshot_file", sa.String(length=80), nullable=True),
    sa.Column("screenshot_at", sa.DateTime(), nullable=True),
)
CREATIVE_COLUMNS = (
    sa.Column("approval", sa.String(length=16), nullable=False, server_default="approved"),
    sa.Column("approval_reason", sa.String(length=500), nullable=True),
    sa.Column("reviewed_by", sa.String(length=80), nullable=True),
    sa.Column("reviewed_at", sa.DateTime(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("signage_screen") as batch:
        for column in SCREEN_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("signage_creative") as batch:
        for column in CREATIVE_COLUMNS:
            batch.add_column(column)
        batch.create_index("ix_signage_creative_approval", ["approval"])
    op.create_table(
        "signage_campaign_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_signage_campaign_event_campaign_id", "signage_campaign_event", ["campaign_id"]
    )
    op.create_table(
        "signage_play_rollup",
        sa.Column("screen_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("screen_id", "day", "campaign_id"),
    )
    op.create_index(
        "ix_signage_rollup_day",
        "signage_play_rollup",
        ["day", "campaign_id", "screen_id", "plays"],
    )
    _count_stored_plays()


def _count_stored_plays() -> None:
    """Fill the rollup from the plays already stored (each on its screen's local day)."""
    from collections import Counter
    from datetime import UTC
    from zoneinfo import ZoneInfo

    bind = op.get_bind()
    zones = dict(bind.execute(sa.text("SELECT id, timezone FROM signage_screen")).all())
    counts: Counter[tuple[str, object, str]] = Counter()
    durations: Counter[tuple[str, object, str]] = Counter()
    plays = bind.execute(
        sa.text("SELECT screen_id, campaign_id, started_at, duration_ms FROM proof_of_play")
    )
    for screen_id, campaign_id, started_at, duration_ms in plays:
        if isinstance(started_at, str):
            from datetime import datetime

            started_at = datetime.fromisoformat(started_at)
        if started_at.tzinfo is None:
            started_at = started_at.replace(tzinfo=UTC)
        tz = ZoneInfo(zones.get(screen_id) or "UTC")
        key = (screen_id, started_at.astimezone(tz).date(), campaign_id or "")
        counts[key] += 1
        durations[key] += int(duration_ms or 0)
    if counts:
        table = sa.table(
            "signage_play_rollup",
            sa.column("screen_id"),
            sa.column("day"),
            sa.column("campaign_id"),
            sa.column("plays"),
            sa.column("duration_ms"),
        )
        op.bulk_insert(
            table,
            [
                {
                    "screen_id": s,
                    "day": d,
                    "campaign_id": c,
                    "plays": n,
                    "duration_ms": durations[(s, d, c)],
                }
                for (s, d, c), n in counts.items()
            ],
        )


def downgrade() -> None:
    op.drop_index("ix_signage_rollup_day", table_name="signage_play_rollup")
    op.drop_table("signage_play_rollup")
    op.drop_index("ix_signage_campaign_event_campaign_id", table_name="signage_campaign_event")
    op.drop_table("signage_campaign_event")
    with op.batch_alter_table("signage_creative") as batch:
        batch.drop_index("ix_signage_creative_approval")
        for column in CREATIVE_COLUMNS:
            batch.drop_column(column.name)
    with op.batch_alter_table("signage_screen") as batch:
        for column in SCREEN_COLUMNS:
            batch.drop_column(column.name)
