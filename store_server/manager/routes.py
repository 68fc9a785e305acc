"""The manager console (``/manager``) and its API (``/api/manager``).

Managers see their own store; admins any store (``?store=``). Staff, operators and
shoppers get nothing: pages send them to the login, the API answers 401/403.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.auth.routes import end_session
from store_server.checkout import payment
from store_server.deps import (
    ERROR_RESPONSES,
    SESSION_COOKIE,
    StateDep,
    bearer_token,
    known_device,
    remember_device,
    set_session_cookie,
)
from store_server.manager import policies, recommendations, service
from store_server.manager.figures import Period, parse_period
from store_server.manager.refresher import refresh_once
from store_server.manager.schemas import PosDailyTotalBody, PosDailyTotalReply
from store_server.shared.errors import CaddieError, Forbidden, InvalidInput, Unauthorized
from store_server.state import ServerState
from store_server.templating import make_templates
from store_server.timeutil import utcnow

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static" / "manager"
templates = make_templates(HERE / "templates")
router = APIRouter(prefix="/manager", tags=["manager console"], include_in_schema=False)
api = APIRouter(prefix="/api/manager", tags=["manager"], responses=ERROR_RESPONSES)
ROLES = ("manager", "admin")
PAGES = {
    "": "Overview",
    "loss": "Audits and loss",
    "quality": "Scan quality and staff",
    "policy": "Audit policy",
}
RECENT_DAYS = 28


@dataclass
class Viewer:
    username: str
    role: str
    store_id: str


def _store_of(user: User, state: ServerState, asked: str | None) -> str:
    if user.role == "admin":
        return (asked or "").strip()[:64] or state.settings.store_id
    return user.store_id or state.settings.store_id


async def _viewer(request: Request, state: ServerState) -> Viewer | None:
    """The logged-in manager or admin; None (log in) for anybody else."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        user = await state.db.run(lambda s: auth.user_for_token(s, token))
    except (Unauthorized, Forbidden):
        return None
    if user.role not in ROLES:
        raise Forbidden("the manager console needs the manager or admin role")
    return Viewer(
        user.username, user.role, _store_of(user, state, request.query_params.get("store"))
    )


async def _admitted(request: Request, state: ServerState) -> Viewer | Response:
    """The viewer, or the answer for anybody else: the login page, or 403 for a role
    that may not see the console."""
    try:
        viewer = await _viewer(request, state)
    except Forbidden as exc:
        return _forbidden(request, exc.message)
    return _to_login() if viewer is None else viewer


def _to_login() -> RedirectResponse:
    return RedirectResponse("/manager/login", status_code=303)


def _message(
    request: Request,
    title: str,
    message: str,
    viewer: Viewer | None,
    *,
    back: str = "/manager",
    status: int = 200,
) -> Response:
    """A page of one sentence: what happened, and the way back."""
    context = {"title": title, "message": message, "viewer": viewer, "back": back}
    return templates.TemplateResponse(request, "manager/message.html", context, status_code=status)


def _forbidden(request: Request, message: str) -> Response:
    return templates.TemplateResponse(
        request,
        "manager/message.html",
        {"title": "Not for this account", "message": message, "viewer": None},
        status_code=403,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "manager/login.html", {"error": None, "viewer": None}
    )


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, state: StateDep) -> Response:
    form = await request.form()
    username, password = str(form.get("username") or ""), str(form.get("password") or "")

    def admit(user: User) -> None:
        if user.role not in ROLES:
            raise Forbidden("this account cannot use the manager console")

    try:
        if not username or not password:
            raise Unauthorized("enter your username and password")
        token, user = await run_in_threadpool(
            auth.log_in,
            state.db,
            username=username[:80],
            password=password[:256],
            hours=state.settings.session_hours,
            attempts_per_minute=state.settings.login_attempts_per_minute,
            admit=admit,
            known_device=known_device(request, state.settings, username[:80]),
        )
    except CaddieError as exc:
        return templates.TemplateResponse(
            request,
            "manager/login.html",
            {"error": exc.message, "viewer": None},
            status_code=exc.http_status,
        )
    response = RedirectResponse("/manager", status_code=303)
    set_session_cookie(response, token, state.settings, request)
    remember_device(response, request, state.settings, user.username)
    return response


