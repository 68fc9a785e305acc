"""The operator console: server-rendered pages over the operator API.

Login reuses ``POST /api/auth/login`` (its ``caddie_session`` cookie); every page
needs the operator or admin role, checked here on each request. The pages' small
scripts (``static/signage/console.js``) call the operator JSON API for uploads,
live availability and bookings, and show refusals in the page.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from signage import service
from signage.attribution import render_chart_svg
from signage.attribution.service import attributable_campaigns
from signage.deps import (
    OPERATOR_ROLES,
    SESSION_COOKIE,
    SessionDep,
    StateDep,
    _operator_from,
    in_transaction,
)
from signage.models import Creative
from signage.player import templates
from signage.routes import attribution_for, live_signals
from signage.scheduling.model import DAY_NAMES
from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.deps import known_device, remember_device, set_session_cookie
from store_server.errors import CaddieError, Forbidden, InvalidInput, Unauthorized

router = APIRouter(prefix="/console", include_in_schema=False)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _who(request: Request, session: Session) -> User | Response:
    try:
        return _operator_from(session, request.cookies.get(SESSION_COOKIE))
    except Unauthorized:
        return RedirectResponse(f"{_root(request)}/console/login", status_code=303)
    except Forbidden as exc:
        return templates.TemplateResponse(
            request,
            "signage/console_error.html",
            {"message": exc.message, "root": _root(request), "user": None},
            status_code=403,
        )


def _page(request: Request, name: str, user: User, **context: Any) -> Response:
    return templates.TemplateResponse(
        request, f"signage/{name}", {"root": _root(request), "user": user, **context}
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    return templates.TemplateResponse(
        request, "signage/login.html", {"root": _root(request), "user": None}
    )


@router.post("/login", response_class=HTMLResponse)
async def login_submit(request: Request, state: StateDep) -> Response:
    """The same login without script (the page's script posts to ``/api/auth/login``)."""
    form = await request.form()
    username, password = str(form.get("username") or "")[:80], str(form.get("password") or "")
    settings = state.settings
    try:
        if not username or not password:
            raise Unauthorized("enter your username and password")

        def admit(user: User) -> None:
            if user.role not in OPERATOR_ROLES:
                raise Forbidden(f"this account ({user.role}) cannot use the operator console")

        token, user = await run_in_threadpool(
            auth.log_in,
            state.engine,
            username=username,
            password=password[:256],
            hours=settings.session_hours,
            attempts_per_minute=settings.login_attempts_per_minute,
            admit=admit,
            known_device=known_device(request, settings, username[:80]),
        )
    except CaddieError as exc:
        return templates.TemplateResponse(
            request,
            "signage/login.html",
            {"root": _root(request), "user": None, "error": exc.message},
            status_code=exc.http_status,
        )
    response = RedirectResponse(f"{_root(request)}/console", status_code=303)
    set_session_cookie(response, token, settings, request)
    remember_device(response, request, settings, user.username)
    return response


@router.post("/logout")
async def logout(request: Request, state: StateDep) -> Response:
    """End the operator's session on the server, not only in this browser. (Staff
    sockets an admin opened with it close at their next re-check.)"""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await in_transaction(state, lambda session: auth.logout(session, token))
    response = RedirectResponse(f"{_root(request)}/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("", response_class=HTMLResponse)
def screens_page(request: Request, session: SessionDep) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    screens = service.screens_overview(session)
    groups: dict[str, list[str]] = defaultdict(list)
    zones: dict[str, list[str]] = defaultdict(list)
    for screen in screens:
        zones[screen["zone"]].append(screen["id"])
        for group in screen["groups"]:
            groups[group].append(screen["id"])
    return _page(
        request,
        "screens.html",
        user,
        screens=screens,
        groups=dict(sorted(groups.items())),
        zones=dict(sorted(zones.items())),
        today=date.today().isoformat(),
    )


@router.get("/creatives", response_class=HTMLResponse)
def creatives_page(request: Request, session: SessionDep) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    rows = session.exec(select(Creative).order_by(col(Creative.id))).all()
    creatives = [{"row": r, "url": service.media_url(r)} for r in rows]
    return _page(request, "creatives.html", user, creatives=creatives)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, state: StateDep, session: SessionDep) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    specs = service.plan_specs(session, state.plans)
    zones = sorted({s.zone for s in specs.screens.values()})
    groups = sorted({g for s in specs.screens.values() for g in s.groups})
    return _page(
        request,
        "campaigns.html",
        user,
        campaigns=specs.campaigns,
        creatives=sorted(specs.creatives),
        screens=sorted(specs.screens),
        zones=zones,
        groups=groups,
        days=DAY_NAMES,
        today=date.today().isoformat(),
    )


@router.get("/screens/{screen_id}/timeline", response_class=HTMLResponse)
def timeline_page(
    screen_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    day: Annotated[str | None, Query()] = None,
) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    try:
        when = date.fromisoformat(day) if day else date.today()
        view = service.timeline(
            session,
            screen_id,
            when,
            signals=live_signals(state),
            default_store=state.settings.store_id,
            plans=state.plans,
        )
    except ValueError:
        return _page(request, "console_error.html", user, message="day must be YYYY-MM-DD")
    except CaddieError as exc:
        return _page(request, "console_error.html", user, message=exc.message)
    return _page(request, "timeline.html", user, view=view)


def bar_chart(rows: list[dict[str, Any]]) -> Markup:
    """Booked vs delivered plays per campaign as an inline SVG (no script, no CDN)."""
    totals: dict[str, list[int]] = {}
    for row in rows:
        pair = totals.setdefault(row["campaign_id"], [0, 0])
        pair[0] += row["booked_plays"]
        pair[1] += row["delivered_plays"]
    if not totals:
        return Markup("<p class='muted'>No plays booked or delivered in this period.</p>")
    top = max(max(p) for p in totals.values()) or 1
    bar_h, gap, label_w, width = 14, 10, 140, 640
    plot_w = width - label_w - 70
    height = len(totals) * (2 * bar_h + gap) + 30
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' role='img' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' aria-label='booked vs delivered'>",
        "<rect x='0' y='0' width='12' height='10' fill='#9db4d8'/>"
        "<text x='16' y='10' font-size='11'>booked</text>"
        "<rect x='80' y='0' width='12' height='10' fill='#2f7d4f'/>"
        "<text x='96' y='10' font-size='11'>delivered</text>",
    ]
    y = 24
    for campaign_id, (booked, delivered) in sorted(totals.items()):
        label = escape(campaign_id)
        parts.append(f"<text x='0' y='{y + bar_h + 4}' font-size='12'>{label}</text>")
        for value, color, offset in ((booked, "#9db4d8", 0), (delivered, "#2f7d4f", bar_h)):
            w = max(1, round(plot_w * value / top)) if value else 0
            parts.append(
                f"<rect x='{label_w}' y='{y + offset}' width='{w}' height='{bar_h - 2}' "
                f"fill='{color}'><title>{label}: {value}</title></rect>"
                f"<text x='{label_w + w + 4}' y='{y + offset + bar_h - 4}' "
                f"font-size='11'>{value}</text>"
            )
        y += 2 * bar_h + gap
    parts.append("</svg>")
    return Markup("".join(parts))


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    campaign: str | None = None,
    screen: str | None = None,
) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    try:
        first = date.fromisoformat(start) if start else date.today()
        last = date.fromisoformat(end) if end else first
        rows = service.report(
            session,
            first=first,
            last=last,
            campaign_id=campaign or None,
            screen_id=screen or None,
            plans=state.plans,
        )
    except ValueError:
        return _page(request, "console_error.html", user, message="dates must be YYYY-MM-DD")
    except InvalidInput as exc:
        return _page(request, "console_error.html", user, message=exc.message)
    query = request.url.query
    return _page(
        request,
        "reports.html",
        user,
        rows=rows,
        chart=bar_chart(rows),
        first=first.isoformat(),
        last=last.isoformat(),
        campaign=campaign or "",
        screen=screen or "",
        csv_query=query,
    )


