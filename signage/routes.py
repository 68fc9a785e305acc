"""Signage JSON API: the screen player API (PROTOCOL.md) and the operator API.

Paths are relative to the signage app, which is mounted at ``/signage``.
Player: ``GET /screens/{id}/loop``, ``POST /proof-of-play``. Operator (operator or
admin login): ``/api/screens``, ``/api/creatives``, ``/api/availability``,
``/api/campaigns``, ``/api/screens/{id}/timeline``, ``/api/reports`` (+ ``.csv``).
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import Response
from sqlmodel import Session, col, select

from signage import lifecycle, reports, service
from signage.attribution import (
    AttributionReport,
    report_to_json,
    reports_to_csv,
    series_to_csv,
)
from signage.attribution.service import campaign_attribution
from signage.deps import (
    CurrentOperator,
    CurrentScreen,
    SessionDep,
    SignageState,
    StateDep,
    screen_or_operator,
)
from signage.models import Creative, Screen
from signage.proof_of_play import PlaysRecorded, record_plays
from store_server import client_json
from store_server.body_limit import JSON_BODY_LIMIT, MULTIPART_OVERHEAD, allow_body
from store_server.deps import error_responses as errors
from store_server.metrics import record_plays as count_plays
from store_server.shared.errors import InvalidInput
from store_server.timeutil import utcnow
from store_server.websec import require_media_type

router = APIRouter(tags=["signage"])
# Every route answers errors with the one error body (store_server.http_errors): 401/403
# for missing or wrong credentials, 422 for malformed input (parameters included), 503
# while the database is unreachable; 404 where a path names a screen or campaign.
OPERATOR_ERRORS = errors(401, 403, 503)
REPORT_ERRORS = errors(401, 403, 404, 422, 503)
# Room for one proof-of-play entry: ~200 bytes of JSON, ten times over for long ids.
PLAY_BYTES = 2_000


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _day(value: str | None, name: str = "day") -> date:
    """A date parameter, refused (422) unless plans can cover it, before any date
    arithmetic is done on it (``to=0001-01-01`` has no week before it)."""
    if value is None:
        return date.today()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        message = f"{name}: must be a date YYYY-MM-DD, got {value[:20]!r}"
        raise InvalidInput(message, problems=[message]) from None
    service.check_days((name, day))
    return day


async def _json_body(request: Request, limit: int, *, message: str | None = None) -> object:
    """The body's JSON value, read within ``limit`` bytes (413 past it); 415 unless it is
    sent as JSON (``websec.require_media_type``)."""
    require_media_type(request, "json")
    raw = await allow_body(request, limit, message=message).body()
    try:
        return client_json.loads(raw or b"null")
    except client_json.ClientJSONError as exc:
        problem = f"the body is not valid JSON: {exc.reason}"
        raise InvalidInput(problem, problems=[problem]) from None


# --------------------------------------------------------------------------- player API


def live_signals(state: SignageState) -> service.SignalSource:
    """The stores' signals as they are now, read from this process's board.

    Read at request time (not the requested ``at``): the board only knows the present,
    and a loop fetched during the last slot of the one before it is about to play."""
    now = utcnow()
    return lambda stores: state.board.current_signals(stores, at=now)


@router.get("/screens/{screen_id}/loop", responses=errors(401, 403, 404, 422, 503))
def screen_loop(
    screen_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    at: Annotated[str | None, Query(description="ISO-8601 instant with offset")] = None,
) -> dict[str, Any]:
    """The loop that plays on the screen at ``at`` (default now), slots in play order."""
    caller = screen_or_operator(screen_id, request, session)
    instant = service.parse_instant(at)
    view = service.loop_view(
        session,
        screen_id,
        instant,
        signals=live_signals(state),
        default_store=state.settings.store_id,
        plans=state.plans,
    )
    if isinstance(caller, Screen) and service.due_for_touch(caller):
        with state.db.unit_of_work() as writing:
            screen = writing.get(Screen, caller.id)
            if screen is not None:
                service.touch(writing, screen)
    return view


@router.post("/proof-of-play", responses=errors(401, 403, 415, 422, 503))
async def proof_of_play(request: Request, state: StateDep, screen: CurrentScreen) -> dict[str, int]:
    """Store a batch of plays, idempotent by ``play_id``; a malformed batch is refused
    whole. Plays this screen's schedule could not have played are counted in
    ``rejected`` (and on the operator's screens page), not stored."""
    most = state.signage.max_plays_per_batch
    limit = most * PLAY_BYTES
    body = await _json_body(
        request,
        limit,
        message=f"the body is larger than {limit} bytes, the limit for a batch of {most} plays",
    )

    def record(session: Session) -> PlaysRecorded:
        # This transaction's own copy of the screen: recording also notes when it called.
        here = session.merge(screen)
        return record_plays(
            session,
            here,
            body,
            max_batch=most,
            max_age=timedelta(hours=state.signage.max_play_age_hours),
            plans=state.plans,
        )

    done = await state.db.run(record)
    count_plays(done.accepted)
    return {"accepted": done.accepted, "duplicates": done.duplicates, "rejected": done.rejected}


# --------------------------------------------------------------------------- operator API


@router.get("/api/screens", responses=OPERATOR_ERRORS)
def list_screens(session: SessionDep, user: CurrentOperator) -> list[dict[str, Any]]:
    return service.screens_overview(session)


def creative_public(row: Creative) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "media": row.media,
        "media_url": service.media_url(row),
        "content_type": row.content_type,
        "size_bytes": row.size_bytes,
        "duration_s": row.duration_s,
        "sha256": row.sha256,
        "approval": row.approval,
        "approval_reason": row.approval_reason,
        "reviewed_by": row.reviewed_by,
    }


