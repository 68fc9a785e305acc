"""shopper app: device kind, kiosk pairing codes, used join tickets, phone trips

Revision ID: 0006_shopper
Revises: 0005_security
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006_shopper"
down_revision: str | Sequence[str] | None = "0005_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default="store")
        )

    op.create_table(
        "shopper_pairing_code",
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("code_hash"),
    )
    with op.batch_alter_table("shopper_pairing_code", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopper_pairing_code_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "shopper_join_ticket",
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("used_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("shopper_join_ticket", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopper_join_ticket_used_at"), ["used_at"], unique=False
        )

    op.create_table(
        "shopper_phone_trip",
        sa.Column("device_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("loyalty_card", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("resumed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["device_id"], ["device.id"]),
        sa.PrimaryKeyConstraint("device_id"),
    )
    with op.batch_alter_table("shopper_phone_trip", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shopper_phone_trip_loyalty_card"), ["loyalty_card"], unique=False
        )


def downgrade() -> None:
    op.drop_table("shopper_phone_trip")
    op.drop_table("shopper_join_ticket")
    op.drop_table("shopper_pairing_code")
    with op.batch_alter_table("device", schema=None) as batch_op:
        batch_op.drop_column("kind")
