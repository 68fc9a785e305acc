"""Applying handheld requests exactly once.

A request's change and its reply are written in one transaction keyed by
(device, request id); a replayed id gets the stored reply and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from store_server.baskets import service as baskets
from store_server.baskets.models import HandheldRequest
from store_server.catalog.service import PromotionCache
from store_server.devices.models import Device
from store_server.handheld.protocol import Request
from store_server.pricing.variable_measure import VariableMeasureLayout
from store_server.timeutil import utcnow


@dataclass
class HandheldContext:
    """What request handling needs from the running server."""

    currency: str
    layouts: Sequence[VariableMeasureLayout]
    promotions: PromotionCache
    finish: Callable[[Session, Any, dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Outcome:
    reply: dict[str, Any]
    replayed: bool
    basket_id: str | None
    event: str | None


def stored_reply(session: Session, device_id: str, request_id: str) -> str | None:
    row = session.get(HandheldRequest, (device_id, request_id))
    return None if row is None else row.reply


def open_basket_view(
    session: Session, device: Device, ctx: HandheldContext
) -> dict[str, Any] | None:
    basket = baskets.current_basket(session, device.id)
    if basket is None:
        return None
    return baskets.snapshot(session, basket, ctx.promotions.get(session))


def apply(session: Session, device: Device, request: Request, ctx: HandheldContext) -> Outcome:
    """Apply one request (or replay its stored reply). The caller commits."""
    previous = stored_reply(session, device.id, request.id)
    if previous is not None:
        reply = json.loads(previous)
        basket = reply.get("basket") or {}
        return Outcome(reply, True, basket.get("basket_id"), None)
    now = utcnow()
    promotions = ctx.promotions.get(session)
    reply: dict[str, Any]
    if request.type == "start":
        basket = baskets.open_basket(
            session,
            device_id=device.id,
            store_id=device.store_id,
            loyalty_card=request.fields["loyalty_card"],
            currency=ctx.currency,
        )
        reply = {
            "type": "basket",
            "id": request.id,
            "basket": baskets.snapshot(session, basket, promotions, at=now),
        }
        event = "basket.opened"
    elif request.type in ("scan", "remove"):
        basket = baskets.open_basket_for_change(session, device.id)
        qty = request.fields["qty"]
        item = baskets.price_code(
            session, request.fields["code"], qty=qty, layouts=ctx.layouts, at=now
        )
        if request.type == "scan":
            line = baskets.add_item(session, basket, item, qty=qty)
            event = "basket.scanned"
        else:
            line = baskets.remove_item(session, basket, item, qty=qty)
            event = "basket.removed"
        line_view = baskets.line_view(line)
        reply = {
            "type": "ack",
            "id": request.id,
            "line": line_view,
            "basket": baskets.snapshot(session, basket, promotions, at=now),
        }
    else:  # finish
        basket = baskets.open_basket_for_change(session, device.id)
        view = baskets.snapshot(session, basket, promotions, at=now)
        audit = ctx.finish(session, basket, view)
        view["status"] = basket.status
        reply = {"type": "checkout", "id": request.id, "basket": view, "audit": audit}
        event = "basket.finished"
    session.add(
        HandheldRequest(
            device_id=device.id,
            request_id=request.id,
            type=request.type,
            basket_id=basket.id,
            reply=json.dumps(reply, separators=(",", ":")),
            created_at=now,
        )
    )
    session.flush()
    return Outcome(reply, False, basket.id, event)