def _check_period(start: str | None, end: str | None) -> None:
    """``InvalidInput`` for a ``from``/``to`` that is not a date plans can cover, before
    any date arithmetic is done on it (``to=0001-01-01`` has no week before it)."""
    days = []
    for name, text in (("from", start), ("to", end)):
        if not text:
            continue
        try:
            days.append((name, date.fromisoformat(text)))
        except ValueError:
            message = f"{name}: must be a date YYYY-MM-DD, got {text[:20]!r}"
            raise InvalidInput(message, problems=[message]) from None
    service.check_days(*days)


@router.get("/attribution", response_class=HTMLResponse)
def attribution_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    campaign: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """Measured uplift of one campaign: interval, offers, revenue, chart, downloads."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    campaigns = attributable_campaigns(session)
    chosen = campaign or (campaigns[0] if campaigns else None)
    report = chart = None
    query = ""
    if chosen:
        try:
            _check_period(start, end)
            report = attribution_for(session, state, chosen, start, end)
        except CaddieError as exc:
            return _page(request, "console_error.html", user, message=exc.message)
        chart = Markup(render_chart_svg(report, timezone=state.settings.timezone))
        tz = ZoneInfo(state.settings.timezone)
        first = report.period_start.astimezone(tz).date()
        last = (report.period_end.astimezone(tz) - timedelta(seconds=1)).date()
        query = urlencode({"from": start or first.isoformat(), "to": end or last.isoformat()})
    return _page(
        request,
        "attribution.html",
        user,
        campaigns=campaigns,
        chosen=chosen,
        report=report,
        chart=chart,
        query=query,
        start=start or "",
        end=end or "",
    )
