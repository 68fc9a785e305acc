"""Baskets: opening by loyalty card, pricing scans, removals, snapshots for the protocol.

Every function takes the session first and only flushes; the caller commits once, together
with the idempotency record of the request that caused the change.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from store_server.baskets.models import LOCKED_STATUSES, Basket, BasketLine, Shopper
from store_server.baskets.scan_sql import scan_cursor
from store_server.catalog.service import PricedProduct, ProductCache, find_products
from store_server.pricing.gs1 import ScanCode, parse_scan
from store_server.pricing.promotions import PricedLine, PricingResult, Promotion, evaluate
from store_server.pricing.variable_measure import VariableMeasureLayout, weight_price_cents
from store_server.shared.errors import (
    BadMessage,
    BasketLocked,
    InvalidCode,
    NoBasket,
    NotInBasket,
    UnknownProduct,
)
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
    products: ProductCache | None = None,
) -> PricedItem:
    """Resolve scanned digits to a catalog item and its price (InvalidCode, UnknownProduct)."""
    scan = _parse_scan(code, tuple(layouts))

    def find(gtins: Sequence[str]) -> dict[str, PricedProduct]:
        if products is not None:
            return products.find(session, gtins, at=at)
        return find_products(session, gtins, at=at)

    if scan.variable is not None:
        lookup = scan.variable.lookup_gtin14
        if not (scan.variable.weight_g or scan.variable.price_cents):
            raise InvalidCode(
                f"the label {code} carries no {scan.variable.kind}; scan the scale label"
            )
        product = find([lookup]).get(lookup)
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
    found = find(scan.candidates)
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


@functools.lru_cache(maxsize=65_536)
def _parse_scan(code: str, layouts: tuple[VariableMeasureLayout, ...]) -> ScanCode:
    """:func:`parse_scan`, remembered: a store's shoppers scan the same codes all day
    (the result is immutable; a code that fails to parse is not remembered)."""
    return parse_scan(code, layouts)


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


def current_basket(
    session: Session, device_id: str, *, for_update: bool = False
) -> BasketRow | None:
    """The device's basket that is open or waiting at the exit (a device has at most one)."""
    query = _CURRENT_ROW_FOR_UPDATE if for_update else _CURRENT_ROW
    row = session.connection().execute(query, {"device_id": device_id}).first()
    return None if row is None else BasketRow(*row)


@dataclasses.dataclass(frozen=True)
class Trip:
    basket: BasketRow
    created: bool  # a new basket (then it is empty)
    # Another card's basket left open on the device, abandoned to start this one.
    abandoned: str | None = None


def start_trip(
    session: Session, *, device_id: str, store_id: str, loyalty_card: object, currency: str
) -> Trip:
    """Start a trip. A device that already has an open basket for this card gets it back
    (the shopper started again, or another connection did). An open basket of another
    card was left by a shopper who never finished: it is abandoned, so the next shopper
    neither sees nor pays for its items, and a new basket is opened."""
    if not isinstance(loyalty_card, str) or not LOYALTY_CARD.match(loyalty_card):
        raise BadMessage("loyalty_card must be 1-32 letters, digits or dashes")
    basket = current_basket(session, device_id, for_update=True)
    connection = session.connection()
    now = utcnow()
    abandoned = None
    if basket is not None:
        if basket.status in LOCKED_STATUSES:
            raise BasketLocked(
                "this device's last basket is waiting at the exit; it is freed once paid"
            )
        if basket.loyalty_card == loyalty_card:
            return Trip(basket, False)
        connection.execute(_ABANDON_BASKET, {"p_id": basket.id, "p_now": now})
        abandoned = basket.id
    shopper_id = connection.execute(_SHOPPER_BY_CARD, {"card": loyalty_card}).scalar()
    if shopper_id is None:
        shopper_id = connection.execute(
            _INSERT_SHOPPER,
            {
                "loyalty_card": loyalty_card,
                "created_at": now,
                "trips": 0,
                "audits_passed": 0,
                "discrepancies": 0,
            },
        ).scalar_one()
    basket = BasketRow(
        id=str(uuid.uuid4()),
        status="open",
        loyalty_card=loyalty_card,
        currency=currency,
        updated_at=now,
        device_id=device_id,
        store_id=store_id,
        shopper_id=shopper_id,
    )
    connection.execute(
        _INSERT_BASKET,
        {
            **dataclasses.asdict(basket),
            "total_cents": 0,
            "tax_cents": 0,
            "item_count": 0,
            "created_at": now,
        },
    )
    return Trip(basket, True, abandoned)


