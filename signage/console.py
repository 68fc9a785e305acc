"""The operator console: server-rendered pages over the operator API.

Login reuses ``POST /api/auth/login`` (its ``caddie_session`` cookie); every page
needs the operator or admin role, checked here on each request. The pages' small
scripts (``static/signage/console.js``) call the operator JSON API for uploads,
live availability and bookings, and show refusals in the page.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool

from signage import calendar, lifecycle, reports, service
from signage.attribution import render_chart_svg
from signage.attribution.service import attributable_campaigns
from signage.deps import (
    OPERATOR_ROLES,
    SESSION_COOKIE,
    SessionDep,
    StateDep,
    _operator_from,
)
from signage.health import local_time, offline_alerts, screens_health
from signage.models import Creative
from signage.player import templates
from signage.routes import attribution_for, live_signals
from signage.scheduling.model import DAY_NAMES
from store_server.auth import service as auth
from store_server.auth.models import ROLES, User
from store_server.deps import known_device, remember_device, set_session_cookie
from store_server.shared.errors import (
    CaddieError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    shown,
)
from store_server.timeutil import utcnow

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


def _page(
    request: Request, name: str, user: User, status_code: int = 200, **context: Any
) -> Response:
    context.setdefault("page", name.removesuffix(".html"))
    return templates.TemplateResponse(
        request,
        f"signage/{name}",
        {"root": _root(request), "user": user, **context},
        status_code=status_code,
    )


def _error(request: Request, user: User, exc: CaddieError, back: str = "") -> Response:
    """A refusal shown in the console, with the operator still logged in."""
    return _page(
        request,
        "console_error.html",
        user,
        status_code=exc.http_status,
        message=exc.message,
        back=back or f"{_root(request)}/console",
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, bye: int = 0) -> Response:
    return templates.TemplateResponse(
        request, "signage/login.html", {"root": _root(request), "user": None, "logged_out": bye}
    )


@router.post("/logout")
def logout(request: Request, state: StateDep) -> Response:
    """End this browser's session (the header's Log out button) and forget its cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with state.db.unit_of_work() as session:
            auth.logout(session, token)
    response = RedirectResponse(f"{_root(request)}/console/login?bye=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


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
            state.db,
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


@router.get("", response_class=HTMLResponse)
def screens_page(request: Request, state: StateDep, session: SessionDep) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    screens = service.screens_overview(session)
    signage = state.signage
    health_rows = {h.id: h for h in screens_health(session, settings=signage)}
    alerts = offline_alerts(
        list(health_rows.values()), threshold_minutes=signage.offline_alert_minutes
    )
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
        health=health_rows,
        alerts=alerts,
        threshold=signage.offline_alert_minutes,
        timezone=state.settings.timezone,
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
    pending = sum(1 for r in rows if r.approval == "pending")
    return _page(request, "creatives.html", user, creatives=creatives, pending=pending)


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, state: StateDep, session: SessionDep) -> Response:
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    specs = service.plan_specs(session, state.plans)
    return _page(
        request,
        "campaigns.html",
        user,
        campaigns=specs.campaigns,
        **_booking_choices(specs),
    )


def _booking_choices(specs: service.Specs) -> dict[str, Any]:
    """What the booking and edit forms offer: creatives, screens, zones, groups, days."""
    return {
        "creatives": sorted(specs.creatives),
        "screens": sorted(specs.screens),
        "zones": sorted({s.zone for s in specs.screens.values()}),
        "groups": sorted({g for s in specs.screens.values() for g in s.groups}),
        "days": DAY_NAMES,
        "today": date.today().isoformat(),
    }


@router.get("/campaigns/{campaign_id:path}", response_class=HTMLResponse)
def campaign_page(
    campaign_id: str, request: Request, state: StateDep, session: SessionDep
) -> Response:
    """One campaign: pause, resume, shorten, extend, cancel, edit, and its history."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    try:
        _row, entry = lifecycle.one_entry(session, campaign_id)
    except CaddieError as exc:
        return _error(request, user, exc, back=f"{_root(request)}/console/campaigns")
    now = utcnow()
    timezone = state.settings.timezone
    history = [
        {
            "action": e.action,
            "actor": e.actor,
            "when": local_time(e.at, timezone, now),
            "changes": e.changes,
        }
        for e in lifecycle.history(session, campaign_id)
    ]
    specs = service.plan_specs(session, state.plans)
    return _page(
        request,
        "campaign.html",
        user,
        page="campaigns",
        entry=entry,
        history=history,
        **_booking_choices(specs),
    )


@router.get("/calendar", response_class=HTMLResponse)
def calendar_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    view: str = "week",
) -> Response:
    """Bookings per screen group and per campaign for a week or a month, free slots per day."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    try:
        _check_period(start, None)
        day = date.fromisoformat(start) if start else date.today()
        kind: Literal["week", "month"] = "month" if view == "month" else "week"
        first, length = calendar.period(day, kind)
        view_of = calendar.build(session, first, length, plans=state.plans)
    except CaddieError as exc:
        return _error(request, user, exc, back=f"{_root(request)}/console/calendar")
    return _page(request, "calendar.html", user, cal=view_of, view=kind)


