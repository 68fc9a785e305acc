"""Consent and personal offers: recording choices, making offers, applying accepted ones.

Every function takes the session first and only flushes. Consent is checked in the same
transaction that makes or applies an offer, so an opt-out stops the very next offer:
there is no cache to go stale.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from store_server.baskets import service as baskets
from store_server.baskets.models import Basket, BasketLine
from store_server.offers.models import ConsentEvent, OfferGrant
from store_server.offers.rules import BasketUnit, OfferTemplate, choose_offer
from store_server.pricing.promotions import Promotion
from store_server.shared.errors import BadMessage, NoBasket
from store_server.timeutil import as_utc, utcnow

CHANNEL_HANDHELD = "handheld"


@dataclass(frozen=True)
class OfferPolicy:
    """What the offer maker needs from configuration."""

    templates: tuple[OfferTemplate, ...]
    max_per_trip: int = 2
    history_baskets: int = 10


# -- consent ------------------------------------------------------------------------------


def record_consent(
    session: Session,
    *,
    shopper_id: int,
    opt_in: bool,
    wording_version: str,
    channel: str,
    device_id: str | None = None,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append one choice; earlier rows are never changed."""
    event = ConsentEvent(
        shopper_id=shopper_id,
        opt_in=opt_in,
        wording_version=wording_version,
        channel=channel,
        device_id=device_id,
        recorded_at=at or utcnow(),
    )
    session.add(event)
    session.flush()
    return event


def current_consent(session: Session, shopper_id: int) -> ConsentEvent | None:
    return session.exec(
        select(ConsentEvent)
        .where(ConsentEvent.shopper_id == shopper_id)
        .order_by(col(ConsentEvent.id).desc())
        .limit(1)
    ).first()


def has_consent(session: Session, shopper_id: int | None) -> bool:
    """Opted in, and not opted out since. No record means no."""
    if shopper_id is None:
        return False
    latest = current_consent(session, shopper_id)
    return latest is not None and latest.opt_in


def consent_history(session: Session, shopper_id: int) -> list[ConsentEvent]:
    return list(
        session.exec(
            select(ConsentEvent)
            .where(ConsentEvent.shopper_id == shopper_id)
            .order_by(col(ConsentEvent.id))
        ).all()
    )


# -- offers in baskets --------------------------------------------------------------------


_GRANTS = OfferGrant.__table__  # type: ignore[attr-defined]
# Built once: this runs on every scan, and most baskets have no accepted offer.
_ACCEPTED = (
    sa_select(_GRANTS.c.promotion)
    .where(_GRANTS.c.basket_id == bindparam("p_basket"), _GRANTS.c.accepted_at.is_not(None))
    .order_by(_GRANTS.c.accepted_at, _GRANTS.c.id)
)


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> Promotion:
    return Promotion.from_dict(json.loads(rule))


def accepted_promotions(session: Session, basket_id: str) -> list[Promotion]:
    rows = session.connection().execute(_ACCEPTED, {"p_basket": basket_id}).scalars().all()
    return [_parsed(row) for row in rows]


def promotions_for_basket(
    session: Session, basket_id: str, base: Sequence[Promotion]
) -> list[Promotion]:
    """The store's promotions plus the offers accepted on this basket.

    Every place that prices a basket (handheld replies, checkout, receipts) must price
    it with this list, or an accepted offer would vanish at the till."""
    personal = accepted_promotions(session, basket_id)
    return [*base, *personal] if personal else list(base)


def _history_categories(
    session: Session, shopper_id: int, basket_id: str, limit: int
) -> frozenset[str]:
    if limit <= 0:
        return frozenset()
    recent = (
        select(Basket.id)
        .where(Basket.shopper_id == shopper_id, Basket.status == "paid", Basket.id != basket_id)
        .order_by(col(Basket.created_at).desc())
        .limit(limit)
        .subquery()
    )
    rows = session.exec(
        select(BasketLine.category)
        .where(col(BasketLine.basket_id).in_(select(recent.c.id)))
        .distinct()
    ).all()
    return frozenset(rows)


