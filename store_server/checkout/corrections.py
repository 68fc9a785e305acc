"""Staff work at the exit: rescans, lines added or taken off, extra items resolved and
age checks approved.

Fairness rules the code keeps (shoppers' main complaints about self-scanning):

- only an item the *shopper* left unscanned is a discrepancy; a staff mistake (a
  wrong correction, an item from another trolley) never touches the shopper's trust;
- rescanning an item twice is not an "extra" item: the second scan is a duplicate;
- a partial audit grows to a full one only once a real discrepancy is confirmed.

Every function takes the session first and only flushes; the caller commits once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from store_server.baskets import service as baskets
from store_server.baskets.models import Basket, BasketLine
from store_server.checkout.audit import escalate_to_full
from store_server.checkout.models import (
    ADD_REASONS,
    EXTRA_RESOLUTIONS,
    REMOVE_REASONS,
    AgeApproval,
    CheckoutCorrection,
    RescanScan,
)
from store_server.checkout.records import (
    Actor,
    audit_of,
    clean_note,
    corrections_of,
    ensure_changeable,
    get_basket,
    log_action,
    rescans_of,
)
from store_server.checkout.views import line_states
from store_server.pricing.promotions import Promotion
from store_server.pricing.variable_measure import VariableMeasureLayout, weight_price_cents
from store_server.shared.errors import (
    BadQuantity,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    NotInBasket,
)
from store_server.timeutil import utcnow

MAX_QTY = 999


def _code(code: object) -> str:
    if not isinstance(code, str) or not code.strip() or len(code) > 64:
        raise InvalidInput("code must be the scanned digits", problems=["code: 1-64 characters"])
    return code.strip()


def _touch(basket: Basket, at: datetime) -> None:
    basket.updated_at = at


def rescan(
    session: Session,
    basket_id: str,
    code: object,
    *,
    actor: Actor,
    source: str,
    layouts: Sequence[VariableMeasureLayout],
    at: datetime | None = None,
) -> RescanScan:
    """Record one staff rescan: it verifies a unit, repeats one (duplicate) or is extra."""
    at = at or utcnow()
    code = _code(code)
    basket = get_basket(session, basket_id, actor, for_update=True)
    ensure_changeable(session, basket)
    item = baskets.price_code(session, code, qty=1, layouts=layouts, at=at)
    lines = baskets.basket_lines(session, basket.id)
    audit = audit_of(session, basket.id)
    states = line_states(
        lines,
        json.loads(audit.rescan) if audit else [],
        rescans_of(session, basket.id),
        corrections_of(session, basket.id),
    )
    state = states.get(item.gtin)
    if state is None:
        outcome = "extra"
    elif state.verified < state.expected:
        outcome = "verified"
    else:
        outcome = "duplicate"  # scanned twice by staff: not a discrepancy
    scan = RescanScan(
        basket_id=basket.id,
        gtin=item.gtin,
        code=code,
        name=item.name,
        outcome=outcome,
        source=source,
        actor=actor.name,
        at=at,
    )
    session.add(scan)
    _touch(basket, at)
    session.add(basket)
    log_action(
        session, basket, actor, "rescan", code=code, gtin=item.gtin, name=item.name, outcome=outcome
    )
    session.flush()
    return scan


def _qty(qty: object) -> int:
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= MAX_QTY:
        raise BadQuantity(f"qty must be a whole number from 1 to {MAX_QTY}")
    return qty


def add_line(
    session: Session,
    basket_id: str,
    *,
    code: object,
    qty: object,
    reason: object,
    note: object = None,
    actor: Actor,
    layouts: Sequence[VariableMeasureLayout],
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> CheckoutCorrection:
    """Staff add an item; only ``missed_by_shopper`` counts against the shopper."""
    at = at or utcnow()
    if reason not in ADD_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(ADD_REASONS)}")
    code, qty, note = _code(code), _qty(qty), clean_note(note)
    basket = get_basket(session, basket_id, actor, for_update=True)
    ensure_changeable(session, basket)
    item = baskets.price_code(session, code, qty=qty, layouts=layouts, at=at)
    correction = _add(session, basket, item, qty, str(reason), note, actor, at)
    baskets.snapshot(session, basket, promotions, at=at)
    session.flush()
    return correction


def _add(
    session: Session,
    basket: Basket,
    item: baskets.PricedItem,
    qty: int,
    reason: str,
    note: str | None,
    actor: Actor,
    at: datetime,
) -> CheckoutCorrection:
    baskets.add_item(session, basket, item, qty=qty)
    correction = CheckoutCorrection(
        basket_id=basket.id,
        kind="add",
        gtin=item.gtin,
        name=item.name,
        qty=qty,
        reason=reason,
        note=note,
        shopper_fault=reason == "missed_by_shopper",
        actor=actor.name,
        at=at,
    )
    session.add(correction)
    log_action(
        session,
        basket,
        actor,
        "line_added",
        gtin=item.gtin,
        name=item.name,
        qty=qty,
        reason=reason,
        note=note,
    )
    if correction.shopper_fault:
        session.flush()
        escalate_to_full(
            session, basket, f"discrepancy: {item.name} was not scanned; full rescan", at
        )
    return correction


def remove_line(
    session: Session,
    basket_id: str,
    line_id: object,
    *,
    qty: object,
    reason: object,
    note: object = None,
    actor: Actor,
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> CheckoutCorrection:
    """Staff take units off a line. A ``staff_error`` removal of an item staff added as
    missed by the shopper takes that discrepancy back."""
    at = at or utcnow()
    if reason not in REMOVE_REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REMOVE_REASONS)}")
    qty, note = _qty(qty), clean_note(note)
    basket = get_basket(session, basket_id, actor, for_update=True)
    ensure_changeable(session, basket)
    line = session.get(BasketLine, line_id) if isinstance(line_id, int) else None
    if line is None or line.basket_id != basket.id:
        raise NotFound(f"no line {line_id} in this basket")
    if qty > line.qty:
        raise NotInBasket(f"the line holds {line.qty} of {line.name}, cannot remove {qty}")
    gtin, name = line.gtin, line.name
    line.qty -= qty
    if line.qty == 0:
        session.delete(line)
    else:
        line.line_total_cents = (
            weight_price_cents(line.weight_g, line.unit_price_cents) * line.qty
            if line.weight_g is not None
            else line.unit_price_cents * line.qty
        )
        session.add(line)
    if reason == "staff_error":
        remaining = qty
        for c in reversed(corrections_of(session, basket.id)):
            if remaining <= 0:
                break
            if c.kind == "add" and c.gtin == gtin and not c.voided:
                c.voided = True
                remaining -= c.qty
                session.add(c)
    correction = CheckoutCorrection(
        basket_id=basket.id,
        kind="remove",
        gtin=gtin,
        name=name,
        qty=qty,
        reason=str(reason),
        note=note,
        actor=actor.name,
        at=at,
    )
    session.add(correction)
    log_action(
        session,
        basket,
        actor,
        "line_removed",
        gtin=gtin,
        name=name,
        qty=qty,
        reason=reason,
        note=note,
    )
    session.flush()
    baskets.snapshot(session, basket, promotions, at=at)
    session.flush()
    return correction


def resolve_extra(
    session: Session,
    basket_id: str,
    scan_id: object,
    *,
    resolution: object,
    actor: Actor,
    layouts: Sequence[VariableMeasureLayout],
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> RescanScan:
    """An item rescanned but not in the basket: the shopper missed it, or staff erred."""
    at = at or utcnow()
    if resolution not in EXTRA_RESOLUTIONS:
        raise InvalidInput(f"resolution must be one of {', '.join(EXTRA_RESOLUTIONS)}")
    basket = get_basket(session, basket_id, actor, for_update=True)
    ensure_changeable(session, basket)
    scan = session.get(RescanScan, scan_id) if isinstance(scan_id, int) else None
    if scan is None or scan.basket_id != basket.id or scan.outcome != "extra":
        raise NotFound(f"no extra item {scan_id} in this basket")
    if scan.resolution is not None:
        raise Conflict(f"this extra item was already resolved ({scan.resolution})")
    scan.resolution = str(resolution)
    scan.resolved_by = actor.name
    scan.resolved_at = at
    session.add(scan)
    if resolution == "add_to_basket":
        item = baskets.price_code(session, scan.code, qty=1, layouts=layouts, at=at)
        _add(session, basket, item, 1, "missed_by_shopper", None, actor, at)
        baskets.snapshot(session, basket, promotions, at=at)
    else:
        log_action(session, basket, actor, "extra_dismissed", gtin=scan.gtin, name=scan.name)
        _touch(basket, at)
        session.add(basket)
    session.flush()
    return scan


def approve_age(
    session: Session, basket_id: str, *, actor: Actor, note: object = None
) -> AgeApproval:
    """Staff saw proof of age; a second approval keeps the first one's name and time."""
    note = clean_note(note)
    if actor.user_id is None:
        raise Forbidden("only a logged-in staff member can approve an age check")
    basket = get_basket(session, basket_id, actor, for_update=True)
    ensure_changeable(session, basket)
    existing = session.get(AgeApproval, basket.id)
    if existing is not None:
        return existing
    if not any(line.age_restricted for line in baskets.basket_lines(session, basket.id)):
        raise Conflict("this basket holds no age-restricted item")
    approval = AgeApproval(
        basket_id=basket.id,
        user_id=actor.user_id,
        approved_by=actor.shown_as or actor.name,
        note=note,
    )
    session.add(approval)
    log_action(session, basket, actor, "age_approved", note=note)
    _touch(basket, approval.approved_at)
    session.add(basket)
    session.flush()
    return approval
