"""Pushing offers on the handheld socket, right after the reply they follow.

Not an HTTP router: offers ride the handheld WebSocket. ``push_offer`` is called by
``store_server.handheld.routes`` after it has sent a reply, only on connections whose
``hello`` listed the ``offers`` feature. A failure here is logged and dropped: an offer
is never worth a broken scan path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlmodel import Session

from store_server.offers.service import OfferPolicy, make_offer
from store_server.state import ServerState

log = logging.getLogger(__name__)

_ATTRIBUTE = "_caddie_offer_policy"


def policy_for(state: ServerState) -> OfferPolicy:
    """The offer policy of this server, from its ``CADDIE_OFFERS_*`` settings, made once
    per state (kept on the state object, so every server built in one process has its own)."""
    policy: OfferPolicy | None = getattr(state, _ATTRIBUTE, None)
    if policy is None:
        settings = state.settings.offers
        policy = OfferPolicy(
            templates=settings.parsed_templates() if settings.enabled else (),
            max_per_trip=settings.max_per_trip if settings.enabled else 0,
            history_baskets=settings.history_baskets,
        )
        setattr(state, _ATTRIBUTE, policy)
    return policy


async def push_offer(
    state: ServerState,
    send: Callable[[dict[str, Any]], Awaitable[None]],
    request: Any,
    outcome: Any,
) -> None:
    """After a fresh scan (or an opt-in), send the next offer if one is due."""
    if outcome.replayed or outcome.basket_id is None:
        return
    if request.type == "consent":
        if not request.fields.get("opt_in"):
            return
    elif request.type != "scan":
        return
    policy = policy_for(state)
    if policy.max_per_trip <= 0 or not policy.templates:
        return
    basket_id = outcome.basket_id

    def work(session: Session) -> dict[str, Any] | None:
        return make_offer(session, basket_id, policy=policy)

    try:
        message = await state.db.run(work)
    except Exception:
        log.exception("offers: could not make an offer for basket %s", basket_id)
        return
    if message is not None:
        await send(message)