BASKET_TABLE = Basket.__table__  # type: ignore[attr-defined]
_CURRENT_ROW = (
    sa_select(
        BASKET_TABLE.c.id,
        BASKET_TABLE.c.status,
        BASKET_TABLE.c.loyalty_card,
        BASKET_TABLE.c.currency,
        BASKET_TABLE.c.updated_at,
        BASKET_TABLE.c.device_id,
        BASKET_TABLE.c.store_id,
        BASKET_TABLE.c.shopper_id,
    )
    .where(
        BASKET_TABLE.c.device_id == bindparam("device_id"),
        BASKET_TABLE.c.status.in_(("open", *LOCKED_STATUSES)),
    )
    .order_by(BASKET_TABLE.c.created_at.desc())
    .limit(1)
)
_CURRENT_ROW_FOR_UPDATE = _CURRENT_ROW.with_for_update()
SHOPPER_TABLE = Shopper.__table__  # type: ignore[attr-defined]
_SHOPPER_BY_CARD = sa_select(SHOPPER_TABLE.c.id).where(
    SHOPPER_TABLE.c.loyalty_card == bindparam("card")
)
_INSERT_SHOPPER = insert(SHOPPER_TABLE).returning(SHOPPER_TABLE.c.id)
_INSERT_BASKET = insert(BASKET_TABLE)
_ABANDON_BASKET = (
    update(BASKET_TABLE)
    .where(BASKET_TABLE.c.id == bindparam("p_id"))
    .values(status="abandoned", updated_at=bindparam("p_now"))
)


UPDATE_TOTALS = (
    update(BASKET_TABLE)
    .where(BASKET_TABLE.c.id == bindparam("p_id"))
    .values(
        total_cents=bindparam("total_cents"),
        tax_cents=bindparam("tax_cents"),
        item_count=bindparam("item_count"),
        updated_at=bindparam("updated_at"),
    )
)


@dataclass
class BasketRow:
    """The basket fields the handheld paths need, read and written without the ORM."""

    id: str
    status: str
    loyalty_card: str | None
    currency: str
    updated_at: datetime
    device_id: str
    store_id: str
    shopper_id: int | None


def changeable_basket_row(session: Session, device_id: str) -> BasketRow:
    """The device's open basket, for scans and removals. The row is not locked: the scan
    path writes it only if its ``updated_at`` is unchanged (optimistic), and takes its
    locks in one order — request log, then basket — so two processes serving one
    device cannot deadlock."""
    return _changeable(current_basket(session, device_id))


def open_basket_for_change(session: Session, device_id: str) -> BasketRow:
    """The device's open basket, its row locked (finish, offers)."""
    return _changeable(current_basket(session, device_id, for_update=True))


def _changeable(basket: BasketRow | None) -> BasketRow:
    if basket is None:
        raise NoBasket("no open basket on this device; send start with a loyalty card")
    if basket.status != "open":
        raise BasketLocked("the basket is finished and can no longer change")
    return basket


LINE_TABLE = BasketLine.__table__  # type: ignore[attr-defined]


