"""Release to payment and the payment itself: the frozen hand-off a till charges, the
registry of POS terminals and their callback, and payments staff took another way.

Every function takes the session first and only flushes; the caller commits once.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, select

from store_server.baskets import service as baskets
from store_server.baskets.models import LOCKED_STATUSES, Basket
from store_server.checkout.audit import close_audit
from store_server.checkout.models import (
    AgeApproval,
    PaymentHandoff,
    PosTerminal,
)
from store_server.checkout.records import (
    Actor,
    audit_of,
    clean_note,
    dumps,
    ensure_changeable,
    get_basket,
    handoff_of,
    iso,
    log_action,
)
from store_server.checkout.views import open_problems
from store_server.pricing.money import format_cents
from store_server.pricing.promotions import Promotion
from store_server.security import hash_token, new_token
from store_server.shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from store_server.timeutil import as_utc, utcnow

HANDOFF_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the till


def _new_code(session: Session) -> str:
    while True:
        code = "".join(secrets.choice(HANDOFF_ALPHABET) for _ in range(10))
        if session.exec(select(PaymentHandoff).where(PaymentHandoff.code == code)).first() is None:
            return code


def pos_payload(code: str) -> str:
    """What the QR code and the Code128 on the console carry: the POS looks the code up."""
    return f"CADDIE-PAY:{code}"


def release(
    session: Session,
    basket_id: str,
    *,
    actor: Actor,
    promotions: Sequence[Promotion],
    at: datetime | None = None,
) -> PaymentHandoff:
    """Close the audit, update the shopper's trust and freeze the basket for the POS.

    Releasing twice returns the first hand-off (a double click at a busy exit).
    """
    at = at or utcnow()
    basket = get_basket(session, basket_id, actor, for_update=True)
    existing = handoff_of(session, basket.id)
    if existing is not None and basket.status in LOCKED_STATUSES:
        return existing
    ensure_changeable(session, basket)
    problems = open_problems(session, basket)
    if problems:
        raise Conflict("cannot release to payment yet: " + "; ".join(problems), problems=problems)
    view = baskets.snapshot(session, basket, promotions, at=at)
    audit = audit_of(session, basket.id)
    outcome = close_audit(session, basket, audit, actor, at)
    approval = session.get(AgeApproval, basket.id)
    lines = baskets.basket_lines(session, basket.id)
    handoff_id = str(uuid.uuid4())
    code = _new_code(session)
    record = {
        "handoff_id": handoff_id,
        "code": code,
        "pos_payload": pos_payload(code),
        "basket_id": basket.id,
        "store_id": basket.store_id,
        "device_id": basket.device_id,
        "loyalty_card": basket.loyalty_card,
        "currency": basket.currency,
        "lines": [
            {
                **baskets.line_view(line),
                "tax_rate": line.tax_rate,
                "age_restricted": line.age_restricted,
            }
            for line in lines
        ],
        "discounts": view["discounts"],
        "item_count": view["item_count"],
        "subtotal_cents": sum(line.line_total_cents for line in lines),
        "total_cents": view["total_cents"],
        "tax_cents": view["tax_cents"],
        "taxes": view["taxes"],
        "audit": {"decision": audit.decision if audit else "none", "outcome": outcome},
        "age_check": None
        if approval is None
        else {"approved_by": approval.approved_by, "approved_at": iso(approval.approved_at)},
        "released_at": as_utc(at).isoformat(),
        "released_by": actor.name,
    }
    handoff = PaymentHandoff(
        id=handoff_id,
        code=code,
        basket_id=basket.id,
        store_id=basket.store_id,
        currency=basket.currency,
        total_cents=view["total_cents"],
        tax_cents=view["tax_cents"],
        record=dumps(record),
        created_at=at,
        created_by=actor.name,
    )
    session.add(handoff)
    log_action(
        session,
        basket,
        actor,
        "released",
        code=code,
        total_cents=view["total_cents"],
        audit_outcome=outcome,
    )
    session.flush()
    return handoff


def enroll_pos_terminal(session: Session, terminal_id: str, *, store_id: str) -> str:
    """Register a till (re-enrolling revokes its old token); returns the token, shown once."""
    from store_server.devices.service import DEVICE_ID

    if not isinstance(terminal_id, str) or not DEVICE_ID.match(terminal_id):
        raise InvalidInput("terminal id must be 1-64 letters, digits or . _ : -")
    token = new_token()
    row = session.get(PosTerminal, terminal_id)
    if row is None:
        row = PosTerminal(id=terminal_id, store_id=store_id, token_hash=hash_token(token))
    row.token_hash = hash_token(token)
    row.store_id = store_id
    row.revoked_at = None
    session.add(row)
    session.flush()
    return token


def pos_terminal(session: Session, token: str) -> PosTerminal:
    if not token or len(token) > 256:
        raise Unauthorized("POS token required (Authorization: Bearer <token>)")
    row = session.exec(
        select(PosTerminal).where(PosTerminal.token_hash == hash_token(token))
    ).first()
    if row is None or row.revoked_at is not None:
        raise Unauthorized("unknown or revoked POS token")
    return row


def handoff_for_pos(
    session: Session, code: object, terminal: PosTerminal, *, for_update: bool = False
) -> PaymentHandoff:
    if isinstance(code, str) and code.startswith("CADDIE-PAY:"):
        code = code[len("CADDIE-PAY:") :]
    if not isinstance(code, str) or not 1 <= len(code) <= 16:
        raise NotFound("no such hand-off")
    query = select(PaymentHandoff).where(PaymentHandoff.code == code.upper())
    if for_update:
        query = query.with_for_update()
    handoff = session.exec(query).first()
    if handoff is None:
        raise NotFound(f"no hand-off {code}")
    if handoff.store_id != terminal.store_id:
        raise Forbidden("this hand-off belongs to another store")
    return handoff


def mark_paid(
    session: Session,
    code: object,
    *,
    terminal: PosTerminal,
    payment_reference: object,
    amount_cents: object,
    at: datetime | None = None,
) -> tuple[PaymentHandoff, bool]:
    """The POS took the money: the basket is paid and the handheld is free again.

    Idempotent by payment reference: the same call again answers the same and changes
    nothing (``replayed`` is True); another reference for a paid basket is a conflict.
    """
    if not isinstance(payment_reference, str) or not 1 <= len(payment_reference) <= 100:
        raise InvalidInput("payment_reference must be 1-100 characters")
    handoff = handoff_for_pos(session, code, terminal, for_update=True)
    return _settle(
        session,
        handoff,
        Actor(f"pos:{terminal.id}", terminal.store_id),
        reference=payment_reference,
        amount_cents=amount_cents,
        terminal_id=terminal.id,
        at=at or utcnow(),
    )


def record_manual_payment(
    session: Session,
    basket_id: str,
    *,
    actor: Actor,
    method: object,
    reference: object,
    amount_cents: object,
    note: object = None,
    at: datetime | None = None,
) -> tuple[PaymentHandoff, bool]:
    """Staff took the money another way (cash at a staffed till, a card terminal with no
    integration): the basket is paid as if a till had reported it, and the audit log says
    who took it, how, and the slip's reference. Idempotent by reference, like a till."""
    from store_server.checkout.schemas import PAYMENT_METHODS

    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"method must be one of {', '.join(PAYMENT_METHODS)}")
    if (
        not isinstance(reference, str)
        or not 1 <= len(reference.strip()) <= 100
        or not reference.isprintable()
    ):
        raise InvalidInput("reference must be 1-100 printable characters")
    note = clean_note(note)
    if actor.user_id is None:
        raise Forbidden("only a logged-in staff member can record a payment")
    basket = get_basket(session, basket_id, actor)
    handoff = session.exec(
        select(PaymentHandoff).where(PaymentHandoff.basket_id == basket.id).with_for_update()
    ).first()
    if handoff is None:
        raise Conflict("release the basket to payment first")
    return _settle(
        session,
        handoff,
        actor,
        reference=reference.strip(),
        amount_cents=amount_cents,
        terminal_id=None,
        at=at or utcnow(),
        method=str(method),
        note=note,
    )


