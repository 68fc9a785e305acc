"""Manager tables: hourly rollups, POS daily totals, scan issues, audit policy versions.

The rollup is a cache of the raw trip rows (baskets, audits, corrections, hand-offs):
``rollup.rebuild`` recomputes it from them and ``rollup.refresh`` recomputes only the
hours whose trips changed since the last refresh, so it always equals a rebuild.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class RollupRow(SQLModel, table=True):
    """One figure of one store for one hour: ``metric`` split by ``dim`` (``""``: none).

    ``hour`` counts hours since 1970-01-01 00:00 UTC (an integer sorts and compares
    the same on every database)."""

    __tablename__ = "manager_rollup"
    __table_args__ = (Index("ix_manager_rollup_metric", "store_id", "metric", "hour"),)

    store_id: str = Field(primary_key=True, max_length=64)
    hour: int = Field(primary_key=True)
    metric: str = Field(primary_key=True, max_length=40)
    dim: str = Field(primary_key=True, max_length=120)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class RollupDay(SQLModel, table=True):
    """The hourly rows of one UTC day summed (``day`` counts days since 1970-01-01), so a
    year's page reads 365 days' rows instead of 8,760 hours'."""

    __tablename__ = "manager_rollup_day"
    __table_args__ = (Index("ix_manager_rollup_day_metric", "store_id", "metric", "day"),)

    store_id: str = Field(primary_key=True, max_length=64)
    day: int = Field(primary_key=True)
    metric: str = Field(primary_key=True, max_length=40)
    dim: str = Field(primary_key=True, max_length=120)
    value: int = Field(sa_column=Column(BigInteger, nullable=False))


class RollupMark(SQLModel, table=True):
    """How far the rollup has read the raw rows (one row, ``id`` 1)."""

    __tablename__ = "manager_rollup_mark"

    id: int = Field(default=1, primary_key=True)
    baskets_until: datetime | None = None
    issues_after_id: int = 0


class ScanIssue(SQLModel, table=True):
    """A scan that went wrong or was taken back: ``unknown_product`` (``code`` is the
    GTIN-14 the catalog lacks), ``invalid_code`` or ``removal``; or one that waited in
    the handheld's outbox for the network: ``queued_offline``. No shopper, no basket."""

    __tablename__ = "scan_issue"

    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(max_length=64)
    device_id: str = Field(max_length=64)
    kind: str = Field(max_length=16)
    code: str = Field(default="", max_length=64)
    at: datetime = Field(default_factory=utcnow, index=True)


class PosDailyTotal(SQLModel, table=True):
    """The store's whole sales of one local day as its POS reports them."""

    __tablename__ = "pos_daily_total"

    store_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    sales_cents: int = Field(sa_column=Column(BigInteger, nullable=False))
    currency: str = Field(default="EUR", max_length=3)
    source: str = Field(max_length=100)
    updated_at: datetime = Field(default_factory=utcnow)


class AuditPolicyVersion(SQLModel, table=True):
    """One version of a store's audit policy: who set it, when, why and what changed.

    It decides the audits of trips *started* at or after ``effective_from``; a trip
    already under way keeps the version it started with."""

    __tablename__ = "audit_policy_version"
    __table_args__ = (UniqueConstraint("store_id", "version", name="uq_policy_version"),)

    id: int | None = Field(default=None, primary_key=True)
    store_id: str = Field(max_length=64, index=True)
    version: int
    policy: str = Field(sa_column=Column(Text, nullable=False))
    diff: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(max_length=500)
    action: str = Field(default="apply", max_length=16)  # apply | rollback
    created_by: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    effective_from: datetime = Field(default_factory=utcnow)
