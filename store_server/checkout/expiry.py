"""Abandoned baskets: a trolley left in an aisle, or a basket finished and never paid,
must not keep its handheld locked or sit in the exit queue forever."""

from __future__ import annotations

import asyncio
import logging

from sqlmodel import Session

from store_server.checkout.service import expire_baskets
from store_server.state import ServerState

log = logging.getLogger(__name__)


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


async def expiry_loop(state: ServerState, interval_s: float | None = None) -> None:
    """Check every minute (or a quarter of the expiry time, if shorter); survive a DB outage."""
    interval = interval_s or min(60.0, state.settings.basket_expiry_minutes * 15.0)
    while True:
        try:
            await expire_once(state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("basket expiry failed (%s); retrying", exc)
        await asyncio.sleep(interval)


def start_expiry(state: ServerState) -> asyncio.Task[None]:
    return asyncio.create_task(expiry_loop(state), name="caddie-basket-expiry")
