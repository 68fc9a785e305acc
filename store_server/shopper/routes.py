"""The shopper app's server side: joining, pairing, the trip status, the entrance screen
and the receipt.

JSON under ``/api/shop/*`` (the page sends the device token as a bearer token); HTML
for what a person opens directly: ``/shop/join`` (from the entrance QR code), the
entrance screen and the receipt.
"""

from __future__ import annotations

import math
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import segno
from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from sqlmodel import Session

from store_server.auth import service as auth
from store_server.baskets.service import snapshot
from store_server.checkout import receipts
from store_server.deps import (
    ERROR_RESPONSES,
    RATE_LIMITED,
    SESSION_COOKIE,
    ErrorReply,
    StateDep,
)
from store_server.offers.service import promotions_for_basket
from store_server.ratelimit import RateLimiter
from store_server.shared.errors import CaddieError, RateLimited, Unauthorized
from store_server.shopper import codes, service
from store_server.shopper.schemas import (
    DeviceCredentials,
    JoinBody,
    JoinReply,
    PairBody,
    TripStatus,
)
from store_server.state import ServerState
from store_server.templating import make_templates
from store_server.timeutil import utcnow

# Spent or expired codes and tickets: gone for good, unlike a 4xx the caller can fix.
GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": ErrorReply, "description": "The code or ticket was used or has expired"}
}
HERE = Path(__file__).resolve().parent
templates = make_templates(HERE / "templates")
templates.env.filters["money"] = receipts.money
api = APIRouter(tags=["shopper"], responses=ERROR_RESPONSES)
# Pages a person opens: HTML whatever happens, so they stay out of the API schema.
pages = APIRouter(include_in_schema=False)

ENTRANCE_SCREEN_ROLES = ("staff", "admin")
JOIN_AGAIN = "Scan the code at the store entrance again."


def _grace(state: ServerState) -> timedelta:
    return timedelta(minutes=state.settings.shopper_trip_grace_minutes)


# --- joins and pairings: rate-limited per client address ------------------------------------


def _join_limiter(request: Request) -> RateLimiter:
    """One budget per client address for joins and pairings, in each server process."""
    limiter: RateLimiter | None = getattr(request.app.state, "shopper_join_limiter", None)
    if limiter is None:
        per_minute = request.app.state.caddie.settings.shopper_joins_per_minute
        limiter = RateLimiter(per_minute / 60, per_minute)
        request.app.state.shopper_join_limiter = limiter
    return limiter


def _spend_join_budget(request: Request) -> None:
    """Runs on the event loop (the limiter is not thread-safe), before any database work."""
    address = request.client.host if request.client else "?"
    wait = _join_limiter(request).check("address:" + address)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many joins or pairings from this address; retry in {seconds} s",
            retry_after=seconds,
        )


@api.post(
    "/api/shop/pair",
    response_model=DeviceCredentials,
    responses=GONE,
)
async def pair(body: PairBody, request: Request, state: StateDep) -> DeviceCredentials:
    """Spend a kiosk pairing code (from ``caddie device enroll ID --pair``): the store
    handheld gets its token. A code works once and for 24 hours."""
    _spend_join_budget(request)
    now = utcnow()
    device_id, token = await state.db.run(lambda s: service.pair(s, body.code, now=now))
    return DeviceCredentials(device_id=device_id, token=token, kind="kiosk", expires_at=None)


@api.post("/api/shop/join", response_model=JoinReply, responses=GONE)
async def join(body: JoinBody, request: Request, state: StateDep) -> JoinReply:
    """Spend a join ticket (from ``/shop/join``) with a loyalty card: a trip identity for
    this phone, or the card's open phone trip again with a new token (``resumed``)."""
    _spend_join_budget(request)
    now = utcnow()
    settings = state.settings
    joined = await state.db.run(
        lambda s: service.join(
            s,
            body.ticket,
            body.loyalty_card,
            secret=settings.secret_key,
            store_id=settings.store_id,
            now=now,
            grace=_grace(state),
        )
    )
    return JoinReply(
        device_id=joined.device_id,
        token=joined.token,
        kind="phone",
        expires_at=joined.expires_at,
        resumed=joined.resumed,
    )


@api.get("/api/shop/trip", response_model=TripStatus, dependencies=[RATE_LIMITED])
async def trip(request: Request, state: StateDep) -> dict[str, Any]:
    """The device's latest trip: its basket, status, audit, hand-off code and receipt link
    (bearer: the device token)."""
    token = _device_token(request)
    now = utcnow()

    def view(session: Session, basket: Any) -> dict[str, Any]:
        promotions = promotions_for_basket(session, basket.id, state.promotions.get(session))
        return snapshot(session, basket, promotions, persist=False)

    def job(session: Session) -> dict[str, Any]:
        device = service.device_for_bearer(session, token, now=now, grace=_grace(state))
        return service.trip_status(session, device, secret=state.settings.secret_key, view=view)

    return await state.db.run(job)