def make_offer(
    session: Session, basket_id: str, *, policy: OfferPolicy, at: datetime | None = None
) -> dict[str, Any] | None:
    """The next ``offer`` message for this trip, or None.

    None unless the basket is open, its shopper's latest consent is an opt-in, fewer than
    ``max_per_trip`` offers were made on it, and a template fits."""
    basket = session.get(Basket, basket_id)
    if basket is None or basket.status != "open" or basket.shopper_id is None:
        return None
    if not has_consent(session, basket.shopper_id):
        return None
    made = session.exec(
        select(OfferGrant.template_id).where(OfferGrant.basket_id == basket_id)
    ).all()
    if len(made) >= policy.max_per_trip:
        return None
    units = [
        BasketUnit(line.gtin, line.category, line.qty, line.weight_g is not None)
        for line in baskets.basket_lines(session, basket_id)
    ]
    history = _history_categories(session, basket.shopper_id, basket_id, policy.history_baskets)
    choice = choose_offer(policy.templates, units, history=history, offered=frozenset(made))
    if choice is None:
        return None
    grant_id = str(uuid.uuid4())
    promotion = choice.template.promotion_for(grant_id)
    grant = OfferGrant(
        id=grant_id,
        basket_id=basket_id,
        shopper_id=basket.shopper_id,
        store_id=basket.store_id,
        template_id=choice.template.id,
        label=choice.template.label,
        reason=choice.reason[:200],
        promotion=json.dumps(promotion.to_dict()),
        offered_at=at or utcnow(),
    )
    session.add(grant)
    session.flush()
    return {
        "type": "offer",
        "offer_id": grant_id,
        "basket_id": basket_id,
        "label": grant.label,
        "why": grant.reason,
        "promotion": promotion.to_dict(),
    }


def offers_made(session: Session, basket_id: str) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(OfferGrant).where(OfferGrant.basket_id == basket_id)
        ).one()
    )


# -- handheld requests --------------------------------------------------------------------


def apply_request(
    session: Session,
    device: Any,
    request: Any,
    promotions: Sequence[Promotion],
    *,
    at: datetime,
) -> tuple[baskets.BasketRow, dict[str, Any], str | None]:
    """``consent`` or ``accept_offer`` for the handheld service: (basket, reply, event)."""
    if request.type == "consent":
        basket = baskets.current_basket(session, device.id)
        if basket is None or basket.shopper_id is None:
            raise NoBasket("consent is recorded for the shopper of a basket; send start first")
        event = record_consent(
            session,
            shopper_id=basket.shopper_id,
            opt_in=request.fields["opt_in"],
            wording_version=request.fields["wording_version"],
            channel=CHANNEL_HANDHELD,
            device_id=device.id,
            at=at,
        )
        reply = {
            "type": "consent",
            "id": request.id,
            "opt_in": event.opt_in,
            "wording_version": event.wording_version,
            "recorded_at": at.isoformat(),
        }
        return basket, reply, None
    basket = baskets.open_basket_for_change(session, device.id)
    grant = session.get(OfferGrant, request.fields["offer_id"])
    if grant is None or grant.basket_id != basket.id:
        raise BadMessage("no such offer on this basket")
    if not has_consent(session, basket.shopper_id):
        raise BadMessage("offers are off for this shopper (no opt-in)")
    if grant.accepted_at is None:
        grant.accepted_at = at
        session.add(grant)
        session.flush()
    view = baskets.snapshot(
        session, basket, promotions_for_basket(session, basket.id, promotions), at=at
    )
    return basket, {"type": "basket", "id": request.id, "basket": view}, "basket.offer_accepted"


@dataclass(frozen=True)
class OfferRecord:
    """An offer made, as attribution counts it: no shopper, no basket."""

    offer_id: str
    store_id: str
    gtins: frozenset[str]
    categories: frozenset[str]
    offered_at: datetime
    accepted: bool


def offer_outcomes(session: Session, *, since: datetime, until: datetime) -> list[OfferRecord]:
    """Offers made in ``[since, until)`` and whether each was taken (for
    ``signage.attribution.OfferOutcome``)."""
    grants = OfferGrant.__table__  # type: ignore[attr-defined]
    rows = (
        session.connection()
        .execute(
            sa_select(
                grants.c.id,
                grants.c.store_id,
                grants.c.promotion,
                grants.c.offered_at,
                grants.c.accepted_at,
            )
            .where(grants.c.offered_at >= since, grants.c.offered_at < until)
            .order_by(grants.c.offered_at)
        )
        .all()
    )
    records = []
    for grant_id, store_id, promotion, offered_at, accepted_at in rows:
        rule = json.loads(promotion)
        records.append(
            OfferRecord(
                grant_id,
                store_id,
                frozenset(rule.get("gtins") or ()),
                frozenset(rule.get("categories") or ()),
                as_utc(offered_at),
                accepted_at is not None,
            )
        )
    return records
