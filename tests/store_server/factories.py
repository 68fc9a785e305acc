"""Builders for rows the tests need; each test makes its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from store_server.baskets.models import BasketLine
from store_server.catalog.service import ProductRecord, replace_promotions, upsert_products
from store_server.db import session_scope
from store_server.devices.service import enroll
from store_server.pricing.promotions import Promotion
from tests.gs1 import with_check_digit


def gtin14(body: str) -> str:
    """Complete a 13-digit body with its GS1 mod-10 check digit."""
    return with_check_digit(body)


@dataclass(frozen=True)
class Item:
    gtin: str
    name: str
    category: str
    price_cents: int
    tax_rate: str = "0.055"
    age_restricted: bool = False
    sold_by: str = "unit"

    def record(self) -> ProductRecord:
        return ProductRecord(
            gtin=self.gtin,
            name=self.name,
            category=self.category,
            price_cents=self.price_cents,
            tax_rate=self.tax_rate,
            age_restricted=self.age_restricted,
            sold_by=self.sold_by,
        )


COFFEE_ITEM = Item(gtin14("0301234567890"), "Ground coffee 250 g", "coffee", 349)
MILK_ITEM = Item(gtin14("0376543210987"), "Milk 1 L", "dairy", 115)
WINE_ITEM = Item(gtin14("0354491069001"), "Bordeaux 75 cl", "alcohol", 899, "0.20", True)
APPLES_ITEM = Item(gtin14("0250001000000"), "Apples (per kg)", "produce", 299, sold_by="weight")
CHEESE_ITEM = Item(gtin14("0210002000000"), "Comte cut to order", "cheese", 0)
DEFAULT_ITEMS = (COFFEE_ITEM, MILK_ITEM, WINE_ITEM, APPLES_ITEM, CHEESE_ITEM)


def add_products(engine: Engine, items: Sequence[Item] = DEFAULT_ITEMS) -> None:
    with session_scope(engine) as session:
        upsert_products(session, [i.record() for i in items], currency="EUR")


def add_promotions(engine: Engine, promotions: Sequence[dict[str, Any]]) -> None:
    with session_scope(engine) as session:
        replace_promotions(session, [Promotion.from_dict(p) for p in promotions])


def enroll_devices(engine: Engine, *device_ids: str, store_id: str = "store-1") -> dict[str, str]:
    with session_scope(engine) as session:
        return dict(enroll(session, list(device_ids), store_id=store_id))


def coffee_line(basket_id: str, *, qty: int, at: datetime, gtin: str = "") -> BasketLine:
    """A stored line of ``qty`` coffees (or of ``gtin`` at the coffee's price), scanned at
    ``at``: the rows the attribution and signal tests count."""
    return BasketLine(
        basket_id=basket_id,
        gtin=gtin or COFFEE_ITEM.gtin,
        scanned_gtin=gtin or COFFEE_ITEM.gtin,
        name=COFFEE_ITEM.name,
        category="coffee",
        qty=qty,
        unit_price_cents=COFFEE_ITEM.price_cents,
        line_total_cents=qty * COFFEE_ITEM.price_cents,
        tax_rate="0.055",
        added_at=at,
    )
