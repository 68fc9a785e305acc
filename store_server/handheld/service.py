"""Applying handheld requests exactly once.

A request's change and its reply are written in one transaction keyed by
(device, request id); a replayed id gets the stored reply and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert
from sqlmodel import Session

from store_server.baskets import service as baskets
from store_server.baskets.models import HandheldRequest
from store_server.baskets.scan_sql import scan_cursor
from store_server.baskets.service import LineRecord
from store_server.catalog.service import ProductCache, PromotionCache
from store_server.devices import service as devices
from store_server.devices.models import Device
from store_server.group_commit import JobRetry
from store_server.handheld.protocol import Request
from store_server.offers import service as offers
from store_server.offers.protocol import OFFER_REQUEST_TYPES
from store_server.pricing.promotions import Promotion
from store_server.pricing.variable_measure import VariableMeasureLayout
from store_server.shared.errors import CaddieError
from store_server.timeutil import as_utc, utcnow

REQUEST_TABLE = HandheldRequest.__table__  # type: ignore[attr-defined]
_INSERT_REQUEST = insert(REQUEST_TABLE)
_TICK = timedelta(microseconds=1)
LINE_REQUEST_TYPES = ("scan", "remove")


class StaleBasket(JobRetry):
    """The connection's view of its basket is out of date; nothing was written."""


@dataclass(frozen=True)
class BasketState:
    """What the scan path knows of a connection's open basket once a request on it has
    committed. It stays valid while the basket row's ``updated_at`` equals ``version``:
    every writer of a basket moves ``updated_at``, and the scan path writes only
    if it has not moved (see :func:`apply_line_change`)."""

    id: str
    loyalty_card: str | None
    currency: str
    version: datetime
    lines: tuple[LineRecord, ...]
    personal: tuple[Promotion, ...]  # offers accepted on this basket
    status: str = "open"


@dataclass
class HandheldContext:
    """What request handling needs from the running server and this connection."""

    currency: str
    layouts: Sequence[VariableMeasureLayout]
    promotions: PromotionCache
    # (session, basket, its view, its lines) -> the protocol's audit object
    finish: Callable[[Session, Any, dict[str, Any], Sequence[LineRecord]], dict[str, Any]]
    products: ProductCache | None = None


@dataclass(frozen=True)
class Outcome:
    reply: dict[str, Any]
    replayed: bool
    basket_id: str | None
    event: str | None
    lines: Sequence[LineRecord] | None = None
    # The reply as stored, sent as is (encoding it once is enough).
    text: str | None = None
    # The basket as this request left it, for the connection to keep once committed.
    state: BasketState | None = None
    # Another card's open basket that this start abandoned.
    abandoned: str | None = None


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
    known: BasketState | None = None,
) -> Outcome:
    """Apply one request, or answer a replayed id with its stored reply. The caller commits.

    With ``check_replay=False`` the stored-reply look-up is skipped on the happy path: a
    replay then fails on the request log's primary key at flush, and the caller retries
    with the check (replays are rare; the look-up on every scan is not)."""
    if request.type in LINE_REQUEST_TYPES:
        return apply_line_change(session, device, request, ctx, known)
    devices.ensure_current(session, device)
    if check_replay and (previous := replay(session, device, request)) is not None:
        return previous
    try:
        return _apply(session, device, request, ctx, known)
    except CaddieError:
        # A request already applied may fail now (e.g. a replayed scan on a basket that
        # has since been finished): it still gets its original reply.
        if not check_replay and (previous := replay(session, device, request)) is not None:
            return previous
        raise


def _apply(
    session: Session,
    device: Device,
    request: Request,
    ctx: HandheldContext,
    known: BasketState | None = None,
) -> Outcome:
    now = utcnow()
    promotions = ctx.promotions.get(session)
    reply: dict[str, Any]
    event: str | None
    state: BasketState | None = None
    abandoned = None
    if request.type == "start":
        trip = baskets.start_trip(
            session,
            device_id=device.id,
            store_id=device.store_id,
            loyalty_card=request.fields["loyalty_card"],
            currency=ctx.currency,
        )
        basket, abandoned = trip.basket, trip.abandoned
        if trip.created:  # nothing to read: no lines, no offers, totals already zero
            view = baskets.basket_view(basket, (), promotions, at=now)
            state = BasketState(
                basket.id, basket.loyalty_card, basket.currency, as_utc(basket.updated_at), (), ()
            )
        else:
            promotions = offers.promotions_for_basket(session, basket.id, promotions)
            view = baskets.snapshot(session, basket, promotions, at=now)
        reply = {"type": "basket", "id": request.id, "basket": view}
        event = "basket.opened"
    elif request.type in OFFER_REQUEST_TYPES:
        basket, reply, event = offers.apply_request(session, device, request, promotions, at=now)
    else:  # finish
        basket = baskets.open_basket_for_change(session, device.id)
        if known is not None and (known.id, known.version) == (
            basket.id,
            as_utc(basket.updated_at),
        ):  # the basket as this connection last wrote it: no need to read it again
            lines, personal = list(known.lines), list(known.personal)
        else:
            lines = baskets.basket_lines(session, basket.id)
            personal = offers.accepted_promotions(session, basket.id)
        promotions = [*promotions, *personal]
        view = baskets.basket_view(basket, lines, promotions, at=now)
        audit = ctx.finish(session, basket, view, lines)  # stores the totals with the lock
        view["status"] = basket.status
        reply = {"type": "checkout", "id": request.id, "basket": view, "audit": audit}
        event = "basket.finished"
    if session.new or session.dirty or session.deleted:
        session.flush()
    text = json.dumps(reply, separators=(",", ":"))
    session.connection().execute(
        _INSERT_REQUEST, _request_row(device, request, basket.id, text, now)
    )
    return Outcome(reply, False, basket.id, event, text=text, state=state, abandoned=abandoned)


