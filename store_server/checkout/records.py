"""What every checkout step shares: who acts, the basket's audit log, loading a basket
of the actor's store with its checkout rows, and the rule that only a basket waiting at
the exit may change.

Every function takes the session first and only flushes; the caller commits once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert
from sqlmodel import Session, col, select

from store_server.baskets.models import LOCKED_STATUSES, Basket
from store_server.checkout.models import (
    CheckoutAudit,
    CheckoutCorrection,
    PaymentHandoff,
    RescanScan,
    StaffAction,
)
from store_server.shared.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
)
from store_server.timeutil import as_utc, utcnow

MAX_NOTE = 500


@dataclass(frozen=True)
class Actor:
    """Who acts, and which store's baskets they may touch (``None``: every store)."""

    name: str
    store_id: str | None
    user_id: int | None = None
    # How a receipt names a person who acted (a display name or initials, not a login).
    shown_as: str | None = None


def dumps(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat()


class BasketRef(Protocol):
    """The basket fields an audit-log entry names."""

    @property
    def id(self) -> str: ...
    @property
    def store_id(self) -> str: ...


ACTION_TABLE = StaffAction.__table__  # type: ignore[attr-defined]


_INSERT_ACTION = insert(ACTION_TABLE)


def log_action(
    session: Session, basket: BasketRef, actor: Actor, action: str, **detail: object
) -> None:
    """Append to the basket's audit log (written at once, in the session's transaction)."""
    session.connection().execute(
        _INSERT_ACTION,
        {
            "basket_id": basket.id,
            "store_id": basket.store_id,
            "actor": actor.name,
            "user_id": actor.user_id,
            "action": action,
            "detail": dumps(detail),
            "at": utcnow(),
        },
    )


def get_basket(
    session: Session, basket_id: object, actor: Actor, *, for_update: bool = False
) -> Basket:
    """The basket, if it exists and belongs to the actor's store."""
    if not isinstance(basket_id, str) or not 1 <= len(basket_id) <= 36:
        raise NotFound("no such basket")
    query = select(Basket).where(Basket.id == basket_id)
    if for_update:
        query = query.with_for_update()
    basket = session.exec(query).first()
    if basket is None:
        raise NotFound(f"no basket {basket_id}")
    if actor.store_id is not None and basket.store_id != actor.store_id:
        raise Forbidden("this basket belongs to another store")
    return basket


def audit_of(session: Session, basket_id: str) -> CheckoutAudit | None:
    return session.get(CheckoutAudit, basket_id)


def handoff_of(session: Session, basket_id: str) -> PaymentHandoff | None:
    return session.exec(select(PaymentHandoff).where(PaymentHandoff.basket_id == basket_id)).first()


def rescans_of(session: Session, basket_id: str) -> list[RescanScan]:
    return list(
        session.exec(
            select(RescanScan).where(RescanScan.basket_id == basket_id).order_by(col(RescanScan.id))
        ).all()
    )


def corrections_of(session: Session, basket_id: str) -> list[CheckoutCorrection]:
    return list(
        session.exec(
            select(CheckoutCorrection)
            .where(CheckoutCorrection.basket_id == basket_id)
            .order_by(col(CheckoutCorrection.id))
        ).all()
    )


def ensure_changeable(session: Session, basket: Basket) -> None:
    """Rescans and corrections only while the basket waits at the exit, before release."""
    if basket.status == "paid":
        raise Conflict("the basket is already paid")
    if basket.status == "abandoned":
        raise Conflict("the basket expired (abandoned)")
    if basket.status not in LOCKED_STATUSES:
        raise Conflict("the shopper has not finished this basket yet")
    handoff = handoff_of(session, basket.id)
    if handoff is not None:
        raise Conflict(f"the basket was released to payment (code {handoff.code}); it is frozen")


def clean_note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        raise InvalidInput(f"note must be text of at most {MAX_NOTE} characters")
    return note.strip() or None
