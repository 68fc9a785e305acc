"""Request dependencies: the session scope and the role of the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.db import session_scope
from store_server.errors import Forbidden, Unauthorized
from store_server.state import ServerState

SESSION_COOKIE = "caddie_session"


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.caddie
    return state


def get_session(request: Request) -> Iterator[Session]:
    with session_scope(get_state(request).engine) as session:
        yield session


StateDep = Annotated[ServerState, Depends(get_state)]
SessionDep = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie
    raise Unauthorized("log in first (Authorization: Bearer <token>)")


def current_user(request: Request, session: SessionDep) -> User:
    return auth.user_for_token(session, bearer_token(request))


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return user

    return check


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(require_role("admin"))]
CurrentStaff = Annotated[User, Depends(require_role("staff", "admin"))]
CurrentOperator = Annotated[User, Depends(require_role("operator", "admin"))]
