"""security: a display name for each account, so receipts never print a login

Revision ID: 0005_security
Revises: 0004_catalog_version
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_security"
down_revision: str | Sequence[str] | None = "0004_catalog_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.add_column(sa.Column("display_name", sa.String(length=80), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("app_user") as table:
        table.drop_column("display_name")
