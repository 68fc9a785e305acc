"""exit lane: the log of staff searches by loyalty card

Revision ID: 0007_exit
Revises: 0006_shopper
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0007_exit"
down_revision: str | Sequence[str] | None = "0006_shopper"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "checkout_lookup",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("results", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_checkout_lookup_store_id", "checkout_lookup", ["store_id"])
    op.create_index("ix_checkout_lookup_at", "checkout_lookup", ["at"])


def downgrade() -> None:
    op.drop_index("ix_checkout_lookup_at", table_name="checkout_lookup")
    op.drop_index("ix_checkout_lookup_store_id", table_name="checkout_lookup")
    op.drop_table("checkout_lookup")
