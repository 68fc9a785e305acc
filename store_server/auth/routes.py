"""Login and logout for staff, operators and admins."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from store_server.auth import service
from store_server.deps import (
    ERROR_RESPONSES,
    SESSION_COOKIE,
    CurrentUser,
    StateDep,
    bearer_token,
    known_device,
    remember_device,
    set_session_cookie,
)
from store_server.state import ServerState

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=ERROR_RESPONSES)
# Announcements that a login session ended (``{"event": "session.revoked", "user_id"}``):
# sockets opened with one of that user's sessions re-check theirs.
SESSIONS_CHANNEL = "sessions"


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=80)
    password: str = Field(min_length=1, max_length=256)


class LoginReply(BaseModel):
    token: str
    role: str
    username: str


class Me(BaseModel):
    username: str
    role: str
    store_id: str | None


@router.post("/login", response_model=LoginReply)
def login(body: LoginBody, request: Request, state: StateDep, response: Response) -> LoginReply:
    token, user = service.log_in(
        state.db,
        username=body.username,
        password=body.password,
        hours=state.settings.session_hours,
        attempts_per_minute=state.settings.login_attempts_per_minute,
        known_device=known_device(request, state.settings, body.username),
    )
    set_session_cookie(response, token, state.settings, request)
    remember_device(response, request, state.settings, user.username)
    return LoginReply(token=token, role=user.role, username=user.username)


@router.post("/logout", status_code=204)
async def logout(request: Request, user: CurrentUser, state: StateDep, response: Response) -> None:
    await end_session(state, bearer_token(request))
    response.delete_cookie(SESSION_COOKIE)


async def end_session(state: ServerState, token: str) -> None:
    """Revoke the session of ``token``, then announce it on the event bus (once committed)
    so that every server process closes the live sockets opened with it at once."""
    user_id = await state.db.run(lambda s: service.logout(s, token))
    if user_id is not None:
        await state.events.publish(
            SESSIONS_CHANNEL, {"event": "session.revoked", "user_id": user_id}
        )


@router.get("/me", response_model=Me)
def me(user: CurrentUser) -> Me:
    return Me(username=user.username, role=user.role, store_id=user.store_id)
