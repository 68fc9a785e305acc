"""Checkout API: the staff console's endpoints, the staff-mode handheld, the POS, and the
live queue socket ``/ws/staff``.

Who may call what:

- staff (role ``staff`` or ``admin``, session cookie ``caddie_session`` or
  ``Authorization: Bearer <login token>``): ``/api/checkout/baskets…``, ``/ws/staff``;
  staff see only their own store's baskets (an admin without a store sees all);
- a staff-mode handheld (``caddie device enroll --staff``):
  ``POST /api/checkout/handheld/rescan`` with ``Authorization: Bearer <device token>``
  and ``X-Caddie-Device: <device id>``; a shopper handheld gets 403;
- a POS terminal: ``/api/pos/handoffs/{code}`` with ``Authorization: Bearer <POS token>``.
  An admin registers a till with ``POST /api/checkout/pos-terminals`` and receives its
  token once (only its SHA-256 is stored; registering the same id again revokes the
  old token). The till scans the QR/Code128 shown on the console (``CADDIE-PAY:<code>``),
  fetches the hand-off with ``GET``, and reports payment with
  ``POST /api/pos/handoffs/{code}/paid {"payment_reference", "amount_cents"}`` —
  idempotent by ``payment_reference``.

Every HTTP endpoint here spends the caller's request budget first (``RATE_LIMITED``: one
token bucket per session, device or till token; 429 ``rate_limited`` with
``Retry-After`` once it is spent).

Writes run in one unit of work (``state.db.run``) and publish a ``baskets`` event only
after it committed, so a console never shows a change that was rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any
from urllib.parse import urlparse

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import PlainTextResponse
from sqlalchemy.exc import OperationalError
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect, WebSocketState

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.auth.routes import SESSIONS_CHANNEL
from store_server.baskets.models import LOCKED_STATUSES
from store_server.checkout import audit, corrections, history, payment, receipts, records, views
from store_server.checkout.records import Actor
from store_server.checkout.schemas import (
    AddLineBody,
    AgeApprovalBody,
    BasketDetail,
    CardSearchBody,
    DeviceRescanBody,
    Handoff,
    HistoryReply,
    ManualPaymentBody,
    PaidBody,
    PaidReply,
    PolicyBody,
    PolicyReply,
    PosTerminalBody,
    PosTerminalReply,
    QueueReply,
    ReleaseReply,
    RemoveLineBody,
    RescanBody,
    RescanReply,
    ResolveExtraBody,
    ShiftFigures,
    json_body,
    parse_body,
)
from store_server.deps import (
    ERROR_RESPONSES,
    JSON_ERRORS_OF_NON_JSON_ROUTE,
    RATE_LIMITED,
    SESSION_COOKIE,
    BearerScheme,
    CurrentAdmin,
    CurrentStaff,
    StateDep,
)
from store_server.devices import service as devices
from store_server.offers.service import promotions_for_basket
from store_server.pricing.promotions import Promotion
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import CaddieError, Forbidden, NotFound, Unauthorized
from store_server.shared.protocol import CLOSE_UNAUTHORIZED
from store_server.state import ServerState

log = logging.getLogger(__name__)
router = APIRouter(tags=["checkout"], responses=ERROR_RESPONSES)

CLOSE_FORBIDDEN = 4403


def staff_actor(user: User) -> Actor:
    """Staff act for their own store; an admin without a store oversees every store."""
    if user.role not in ("staff", "admin"):
        raise Forbidden("this needs the staff or admin role")
    if user.role == "staff" and not user.store_id:
        raise Forbidden("this staff account belongs to no store")
    return Actor(f"staff:{user.username}", user.store_id, user.id, shown_as=user.shown_as)


def _int_id(value: str, what: str) -> int:
    if not is_ascii_digits(value) or len(value) > 18:
        raise NotFound(f"no {what} {value[:40]}")
    return int(value)


async def _publish(state: ServerState, event: str, basket: dict[str, Any]) -> None:
    await state.events.publish(
        "baskets",
        {
            "event": event,
            "basket_id": basket["basket_id"],
            "store_id": basket["store_id"],
            "status": basket["status"],
        },
    )


def _promotions(state: ServerState, session: Session, basket_id: str) -> list[Promotion]:
    """The store's promotions plus the offers the shopper accepted on this basket, so
    the till prices a basket exactly as the handheld showed it."""
    return promotions_for_basket(session, basket_id, state.promotions.get(session))


async def _change(
    state: ServerState, event: str, basket_id: str, actor: Actor, work: Any
) -> dict[str, Any]:
    """Run one staff change and answer with the basket as it is now."""

    def job(session: Session) -> dict[str, Any]:
        work(session)
        basket = records.get_basket(session, basket_id, actor)
        return views.detail(session, basket, _promotions(state, session, basket_id))

    view = await state.db.run(job)
    await _publish(state, event, view)
    return view


# --- staff ---------------------------------------------------------------------------------


@router.get("/api/checkout/baskets", dependencies=[RATE_LIMITED], response_model=QueueReply)
async def list_queue(user: CurrentStaff, state: StateDep) -> dict[str, Any]:
    actor = staff_actor(user)
    rows = await state.db.run(lambda s: views.queue(s, actor.store_id))
    return {"baskets": rows}


@router.get("/api/checkout/figures", dependencies=[RATE_LIMITED], response_model=ShiftFigures)
async def shift_figures(user: CurrentStaff, state: StateDep) -> dict[str, Any]:
    """Today at the exit (store time): baskets waiting for staff, audits done, the
    average wait from finishing to release, baskets paid."""
    actor = staff_actor(user)
    timezone = state.settings.timezone
    return await state.db.run(lambda s: history.figures(s, actor.store_id, timezone=timezone))


_INSTANT = Query(
    max_length=32,
    pattern=history.INSTANT_PATTERN,
    description="Date and time, e.g. 2026-05-01T14:30 (store time) or 2026-05-01T12:30Z",
)


@router.get("/api/checkout/history", dependencies=[RATE_LIMITED], response_model=HistoryReply)
async def paid_history(
    user: CurrentStaff,
    state: StateDep,
    basket: Annotated[str, Query(max_length=36)] = "",
    device: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, _INSTANT] = "",
    until: Annotated[str, _INSTANT] = "",
) -> dict[str, Any]:
    """Paid baskets, newest first (50 at most): by basket id prefix or hand-off code,
    device, and payment time."""
    actor = staff_actor(user)
    timezone = state.settings.timezone
    query = history.HistoryQuery(
        basket=basket,
        device=device,
        since=history.parse_local(since, timezone, what="since"),
        until=history.parse_local(until, timezone, what="until"),
    )
    return {"baskets": await state.db.run(lambda s: history.search(s, actor, query))}


@router.post(
    "/api/checkout/history/by-card",
    dependencies=[RATE_LIMITED],
    response_model=HistoryReply,
    openapi_extra=json_body(CardSearchBody),
)
async def paid_history_by_card(
    request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    """Paid baskets of one loyalty card. Names a shopper: the reason is required and the
    search is logged with who made it."""
    actor = staff_actor(user)
    body = await parse_body(request, CardSearchBody)
    query = history.HistoryQuery(loyalty_card=body.loyalty_card, reason=body.reason)
    return {"baskets": await state.db.run(lambda s: history.search(s, actor, query))}


@router.get(
    "/api/checkout/baskets/{basket_id}", dependencies=[RATE_LIMITED], response_model=BasketDetail
)
async def get_basket(basket_id: str, user: CurrentStaff, state: StateDep) -> dict[str, Any]:
    actor = staff_actor(user)

    def job(session: Session) -> dict[str, Any]:
        basket = records.get_basket(session, basket_id, actor)
        return views.detail(session, basket, _promotions(state, session, basket_id))

    return await state.db.run(job)


@router.post(
    "/api/checkout/baskets/{basket_id}/rescan",
    dependencies=[RATE_LIMITED],
    response_model=RescanReply,
    openapi_extra=json_body(RescanBody),
)
async def staff_rescan(
    basket_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    actor = staff_actor(user)
    body = await parse_body(request, RescanBody)
    return await _rescan(state, basket_id, body.code, actor, "console")


async def _rescan(
    state: ServerState, basket_id: str, code: str, actor: Actor, source: str
) -> dict[str, Any]:
    scan_out: dict[str, Any] = {}

    def work(session: Session) -> None:
        scan = corrections.rescan(
            session, basket_id, code, actor=actor, source=source, layouts=state.layouts
        )
        scan_out.update(outcome=scan.outcome, gtin=scan.gtin, name=scan.name, scan_id=scan.id)

    view = await _change(state, "checkout.rescan", basket_id, actor, work)
    return {**scan_out, "basket": view}


@router.post(
    "/api/checkout/baskets/{basket_id}/lines",
    status_code=201,
    dependencies=[RATE_LIMITED],
    response_model=BasketDetail,
    openapi_extra=json_body(AddLineBody),
)
async def add_line(
    basket_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    actor = staff_actor(user)
    body = await parse_body(request, AddLineBody)

    def work(session: Session) -> None:
        corrections.add_line(
            session,
            basket_id,
            code=body.code,
            qty=body.qty,
            reason=body.reason,
            note=body.note,
            actor=actor,
            layouts=state.layouts,
            promotions=_promotions(state, session, basket_id),
        )

    return await _change(state, "checkout.line_added", basket_id, actor, work)


@router.post(
    "/api/checkout/baskets/{basket_id}/lines/{line_id}/remove",
    dependencies=[RATE_LIMITED],
    response_model=BasketDetail,
    openapi_extra=json_body(RemoveLineBody),
)
async def remove_line(
    basket_id: str, line_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    actor = staff_actor(user)
    line = _int_id(line_id, "line")
    body = await parse_body(request, RemoveLineBody)

    def work(session: Session) -> None:
        corrections.remove_line(
            session,
            basket_id,
            line,
            qty=body.qty,
            reason=body.reason,
            note=body.note,
            actor=actor,
            promotions=_promotions(state, session, basket_id),
        )

    return await _change(state, "checkout.line_removed", basket_id, actor, work)


@router.post(
    "/api/checkout/baskets/{basket_id}/extras/{scan_id}/resolve",
    dependencies=[RATE_LIMITED],
    response_model=BasketDetail,
    openapi_extra=json_body(ResolveExtraBody),
)
async def resolve_extra(
    basket_id: str, scan_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    actor = staff_actor(user)
    scan = _int_id(scan_id, "extra item")
    body = await parse_body(request, ResolveExtraBody)

    def work(session: Session) -> None:
        corrections.resolve_extra(
            session,
            basket_id,
            scan,
            resolution=body.resolution,
            actor=actor,
            layouts=state.layouts,
            promotions=_promotions(state, session, basket_id),
        )

    return await _change(state, "checkout.extra_resolved", basket_id, actor, work)


@router.post(
    "/api/checkout/baskets/{basket_id}/age-approval",
    dependencies=[RATE_LIMITED],
    response_model=BasketDetail,
    openapi_extra=json_body(AgeApprovalBody, required=False),
)
async def approve_age(
    basket_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    actor = staff_actor(user)
    body = await parse_body(request, AgeApprovalBody, empty_ok=True)

    def work(session: Session) -> None:
        corrections.approve_age(session, basket_id, actor=actor, note=body.note)

    return await _change(state, "checkout.age_approved", basket_id, actor, work)


@router.post(
    "/api/checkout/baskets/{basket_id}/release",
    dependencies=[RATE_LIMITED],
    response_model=ReleaseReply,
)
async def release(basket_id: str, user: CurrentStaff, state: StateDep) -> dict[str, Any]:
    actor = staff_actor(user)

    def work(session: Session) -> dict[str, Any]:
        handoff = payment.release(
            session, basket_id, actor=actor, promotions=_promotions(state, session, basket_id)
        )
        basket = records.get_basket(session, basket_id, actor)
        return {
            "handoff": views.handoff_view(handoff),
            "basket": views.summary(session, basket),
        }

    out = await state.db.run(work)
    await _publish(state, "checkout.released", out["basket"])
    payload = out["handoff"]["pos_payload"]
    out["handoff"]["qr_svg"] = receipts.qr_svg(payload)
    out["handoff"]["code128_svg"] = receipts.code128_svg(payload)
    return out


@router.get(
    "/api/checkout/baskets/{basket_id}/receipt.txt",
    response_class=PlainTextResponse,
    responses=JSON_ERRORS_OF_NON_JSON_ROUTE,
    dependencies=[RATE_LIMITED],
)
async def receipt_text(basket_id: str, user: CurrentStaff, state: StateDep) -> PlainTextResponse:
    actor = staff_actor(user)
    record = await state.db.run(lambda s: views.handoff_record(s, basket_id, actor))
    return PlainTextResponse(receipts.receipt_text(record, timezone=state.settings.timezone))


@router.post(
    "/api/checkout/baskets/{basket_id}/manual-payment",
    dependencies=[RATE_LIMITED],
    response_model=PaidReply,
    openapi_extra=json_body(ManualPaymentBody),
)
async def manual_payment(
    basket_id: str, request: Request, user: CurrentStaff, state: StateDep
) -> dict[str, Any]:
    """Staff took the payment another way (cash at a staffed till, a card terminal with
    no integration). The audit log keeps who, how and the reference."""
    actor = staff_actor(user)
    body = await parse_body(request, ManualPaymentBody)

    def job(session: Session) -> tuple[dict[str, Any], bool]:
        handoff, replayed = payment.record_manual_payment(
            session,
            basket_id,
            actor=actor,
            method=body.method,
            reference=body.reference,
            amount_cents=body.amount_cents,
            note=body.note,
        )
        return views.handoff_view(handoff), replayed

    view, replayed = await state.db.run(job)
    return await _paid_reply(state, view, replayed)


# --- staff-mode handheld -------------------------------------------------------------------


@router.post(
    "/api/checkout/handheld/rescan",
    dependencies=[RATE_LIMITED, BearerScheme],
    response_model=RescanReply,
    openapi_extra=json_body(DeviceRescanBody),
)
async def handheld_rescan(request: Request, state: StateDep) -> dict[str, Any]:
    """A staff-mode handheld rescanning a trolley at the exit."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    device_id = request.headers.get("x-caddie-device", "")
    if scheme.lower() != "bearer" or not token.strip() or not device_id:
        raise Unauthorized("send Authorization: Bearer <device token> and X-Caddie-Device")

    def who(session: Session) -> Actor:
        device = devices.authenticate(session, device_id, token.strip())
        if not device.staff_mode:
            raise Forbidden("this handheld is not in staff mode")
        return Actor(f"device:{device.id}", device.store_id)

    actor = await state.db.run(who)
    body = await parse_body(request, DeviceRescanBody)
    return await _rescan(state, body.basket_id, body.code, actor, f"handheld:{device_id}")


