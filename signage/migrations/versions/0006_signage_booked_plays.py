"""signage: booked plays kept per loop and day, and each screen's loops

Revision ID: 0006_signage_booked_plays
Revises: 0005_signage_operator

The tables start empty: the first plan change or report fills the screens' loops
from the plan as it stands (see ``signage.booked``), and days are counted as
reports need them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_signage_booked_plays"
down_revision: str | Sequence[str] | None = "0005_signage_operator"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signage_booked_loop",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "signage_screen_loop",
        sa.Column("screen_id", sa.String(length=200), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("loop_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["loop_key"], ["signage_booked_loop.key"]),
        sa.PrimaryKeyConstraint("screen_id", "first_day"),
    )
    op.create_index(
        "ix_signage_screen_loop_last_day", "signage_screen_loop", ["last_day"], unique=False
    )
    op.create_index(
        "ix_signage_screen_loop_loop_key", "signage_screen_loop", ["loop_key"], unique=False
    )
    op.create_table(
        "signage_booked_day",
        sa.Column("loop_key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["loop_key"], ["signage_booked_loop.key"]),
        sa.PrimaryKeyConstraint("loop_key", "day"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "signage_booked_play",
        sa.Column("loop_key", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("campaign_id", sa.String(length=200), nullable=False),
        sa.Column("plays", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["loop_key"], ["signage_booked_loop.key"]),
        sa.PrimaryKeyConstraint("loop_key", "day", "campaign_id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "signage_booked_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("signage_booked_sync")
    op.drop_table("signage_booked_play")
    op.drop_table("signage_booked_day")
    op.drop_index("ix_signage_screen_loop_loop_key", table_name="signage_screen_loop")
    op.drop_index("ix_signage_screen_loop_last_day", table_name="signage_screen_loop")
    op.drop_table("signage_screen_loop")
    op.drop_table("signage_booked_loop")