def _device_token(request: Request) -> str:
    """Device tokens come as bearer tokens only; a login cookie is not a device."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("send the device token (Authorization: Bearer <token>)")
    return value.strip()


# --- pages ---------------------------------------------------------------------------------------


def _message(
    request: Request, status: int, title: str, message: str, hint: str = ""
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "shopper/message.html",
        {"title": title, "message": message, "hint": hint, "alert": status >= 400},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


@pages.get(
    "/shop/join",
    response_class=HTMLResponse,
    status_code=303,
    responses={
        303: {"description": "to /shop#join=<ticket>: the page spends the ticket"},
        400: {"description": "a forged or malformed code (HTML page)"},
        410: {"description": "an expired code (HTML page)"},
    },
)
async def join_page(request: Request, state: StateDep) -> Response:
    """Where the entrance QR code leads. A valid code gets a fresh single-use join ticket,
    passed in the URL fragment (never sent to a server or a proxy log); a forged or
    expired code gets a page that says what to do. Nothing is stored either way."""
    code = request.query_params.get("c")
    settings = state.settings
    try:
        ticket = service.issue_join_ticket(
            settings.secret_key,
            code,
            store_id=settings.store_id,
            now=time.time(),
            minutes=settings.entrance_code_minutes,
        )
    except service.JoinExpired:
        return _message(
            request,
            410,
            "This code has expired",
            "The code you scanned is too old: each one works for a few minutes only.",
            JOIN_AGAIN,
        )
    except CaddieError:
        return _message(
            request,
            400,
            "This code is not valid",
            "This link did not come from this store's entrance code.",
            JOIN_AGAIN,
        )
    return RedirectResponse(
        f"/shop#join={ticket}", status_code=303, headers={"Cache-Control": "no-store"}
    )


def _entrance_access(request: Request, state: ServerState) -> Any:
    """How the entrance screen may be shown: with a staff or admin login, or with the
    display key (``caddie shopper entrance-code --display``)."""
    key = request.query_params.get("key")
    cookie = request.cookies.get(SESSION_COOKIE)

    def job(session: Session) -> Literal["ok", "login", "forbidden"]:
        if key is not None:
            try:
                shown = codes.read_display_key(state.settings.secret_key, key)
            except codes.CodeRefused:
                return "login"
            return "ok" if shown == state.settings.store_id else "login"
        if not cookie:
            return "login"
        try:
            user = auth.user_for_token(session, cookie)
        except CaddieError:
            return "login"
        return "ok" if user.role in ENTRANCE_SCREEN_ROLES else "forbidden"

    return job


@pages.get("/shop/entrance", response_class=HTMLResponse, responses={401: {}, 403: {}})
async def entrance_page(request: Request, state: StateDep) -> Response:
    """The entrance QR code, full screen, renewed before it expires (the page reloads
    itself: no script, so it also works in a signage player's sandboxed frame)."""
    access = await state.db.run(_entrance_access(request, state))
    if access == "login":
        return _message(
            request,
            401,
            "Log in to show the entrance code",
            "Log in to the staff console first, then open this page again.",
            "For a screen without a login, use the display link that "
            "`caddie shopper entrance-code --display` prints.",
        )
    if access == "forbidden":
        return _message(
            request, 403, "Not for this account", "The entrance code is for staff and admins."
        )
    settings = state.settings
    now = time.time()
    url = codes.entrance_url(settings.public_url, settings.secret_key, settings.store_id, now)
    qr_svg = segno.make(url, error="m").svg_inline(
        scale=8, title="Scan to shop with your phone", omitsize=True
    )
    # Reload just after the code rotates; it stays valid for minutes after that anyway.
    refresh = codes.ENTRANCE_ROTATION_SECONDS - int(now) % codes.ENTRANCE_ROTATION_SECONDS + 1
    return templates.TemplateResponse(
        request,
        "shopper/entrance.html",
        {"qr_svg": qr_svg, "store_id": settings.store_id, "refresh_s": refresh},
        headers={"Cache-Control": "no-store"},
    )


@pages.get("/shop/server.css", include_in_schema=False)
async def server_css() -> FileResponse:
    return FileResponse(HERE / "static" / "server.css", media_type="text/css")


def _receipt(request: Request, state: ServerState, token: str) -> Any:
    def job(session: Session) -> dict[str, Any] | None:
        return service.receipt_record(session, state.settings.secret_key, token)

    return job


def _no_receipt(request: Request) -> HTMLResponse:
    return _message(
        request,
        404,
        "No receipt here",
        "This receipt link is not valid, or the basket has not reached the till yet.",
        "Check the link on your phone's trip screen.",
    )


@pages.get("/shop/receipt/{token}", response_class=HTMLResponse, responses={404: {}})
async def receipt_page(token: str, request: Request, state: StateDep) -> Response:
    """A shopper's receipt, by the signed link the trip status gives: no login, and the
    link names exactly one basket."""
    record = await state.db.run(_receipt(request, state, token))
    if record is None:
        return _no_receipt(request)
    timezone = state.settings.timezone
    return templates.TemplateResponse(
        request,
        "shopper/receipt.html",
        {
            "r": record,
            "released_local": receipts.local_time(record["released_at"], timezone),
            "paid_local": receipts.local_time(record.get("paid_at"), timezone),
            "text_url": f"/shop/receipt/{token}/receipt.txt",
        },
        headers={"Cache-Control": "private, no-store", "Referrer-Policy": "no-referrer"},
    )


@pages.get(
    "/shop/receipt/{token}/receipt.txt",
    response_class=PlainTextResponse,
)
async def receipt_download(token: str, request: Request, state: StateDep) -> Response:
    """The same receipt as plain text, to keep."""
    record = await state.db.run(_receipt(request, state, token))
    if record is None:
        return _no_receipt(request)
    text = receipts.receipt_text(record, timezone=state.settings.timezone)
    return PlainTextResponse(
        text,
        headers={
            "Content-Disposition": f'attachment; filename="receipt-{record["code"]}.txt"',
            "Cache-Control": "private, no-store",
        },
    )


router = APIRouter()
router.include_router(api)
router.include_router(pages)