# --- POS ------------------------------------------------------------------------------------


def _pos_token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <POS token>")
    return token.strip()


@router.get(
    "/api/pos/handoffs/{code}",
    tags=["pos"],
    dependencies=[RATE_LIMITED, BearerScheme],
    response_model=Handoff,
)
async def pos_handoff(code: str, request: Request, state: StateDep) -> dict[str, Any]:
    """The hand-off a till scanned (``CADDIE-PAY:<code>`` or the code alone): the frozen
    lines, discounts, taxes and the total to charge. See docs/pos-integration.md."""
    token = _pos_token(request)

    def job(session: Session) -> dict[str, Any]:
        terminal = payment.pos_terminal(session, token)
        return views.handoff_view(payment.handoff_for_pos(session, code, terminal))

    return await state.db.run(job)


@router.post(
    "/api/pos/handoffs/{code}/paid",
    tags=["pos"],
    dependencies=[RATE_LIMITED, BearerScheme],
    response_model=PaidReply,
    openapi_extra=json_body(PaidBody),
)
async def pos_paid(code: str, request: Request, state: StateDep) -> dict[str, Any]:
    """The till took the money. ``amount_cents`` must equal the hand-off's total; the
    same ``payment_reference`` again is answered as before (``replayed``)."""
    token = _pos_token(request)
    # The till first: a stranger is refused before its body is read.
    await state.db.run(lambda session: payment.pos_terminal(session, token))
    body = await parse_body(request, PaidBody)

    def job(session: Session) -> tuple[dict[str, Any], bool, str]:
        terminal = payment.pos_terminal(session, token)  # revoked meanwhile: refused
        handoff, replayed = payment.mark_paid(
            session,
            code,
            terminal=terminal,
            payment_reference=body.payment_reference,
            amount_cents=body.amount_cents,
        )
        return views.handoff_view(handoff), replayed, terminal.store_id

    view, replayed, _store = await state.db.run(job)
    return await _paid_reply(state, view, replayed)


