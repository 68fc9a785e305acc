"""Baskets: opening by loyalty card, pricing scans, removals, snapshots for the protocol.

Every function takes the session first and only flushes; the caller commits once, together
with the idempotency record of the request that caused the change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlmodel import Session, col, select

from store_server.baskets.models import LOCKED_STATUSES, Basket, BasketLine, Shopper
from store_server.catalog.service import PricedProduct, find_products
from store_server.errors import (
    BadMessage,
    BasketLocked,
    InvalidCode,
    NoBasket,
    NotInBasket,
    UnknownProduct,
)
from store_server.pricing.gs1 import parse_scan
from store_server.pricing.promotions import PricedLine, PricingResult, Promotion, evaluate
from store_server.pricing.variable_measure import VariableMeasureLayout, weight_price_cents
from store_server.timeutil import utcnow

LOYALTY_CARD = re.compile(r"^[A-Za-z0-9-]{1,32}$")
MAX_QTY = 999


@dataclass(frozen=True)
class PricedItem:
    """What one scan adds: the catalog item with the price it is charged now."""

    gtin: str
    scanned_gtin: str
    name: str
    category: str
    unit_price_cents: int
    weight_g: int | None
    line_total_cents: int
    tax_rate: str
    age_restricted: bool
    fixed_value: bool  # price/weight came from the label: never merged with other scans


def price_code(
    session: Session,
    code: str,
    *,
    qty: int,
    layouts: Sequence[VariableMeasureLayout],
    at: datetime,
) -> PricedItem:
    """Resolve scanned digits to a catalog item and its price (InvalidCode, UnknownProduct)."""
    scan = parse_scan(code, layouts)
    if scan.variable is not None:
        lookup = scan.variable.lookup_gtin14
        if not (scan.variable.weight_g or scan.variable.price_cents):
            raise InvalidCode(
                f"the label {code} carries no {scan.variable.kind}; scan the scale label"
            )
        product = find_products(session, [lookup], at=at).get(lookup)
        if product is None:
            raise UnknownProduct(f"no in-store item {lookup[1:]} for label {code}")
        if scan.variable.kind == "weight":
            assert scan.variable.weight_g is not None
            return _weighed(product, scan.variable.weight_g, qty, scanned=scan.candidates[0])
        price = scan.variable.price_cents or 0
        return PricedItem(
            product.gtin,
            scan.candidates[0],
            product.name,
            product.category,
            price,
            None,
            price * qty,
            product.tax_rate,
            product.age_restricted,
            True,
        )
    found = find_products(session, scan.candidates, at=at)
    product = next((found[g] for g in scan.candidates if g in found), None)
    if product is None:
        raise UnknownProduct(f"no product with GTIN {scan.candidates[0]}")
    if scan.weight_g is not None:
        return _weighed(product, scan.weight_g, qty, scanned=product.gtin)
    if product.sold_by == "weight":
        raise InvalidCode(f"{product.name} is sold by weight: scan the label printed by the scale")
    if scan.price_cents is not None:
        return PricedItem(
            product.gtin,
            product.gtin,
            product.name,
            product.category,
            scan.price_cents,
            None,
            scan.price_cents * qty,
            product.tax_rate,
            product.age_restricted,
            True,
        )
    return PricedItem(
        product.gtin,
        product.gtin,
        product.name,
        product.category,
        product.price_cents,
        None,
        product.price_cents * qty,
        product.tax_rate,
        product.age_restricted,
        False,
    )


def _weighed(product: PricedProduct, weight_g: int, qty: int, *, scanned: str) -> PricedItem:
    total = weight_price_cents(weight_g, product.price_cents) * qty
    return PricedItem(
        product.gtin,
        scanned,
        product.name,
        product.category,
        product.price_cents,
        weight_g,
        total,
        product.tax_rate,
        product.age_restricted,
        True,
    )


def current_basket(session: Session, device_id: str, *, for_update: bool = False) -> Basket | None:
    """The device's basket that is open or waiting at the exit (a device has at most one)."""
    query = (
        select(Basket)
        .where(Basket.device_id == device_id, col(Basket.status).in_(("open", *LOCKED_STATUSES)))
        .order_by(col(Basket.created_at).desc())
        .limit(1)
    )
    if for_update:
        query = query.with_for_update()
    return session.exec(query).first()


def open_basket(
    session: Session, *, device_id: str, store_id: str, loyalty_card: object, currency: str
) -> Basket:
    """Start a trip; a device that already has an open basket gets it back."""
    if not isinstance(loyalty_card, str) or not LOYALTY_CARD.match(loyalty_card):
        raise BadMessage("loyalty_card must be 1-32 letters, digits or dashes")
    basket = current_basket(session, device_id, for_update=True)
    if basket is not None:
        if basket.status in LOCKED_STATUSES:
            raise BasketLocked(
                "this device's last basket is waiting at the exit; it is freed once paid"
            )
        return basket
    shopper = session.exec(select(Shopper).where(Shopper.loyalty_card == loyalty_card)).first()
    if shopper is None:
        shopper = Shopper(loyalty_card=loyalty_card)
        session.add(shopper)
        session.flush()
    basket = Basket(
        id=str(uuid.uuid4()),
        device_id=device_id,
        store_id=store_id,
        shopper_id=shopper.id,
        loyalty_card=loyalty_card,
        currency=currency,
    )
    session.add(basket)
    session.flush()
    return basket


