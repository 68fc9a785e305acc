"""signage security: rejected proof-of-play counted on each screen

Revision ID: 0004_signage_security
Revises: 0003_signage
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_signage_security"
down_revision: str | Sequence[str] | None = "0003_signage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("signage_screen") as table:
        table.add_column(
            sa.Column("rejected_plays", sa.Integer(), nullable=False, server_default="0")
        )
        table.add_column(sa.Column("last_rejection", sa.String(length=200), nullable=True))
        table.add_column(sa.Column("last_rejected_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signage_screen") as table:
        table.drop_column("last_rejected_at")
        table.drop_column("last_rejection")
        table.drop_column("rejected_plays")
