"""The staff console pages: login, the live exit queue, one basket, its receipt.

Server-rendered with Jinja2; ``static/checkout/*.js`` adds the live queue (``/ws/staff``),
keyboard-wedge rescans and in-place refresh of the basket panel (re-rendered here, so
there is one template for the first paint and every update).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.auth.routes import end_session
from store_server.checkout import history, receipts, records, views, wording
from store_server.checkout.records import Actor
from store_server.checkout.routes import staff_actor
from store_server.deps import (
    SESSION_COOKIE,
    StateDep,
    known_device,
    remember_device,
    set_session_cookie,
)
from store_server.offers.service import promotions_for_basket
from store_server.shared.errors import CaddieError, Forbidden, Unauthorized
from store_server.state import ServerState
from store_server.templating import make_templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static" / "checkout"
templates = make_templates(HERE / "templates")
templates.env.filters["money"] = receipts.money
router = APIRouter(prefix="/staff", tags=["staff console"], include_in_schema=False)

REASON_LABELS = {key: text[0].upper() + text[1:] for key, text in wording.REASONS.items()}
templates.env.globals["reason_labels"] = REASON_LABELS
templates.env.globals["payment_methods"] = wording.METHODS
templates.env.filters["wait"] = history.wait_text

# Where a login may send staff back to: a page of this console (or /metrics for admins).
_RETURN_PATH = re.compile(r"/(staff(/[A-Za-z0-9_-]+)*|metrics)")


def safe_next(value: object) -> str:
    """The page to return to after login, if it is one of ours (never another site)."""
    if isinstance(value, str) and len(value) <= 200 and _RETURN_PATH.fullmatch(value):
        return value
    return "/staff"


async def _page_actor(request: Request, state: ServerState) -> tuple[Actor, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None

    def job(session: Session) -> tuple[Actor, str]:
        user = auth.user_for_token(session, token)
        return staff_actor(user), user.username

    try:
        return await state.db.run(job)
    except (Unauthorized, Forbidden):
        return None


def _to_login(request: Request | None = None) -> RedirectResponse:
    """To the login page; it brings staff back to the page they asked for, and says the
    session ended when the browser still held one."""
    if request is None:
        return RedirectResponse("/staff/login", status_code=303)
    query = {"next": safe_next(request.url.path)}
    if request.cookies.get(SESSION_COOKIE):
        query["ended"] = "1"
    return RedirectResponse(f"/staff/login?{urlencode(query)}", status_code=303)


def _login_context(next_path: str, ended: bool, error: str | None) -> dict[str, Any]:
    returning = "the basket you had open" if next_path.startswith("/staff/baskets/") else None
    return {"error": error, "next": next_path, "ended": ended, "returning": returning}


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    params = request.query_params
    context = _login_context(safe_next(params.get("next")), params.get("ended") == "1", None)
    return templates.TemplateResponse(request, "checkout/login.html", context)


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, state: StateDep) -> Response:
    form = await request.form()
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    next_path = safe_next(form.get("next"))
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
            state.db,
            username=username[:80],
            password=password[:256],
            hours=settings.session_hours,
            attempts_per_minute=settings.login_attempts_per_minute,
            admit=admit,
            known_device=known_device(request, settings, username[:80]),
        )
    except CaddieError as exc:
        return templates.TemplateResponse(
            request,
            "checkout/login.html",
            _login_context(next_path, False, exc.message),
            status_code=exc.http_status,
        )
    response = RedirectResponse(next_path, status_code=303)
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
        return _to_login(request)
    actor, username = who
    timezone = state.settings.timezone

    def job(session: Session) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        return (
            views.queue(session, actor.store_id),
            history.figures(session, actor.store_id, timezone=timezone),
        )

    rows, figures = await state.db.run(job)
    return templates.TemplateResponse(
        request,
        "checkout/queue.html",
        {
            "username": username,
            "store_id": actor.store_id,
            "baskets": rows,
            "figures": figures,
            "page": "queue",
        },
    )


def _history_query(values: Any, timezone: str) -> history.HistoryQuery:
    def text(key: str) -> str:
        return str(values.get(key) or "")[:300]

    return history.HistoryQuery(
        basket=text("basket"),
        device=text("device"),
        since=history.parse_local(text("since"), timezone, what="from"),
        until=history.parse_local(text("until"), timezone, what="until"),
        loyalty_card=text("loyalty_card"),
        reason=text("reason"),
    )


async def _history_page(request: Request, state: StateDep, values: Any) -> Response:
    who = await _page_actor(request, state)
    if who is None:
        return _to_login(request)
    actor, username = who
    timezone = state.settings.timezone
    error, rows, searched = None, [], any(str(v).strip() for v in values.values())
    try:
        query = _history_query(values, timezone)
        rows = await state.db.run(lambda s: history.search(s, actor, query))
    except CaddieError as exc:
        error = exc.message
    for row in rows:
        row["paid_local"] = receipts.local_time(row.get("paid_at"), timezone)
    return templates.TemplateResponse(
        request,
        "checkout/history.html",
        {
            "username": username,
            "store_id": actor.store_id,
            "rows": rows,
            "error": error,
            "searched": searched,
            "form": {
                k: str(values.get(k) or "")[:300] for k in ("basket", "device", "since", "until")
            },
            "by_card": bool(str(values.get("loyalty_card") or "").strip()),
            "page": "history",
        },
        status_code=200 if error is None else 422,
    )


@router.get("/history", response_class=HTMLResponse)
async def history_page(request: Request, state: StateDep) -> Response:
    """Paid baskets, searched by basket, device and time (a GET: nothing personal)."""
    values = {k: v for k, v in request.query_params.items() if k != "loyalty_card"}
    return await _history_page(request, state, values)


@router.post("/history", response_class=HTMLResponse)
async def history_by_card(request: Request, state: StateDep) -> Response:
    """A search by loyalty card: posted (the card stays out of URLs and access logs),
    with a reason, and logged."""
    form = await request.form()
    values = {
        k: form.get(k) for k in ("basket", "device", "since", "until", "loyalty_card", "reason")
    }
    return await _history_page(request, state, values)


def _panel_context(state: ServerState, basket_id: str, actor: Actor) -> Any:
    def job(session: Session) -> dict[str, Any]:
        basket = records.get_basket(session, basket_id, actor)
        promotions = promotions_for_basket(session, basket_id, state.promotions.get(session))
        view = views.detail(session, basket, promotions)
        zone = ZoneInfo(state.settings.timezone)
        for action in view["actions"]:
            action["clock"] = (
                datetime.fromisoformat(action["at"]).astimezone(zone).strftime("%H:%M:%S")
            )
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
        return _to_login(request)
    actor, username = who
    try:
        view = await state.db.run(_panel_context(state, basket_id, actor))
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
        {"username": username, "store_id": actor.store_id, "b": view, "page": "basket"},
    )


@router.get("/baskets/{basket_id}/panel", response_class=HTMLResponse)
async def basket_panel(basket_id: str, request: Request, state: StateDep) -> Response:
    """The basket panel alone, for the page's in-place refresh."""
    who = await _page_actor(request, state)
    if who is None:
        raise Unauthorized("log in again")
    view = await state.db.run(_panel_context(state, basket_id, who[0]))
    return templates.TemplateResponse(request, "checkout/_panel.html", {"b": view})


@router.get("/baskets/{basket_id}/receipt", response_class=HTMLResponse)
async def receipt_page(basket_id: str, request: Request, state: StateDep) -> Response:
    who = await _page_actor(request, state)
    if who is None:
        return _to_login(request)
    record = await state.db.run(lambda s: views.handoff_record(s, basket_id, who[0]))
    return templates.TemplateResponse(
        request,
        "checkout/receipt.html",
        {
            "r": record,
            "released_local": receipts.local_time(record["released_at"], state.settings.timezone),
            "paid_local": receipts.local_time(record.get("paid_at"), state.settings.timezone),
        },
    )