def open_basket_for_change(session: Session, device_id: str) -> Basket:
    basket = current_basket(session, device_id, for_update=True)
    if basket is None:
        raise NoBasket("no open basket on this device; send start with a loyalty card")
    if basket.status != "open":
        raise BasketLocked("the basket is finished and can no longer change")
    return basket


def basket_lines(session: Session, basket_id: str) -> list[BasketLine]:
    return list(
        session.exec(
            select(BasketLine).where(BasketLine.basket_id == basket_id).order_by(col(BasketLine.id))
        ).all()
    )


def add_item(session: Session, basket: Basket, item: PricedItem, *, qty: int) -> BasketLine:
    """Add a priced scan; plain items at the same price merge into one line."""
    if not item.fixed_value:
        line = session.exec(
            select(BasketLine).where(
                BasketLine.basket_id == basket.id,
                BasketLine.gtin == item.gtin,
                BasketLine.unit_price_cents == item.unit_price_cents,
                col(BasketLine.weight_g).is_(None),
                BasketLine.scanned_gtin == item.scanned_gtin,
            )
        ).first()
        if line is not None:
            line.qty += qty
            line.line_total_cents = line.qty * line.unit_price_cents
            session.add(line)
            session.flush()
            return line
    line = BasketLine(
        basket_id=basket.id,
        gtin=item.gtin,
        scanned_gtin=item.scanned_gtin,
        name=item.name,
        category=item.category,
        qty=qty,
        unit_price_cents=item.unit_price_cents,
        weight_g=item.weight_g,
        line_total_cents=item.line_total_cents,
        tax_rate=item.tax_rate,
        age_restricted=item.age_restricted,
    )
    session.add(line)
    session.flush()
    return line


def remove_item(session: Session, basket: Basket, item: PricedItem, *, qty: int) -> BasketLine:
    """Take ``qty`` units out, newest lines first; returns the last line touched."""
    candidates = [
        line
        for line in basket_lines(session, basket.id)
        if line.gtin == item.gtin
        and (
            not item.fixed_value
            or (line.weight_g == item.weight_g and line.unit_price_cents == item.unit_price_cents)
        )
    ]
    if item.fixed_value:
        available = len(candidates) and sum(line.qty for line in candidates)
    else:
        available = sum(line.qty for line in candidates)
    if available < qty:
        raise NotInBasket(f"the basket holds {available} of {item.name}, cannot remove {qty}")
    remaining = qty
    touched = candidates[-1]
    for line in reversed(candidates):
        if remaining == 0:
            break
        take = min(line.qty, remaining)
        remaining -= take
        line.qty -= take
        touched = line
        if line.qty == 0:
            session.delete(line)
        else:
            line.line_total_cents = (
                weight_price_cents(line.weight_g, line.unit_price_cents) * line.qty
                if line.weight_g is not None
                else line.unit_price_cents * line.qty
            )
            session.add(line)
    session.flush()
    return touched


def price_basket(
    lines: Sequence[BasketLine], promotions: Sequence[Promotion], *, at: datetime, loyalty: bool
) -> PricingResult:
    priced = [
        PricedLine(
            key=str(line.id),
            gtin=line.gtin,
            category=line.category,
            qty=line.qty,
            unit_price_cents=line.unit_price_cents,
            line_total_cents=line.line_total_cents,
            tax_rate=Decimal(line.tax_rate),
            weight_g=line.weight_g,
        )
        for line in lines
    ]
    return evaluate(priced, promotions, at=at, loyalty_card=loyalty)


def line_view(line: BasketLine) -> dict[str, Any]:
    return {
        "gtin": line.gtin,
        "name": line.name,
        "qty": line.qty,
        "unit_price_cents": line.unit_price_cents,
        "weight_g": line.weight_g,
        "line_total_cents": line.line_total_cents,
    }


def snapshot(
    session: Session,
    basket: Basket,
    promotions: Sequence[Promotion],
    *,
    at: datetime | None = None,
    lines: Sequence[BasketLine] | None = None,
) -> dict[str, Any]:
    """The protocol's ``basket`` object; also stores the totals on the basket row."""
    at = at or utcnow()
    lines = basket_lines(session, basket.id) if lines is None else lines
    result = price_basket(lines, promotions, at=at, loyalty=bool(basket.loyalty_card))
    basket.total_cents = result.total_cents
    basket.tax_cents = result.tax_cents
    basket.item_count = sum(line.qty for line in lines)
    basket.updated_at = at
    session.add(basket)
    return {
        "basket_id": basket.id,
        "status": basket.status,
        "lines": [line_view(line) for line in lines],
        "discounts": [{"label": d.label, "amount_cents": d.amount_cents} for d in result.discounts],
        "total_cents": result.total_cents,
        "tax_cents": result.tax_cents,
        "taxes": [
            {"rate": str(t.rate), "gross_cents": t.gross_cents, "tax_cents": t.tax_cents}
            for t in result.taxes
        ],
        "currency": basket.currency,
        "item_count": basket.item_count,
    }
