"""manager console: hourly rollups, POS daily totals, scan issues, audit policy versions

Revision ID: 0008_manager
Revises: 0007_exit
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008_manager"
down_revision: str | Sequence[str] | None = "0007_exit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "manager_rollup",
        sa.Column("store_id", S(length=64), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("metric", S(length=40), nullable=False),
        sa.Column("dim", S(length=120), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "hour", "metric", "dim"),
    )
    op.create_index("ix_manager_rollup_metric", "manager_rollup", ["store_id", "metric", "hour"])
    op.create_table(
        "manager_rollup_day",
        sa.Column("store_id", S(length=64), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("metric", S(length=40), nullable=False),
        sa.Column("dim", S(length=120), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "day", "metric", "dim"),
    )
    op.create_index(
        "ix_manager_rollup_day_metric", "manager_rollup_day", ["store_id", "metric", "day"]
    )
    op.create_table(
        "manager_rollup_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("baskets_until", T(), nullable=True),
        sa.Column("issues_after_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "scan_issue",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", S(length=64), nullable=False),
        sa.Column("device_id", S(length=64), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("code", S(length=64), nullable=False),
        sa.Column("at", T(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scan_issue_at", "scan_issue", ["at"])
    op.create_table(
        "pos_daily_total",
        sa.Column("store_id", S(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sales_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", S(length=3), nullable=False),
        sa.Column("source", S(length=100), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "day"),
    )
    op.create_table(
        "audit_policy_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("store_id", S(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("reason", S(length=500), nullable=False),
        sa.Column("action", S(length=16), nullable=False),
        sa.Column("created_by", S(length=100), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("effective_from", T(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("store_id", "version", name="uq_policy_version"),
    )
    op.create_index("ix_audit_policy_version_store_id", "audit_policy_version", ["store_id"])
    # device.kind (store handheld or own phone) comes with 0006_shopper.
    with op.batch_alter_table("checkout_audit") as batch_op:
        batch_op.add_column(sa.Column("policy_version", sa.Integer(), nullable=True))
    # The rollup finds the trips changed since its last refresh by this.
    op.create_index("ix_basket_updated_at", "basket", ["updated_at"])
    # ...and reads a span of trips by this.
    op.create_index("ix_basket_store_created", "basket", ["store_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_basket_store_created", table_name="basket")
    op.drop_index("ix_basket_updated_at", table_name="basket")
    with op.batch_alter_table("checkout_audit") as batch_op:
        batch_op.drop_column("policy_version")
    op.drop_index("ix_audit_policy_version_store_id", table_name="audit_policy_version")
    op.drop_table("audit_policy_version")
    op.drop_table("pos_daily_total")
    op.drop_index("ix_scan_issue_at", table_name="scan_issue")
    op.drop_table("scan_issue")
    op.drop_table("manager_rollup_mark")
    op.drop_index("ix_manager_rollup_day_metric", table_name="manager_rollup_day")
    op.drop_table("manager_rollup_day")
    op.drop_index("ix_manager_rollup_metric", table_name="manager_rollup")
    op.drop_table("manager_rollup")