async def _paid_reply(state: ServerState, view: dict[str, Any], replayed: bool) -> dict[str, Any]:
    """The answer to a payment (a till's or staff's): consoles hear of it the first time."""
    if not replayed:
        await _publish(
            state,
            "checkout.paid",
            {"basket_id": view["basket_id"], "store_id": view["store_id"], "status": "paid"},
        )
    return {**view, "replayed": replayed}


# --- admin ------------------------------------------------------------------------------------


@router.post(
    "/api/checkout/pos-terminals",
    status_code=201,
    tags=["admin"],
    dependencies=[RATE_LIMITED],
    response_model=PosTerminalReply,
    openapi_extra=json_body(PosTerminalBody),
)
async def enroll_pos(request: Request, user: CurrentAdmin, state: StateDep) -> dict[str, str]:
    body = await parse_body(request, PosTerminalBody)
    store_id = body.store_id or user.store_id or state.settings.store_id

    def job(session: Session) -> str:
        return payment.enroll_pos_terminal(session, body.terminal_id, store_id=store_id)

    token = await state.db.run(job)
    return {"terminal_id": body.terminal_id, "store_id": store_id, "token": token}


@router.put(
    "/api/checkout/stores/{store_id}/audit-policy",
    tags=["admin"],
    dependencies=[RATE_LIMITED],
    response_model=PolicyReply,
    openapi_extra=json_body(PolicyBody),
)
async def put_policy(
    store_id: str, request: Request, user: CurrentAdmin, state: StateDep
) -> dict[str, Any]:
    body = await parse_body(request, PolicyBody)
    if not 1 <= len(store_id) <= 64:
        raise NotFound("no such store")
    actor = Actor(f"admin:{user.username}", None, user.id)
    policy = await state.db.run(
        lambda s: audit.set_store_policy(s, store_id, body.policy, actor=actor)
    )
    return {"store_id": store_id, "policy": policy.to_dict()}