@router.get("/users", response_class=HTMLResponse)
def users_page(request: Request, session: SessionDep) -> Response:
    """Accounts and their roles (admins only): create, disable, enable."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    if user.role != "admin":
        return _error(request, user, Forbidden("managing users needs the admin role"))
    users = session.exec(select(User).order_by(col(User.username))).all()
    return _page(request, "users.html", user, users=users, roles=ROLES)


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
    """Plays booked so far against delivered, per campaign, as an inline SVG (no script)."""
    totals = {
        cid: (pair["booked_so_far"], pair["delivered"])
        for cid, pair in reports.totals(rows).items()
    }
    if not any(b or d for b, d in totals.values()):
        return Markup("<p class='muted'>No plays booked or delivered in this period.</p>")
    top = max(max(p) for p in totals.values()) or 1
    bar_h, gap, label_w, width = 14, 10, 140, 640
    plot_w = width - label_w - 70
    height = len(totals) * (2 * bar_h + gap) + 30
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart' role='img' width='{width}' "
        f"height='{height}' viewBox='0 0 {width} {height}' "
        "aria-label='plays booked so far against delivered'>",
        "<rect x='0' y='0' width='12' height='10' fill='#9db4d8'/>"
        "<text x='16' y='10' font-size='11'>booked so far</text>"
        "<rect x='110' y='0' width='12' height='10' fill='#2f7d4f'/>"
        "<text x='126' y='10' font-size='11'>delivered</text>",
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


def _report_period(start: str | None, end: str | None) -> tuple[date, date]:
    _check_period(start, end)
    first = date.fromisoformat(start) if start else date.today()
    return first, date.fromisoformat(end) if end else first


@router.get("/reports", response_class=HTMLResponse)
def reports_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    campaign: str | None = None,
    screen: str | None = None,
    group: str = "day",
) -> Response:
    """Booked against delivered plays; a refused period is shown on the page itself."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    grouping: reports.Group = group if group in ("day", "screen", "campaign") else "day"  # type: ignore[assignment]
    rows: list[dict[str, Any]] = []
    error: list[str] = []
    first_text, last_text = start or date.today().isoformat(), end or start or ""
    try:
        first, last = _report_period(start, end)
        first_text, last_text = first.isoformat(), last.isoformat()
        rows = reports.report(
            session,
            first=first,
            last=last,
            group=grouping,
            campaign_id=campaign or None,
            screen_id=screen or None,
            plans=state.plans,
        )
    except InvalidInput as exc:
        error = [str(p) for p in exc.details.get("problems") or [exc.message]]  # type: ignore[union-attr]
    specs = service.plan_specs(session, state.plans)
    return _page(
        request,
        "reports.html",
        user,
        rows=rows,
        error=error,
        chart=bar_chart(rows),
        first=first_text,
        last=last_text,
        group=grouping,
        campaign=campaign or "",
        screen=screen or "",
        csv_query=request.url.query,
        advertisers=sorted(set(specs.advertisers.values())),
    )


@router.get("/reports/advertiser", response_class=HTMLResponse)
def advertiser_report_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    advertiser: str = "",
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """A print-ready proof-of-play report for one advertiser (print, or save as PDF)."""
    user = _who(request, session)
    if isinstance(user, Response):
        return user
    back = f"{_root(request)}/console/reports"
    specs = service.plan_specs(session, state.plans)
    if advertiser not in set(specs.advertisers.values()):
        return _error(request, user, NotFound(f"no advertiser {shown(advertiser)}"), back)
    try:
        first, last = _report_period(start, end)
        options: dict[str, Any] = {"first": first, "last": last, "advertiser": advertiser}
        campaigns = reports.report(session, group="campaign", plans=state.plans, **options)
        by_screen = reports.report(session, group="screen", plans=state.plans, **options)
    except CaddieError as exc:
        return _error(request, user, exc, back)
    airtime = reports.airtime(
        session, first=first, last=last, campaigns=[r["campaign_id"] for r in campaigns]
    )
    timezone = state.settings.timezone
    return _page(
        request,
        "advertiser_report.html",
        user,
        page="reports",
        advertiser=advertiser,
        first=first.isoformat(),
        last=last.isoformat(),
        timezone=timezone,
        campaigns=campaigns,
        by_screen=[r for r in by_screen if r["booked_so_far"] or r["delivered_plays"]],
        screens=len({r["screen_id"] for r in by_screen if r["delivered_plays"]}),
        airtime=airtime,
        prepared=utcnow().astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M"),
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
