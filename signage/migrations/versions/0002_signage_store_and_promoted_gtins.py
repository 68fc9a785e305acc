"""signage: a screen's store, a campaign's promoted GTINs (both optional)

Revision ID: 0002_signage
Revises: 0001_signage
Create Date: 2026-11-25 12:45:00

Both columns are nullable so existing rows and plans without the fields stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002_signage"
down_revision: str | Sequence[str] | None = "0001_signage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signage_screen") as batch:
        batch.add_column(
            sa.Column("store_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    with op.batch_alter_table("signage_campaign") as batch:
        batch.add_column(sa.Column("promoted_gtins", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signage_campaign") as batch:
        batch.drop_column("promoted_gtins")
    with op.batch_alter_table("signage_screen") as batch:
        batch.drop_column("store_id")
