"""After the exit: paid baskets as a searchable history, and the shift's figures.

Searching by loyalty card names a shopper, so it needs a reason and is logged
(:class:`PersonalLookup`) whatever it finds. Every function takes the session first and
only flushes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func as sa_func
from sqlmodel import Session, col, select

from store_server.baskets.models import LOCKED_STATUSES, Basket
from store_server.checkout.models import CheckoutAudit, PaymentHandoff, PersonalLookup
from store_server.checkout.records import Actor
from store_server.checkout.views import summary
from store_server.shared.errors import Forbidden, InvalidInput
from store_server.timeutil import as_utc, utcnow

HISTORY_STATUSES = ("paid",)
PAGE = 50
MIN_REASON = 5


@dataclass(frozen=True)
class HistoryQuery:
    """What staff typed into the history search (all optional)."""

    basket: str = ""
    device: str = ""
    since: datetime | None = None
    until: datetime | None = None
    loyalty_card: str = ""
    reason: str = ""


def _text(value: str, what: str, limit: int) -> str:
    value = value.strip()
    if len(value) > limit or not value.isprintable():
        raise InvalidInput(f"{what}: at most {limit} printable characters")
    return value


def check_query(query: HistoryQuery) -> HistoryQuery:
    """The query with its text trimmed; a clear error for anything else."""
    basket = _text(query.basket, "basket", 36)
    device = _text(query.device, "device", 64)
    card = _text(query.loyalty_card, "loyalty card", 32)
    reason = _text(query.reason, "reason", 200)
    if card and len(reason) < MIN_REASON:
        raise InvalidInput(
            "searching by loyalty card names a shopper: give a reason "
            f"(at least {MIN_REASON} characters), it is logged"
        )
    since = None if query.since is None else as_utc(query.since)
    until = None if query.until is None else as_utc(query.until)
    if since and until and since > until:
        raise InvalidInput("the search starts after it ends")
    return HistoryQuery(basket, device, since, until, card, reason)


def search(
    session: Session, actor: Actor, query: HistoryQuery, *, at: datetime | None = None
) -> list[dict[str, Any]]:
    """Paid baskets of the actor's store, newest payment first (at most ``PAGE``)."""
    query = check_query(query)
    if query.loyalty_card and actor.user_id is None:
        raise Forbidden("only a logged-in staff member may search by loyalty card")
    stmt = (
        select(Basket, PaymentHandoff)
        .join(PaymentHandoff, col(PaymentHandoff.basket_id) == col(Basket.id))
        .where(col(Basket.status).in_(HISTORY_STATUSES))
    )
    if actor.store_id is not None:
        stmt = stmt.where(Basket.store_id == actor.store_id)
    if query.basket:
        stmt = stmt.where(
            sa_func.lower(col(Basket.id)).startswith(query.basket.lower(), autoescape=True)
            | (col(PaymentHandoff.code) == query.basket.upper())
        )
    if query.device:
        stmt = stmt.where(col(Basket.device_id) == query.device)
    if query.since:
        stmt = stmt.where(col(PaymentHandoff.paid_at) >= query.since)
    if query.until:
        stmt = stmt.where(col(PaymentHandoff.paid_at) <= query.until)
    if query.loyalty_card:
        stmt = stmt.where(col(Basket.loyalty_card) == query.loyalty_card)
    stmt = stmt.order_by(col(PaymentHandoff.paid_at).desc(), col(Basket.id)).limit(PAGE)
    rows = []
    for basket, handoff in session.exec(stmt).all():
        row = summary(session, basket)
        row["paid_at"] = None if handoff.paid_at is None else as_utc(handoff.paid_at).isoformat()
        row["payment_reference"] = handoff.payment_reference
        row["paid_by"] = f"till {handoff.pos_terminal_id}" if handoff.pos_terminal_id else "staff"
        rows.append(row)
    if query.loyalty_card:
        session.add(
            PersonalLookup(
                store_id=actor.store_id,
                actor=actor.name,
                user_id=actor.user_id,
                kind="loyalty_card",
                value=query.loyalty_card,
                reason=query.reason,
                results=len(rows),
                at=at or utcnow(),
            )
        )
        session.flush()
    return rows


def lookups(session: Session, store_id: str | None, *, limit: int = 100) -> list[PersonalLookup]:
    stmt = select(PersonalLookup).order_by(col(PersonalLookup.at).desc()).limit(limit)
    if store_id is not None:
        stmt = stmt.where(PersonalLookup.store_id == store_id)
    return list(session.exec(stmt).all())


def shift_start(now: datetime, timezone: str) -> datetime:
    """The start of the store's day (local midnight) as UTC: the figures' period."""
    local = as_utc(now).astimezone(ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return as_utc(midnight)


def figures(
    session: Session, store_id: str | None, *, timezone: str, now: datetime | None = None
) -> dict[str, Any]:
    """Today's figures at the exit: baskets waiting, audits done, the average wait from
    finishing to release, and baskets paid."""
    now = now or utcnow()
    start = shift_start(now, timezone)

    def scoped(stmt: Any, store_column: Any) -> Any:
        return stmt if store_id is None else stmt.where(store_column == store_id)

    waiting = session.exec(
        scoped(
            select(sa_func.count())
            .select_from(Basket)
            .where(col(Basket.status).in_(LOCKED_STATUSES)),
            Basket.store_id,
        )
        .where(col(PaymentHandoff.id).is_(None))
        .outerjoin(PaymentHandoff, col(PaymentHandoff.basket_id) == col(Basket.id))
    ).one()
    audits = session.exec(
        scoped(
            select(sa_func.count())
            .select_from(CheckoutAudit)
            .where(col(CheckoutAudit.closed_at) >= start, CheckoutAudit.decision != "none"),
            CheckoutAudit.store_id,
        )
    ).one()
    released = session.exec(
        scoped(
            select(PaymentHandoff.created_at, Basket.finished_at)
            .join(Basket, col(Basket.id) == col(PaymentHandoff.basket_id))
            .where(col(PaymentHandoff.created_at) >= start),
            PaymentHandoff.store_id,
        )
    ).all()
    waits = [
        (as_utc(made) - as_utc(finished)).total_seconds()
        for made, finished in released
        if made is not None and finished is not None
    ]
    paid = session.exec(
        scoped(
            select(sa_func.count())
            .select_from(PaymentHandoff)
            .where(col(PaymentHandoff.paid_at) >= start),
            PaymentHandoff.store_id,
        )
    ).one()
    return {
        "since": start.isoformat(),
        "waiting": int(waiting),
        "audits_done": int(audits),
        "released": len(waits),
        "average_wait_s": round(sum(waits) / len(waits)) if waits else None,
        "paid": int(paid),
    }


def wait_text(seconds: int | None) -> str:
    if seconds is None:
        return "—"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


# What a history search takes for a time: a datetime-local form value, or the same with
# seconds and an offset (an API client).
INSTANT_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?$"
_INSTANT = re.compile(INSTANT_PATTERN)


def parse_local(value: str, timezone: str, *, what: str) -> datetime | None:
    """A ``datetime-local`` form value (store time, or with an offset) as UTC; empty is
    None."""
    value = value.strip()
    if not value:
        return None
    if len(value) > 32 or not _INSTANT.match(value):
        raise InvalidInput(f"{what}: not a date and time (YYYY-MM-DDTHH:MM)")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{what}: not a date and time (YYYY-MM-DDTHH:MM)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(timezone))
    return as_utc(parsed)
