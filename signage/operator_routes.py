"""Operator API for running the mall: campaign life cycle and history, creative
approval, screen health and screenshots, the calendar, and user accounts (admins).

Paths are relative to the signage app (mounted at ``/signage``). Every change to a
campaign goes through :mod:`signage.lifecycle` and is recorded in its history.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from signage import calendar, health, lifecycle, service
from signage.deps import CurrentOperator, CurrentScreen, SessionDep, StateDep
from signage.routes import _day
from store_server.auth import service as auth
from store_server.auth.models import ROLES, User
from store_server.body_limit import allow_body
from store_server.deps import error_responses as errors
from store_server.security import hash_password
from store_server.shared.errors import Conflict, Forbidden, InvalidInput
from store_server.timeutil import as_utc

router = APIRouter(tags=["signage operator"])
CHANGE_ERRORS = errors(401, 403, 404, 409, 422, 503)


# --------------------------------------------------------------------------- bodies


class CampaignEdit(BaseModel):
    """The fields of a booking to change, as a plan file writes them (others stay).
    ``null`` takes an optional field away (e.g. ``max_plays_per_hour``)."""

    model_config = ConfigDict(extra="forbid")

    advertiser: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=200)
    creatives: list[str] | None = Field(default=None, max_length=200)
    start: str | None = Field(default=None, max_length=20)
    end: str | None = Field(default=None, max_length=20)
    days: list[str] | None = Field(default=None, max_length=7)
    dayparts: list[list[str]] | None = Field(default=None, max_length=48)
    targets: dict[str, list[str]] | None = None
    priority: str | None = Field(default=None, max_length=16)
    share_of_voice: float | None = None
    max_plays_per_hour: int | None = None
    promoted_gtins: list[str] | None = Field(default=None, max_length=200)


class Flight(BaseModel):
    """A new first and/or last day (shorten, extend or move the flight)."""

    model_config = ConfigDict(extra="forbid")

    start: date | None = None
    end: date | None = None


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class CampaignChanged(BaseModel):
    id: str
    state: str
    action: str
    changes: dict[str, list[Any]]


class HistoryEvent(BaseModel):
    at: datetime
    actor: str
    action: str
    changes: dict[str, Any]


class CampaignDetail(BaseModel):
    entry: dict[str, Any]
    history: list[HistoryEvent]


class CreativeReview(BaseModel):
    id: str
    approval: Literal["pending", "approved", "refused"]
    reason: str | None
    reviewed_by: str | None
    reviewed_at: datetime | None


class Accepted(BaseModel):
    ok: bool = True


class UserOut(BaseModel):
    username: str
    role: str
    disabled: bool
    store_id: str | None


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=80)
    password: str = Field(max_length=256)
    role: str = Field(max_length=16)
    store_id: str | None = Field(default=None, max_length=64)


# --------------------------------------------------------------------------- campaigns


def _changed(row: Any, action: str, changes: dict[str, list[Any]]) -> CampaignChanged:
    return CampaignChanged(id=row.id, state=row.state, action=action, changes=changes)


@router.get("/api/campaigns/{campaign_id:path}/history", responses=errors(401, 403, 404, 422, 503))
def campaign_history(
    campaign_id: str, session: SessionDep, user: CurrentOperator
) -> list[HistoryEvent]:
    """Every change to the campaign, newest first: who, when, what (field → [old, new])."""
    lifecycle.one_entry(session, campaign_id)  # 404 for an unknown campaign
    return [
        HistoryEvent(at=as_utc(e.at), actor=e.actor, action=e.action, changes=e.changes)
        for e in lifecycle.history(session, campaign_id)
    ]


@router.post("/api/campaigns/{campaign_id:path}/flight", responses=CHANGE_ERRORS)
def campaign_flight(
    campaign_id: str, body: Flight, state: StateDep, user: CurrentOperator
) -> CampaignChanged:
    """Shorten, extend or move the flight, re-checked against guaranteed availability."""
    if body.start is None and body.end is None:
        raise InvalidInput("give a new start or end", problems=["start/end: both missing"])
    days = [(n, d) for n, d in (("start", body.start), ("end", body.end)) if d is not None]
    service.check_days(*days)
    with state.db.unit_of_work() as session:
        row, changes = lifecycle.move_flight(
            session,
            campaign_id,
            start=body.start,
            end=body.end,
            actor=user.username,
            timezone=state.settings.timezone,
        )
        events = lifecycle.history(session, campaign_id)
        action = events[0].action if changes and events else "unchanged"
        return _changed(row, action, changes)


def _state_route(action: Literal["pause", "resume", "cancel"]) -> Any:
    def change(campaign_id: str, state: StateDep, user: CurrentOperator) -> CampaignChanged:
        with state.db.unit_of_work() as session:
            row = lifecycle.set_state(
                session, campaign_id, action, actor=user.username, timezone=state.settings.timezone
            )
            events = lifecycle.history(session, campaign_id)
            return _changed(row, action, events[0].changes if events else {})

    change.__name__ = f"campaign_{action}"
    change.__doc__ = {
        "pause": "Stop playing a booked campaign; it keeps its guaranteed inventory.",
        "resume": "Play a paused campaign again (re-checked against availability).",
        "cancel": "Cancel a campaign for good: it plays no more and frees its inventory.",
    }[action]
    return change


for _action in ("pause", "resume", "cancel"):
    router.post(
        f"/api/campaigns/{{campaign_id:path}}/{_action}",
        responses=CHANGE_ERRORS,
        response_model=CampaignChanged,
    )(_state_route(_action))


@router.get("/api/campaigns/{campaign_id:path}", responses=errors(401, 403, 404, 422, 503))
def campaign_detail(campaign_id: str, session: SessionDep, user: CurrentOperator) -> CampaignDetail:
    """One campaign as the plan file writes it, with its history."""
    _row, entry = lifecycle.one_entry(session, campaign_id)
    events = [
        HistoryEvent(at=as_utc(e.at), actor=e.actor, action=e.action, changes=e.changes)
        for e in lifecycle.history(session, campaign_id)
    ]
    return CampaignDetail(entry=entry, history=events)


@router.patch("/api/campaigns/{campaign_id:path}", responses=CHANGE_ERRORS)
def campaign_edit(
    campaign_id: str,
    body: CampaignEdit,
    state: StateDep,
    user: CurrentOperator,
) -> CampaignChanged:
    """Change a booking's fields; refused with every problem (overbooking included)."""
    with state.db.unit_of_work() as session:
        row, changes = lifecycle.edit(
            session,
            campaign_id,
            body.model_dump(exclude_unset=True),
            actor=user.username,
            timezone=state.settings.timezone,
        )
        return _changed(row, "edit", changes)


