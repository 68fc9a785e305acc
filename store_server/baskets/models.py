"""Shoppers, baskets, basket lines and the handheld request log (idempotency)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow

BASKET_STATUSES = ("open", "finishing", "audit", "paid", "abandoned")
LOCKED_STATUSES = ("finishing", "audit")


class Shopper(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    loyalty_card: str = Field(max_length=32, unique=True, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    trips: int = 0
    audits_passed: int = 0
    discrepancies: int = 0
    last_audit_at: datetime | None = None


class Basket(SQLModel, table=True):
    __table_args__ = (
        Index("ix_basket_device_status", "device_id", "status"),
        Index("ix_basket_updated_at", "updated_at"),  # the manager rollup's refresh
        Index("ix_basket_store_created", "store_id", "created_at"),  # ...and its reads
    )

    id: str = Field(primary_key=True, max_length=36)
    device_id: str = Field(foreign_key="device.id", max_length=64)
    store_id: str = Field(max_length=64, index=True)
    shopper_id: int | None = Field(default=None, foreign_key="shopper.id")
    loyalty_card: str | None = Field(default=None, max_length=32)
    status: str = Field(default="open", max_length=12, index=True)
    currency: str = Field(default="EUR", max_length=3)
    total_cents: int = 0
    tax_cents: int = 0
    item_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    audit: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class BasketLine(SQLModel, table=True):
    __tablename__ = "basket_line"

    id: int | None = Field(default=None, primary_key=True)
    basket_id: str = Field(foreign_key="basket.id", max_length=36, index=True)
    gtin: str = Field(max_length=14)
    # The code the item was found by (variable-measure scans keep their own code).
    scanned_gtin: str = Field(max_length=14)
    name: str = Field(max_length=200)
    category: str = Field(max_length=80)
    qty: int
    unit_price_cents: int
    weight_g: int | None = None
    line_total_cents: int
    tax_rate: str = Field(max_length=12)
    age_restricted: bool = False
    added_at: datetime = Field(default_factory=utcnow)


class HandheldRequest(SQLModel, table=True):
    """Every applied request with its reply, written in the same transaction as the change."""

    __tablename__ = "handheld_request"

    device_id: str = Field(primary_key=True, max_length=64)
    request_id: str = Field(primary_key=True, max_length=128)
    type: str = Field(max_length=16)
    basket_id: str | None = Field(default=None, max_length=36)
    reply: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