@router.post("/logout")
async def logout(request: Request, state: StateDep) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_session(state, token)
    response = _to_login()
    response.delete_cookie(SESSION_COOKIE)
    return response


def _period(request: Request, state: ServerState) -> Period:
    q = request.query_params
    today = utcnow().astimezone(_tz(state)).date()
    return parse_period(q.get("range"), q.get("date"), q.get("from"), q.get("to"), today)


def _tz(state: ServerState) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(state.settings.timezone)


async def _report(state: ServerState, viewer: Viewer, period: Period) -> service.Report:
    await refresh_once(state)
    settings = state.settings
    return await state.db.run(
        lambda s: service.build_report(
            s,
            viewer.store_id,
            period,
            timezone=settings.timezone,
            currency=settings.currency,
            min_count=settings.signals.min_count,
        )
    )


async def _page(request: Request, state: ServerState, page: str, extra: Any = None) -> Response:
    viewer = await _admitted(request, state)
    if not isinstance(viewer, Viewer):
        return viewer
    try:
        period = _period(request, state)
    except InvalidInput as exc:
        return _message(
            request, "Cannot show this range", exc.message, viewer, back="/manager", status=400
        )
    report = await _report(state, viewer, period)
    context: dict[str, Any] = {
        "viewer": viewer,
        "r": report,
        "page": page,
        "pages": PAGES,
        "query": _query(request, period),
        "stores": await state.db.run(service.store_ids) if viewer.role == "admin" else [],
    }
    if extra is not None:
        context.update(await extra(viewer))
    return templates.TemplateResponse(request, f"manager/{page or 'overview'}.html", context)


def _query(request: Request, period: Period) -> str:
    from urllib.parse import urlencode

    keep = {
        k: v
        for k, v in request.query_params.items()
        if k in ("range", "date", "from", "to", "store")
    }
    return urlencode(keep)


@router.get("", response_class=HTMLResponse)
async def overview(request: Request, state: StateDep) -> Response:
    return await _page(request, state, "")


@router.get("/loss", response_class=HTMLResponse)
async def loss(request: Request, state: StateDep) -> Response:
    return await _page(request, state, "loss")


@router.get("/quality", response_class=HTMLResponse)
async def quality(request: Request, state: StateDep) -> Response:
    return await _page(request, state, "quality")


def _policy_context(state: ServerState, viewer: Viewer) -> Any:
    def job(session: Session) -> dict[str, Any]:
        today = utcnow().astimezone(_tz(state)).date()
        current, recs = recommendations.for_store(
            session,
            viewer.store_id,
            today=today,
            timezone=state.settings.timezone,
            default=state.audit_policy,
            days=RECENT_DAYS,
        )
        return {
            "recommendations": recs,
            "versions": policies.versions(session, viewer.store_id),
            "current": current.to_dict(),
            "recent_days": RECENT_DAYS,
        }

    return job


@router.get("/policy", response_class=HTMLResponse)
async def policy_page(request: Request, state: StateDep) -> Response:
    async def extra(viewer: Viewer) -> dict[str, Any]:
        return await state.db.run(_policy_context(state, viewer))

    return await _page(request, state, "policy", extra)


async def _form_action(request: Request, state: ServerState, work: Any) -> Response:
    viewer = await _admitted(request, state)
    if not isinstance(viewer, Viewer):
        return viewer
    form = await request.form()
    try:
        await state.db.run(lambda s: work(s, viewer, form))
    except CaddieError as exc:
        return _message(
            request, "Not done", exc.message, viewer, back="/manager/policy", status=exc.http_status
        )
    return RedirectResponse(
        "/manager/policy" + (f"?store={viewer.store_id}" if viewer.role == "admin" else ""),
        status_code=303,
    )