# --------------------------------------------------------------------------- approval


def _review(row: Any) -> CreativeReview:
    return CreativeReview(
        id=row.id,
        approval=row.approval,
        reason=row.approval_reason,
        reviewed_by=row.reviewed_by,
        reviewed_at=as_utc(row.reviewed_at) if row.reviewed_at else None,
    )


@router.post("/api/creatives/{creative_id:path}/approve", responses=errors(401, 403, 404, 422, 503))
def approve_creative(creative_id: str, state: StateDep, user: CurrentOperator) -> CreativeReview:
    """Let the creative play."""
    with state.db.unit_of_work() as session:
        row = service.review_creative(
            session, creative_id, approved=True, reason=None, actor=user.username
        )
        return _review(row)


@router.post("/api/creatives/{creative_id:path}/refuse", responses=CHANGE_ERRORS)
def refuse_creative(
    creative_id: str, body: Refusal, state: StateDep, user: CurrentOperator
) -> CreativeReview:
    """Keep the creative off the screens, saying why (the advertiser reads it)."""
    with state.db.unit_of_work() as session:
        row = service.review_creative(
            session, creative_id, approved=False, reason=body.reason, actor=user.username
        )
        return _review(row)


# --------------------------------------------------------------------------- screen health


@router.post("/screens/{screen_id}/status", responses=errors(401, 403, 422, 503))
def player_status(
    screen_id: str, body: health.PlayerStatus, state: StateDep, screen: CurrentScreen
) -> Accepted:
    """A player's report on itself (screen token): version, loop in step, cache."""
    if screen.id != screen_id:
        raise Forbidden("this token belongs to another screen")
    with state.db.unit_of_work() as session:
        health.record_status(session, session.merge(screen), body)
    return Accepted()