def _settle(
    session: Session,
    handoff: PaymentHandoff,
    actor: Actor,
    *,
    reference: str,
    amount_cents: object,
    terminal_id: str | None,
    at: datetime,
    **detail: object,
) -> tuple[PaymentHandoff, bool]:
    """Mark a released hand-off and its basket paid, once (see :func:`mark_paid`)."""
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool):
        raise InvalidInput("amount_cents must be a whole number of cents")
    if handoff.status == "paid":
        if handoff.payment_reference == reference:
            return handoff, True
        raise Conflict("this basket is already paid (another payment reference)")
    if handoff.status == "expired":
        raise Conflict("this hand-off expired with its abandoned basket")
    if amount_cents != handoff.total_cents:
        raise Conflict(
            f"the amount {format_cents(amount_cents, handoff.currency)} does not match "
            f"the total {format_cents(handoff.total_cents, handoff.currency)}"
        )
    basket = session.exec(
        select(Basket).where(Basket.id == handoff.basket_id).with_for_update()
    ).one()
    if basket.status not in LOCKED_STATUSES:
        raise Conflict(f"the basket is {basket.status}")
    handoff.status = "paid"
    handoff.paid_at = at
    handoff.payment_reference = reference
    handoff.pos_terminal_id = terminal_id
    basket.status = "paid"
    basket.updated_at = at
    session.add(handoff)
    session.add(basket)
    log_action(
        session,
        basket,
        actor,
        "paid",
        payment_reference=reference,
        amount_cents=amount_cents,
        **detail,
    )
    session.flush()
    return handoff, False