@router.get("/api/creatives", responses=OPERATOR_ERRORS)
def list_creatives(session: SessionDep, user: CurrentOperator) -> list[dict[str, Any]]:
    rows = session.exec(select(Creative).order_by(col(Creative.id))).all()
    return [creative_public(r) for r in rows]


@router.post("/api/creatives", status_code=201, responses=errors(400, 401, 403, 422, 503))
async def upload_creative(
    request: Request, state: StateDep, user: CurrentOperator
) -> dict[str, Any]:
    """Multipart: ``id``, ``file``, ``duration_s`` and optional targets to check slot length."""
    limit = state.signage.max_upload_bytes
    reader = allow_body(
        request,
        limit + MULTIPART_OVERHEAD,
        message=f"the upload is larger than the limit of {limit} bytes",
    )
    form = await reader.form(max_files=1, max_fields=20)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
        raise InvalidInput("file: choose a file to upload", problems=["file: missing"])
    # Whole (the body limit bounds it), so a file over the limit is refused with its size.
    data = await upload.read()  # type: ignore[union-attr]
    duration_text = str(form.get("duration_s") or "").strip()
    try:
        duration = float(duration_text) if duration_text else None
    except ValueError:
        duration = -1.0
    targets = {
        "zones": _split(str(form.get("zones") or "")),
        "groups": _split(str(form.get("groups") or "")),
        "screens": _split(str(form.get("screens") or "")),
    }

    def save(session: Session) -> dict[str, Any]:
        row = service.save_upload(
            session,
            creative_id=str(form.get("id") or "").strip(),
            data=data,
            file_name=getattr(upload, "filename", None),
            duration_s=duration,
            targets=targets,
            settings=state.signage,
        )
        return creative_public(row)

    return await state.db.run(save)


@router.get("/api/availability", responses=errors(401, 403, 422, 503))
def availability(
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    day: str,
    start: str = "00:00",
    end: str = "24:00",
    zones: str | None = None,
    groups: str | None = None,
    screens: str | None = None,
    exclude: str | None = None,
) -> list[dict[str, Any]]:
    """Guaranteed slots per loop still free on the targeted screens for a weekly window."""
    return service.availability(
        session,
        targets={"zones": _split(zones), "groups": _split(groups), "screens": _split(screens)},
        day=day,
        start=start,
        end=end,
        exclude=exclude,
        plans=state.plans,
    )


@router.post("/api/campaigns", status_code=201, responses=errors(401, 403, 409, 415, 422, 503))
async def book_campaign(request: Request, state: StateDep, user: CurrentOperator) -> dict[str, Any]:
    """Book a new campaign; refused with every problem, overbooking included; an id
    already booked is a conflict (409: change it with ``PATCH /api/campaigns/{id}``)."""
    body = await _json_body(request, JSON_BODY_LIMIT)

    def book(session: Session) -> dict[str, Any]:
        row = lifecycle.book(session, body, actor=user.username, timezone=state.settings.timezone)
        return {"id": row.id, "state": row.state, "priority": row.priority}

    return await state.db.run(book)


