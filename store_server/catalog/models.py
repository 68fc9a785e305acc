"""Catalog tables: products, effective-dated prices and promotions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store_server.timeutil import utcnow


class ProductBase(SQLModel):
    gtin: str = Field(primary_key=True, max_length=14, description="GTIN-14")
    name: str = Field(max_length=200)
    category: str = Field(max_length=80, index=True)
    tax_rate: str = Field(max_length=12, description="decimal fraction such as 0.055")
    age_restricted: bool = False
    sold_by: str = Field(default="unit", max_length=8, description="unit | weight")


class Product(ProductBase, table=True):
    currency: str = Field(default="EUR", max_length=3)
    updated_at: datetime = Field(default_factory=utcnow)


class ProductPublic(ProductBase):
    price_cents: int
    currency: str


class ProductPrice(SQLModel, table=True):
    """A price that applies from ``effective_from``; the newest one not in the future wins."""

    __tablename__ = "product_price"
    __table_args__ = (
        UniqueConstraint("gtin", "effective_from", name="uq_product_price_gtin_from"),
        Index("ix_product_price_lookup", "gtin", "effective_from"),
    )

    id: int | None = Field(default=None, primary_key=True)
    gtin: str = Field(foreign_key="product.gtin", max_length=14)
    price_cents: int = Field(ge=0)
    effective_from: datetime


class PromotionRow(SQLModel, table=True):
    """A promotion stored as its rule (``store_server.pricing.promotions.Promotion.to_dict``)."""

    __tablename__ = "promotion"

    id: str = Field(primary_key=True, max_length=64)
    label: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    rule: str = Field(sa_column=Column(Text, nullable=False))
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class CatalogVersion(SQLModel, table=True):
    """One row counting catalog changes: server processes poll it (once a second at most)
    to drop their product caches when another process imports a catalog."""

    __tablename__ = "catalog_version"

    id: int = Field(default=1, primary_key=True)
    version: int = 0