@router.post("/screens/{screen_id}/screenshot", responses=errors(401, 403, 413, 422, 503))
async def player_screenshot(
    screen_id: str, request: Request, state: StateDep, screen: CurrentScreen
) -> Accepted:
    """A small JPEG (``image/jpeg`` body) of what the screen shows now (screen token)."""
    if screen.id != screen_id:
        raise Forbidden("this token belongs to another screen")
    limit = state.signage.max_screenshot_bytes
    if request.headers.get("content-type", "").split(";")[0].strip() != "image/jpeg":
        message = "send the screenshot as Content-Type: image/jpeg"
        raise InvalidInput(message, problems=[message])
    data = await allow_body(
        request, limit, message=f"the screenshot is larger than {limit} bytes"
    ).body()

    def save(session: Session) -> None:
        health.save_screenshot(session, session.merge(screen), data, settings=state.signage)

    await state.db.run(save)
    return Accepted()


@router.get("/api/screens/health", responses=errors(401, 403, 503))
def screens_health(
    state: StateDep, session: SessionDep, user: CurrentOperator
) -> list[dict[str, Any]]:
    """Each screen: online, last seen (store time), player version, loop, cache."""
    return [health.as_dict(h) for h in health.screens_health(session, settings=state.signage)]


@router.get("/api/screens/{screen_id}/screenshot.jpg", responses=errors(401, 403, 404, 422, 503))
def screen_screenshot(
    screen_id: str, state: StateDep, session: SessionDep, user: CurrentOperator
) -> Response:
    path = health.screenshot_path(session, screen_id, state.signage)
    return FileResponse(
        path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=30"}
    )


# --------------------------------------------------------------------------- calendar


@router.get("/api/calendar", responses=errors(401, 403, 422, 503))
def calendar_view(
    state: StateDep,
    session: SessionDep,
    user: CurrentOperator,
    start: Annotated[str | None, Query(alias="from")] = None,
    view: Literal["week", "month"] = "week",
) -> dict[str, Any]:
    """Bookings per screen group and per campaign, day by day, with free guaranteed
    slots per day."""
    first, days = calendar.period(_day(start, "from"), view)
    return calendar.as_dict(calendar.build(session, first, days, plans=state.plans))


# --------------------------------------------------------------------------- users (admin)


def current_admin(user: CurrentOperator) -> User:
    if user.role != "admin":
        raise Forbidden("managing users needs the admin role")
    return user


CurrentAdmin = Annotated[User, Depends(current_admin)]


def _user_out(user: User) -> UserOut:
    return UserOut(
        username=user.username, role=user.role, disabled=user.disabled, store_id=user.store_id
    )


@router.get("/api/users", responses=errors(401, 403, 503))
def list_users(session: SessionDep, admin: CurrentAdmin) -> list[UserOut]:
    return [_user_out(u) for u in session.exec(select(User).order_by(col(User.username))).all()]


@router.post("/api/users", status_code=201, responses=errors(401, 403, 409, 422, 503))
def create_user(body: NewUser, state: StateDep, admin: CurrentAdmin) -> UserOut:
    """A new account with a role (``ROLES``); its first password from the admin."""
    password_hash = hash_password(body.password)
    with state.db.unit_of_work() as session:
        user = auth.create_user(
            session,
            username=body.username.strip(),
            password=body.password,
            role=body.role,
            store_id=body.store_id or None,
            password_hash=password_hash,
        )
        return _user_out(user)


@router.post("/api/users/{username}/{action}", responses=errors(401, 403, 404, 409, 422, 503))
def enable_user(
    username: str,
    action: Literal["disable", "enable"],
    state: StateDep,
    admin: CurrentAdmin,
) -> UserOut:
    """Disable (every session ends) or enable an account; not one's own."""
    if username == admin.username:
        raise Conflict("you cannot disable or enable your own account")
    with state.db.unit_of_work() as session:
        return _user_out(auth.set_disabled(session, username, disabled=action == "disable"))


ROLE_NAMES = ROLES