@router.post("/policy/apply")
async def policy_apply(request: Request, state: StateDep) -> Response:
    """Apply a recommendation (``recommendation`` = its key) or settings given as JSON."""

    def work(session: Session, viewer: Viewer, form: Any) -> None:
        import json

        key = str(form.get("recommendation") or "")
        changes: dict[str, Any]
        if key:
            context = _policy_context(state, viewer)(session)
            found = [r for r in context["recommendations"] if r.key == key]
            if not found:
                raise InvalidInput("this recommendation no longer applies; reload the page")
            changes = found[0].changes
        else:
            try:
                changes = json.loads(str(form.get("settings") or "")[:10_000])
            except ValueError:
                raise InvalidInput(
                    'settings must be a JSON object such as {"base_rate": 0.04}'
                ) from None
            if not isinstance(changes, dict):
                raise InvalidInput('settings must be a JSON object such as {"base_rate": 0.04}')
        policies.apply_policy(
            session,
            viewer.store_id,
            changes,
            default=state.audit_policy,
            reason=form.get("reason"),
            actor=viewer.username,
        )

    return await _form_action(request, state, work)


@router.post("/policy/rollback")
async def policy_rollback(request: Request, state: StateDep) -> Response:
    def work(session: Session, viewer: Viewer, form: Any) -> None:
        raw = str(form.get("version") or "")
        if not raw.isdigit() or len(raw) > 9:
            raise InvalidInput("choose a version number to roll back to")
        policies.rollback(
            session,
            viewer.store_id,
            to_version=int(raw),
            default=state.audit_policy,
            reason=form.get("reason"),
            actor=viewer.username,
        )

    return await _form_action(request, state, work)


@router.post("/pos-totals/import", response_class=HTMLResponse)
async def pos_import(request: Request, state: StateDep) -> Response:
    viewer = await _admitted(request, state)
    if not isinstance(viewer, Viewer):
        return viewer
    form = await request.form()
    upload = form.get("file")
    try:
        if upload is None or isinstance(upload, str):
            raise InvalidInput("choose a CSV file of day,sales_cents rows")
        rows = service.parse_pos_csv(await upload.read(1_000_001))

        def work(session: Session) -> None:
            for day, cents in rows:
                service.record_pos_total(
                    session,
                    viewer.store_id,
                    day,
                    cents,
                    currency=state.settings.currency,
                    source=f"csv:{viewer.username}",
                )

        await state.db.run(work)
    except CaddieError as exc:
        return _message(
            request,
            "Nothing imported",
            exc.message,
            viewer,
            back="/manager",
            status=exc.http_status,
        )
    return _message(
        request, "Imported", f"{len(rows)} daily totals imported.", viewer, back="/manager"
    )


@router.get("/csv/{table}")
async def csv_download(table: str, request: Request, state: StateDep) -> Response:
    viewer = await _admitted(request, state)
    if not isinstance(viewer, Viewer):
        return viewer
    try:
        period = _period(request, state)
    except InvalidInput as exc:
        return Response(exc.message + "\n", status_code=400, media_type="text/plain")
    report = await _report(state, viewer, period)
    if table == "figures":
        body = service.figures_csv(report)
    elif table in report.tables:
        body = service.table_csv(report.tables[table])
    else:
        return Response("no such table\n", status_code=404, media_type="text/plain")
    name = f"caddie-{viewer.store_id}-{table}-{period.first}-{period.last}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@api.post("/pos-totals", response_model=PosDailyTotalReply)
async def pos_totals(
    body: PosDailyTotalBody, request: Request, state: StateDep
) -> PosDailyTotalReply:
    """A POS reports a day's whole-store sales (bearer: a till's token, or a manager's or
    admin's session). Reporting a day again replaces its total."""
    token = bearer_token(request)

    def work(session: Session) -> str:
        try:
            terminal = payment.pos_terminal(session, token)
            store, source = terminal.store_id, f"pos:{terminal.id}"
        except Unauthorized:
            user = auth.user_for_token(session, token)
            if user.role not in ROLES:
                raise Forbidden(
                    "reporting POS totals needs a till token or the manager role"
                ) from None
            store = (
                body.store_id
                if user.role == "admin" and body.store_id
                else _store_of(user, state, None)
            )
            source = f"user:{user.username}"
        service.record_pos_total(
            session, store, body.day, body.sales_cents, currency=body.currency, source=source
        )
        return store

    store = await state.db.run(work)
    return PosDailyTotalReply(
        store_id=store, day=body.day, sales_cents=body.sales_cents, currency=body.currency
    )