@dataclass
class LineRecord:
    """A basket line as plain data: the scan path reads and writes lines with Core SQL,
    which costs a fraction of loading ORM objects for every line on every scan."""

    id: int
    basket_id: str
    gtin: str
    scanned_gtin: str
    name: str
    category: str
    qty: int
    unit_price_cents: int
    weight_g: int | None
    line_total_cents: int
    tax_rate: str
    age_restricted: bool

    # The pricing input and the protocol view of a line are built once per record: the
    # scan path prices every line of the basket on every scan, and a record that changes
    # is cloned first (see plan_add), so these never go stale.
    def priced(self) -> PricedLine:
        cached: PricedLine | None = self.__dict__.get("_priced")
        if cached is None:
            cached = self.__dict__["_priced"] = _priced_line(self)
        return cached

    def view(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = self.__dict__.get("_view")
        if cached is None:
            cached = self.__dict__["_view"] = line_view(self)
        return cached

    def set_id(self, line_id: int) -> None:
        """The id the database gave a new line (the cached pricing input names it)."""
        self.id = line_id
        self.__dict__.pop("_priced", None)

    def clone(self) -> LineRecord:
        return LineRecord(
            self.id,
            self.basket_id,
            self.gtin,
            self.scanned_gtin,
            self.name,
            self.category,
            self.qty,
            self.unit_price_cents,
            self.weight_g,
            self.line_total_cents,
            self.tax_rate,
            self.age_restricted,
        )


_LINE_FIELDS = tuple(f for f in LineRecord.__dataclass_fields__)

# Statements of the scan path, built once: building them per call costs more than running them.
_SELECT_LINES = (
    select(*(LINE_TABLE.c[f] for f in _LINE_FIELDS))
    .where(LINE_TABLE.c.basket_id == bindparam("p_basket"))
    .order_by(LINE_TABLE.c.id)
)


def basket_lines(session: Session, basket_id: str) -> list[LineRecord]:
    if session.new or session.dirty or session.deleted:
        session.flush()  # ORM changes of this transaction first
    rows = session.connection().execute(_SELECT_LINES, {"p_basket": basket_id}).all()
    return [LineRecord(*row) for row in rows]


def _line_total(line: LineRecord) -> int:
    if line.weight_g is not None:
        return weight_price_cents(line.weight_g, line.unit_price_cents) * line.qty
    return line.unit_price_cents * line.qty


@dataclass
class LineChange:
    """One write to ``basket_line``: ``insert`` (the record's id is set once written),
    ``update`` (qty and total) or ``delete``."""

    kind: str
    line: LineRecord


def plan_add(
    lines: Sequence[LineRecord], basket_id: str, item: PricedItem, *, qty: int
) -> tuple[list[LineRecord], LineChange]:
    """The lines after adding a priced scan, as a new list (the given records are left
    as they were, so a cached basket survives a rolled-back transaction). Plain items at
    the same price merge into one line."""
    if not item.fixed_value:
        for index, line in enumerate(lines):
            if (
                line.gtin == item.gtin
                and line.scanned_gtin == item.scanned_gtin
                and line.unit_price_cents == item.unit_price_cents
                and line.weight_g is None
            ):
                merged = line.clone()
                merged.qty += qty
                merged.line_total_cents = _line_total(merged)
                return [*lines[:index], merged, *lines[index + 1 :]], LineChange("update", merged)
    added = LineRecord(
        id=0,
        basket_id=basket_id,
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
    return [*lines, added], LineChange("insert", added)


def plan_remove(
    lines: Sequence[LineRecord], item: PricedItem, *, qty: int
) -> tuple[list[LineRecord], list[LineChange], LineRecord]:
    """The lines after taking ``qty`` units out, newest lines first (NotInBasket when the
    basket holds fewer), the writes that does, and the last line touched."""
    candidates = [
        index
        for index, line in enumerate(lines)
        if line.gtin == item.gtin
        and (
            not item.fixed_value
            or (line.weight_g == item.weight_g and line.unit_price_cents == item.unit_price_cents)
        )
    ]
    available = sum(lines[i].qty for i in candidates)
    if available < qty:
        raise NotInBasket(f"the basket holds {available} of {item.name}, cannot remove {qty}")
    result: list[LineRecord | None] = list(lines)
    changes: list[LineChange] = []
    remaining = qty
    touched = lines[candidates[-1]]
    for index in reversed(candidates):
        if remaining == 0:
            break
        line = lines[index].clone()
        take = min(line.qty, remaining)
        remaining -= take
        line.qty -= take
        line.line_total_cents = _line_total(line)  # 0 for a line taken out whole
        touched = line
        if line.qty == 0:
            result[index] = None
            changes.append(LineChange("delete", line))
        else:
            result[index] = line
            changes.append(LineChange("update", line))
    return [line for line in result if line is not None], changes, touched


def write_changes(session: Session, changes: Sequence[LineChange]) -> None:
    """Write planned line changes in the session's transaction (new lines get their id)."""
    statements, cursor = scan_cursor(session)
    statements.write_changes(cursor, changes)


def add_item(
    session: Session,
    basket: Basket | BasketRow,
    item: PricedItem,
    *,
    qty: int,
    lines: list[LineRecord] | None = None,
) -> LineRecord:
    """Add a priced scan and write it; ``lines`` is updated in place when given."""
    if lines is None:
        lines = basket_lines(session, basket.id)
    if session.new or session.dirty or session.deleted:
        session.flush()
    new_lines, change = plan_add(lines, basket.id, item, qty=qty)
    write_changes(session, [change])
    lines[:] = new_lines
    return change.line


def remove_item(
    session: Session,
    basket: Basket | BasketRow,
    item: PricedItem,
    *,
    qty: int,
    lines: list[LineRecord] | None = None,
) -> LineRecord:
    """Take ``qty`` units out and write it; ``lines`` is updated in place when given."""
    if lines is None:
        lines = basket_lines(session, basket.id)
    if session.new or session.dirty or session.deleted:
        session.flush()
    new_lines, changes, touched = plan_remove(lines, item, qty=qty)
    write_changes(session, changes)
    lines[:] = new_lines
    return touched


def price_basket(
    lines: Sequence[LineRecord | BasketLine],
    promotions: Sequence[Promotion],
    *,
    at: datetime,
    loyalty: bool,
) -> PricingResult:
    priced = [
        line.priced() if isinstance(line, LineRecord) else _priced_line(line) for line in lines
    ]
    return evaluate(priced, promotions, at=at, loyalty_card=loyalty)


def _priced_line(line: LineRecord | BasketLine) -> PricedLine:
    return PricedLine(
        key=str(line.id),
        gtin=line.gtin,
        category=line.category,
        qty=line.qty,
        unit_price_cents=line.unit_price_cents,
        line_total_cents=line.line_total_cents,
        tax_rate=Decimal(line.tax_rate),
        weight_g=line.weight_g,
    )


def line_view(line: LineRecord | BasketLine) -> dict[str, Any]:
    return {
        "gtin": line.gtin,
        "name": line.name,
        "qty": line.qty,
        "unit_price_cents": line.unit_price_cents,
        "weight_g": line.weight_g,
        "line_total_cents": line.line_total_cents,
        # Optional addition (PROTOCOL.md): the shopper's app shows "ID checked at the exit".
        "age_restricted": line.age_restricted,
    }


def snapshot(
    session: Session,
    basket: Basket | BasketRow,
    promotions: Sequence[Promotion],
    *,
    at: datetime | None = None,
    persist: bool = True,
) -> dict[str, Any]:
    """The protocol's ``basket`` object; also stores the totals on the basket row
    (``persist=False`` for a read-only view, e.g. a reconnecting handheld's welcome)."""
    at = at or utcnow()
    view = basket_view(basket, basket_lines(session, basket.id), promotions, at=at)
    if not persist:
        return view
    totals = basket_totals(view, at)
    if isinstance(basket, Basket):
        for key, value in totals.items():
            setattr(basket, key, value)
        session.add(basket)
    else:
        session.connection().execute(UPDATE_TOTALS, {"p_id": basket.id, **totals})
        basket.updated_at = at
    return view


class BasketHeader(Protocol):
    """The basket fields a view shows besides its lines (read only)."""

    @property
    def id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def loyalty_card(self) -> str | None: ...
    @property
    def currency(self) -> str: ...


def basket_view(
    basket: BasketHeader,
    lines: Sequence[LineRecord | BasketLine],
    promotions: Sequence[Promotion],
    *,
    at: datetime,
) -> dict[str, Any]:
    """The protocol's ``basket`` object for these lines, priced at ``at`` (pure)."""
    result = price_basket(lines, promotions, at=at, loyalty=bool(basket.loyalty_card))
    return {
        "basket_id": basket.id,
        "status": basket.status,
        "lines": [
            line.view() if isinstance(line, LineRecord) else line_view(line) for line in lines
        ],
        "discounts": [{"label": d.label, "amount_cents": d.amount_cents} for d in result.discounts],
        "total_cents": result.total_cents,
        "tax_cents": result.tax_cents,
        "taxes": [
            {"rate": str(t.rate), "gross_cents": t.gross_cents, "tax_cents": t.tax_cents}
            for t in result.taxes
        ],
        "currency": basket.currency,
        "item_count": sum(line.qty for line in lines),
    }


def basket_totals(view: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The basket row's stored totals for a view computed at ``at``."""
    return {
        "total_cents": view["total_cents"],
        "tax_cents": view["tax_cents"],
        "item_count": view["item_count"],
        "updated_at": at,
    }
