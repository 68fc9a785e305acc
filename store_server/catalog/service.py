"""Catalog look-ups and upserts. Services flush; the caller's scope commits."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TypedDict

from sqlalchemy import delete
from sqlmodel import Session, col, select

from store_server.catalog.models import CatalogVersion, Product, ProductPrice, PromotionRow
from store_server.db import ChangeCounter
from store_server.pricing.promotions import Promotion
from store_server.shared.errors import NotFound
from store_server.timeutil import as_utc, utcnow


@dataclass(frozen=True)
class PricedProduct:
    gtin: str
    name: str
    category: str
    tax_rate: str
    age_restricted: bool
    sold_by: str
    currency: str
    price_cents: int


def find_products(
    session: Session, gtins: Sequence[str], *, at: datetime
) -> dict[str, PricedProduct]:
    """Products among ``gtins`` with the price in force at ``at`` (newest not in the future)."""
    if not gtins:
        return {}
    found: dict[str, PricedProduct] = {}
    for gtin, cached in _load_schedules(session, gtins).items():
        priced = _price_at(cached, at)
        if priced is not None:  # None: listed but not on sale yet
            found[gtin] = priced
    return found


@dataclass(frozen=True)
class _CachedProduct:
    product: PricedProduct  # price_cents is filled from ``schedule`` at look-up time
    schedule: tuple[tuple[datetime, int], ...]  # (effective_from, price), oldest first


_VERSION = ChangeCounter(CatalogVersion.__table__, "version")  # type: ignore[attr-defined]


def bump_catalog_version(session: Session) -> None:
    """Tell every server process that products or prices changed."""
    _VERSION.move(session.connection())


class ProductCache:
    """Products and their whole price schedule, kept until the catalog changes.

    The scan path looks a product up on every scan; a scheduled price change still
    applies at its instant because the schedule, not one price, is cached. Every catalog
    write bumps ``catalog_version``; each process checks it at most every
    ``check_s`` seconds, so another process's import shows within that time. Entries
    also expire after ``ttl_s`` as a safety net (a row edited by hand in the database)."""

    def __init__(
        self, ttl_s: float = 600.0, check_s: float = 1.0, max_entries: int = 200_000
    ) -> None:
        self._ttl = ttl_s
        self._check_s = check_s
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, _CachedProduct | None]] = {}
        self._version: int | None = None
        self._checked_at = -1e9

    def invalidate(self) -> None:
        with self._lock:
            self._entries.clear()
            self._checked_at = -1e9

    def _check_version(self, session: Session, now: float) -> None:
        if now - self._checked_at < self._check_s:
            return
        version = _VERSION.read(session.connection())
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            self._checked_at = now

    def find(
        self, session: Session, gtins: Sequence[str], *, at: datetime
    ) -> dict[str, PricedProduct]:
        now = time.monotonic()
        self._check_version(session, now)
        found: dict[str, PricedProduct] = {}
        missing: list[str] = []
        with self._lock:
            for gtin in gtins:
                entry = self._entries.get(gtin)
                if entry is None or now - entry[0] > self._ttl:
                    missing.append(gtin)
                elif entry[1] is not None:
                    priced = _price_at(entry[1], at)
                    if priced is not None:
                        found[gtin] = priced
        if missing:
            loaded = _load_schedules(session, missing)
            with self._lock:
                if len(self._entries) > self._max:
                    self._entries.clear()
                for gtin in missing:
                    cached = loaded.get(gtin)
                    self._entries[gtin] = (now, cached)  # unknown codes are cached too
                    if cached is not None:
                        priced = _price_at(cached, at)
                        if priced is not None:
                            found[gtin] = priced
        return found


def _load_schedules(session: Session, gtins: Sequence[str]) -> dict[str, _CachedProduct]:
    products = session.exec(select(Product).where(col(Product.gtin).in_(list(gtins)))).all()
    if not products:
        return {}
    schedules: dict[str, list[tuple[datetime, int]]] = {p.gtin: [] for p in products}
    rows = session.exec(
        select(ProductPrice.gtin, ProductPrice.effective_from, ProductPrice.price_cents)
        .where(col(ProductPrice.gtin).in_(list(schedules)))
        .order_by(col(ProductPrice.effective_from))
    ).all()
    for gtin, effective_from, price in rows:
        schedules[gtin].append((as_utc(effective_from), price))
    return {
        p.gtin: _CachedProduct(
            PricedProduct(
                gtin=p.gtin,
                name=p.name,
                category=p.category,
                tax_rate=p.tax_rate,
                age_restricted=p.age_restricted,
                sold_by=p.sold_by,
                currency=p.currency,
                price_cents=0,
            ),
            tuple(schedules[p.gtin]),
        )
        for p in products
    }


def _price_at(cached: _CachedProduct, at: datetime) -> PricedProduct | None:
    price = None
    for effective_from, cents in cached.schedule:
        if effective_from <= at:
            price = cents
        else:
            break
    if price is None:
        return None  # listed but not on sale yet
    return replace(cached.product, price_cents=price)


def get_product(session: Session, gtin: str, *, at: datetime | None = None) -> PricedProduct:
    found = find_products(session, [gtin], at=at or utcnow())
    if gtin not in found:
        raise NotFound(f"no product with GTIN {gtin}")
    return found[gtin]


@dataclass(frozen=True)
class ProductRecord:
    """One validated catalog row, ready to upsert."""

    gtin: str
    name: str
    category: str
    price_cents: int
    tax_rate: str
    age_restricted: bool
    sold_by: str
    effective_from: datetime | None = None


class _ProductFields(TypedDict):
    """The product columns an upsert writes, typed so they can be passed as keywords."""

    name: str
    category: str
    tax_rate: str
    age_restricted: bool
    sold_by: str
    currency: str


@dataclass(frozen=True)
class UpsertCounts:
    created: int
    updated: int
    unchanged: int
    prices_scheduled: int


def upsert_products(
    session: Session,
    records: Iterable[ProductRecord],
    *,
    currency: str,
    now: datetime | None = None,
) -> UpsertCounts:
    """Create or update products and record their prices (a future price is scheduled)."""
    now = now or utcnow()
    created = updated = unchanged = scheduled = 0
    records = list(records)
    existing = (
        {
            p.gtin: p
            for p in session.exec(
                select(Product).where(col(Product.gtin).in_([r.gtin for r in records]))
            ).all()
        }
        if records
        else {}
    )
    for record in records:
        product = existing.get(record.gtin)
        fields: _ProductFields = {
            "name": record.name,
            "category": record.category,
            "tax_rate": record.tax_rate,
            "age_restricted": record.age_restricted,
            "sold_by": record.sold_by,
            "currency": currency,
        }
        if product is None:
            session.add(Product(gtin=record.gtin, updated_at=now, **fields))
            created += 1
            changed = True
        else:
            changed = any(getattr(product, k) != v for k, v in fields.items())
            for key, value in fields.items():
                setattr(product, key, value)
            if changed:
                product.updated_at = now
        session.flush()
        effective = as_utc(record.effective_from) if record.effective_from else now
        current = session.exec(
            select(ProductPrice)
            .where(ProductPrice.gtin == record.gtin, ProductPrice.effective_from <= effective)
            .order_by(col(ProductPrice.effective_from).desc())
            .limit(1)
        ).first()
        price_changed = current is None or current.price_cents != record.price_cents
        if price_changed:
            same_instant = session.exec(
                select(ProductPrice).where(
                    ProductPrice.gtin == record.gtin, ProductPrice.effective_from == effective
                )
            ).first()
            if same_instant is not None:
                same_instant.price_cents = record.price_cents
            else:
                session.add(
                    ProductPrice(
                        gtin=record.gtin, price_cents=record.price_cents, effective_from=effective
                    )
                )
            if effective > now:
                scheduled += 1
        if product is not None:
            if changed or (price_changed and effective <= now):
                updated += 1
            else:
                unchanged += 1
    session.flush()
    if created or updated or scheduled:
        bump_catalog_version(session)
    return UpsertCounts(created, updated, unchanged, scheduled)


def replace_promotions(session: Session, promotions: Sequence[Promotion]) -> int:
    """Upsert promotions by id (an imported file updates the promotions it names)."""
    for promotion in promotions:
        row = session.get(PromotionRow, promotion.id)
        rule = json.dumps(promotion.to_dict(), sort_keys=True)
        if row is None:
            row = PromotionRow(
                id=promotion.id, label=promotion.label, kind=promotion.kind, rule=rule
            )
            session.add(row)
        row.label, row.kind, row.rule = promotion.label, promotion.kind, rule
        row.starts_at, row.ends_at = promotion.starts_at, promotion.ends_at
        row.updated_at = utcnow()
    session.flush()
    return len(promotions)


def delete_promotion(session: Session, promotion_id: str) -> None:
    result = session.exec(delete(PromotionRow).where(col(PromotionRow.id) == promotion_id))
    if not result.rowcount:
        raise NotFound(f"no promotion {promotion_id!r}")


def load_promotions(session: Session) -> list[Promotion]:
    rows = session.exec(select(PromotionRow).order_by(col(PromotionRow.id))).all()
    return [Promotion.from_dict(json.loads(row.rule)) for row in rows]


class PromotionCache:
    """Promotions change rarely and are read on every scan: keep them for a few seconds."""

    def __init__(self, ttl_s: float = 5.0) -> None:
        self._ttl = ttl_s
        self._lock = threading.Lock()
        self._loaded_at = -1e9
        self._promotions: list[Promotion] = []

    def get(self, session: Session) -> list[Promotion]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self._ttl:
                self._promotions = load_promotions(session)
                self._loaded_at = time.monotonic()
            return self._promotions

    def invalidate(self) -> None:
        with self._lock:
            self._loaded_at = -1e9