@router.get(
    "/api/checkout/stores/{store_id}/audit-policy",
    tags=["admin"],
    dependencies=[RATE_LIMITED],
    response_model=PolicyReply,
)
async def get_policy(store_id: str, user: CurrentAdmin, state: StateDep) -> dict[str, Any]:
    policy = await state.db.run(lambda s: audit.policy_for_store(s, store_id, state.audit_policy))
    return {"store_id": store_id, "policy": policy.to_dict()}


# --- the live queue ---------------------------------------------------------------------------


def _same_origin(websocket: WebSocket) -> bool:
    """Refuse cross-site pages opening the socket with a staff member's cookie."""
    origin = websocket.headers.get("origin")
    if not origin:
        return True  # not a browser
    return urlparse(origin).netloc == websocket.headers.get("host", "")


@router.websocket("/ws/staff")
async def staff_socket(websocket: WebSocket) -> None:
    """Pushes ``{"type": "queue", "baskets": [...]}`` once, then ``{"type": "basket",
    "event", "basket": {...}}`` for every change of a basket of the staff's store.

    The login session is checked again while the socket is open: at once when a logout
    of the same user is announced on the event bus (from any server process), when the
    console sends a message, and every ``staff_socket_recheck_seconds`` otherwise (which
    also catches expiry, a disabled account or a changed role). A session that no longer
    passes gets an ``error`` message and the close code of a refused connection (4401,
    or 4403 for a role that lost the right)."""
    state: ServerState = websocket.app.state.caddie
    await websocket.accept()
    token = websocket.cookies.get(SESSION_COOKIE) or ""
    scheme, _, bearer = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and bearer.strip():
        token = bearer.strip()
    try:
        if not _same_origin(websocket):
            raise Forbidden("cross-origin connection refused")
        actor = await state.db.run(lambda s: staff_actor(auth.user_for_token(s, token)))
    except CaddieError as exc:
        await _refuse(websocket, exc)
        return
    try:
        await _serve_queue(websocket, state, actor, token)
    except (WebSocketDisconnect, RuntimeError):
        return
    except Exception:
        log.exception("staff socket failed")
        if websocket.client_state == WebSocketState.CONNECTED:
            await websocket.close(1011, "internal error; reconnect")


