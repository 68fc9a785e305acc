"""Request dependencies: the session scope and the role of the caller."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlmodel import Session

from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.db import session_scope
from store_server.errors import Forbidden, Unauthorized
from store_server.state import ServerState

SESSION_COOKIE = "caddie_session"


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[str] | None = None


class ErrorReply(BaseModel):
    """What every CaddieError becomes over HTTP (``store_server.app.error_body``)."""

    error: ErrorDetail


class ValidationReply(BaseModel):
    """FastAPI's own answer to a body it cannot parse (400) or parameters or a body that
    fail validation (422)."""

    detail: list[dict[str, Any]] | str


# Declared on every API router so clients (and schemathesis) know the error answers:
# any route may refuse credentials, miss a resource, conflict, throttle or lose its
# database, and a 422 comes either from FastAPI's validation or from a CaddieError.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorReply | ValidationReply, "description": "Unparsable body"},
    401: {"model": ErrorReply, "description": "Missing, unknown or revoked credentials"},
    403: {"model": ErrorReply, "description": "These credentials may not do this"},
    404: {"model": ErrorReply, "description": "No such resource"},
    409: {"model": ErrorReply, "description": "Conflicts with the current state"},
    422: {"model": ErrorReply | ValidationReply, "description": "Malformed input"},
    429: {"model": ErrorReply, "description": "Too many requests"},
    503: {"model": ErrorReply, "description": "The database is unavailable; retry"},
}


def _json_schema(status: int | str) -> dict[str, Any]:
    refs = ["ErrorReply", "ValidationReply"] if status in (400, 422) else ["ErrorReply"]
    return {"anyOf": [{"$ref": f"#/components/schemas/{r}"} for r in refs]}


# For routes whose success is not JSON (a text receipt): their errors still are, and
# FastAPI would otherwise document them with the route's own media type.
JSON_ERRORS_OF_NON_JSON_ROUTE: dict[int | str, dict[str, Any]] = {
    status: {
        "description": spec["description"],
        "content": {"application/json": {"schema": _json_schema(status)}},
    }
    for status, spec in ERROR_RESPONSES.items()
}


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
