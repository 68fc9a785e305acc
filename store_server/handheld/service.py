"""Applying handheld requests exactly once.

A request's change and its reply are written in one transaction keyed by
(device, request id); a replayed id gets the stored reply and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from store_server.baskets import service as baskets
from store_server.baskets.models import HandheldRequest
from store_server.baskets.service import LineRecord
from store_server.catalog.service import ProductCache, PromotionCache
from store_server.devices.models import Device
from store_server.errors import CaddieError
from store_server.handheld.protocol import Request
from store_server.offers import service as offers
from store_server.offers.protocol import OFFER_REQUEST_TYPES
from store_server.pricing.variable_measure import VariableMeasureLayout
from store_server.timeutil import as_utc, utcnow

_INSERT_REQUEST = insert(HandheldRequest.__table__)  # type: ignore[attr-defined]


@dataclass
class LinesCache:
    """The basket lines one connection last committed, valid while the basket row's
    ``updated_at`` is unchanged (any other writer moves it)."""

    basket_id: str | None = None
    version: datetime | None = None
    lines: list[LineRecord] = field(default_factory=list)

    def get(self, basket: Any) -> list[LineRecord] | None:
        if basket.id != self.basket_id or self.version != as_utc(basket.updated_at):
            return None
        return [line.clone() for line in self.lines]  # the transaction may still roll back


@dataclass
class HandheldContext:
    """What request handling needs from the running server and this connection."""

    currency: str
    layouts: Sequence[VariableMeasureLayout]
    promotions: PromotionCache
    finish: Callable[[Session, Any, dict[str, Any]], dict[str, Any]]
    products: ProductCache | None = None
    lines: LinesCache = field(default_factory=LinesCache)


@dataclass(frozen=True)
class Outcome:
    reply: dict[str, Any]
    replayed: bool
    basket_id: str | None
    event: str | None
    # Lines to cache once the transaction has committed.
    lines: list[LineRecord] | None = None
    version: datetime | None = None
    # The reply as stored, sent as is (encoding it once is enough).
    text: str | None = None


def stored_reply(session: Session, device_id: str, request_id: str) -> str | None:
    row = session.get(HandheldRequest, (device_id, request_id))
    return None if row is None else row.reply


def open_basket_view(
    session: Session, device: Device, ctx: HandheldContext
) -> dict[str, Any] | None:
    basket = baskets.current_basket(session, device.id)
    if basket is None:
        return None
    promotions = offers.promotions_for_basket(session, basket.id, ctx.promotions.get(session))
    return baskets.snapshot(session, basket, promotions, persist=False)


def replay(session: Session, device: Device, request: Request) -> Outcome | None:
    previous = stored_reply(session, device.id, request.id)
    if previous is None:
        return None
    reply = json.loads(previous)
    basket = reply.get("basket") or {}
    return Outcome(reply, True, basket.get("basket_id"), None, text=previous)


def apply(
    session: Session,
    device: Device,
    request: Request,
    ctx: HandheldContext,
    *,
    check_replay: bool = True,
) -> Outcome:
    """Apply one request, or answer a replayed id with its stored reply. The caller commits.

    With ``check_replay=False`` the stored-reply look-up is skipped on the happy path: a
    replay then fails on the request log's primary key at flush, and the caller retries
    with the check (replays are rare; the look-up on every scan is not)."""
    if check_replay and (previous := replay(session, device, request)) is not None:
        return previous
    try:
        return _apply(session, device, request, ctx)
    except CaddieError:
        # A request already applied may fail now (e.g. a replayed scan on a basket that
        # has since been finished): it still gets its original reply.
        if not check_replay and (previous := replay(session, device, request)) is not None:
            return previous
        raise


def _apply(session: Session, device: Device, request: Request, ctx: HandheldContext) -> Outcome:
    now = utcnow()
    lines: list[LineRecord] | None = None
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
        promotions = offers.promotions_for_basket(session, basket.id, promotions)
        reply = {
            "type": "basket",
            "id": request.id,
            "basket": baskets.snapshot(session, basket, promotions, at=now),
        }
        event = "basket.opened"
    elif request.type in ("scan", "remove"):
        basket = baskets.changeable_basket_row(session, device.id)
        promotions = offers.promotions_for_basket(session, basket.id, promotions)
        qty = request.fields["qty"]
        item = baskets.price_code(
            session,
            request.fields["code"],
            qty=qty,
            layouts=ctx.layouts,
            at=now,
            products=ctx.products,
        )
        lines = ctx.lines.get(basket)
        if lines is None:
            lines = baskets.basket_lines(session, basket.id)
        if request.type == "scan":
            line = baskets.add_item(session, basket, item, qty=qty, lines=lines)
            event = "basket.scanned"
        else:
            line = baskets.remove_item(session, basket, item, qty=qty, lines=lines)
            event = "basket.removed"
        reply = {
            "type": "ack",
            "id": request.id,
            "line": baskets.line_view(line),
            "basket": baskets.snapshot(session, basket, promotions, at=now, lines=lines),
        }
    elif request.type in OFFER_REQUEST_TYPES:
        basket, reply, event = offers.apply_request(session, device, request, promotions, at=now)
    else:  # finish
        basket = baskets.open_basket_for_change(session, device.id)
        promotions = offers.promotions_for_basket(session, basket.id, promotions)
        view = baskets.snapshot(session, basket, promotions, at=now)
        audit = ctx.finish(session, basket, view)
        view["status"] = basket.status
        reply = {"type": "checkout", "id": request.id, "basket": view, "audit": audit}
        event = "basket.finished"
    if session.new or session.dirty or session.deleted:
        session.flush()
    text = json.dumps(reply, separators=(",", ":"))
    session.connection().execute(
        _INSERT_REQUEST,
        {
            "device_id": device.id,
            "request_id": request.id,
            "type": request.type,
            "basket_id": basket.id,
            "reply": text,
            "created_at": now,
        },
    )
    version = now if lines is not None else None
    return Outcome(reply, False, basket.id, event, lines, version, text)