def _request_row(
    device: Device, request: Request, basket_id: str, text: str, now: datetime
) -> dict[str, Any]:
    return {
        "device_id": device.id,
        "request_id": request.id,
        "type": request.type,
        "basket_id": basket_id,
        "reply": text,
        "created_at": now,
    }


def load_state(session: Session, device_id: str) -> BasketState:
    """The device's open basket read from the database (NoBasket, BasketLocked)."""
    row = baskets.changeable_basket_row(session, device_id)
    return BasketState(
        id=row.id,
        loyalty_card=row.loyalty_card,
        currency=row.currency,
        version=as_utc(row.updated_at),
        lines=tuple(baskets.basket_lines(session, row.id)),
        personal=tuple(offers.accepted_promotions(session, row.id)),
    )


def apply_line_change(
    session: Session,
    device: Device,
    request: Request,
    ctx: HandheldContext,
    known: BasketState | None,
) -> Outcome:
    """Apply a ``scan`` or ``remove``, or answer a replayed id with its stored reply:
    :func:`prepare_line_change` and its writes, in one transaction."""
    return prepare_line_change(session, device, request, ctx, known)(session)


def prepare_line_change(
    session: Session,
    device: Device,
    request: Request,
    ctx: HandheldContext,
    known: BasketState | None,
) -> Callable[[Session], Outcome]:
    """Work out a ``scan`` or ``remove`` and its reply, reading only; returns the writes.

    ``known`` is the basket as this connection last committed it; with it the scan costs
    no read at all. Everything that can fail is worked out here, before the first write,
    so the group commit can run the writes without a savepoint (and, on SQLite, this
    part before it takes the writer lock). The writes put the request log row first (a
    replay stops there), then the basket row, written only if nobody has changed it
    since the version read here; if somebody has, the row just written is taken back
    and :class:`StaleBasket` tells the caller to reload."""
    now = utcnow()
    try:
        state = known if known is not None else load_state(session, device.id)
        qty = request.fields["qty"]
        item = baskets.price_code(
            session,
            request.fields["code"],
            qty=qty,
            layouts=ctx.layouts,
            at=now,
            products=ctx.products,
        )
        changes: Sequence[baskets.LineChange]
        if request.type == "scan":
            lines, change = baskets.plan_add(state.lines, state.id, item, qty=qty)
            changes, line, event = (change,), change.line, "basket.scanned"
        else:
            lines, changes, line = baskets.plan_remove(state.lines, item, qty=qty)
            event = "basket.removed"
    except CaddieError:
        devices.ensure_current(session, device)  # a revoked device learns nothing more
        # A request applied before may fail now (e.g. a replayed scan on a basket that
        # has since been finished): it still gets its original reply.
        if (previous := replay(session, device, request)) is not None:
            return lambda _session: previous
        raise
    promotions = [*ctx.promotions.get(session), *state.personal]
    view = baskets.basket_view(state, lines, promotions, at=now)
    reply = {"type": "ack", "id": request.id, "line": baskets.line_view(line), "basket": view}
    text = orjson.dumps(reply).decode()
    row = _request_row(device, request, state.id, text, now)
    # Strictly later than the version seen, even within one clock tick.
    version = max(now, state.version + _TICK)
    totals = baskets.basket_totals(view, version)

    def write(session: Session) -> Outcome:
        sql, cursor = scan_cursor(session)
        logged, current = sql.write_line_change(
            cursor,
            row,
            state.id,
            seen=state.version,
            token_hash=device.token_hash,
            totals=totals,
            changes=changes,
        )
        if not logged:
            # Applied before: the stored reply, and nothing written.
            devices.ensure_current(session, device)
            previous = replay(session, device, request)
            if previous is None:
                raise StaleBasket("the request log changed under this request")
            return previous
        if not current:
            sql.delete_request(cursor, device.id, request.id)
            devices.ensure_current(session, device)  # revoked since hello: Unauthorized
            raise StaleBasket("the basket changed on another connection")
        after = BasketState(
            state.id, state.loyalty_card, state.currency, version, tuple(lines), state.personal
        )
        return Outcome(reply, False, state.id, event, lines, text, after)

    return write
