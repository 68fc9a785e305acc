"""The staff console pages: login, the live exit queue, one basket, its receipt.

Server-rendered with Jinja2; ``static/checkout/*.js`` adds the live queue (``/ws/staff``),
keyboard-wedge rescans and in-place refresh of the basket panel (re-rendered here, so
there is one template for the first paint and every update).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.auth.routes import end_session
from store_server.checkout import receipts, service
from store_server.checkout.routes import staff_actor
from store_server.checkout.service import Actor
from store_server.deps import (
    SESSION_COOKIE,
    StateDep,
    known_device,
    remember_device,
    set_session_cookie,
)
from store_server.errors import CaddieError, Forbidden, Unauthorized
from store_server.offers.service import promotions_for_basket
from store_server.state import ServerState
from store_server.templating import make_templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static" / "checkout"
templates = make_templates(HERE / "templates")
templates.env.filters["money"] = receipts.money
router = APIRouter(prefix="/staff", tags=["staff console"], include_in_schema=False)

REASON_LABELS = {
    "missed_by_shopper": "Shopper missed it (discrepancy)",
    "shopper_request": "Shopper's request",
    "staff_error": "Staff error (not the shopper's fault)",
    "not_in_trolley": "Not in the trolley",
}
templates.env.globals["reason_labels"] = REASON_LABELS


async def _page_actor(request: Request, state: ServerState) -> tuple[Actor, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None

    def job(session: Session) -> tuple[Actor, str]:
        user = auth.user_for_token(session, token)
        return staff_actor(user), user.username

    try:
        return await state.run_db(job)
    except (Unauthorized, Forbidden):
        return None


def _to_login() -> RedirectResponse:
    return RedirectResponse("/staff/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "checkout/login.html", {"error": None})


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, state: StateDep) -> Response:
    form = await request.form()
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    settings = state.settings

    def admit(user: User) -> None:
        if user.role not in ("staff", "admin"):
            raise Forbidden("this account cannot use the checkout console")
        staff_actor(user)

    try:
        if not username or not password:
            raise Unauthorized("enter your username and password")
        token, user = await run_in_threadpool(
            auth.log_in,
            state.engine,
            username=username[:80],
            password=password[:256],
            hours=settings.session_hours,
            attempts_per_minute=settings.login_attempts_per_minute,
            admit=admit,
            known_device=known_device(request, settings, username[:80]),
        )
    except CaddieError as exc:
        return templates.TemplateResponse(
            request, "checkout/login.html", {"error": exc.message}, status_code=exc.http_status
        )
    response = RedirectResponse("/staff", status_code=303)
    set_session_cookie(response, token, settings, request)
    remember_device(response, request, settings, user.username)
    return response


@router.post("/logout")
async def logout(request: Request, state: StateDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(state, token)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", response_class=HTMLResponse)
async def queue_page(request: Request, state: StateDep) -> Response:
    who = await _page_actor(request, state)
    if who is None:
        return _to_login()
    actor, username = who
    rows = await state.run_db(lambda s: service.queue(s, actor.store_id))
    return templates.TemplateResponse(
        request,
        "checkout/queue.html",
        {"username": username, "store_id": actor.store_id, "baskets": rows},
    )


def _panel_context(state: ServerState, basket_id: str, actor: Actor) -> Any:
    def job(session: Session) -> dict[str, Any]:
        basket = service.get_basket(session, basket_id, actor)
        promotions = promotions_for_basket(session, basket_id, state.promotions.get(session))
        view = service.detail(session, basket, promotions)
        if view["handoff"] is not None:
            payload = view["handoff"]["pos_payload"]
            view["handoff"]["qr_svg"] = receipts.qr_svg(payload)
            view["handoff"]["code128_svg"] = receipts.code128_svg(payload)
        return view

    return job


@router.get("/baskets/{basket_id}", response_class=HTMLResponse)
async def basket_page(basket_id: str, request: Request, state: StateDep) -> Response:
    who = await _page_actor(request, state)
    if who is None:
        return _to_login()
    actor, username = who
    try:
        view = await state.run_db(_panel_context(state, basket_id, actor))
    except CaddieError as exc:
        return templates.TemplateResponse(
            request,
            "checkout/error.html",
            {"username": username, "message": exc.message},
            status_code=exc.http_status,
        )
    return templates.TemplateResponse(
        request,
        "checkout/basket.html",
        {"username": username, "store_id": actor.store_id, "b": view},
    )


@router.get("/baskets/{basket_id}/panel", response_class=HTMLResponse)
async def basket_panel(basket_id: str, request: Request, state: StateDep) -> Response:
    """The basket panel alone, for the page's in-place refresh."""
    who = await _page_actor(request, state)
    if who is None:
        raise Unauthorized("log in again")
    view = await state.run_db(_panel_context(state, basket_id, who[0]))
    return templates.TemplateResponse(request, "checkout/_panel.html", {"b": view})


@router.get("/baskets/{basket_id}/receipt", response_class=HTMLResponse)
async def receipt_page(basket_id: str, request: Request, state: StateDep) -> Response:
    who = await _page_actor(request, state)
    if who is None:
        return _to_login()
    record = await state.run_db(lambda s: service.handoff_record(s, basket_id, who[0]))
    return templates.TemplateResponse(
        request,
        "checkout/receipt.html",
        {
            "r": record,
            "released_local": receipts.local_time(record["released_at"], state.settings.timezone),
            "paid_local": receipts.local_time(record.get("paid_at"), state.settings.timezone),
        },
    )