@router.get("/api/campaigns", responses=OPERATOR_ERRORS)
def list_campaigns(
    state: StateDep, session: SessionDep, user: CurrentOperator
) -> list[dict[str, Any]]:
    specs = service.plan_specs(session, state.plans)
    return [
        {
            "id": c.id,
            "advertiser": c.advertiser,
            "category": c.category,
            "priority": c.priority,
            "share_of_voice": c.share_of_voice,
            "state": c.state,
            "start": c.start.isoformat(),
            "end": c.end.isoformat(),
            "creatives": list(c.creatives),
            "targets": c.targets.label(),
        }
        for c in specs.campaigns
    ]


@router.get("/api/screens/{screen_id}/timeline", responses=errors(401, 403, 404, 422, 503))
def screen_timeline(
    screen_id: str,
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    day: str | None = None,
) -> dict[str, Any]:
    return service.timeline(
        session,
        screen_id,
        _day(day),
        signals=live_signals(state),
        default_store=state.settings.store_id,
        plans=state.plans,
    )


def _report(
    state: SignageState,
    session: Any,
    start: str | None,
    end: str | None,
    campaign: str | None,
    screen: str | None,
    group: reports.Group,
    advertiser: str | None = None,
) -> list[dict[str, Any]]:
    first = _day(start, "from")
    last = _day(end, "to") if end else first
    return reports.report(
        session,
        first=first,
        last=last,
        group=group,
        campaign_id=campaign or None,
        screen_id=screen or None,
        advertiser=advertiser or None,
        plans=state.plans,
    )


@router.get("/api/reports", responses=errors(401, 403, 422, 503))
def report_rows(
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    campaign: str | None = None,
    screen: str | None = None,
    advertiser: str | None = None,
    group: reports.Group = "day",
) -> list[dict[str, Any]]:
    """Booked (whole day and so far) against delivered plays: per day and screen (up to
    31 days), per screen or per campaign (up to 366 days); shares in percent."""
    return _report(state, session, start, end, campaign, screen, group, advertiser)


@router.get("/api/reports.csv", responses=errors(401, 403, 422, 503))
def reports_csv(
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    campaign: str | None = None,
    screen: str | None = None,
    advertiser: str | None = None,
    group: reports.Group = "day",
) -> Response:
    """The report as CSV: every share in percent (``*_pct``), empty where undefined."""
    rows = _report(state, session, start, end, campaign, screen, group, advertiser)
    names = reports.columns(group)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row[k] is None else row[k] for k in names})
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="proof-of-play.csv"'},
    )


# --------------------------------------------------------------------------- attribution


def attribution_for(
    session: Any, state: SignageState, campaign_id: str, start: str | None, end: str | None
) -> AttributionReport:
    """One campaign's report over ``from``…``to`` (default: the last 7 days)."""
    last = _day(end, "to")
    first = _day(start, "from") if start else last - timedelta(days=6)
    return campaign_attribution(
        session,
        campaign_id,
        first=first,
        last=last,
        timezone=state.settings.timezone,
        default_store=state.settings.store_id,
        min_count=state.settings.signals.min_count,
    )


def _download(body: str, media_type: str, name: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def requested_report(
    campaign_id: str,
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> AttributionReport:
    """The report an export route asks for (operator role; ``from``/``to`` dates)."""
    return attribution_for(session, state, campaign_id, start, end)


ReportDep = Annotated[AttributionReport, Depends(requested_report)]


@router.get("/api/attribution/{campaign_id}.json", responses=REPORT_ERRORS)
def attribution_json(campaign_id: str, report: ReportDep) -> Response:
    """Uplift, its interval, offer acceptance and incremental revenue, as JSON."""
    return _download(
        report_to_json(report), "application/json", f"attribution-{_safe(campaign_id)}.json"
    )


@router.get("/api/attribution/{campaign_id}.csv", responses=REPORT_ERRORS)
def attribution_csv(campaign_id: str, report: ReportDep) -> Response:
    """The summary row of the report (``reports_to_csv``)."""
    return _download(
        reports_to_csv([report]), "text/csv; charset=utf-8", f"attribution-{_safe(campaign_id)}.csv"
    )


@router.get("/api/attribution/{campaign_id}/series.csv", responses=REPORT_ERRORS)
def attribution_series_csv(campaign_id: str, report: ReportDep) -> Response:
    """The chart's hourly plays, scans and expected scans."""
    return _download(
        series_to_csv(report),
        "text/csv; charset=utf-8",
        f"attribution-{_safe(campaign_id)}-hourly.csv",
    )


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:80]
