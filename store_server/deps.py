"""Request dependencies: the request's reading session and the role of the caller."""

from __future__ import annotations

import hmac
import math
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlmodel import Session

from store_server.auth import known_devices
from store_server.auth import service as auth
from store_server.auth.models import User
from store_server.config import Settings
from store_server.ratelimit import RateLimiter
from store_server.security import SESSION_COOKIE, hash_token
from store_server.shared.errors import Forbidden, RateLimited, Unauthorized
from store_server.state import ServerState


def cookies_secure(settings: Settings, request: Request | None) -> bool:
    """Whether a cookie set now must carry ``Secure`` (never sent over plain http): when
    the request came over https, directly or through a proxy whose ``X-Forwarded-Proto``
    uvicorn trusts (``FORWARDED_ALLOW_IPS``, 127.0.0.1 by default), and on every request
    when ``CADDIE_SECURE_COOKIES`` (default: on in production) says so. Plain http on
    localhost (the demo, tests) keeps working outside production."""
    over_https = request is not None and request.url.scheme in ("https", "wss")
    return over_https or settings.cookies_always_secure


def set_session_cookie(
    response: Response, token: str, settings: Settings, request: Request | None
) -> None:
    """The session a login opened, as the cookie the consoles and the API read back:
    out of scripts' reach, never sent by another site, gone when the session ends, and
    kept off plain http when the login came over https (pass ``request`` for that)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookies_secure(settings, request),
        max_age=settings.session_hours * 3600,
    )


def known_device(request: Request, settings: Settings, username: str) -> str | None:
    """This browser's known-device tag for ``username`` (``auth.known_devices``)."""
    cookie = request.cookies.get(known_devices.DEVICE_COOKIE)
    return known_devices.known_tag(cookie, username, settings.secret_key)


def remember_device(
    response: Response, request: Request, settings: Settings, username: str
) -> None:
    """After a successful login: this browser is known for ``username`` from now on."""
    cookie = request.cookies.get(known_devices.DEVICE_COOKIE)
    response.set_cookie(
        known_devices.DEVICE_COOKIE,
        known_devices.remember(cookie, username, settings.secret_key),
        httponly=True,
        samesite="strict",
        secure=cookies_secure(settings, request),
        max_age=known_devices.DEVICE_COOKIE_SECONDS,
    )


class ErrorDetail(BaseModel):
    code: str
    message: str
    problems: list[str] | None = None


class ErrorReply(BaseModel):
    """Every error over HTTP (``store_server.http_errors``): a CaddieError, a request
    that fails validation, or a refusal of the framework itself."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Unparsable body",
    401: "Missing, unknown or revoked credentials",
    403: "These credentials may not do this",
    404: "No such resource",
    409: "Conflicts with the current state",
    413: "The request body is larger than this route takes",
    415: "The body's Content-Type is not one this route takes",
    422: "Malformed input: each problem names its field",
    429: "Too many requests; retry after Retry-After seconds",
    503: "The database is unavailable; retry",
}
RETRY_AFTER_HEADER: dict[str, Any] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring the error replies a route may give, each with the
    one error body."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        spec: dict[str, Any] = {"model": ErrorReply, "description": ERROR_DESCRIPTIONS[status]}
        if status == 429:
            spec["headers"] = RETRY_AFTER_HEADER
        responses[status] = spec
    return responses


# Declared on every API router so clients (and schemathesis) know the error answers:
# any route may refuse credentials, miss a resource, conflict, refuse a body over its
# limit, throttle or lose its database, and a 422 comes either from FastAPI's
# validation or from a CaddieError.
ERROR_RESPONSES = error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503)


# For routes whose success is not JSON (a text receipt): their errors still are, and
# FastAPI would otherwise document them with the route's own media type.
def json_errors_of_non_json_route(
    responses: dict[int | str, dict[str, Any]],
) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {}
    for status, spec in responses.items():
        out[status] = {
            "description": spec["description"],
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ErrorReply"}}
            },
            **({"headers": spec["headers"]} if "headers" in spec else {}),
        }
    return out


JSON_ERRORS_OF_NON_JSON_ROUTE = json_errors_of_non_json_route(ERROR_RESPONSES)


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.caddie
    return state


def get_session(request: Request) -> Iterator[Session]:
    with get_state(request).db.reading() as session:
        yield session


StateDep = Annotated[ServerState, Depends(get_state)]
# The request's reads (who is calling, what to show). It refuses writes: a route writes
# in a unit of work, ``await state.db.run(work)`` (or, in a plain ``def`` route, ``with
# state.db.unit_of_work() as session``), committed before the reply is sent.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


# Declared on every route that reads a token, so /docs shows an Authorize button and a
# lock on each such route. auto_error=False: the cookie session of the consoles counts
# too, and refusals keep Caddie's own error body.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A login token (POST /api/auth/login), a POS till's token or a device token.",
)
BearerScheme = Security(BEARER)


def bearer_token(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, BearerScheme] = None,
) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie
    raise Unauthorized("log in first (Authorization: Bearer <token>)")


def current_user(session: SessionDep, token: Annotated[str, Depends(bearer_token)]) -> User:
    return auth.user_for_token(session, token)


def require_role(*roles: str):  # type: ignore[no-untyped-def]
    def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in roles:
            raise Forbidden(f"this needs the {' or '.join(roles)} role")
        return user

    return check


async def metrics_reader(request: Request) -> None:
    """``/metrics`` is for monitoring: Prometheus with ``CADDIE_METRICS_TOKEN`` as its
    bearer token, or an admin's session. Anyone else learns nothing (401, or 403 for
    another role), not even how busy the store is."""
    state = get_state(request)
    token = bearer_token(request)
    expected = state.settings.metrics_token
    # Compared as digests: constant time, and any header text (not only ASCII) compares.
    if expected is not None and hmac.compare_digest(
        hash_token(token), hash_token(expected.get_secret_value())
    ):
        return
    user = await state.db.run(lambda session: auth.user_for_token(session, token))
    if user.role != "admin":
        raise Forbidden("metrics need the metrics token or the admin role")


CurrentUser = Annotated[User, Depends(current_user)]
CurrentAdmin = Annotated[User, Depends(require_role("admin"))]
CurrentStaff = Annotated[User, Depends(require_role("staff", "admin"))]
CurrentOperator = Annotated[User, Depends(require_role("operator", "admin"))]


def caller_key(request: Request) -> str:
    """Whose budget a request spends: its bearer token or session cookie (hashed: the
    limiter need not hold secrets), else the client's address."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    token = value.strip() if scheme.lower() == "bearer" else ""
    token = token or request.cookies.get(SESSION_COOKIE, "")
    if token:
        return "token:" + hash_token(token[:512])
    client = request.client.host if request.client else "?"
    return "address:" + client


async def spend_request_budget(request: Request) -> None:
    """Refuse (429, ``rate_limited``, ``Retry-After``) a caller over its budget.

    Runs on the event loop, before authentication: a throttled caller costs no
    database work."""
    limiter: RateLimiter = request.app.state.api_limiter
    wait = limiter.check(caller_key(request))
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise RateLimited(
            f"too many requests with these credentials; retry in {seconds} s",
            retry_after=seconds,
        )


# On routes (``dependencies=[RATE_LIMITED]``): the staff console and POS APIs.
RATE_LIMITED = Depends(spend_request_budget)