async def _refuse(websocket: WebSocket, exc: CaddieError) -> None:
    await websocket.send_json({"type": "error", "code": exc.code, "message": exc.message})
    await websocket.close(
        CLOSE_UNAUTHORIZED if isinstance(exc, Unauthorized) else CLOSE_FORBIDDEN, exc.code
    )


# A console's messages trigger a session check, but not more often than this.
MESSAGE_RECHECK_MIN_S = 1.0


async def _serve_queue(websocket: WebSocket, state: ServerState, actor: Actor, token: str) -> None:
    loop = asyncio.get_running_loop()
    every = state.settings.staff_socket_recheck_seconds
    # One inbox for the three things the socket waits on; bounded, so a console that
    # cannot keep up loses old basket events in the bus's queue, as before.
    inbox: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(64)

    async def forward(kind: str, source: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            await inbox.put((kind, await source.get()))

    async def listen() -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                await inbox.put(("gone", None))
                return
            await inbox.put(("message", None))

    async def still_allowed() -> bool:
        try:
            await state.db.run(lambda s: staff_actor(auth.user_for_token(s, token)))
        except OperationalError as exc:
            # Nothing says the session ended; the next check tries again.
            log.warning("staff socket: session not re-checked, database unavailable: %s", exc.orig)
            return True
        except CaddieError as exc:
            log.info("staff socket of %s closed: %s", actor.name, exc.message)
            await _refuse(websocket, exc)
            return False
        return True

    async with (
        state.events.subscribe("baskets") as events,
        state.events.subscribe(SESSIONS_CHANNEL) as sessions,
    ):
        # Subscribed before reading the queue, so no change falls between the two.
        rows = await state.db.run(lambda s: views.queue(s, actor.store_id))
        await websocket.send_json({"type": "queue", "baskets": rows})
        tasks = [
            asyncio.create_task(forward("basket", events)),
            asyncio.create_task(forward("session", sessions)),
            asyncio.create_task(listen()),
        ]
        checked = loop.time()
        try:
            while True:
                try:
                    kind, item = await asyncio.wait_for(
                        inbox.get(), timeout=max(0.0, checked + every - loop.time())
                    )
                except TimeoutError:
                    kind, item = "tick", None
                if kind == "gone":
                    return
                if kind == "basket":
                    await _push_basket(websocket, state, actor, item)
                    continue
                if kind == "session" and item.get("user_id") != actor.user_id:
                    continue
                if kind == "message" and loop.time() - checked < MESSAGE_RECHECK_MIN_S:
                    continue
                if not await still_allowed():
                    return
                checked = loop.time()
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def _push_basket(
    websocket: WebSocket, state: ServerState, actor: Actor, event: dict[str, Any]
) -> None:
    if actor.store_id is not None and event.get("store_id") != actor.store_id:
        return
    if event.get("status") == "open":
        return  # scans in the aisles are not the exit's business
    basket_id = event.get("basket_id")

    def load(session: Session) -> dict[str, Any] | None:
        try:
            basket = records.get_basket(session, basket_id, actor)
        except CaddieError:
            return None
        return views.summary(session, basket)

    row = await state.db.run(load)
    if row is None:
        return
    await websocket.send_json(
        {
            "type": "basket",
            "event": event.get("event"),
            "basket": row,
            "in_queue": row["status"] in LOCKED_STATUSES,
        }
    )
