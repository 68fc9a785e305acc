"""Abandoned baskets: a trolley left in an aisle, or a basket finished and never paid,
must not keep its handheld locked or sit in the exit queue forever."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from store_server.baskets.models import LOCKED_STATUSES, Basket
from store_server.checkout.records import Actor, handoff_of, log_action
from store_server.periodic import start_repeating
from store_server.state import ServerState
from store_server.timeutil import utcnow

log = logging.getLogger(__name__)


def expire_baskets(
    session: Session, *, minutes: int, now: datetime | None = None
) -> list[tuple[str, str]]:
    """Mark baskets with no activity for ``minutes`` abandoned (open, or finished and unpaid).

    Returns (basket_id, store_id) of each so consoles can drop them from the queue.
    """
    now = now or utcnow()
    cutoff = now - timedelta(minutes=minutes)
    stale = session.exec(
        select(Basket)
        .where(col(Basket.status).in_(("open", *LOCKED_STATUSES)), col(Basket.updated_at) < cutoff)
        .with_for_update()
    ).all()
    expired: list[tuple[str, str]] = []
    system = Actor("system", None)
    for basket in stale:
        previous = basket.status
        basket.status = "abandoned"
        basket.updated_at = now
        session.add(basket)
        handoff = handoff_of(session, basket.id)
        if handoff is not None and handoff.status == "released":
            handoff.status = "expired"
            session.add(handoff)
        if previous != "open":
            log_action(
                session, basket, system, "abandoned", previous_status=previous, idle_minutes=minutes
            )
        expired.append((basket.id, basket.store_id))
    session.flush()
    return expired


async def expire_once(state: ServerState) -> list[tuple[str, str]]:
    minutes = state.settings.basket_expiry_minutes

    def work(session: Session) -> list[tuple[str, str]]:
        return expire_baskets(session, minutes=minutes)

    expired = await state.db.run(work)
    for basket_id, store_id in expired:
        await state.events.publish(
            "baskets",
            {
                "event": "basket.abandoned",
                "basket_id": basket_id,
                "store_id": store_id,
                "status": "abandoned",
            },
        )
    if expired:
        log.info("expired %d abandoned baskets", len(expired))
    return expired


def start_expiry(state: ServerState) -> asyncio.Task[None]:
    """Check every minute (or a quarter of the expiry time, if shorter); survive a DB outage."""
    interval = min(60.0, state.settings.basket_expiry_minutes * 15.0)
    return start_repeating(
        lambda: expire_once(state), interval, "basket expiry", "caddie-basket-expiry"
    )
