"""offers: consent history and personal offer grants

Revision ID: 0003_offers
Revises: 0002_checkout
Create Date: 2026-11-26 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003_offers"
down_revision: str | Sequence[str] | None = "0002_checkout"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("opt_in", sa.Boolean(), nullable=False),
        sa.Column("wording_version", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("channel", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("recorded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["shopper_id"], ["shopper.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.create_index("ix_consent_event_shopper_at", ["shopper_id", "id"], unique=False)

    op.create_table(
        "offer_grant",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("basket_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("shopper_id", sa.Integer(), nullable=False),
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("template_id", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("promotion", sa.Text(), nullable=False),
        sa.Column("offered_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["basket_id"], ["basket.id"]),
        sa.ForeignKeyConstraint(["shopper_id"], ["shopper.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("offer_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offer_grant_basket_id"), ["basket_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_grant_shopper_id"), ["shopper_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_grant_store_id"), ["store_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_offer_grant_offered_at"), ["offered_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("offer_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offer_grant_offered_at"))
        batch_op.drop_index(batch_op.f("ix_offer_grant_store_id"))
        batch_op.drop_index(batch_op.f("ix_offer_grant_shopper_id"))
        batch_op.drop_index(batch_op.f("ix_offer_grant_basket_id"))
    op.drop_table("offer_grant")
    with op.batch_alter_table("consent_event", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_event_shopper_at")
    op.drop_table("consent_event")
