"""The one JSON error body every Caddie HTTP app answers with.

``{"error": {"code", "message", "problems"?}}``, whether the error is a
:class:`~store_server.shared.errors.CaddieError` raised by a service, a request the framework
could not validate (wrong types, missing fields, a body that is not JSON), or one of the
framework's own refusals (unknown path, wrong method). Clients then read one shape,
whichever layer refused them, and no reply echoes the rejected input or the framework's
internals.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from store_server.logging_setup import request_id_var
from store_server.shared.errors import BadMessage, CaddieError, InvalidInput, Unavailable

log = logging.getLogger(__name__)

MAX_PROBLEMS = 20
MAX_PROBLEM_CHARS = 200

# The framework's own refusals, by status, as protocol-style codes.
_HTTP_CODES = {
    400: "bad_message",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_body(exc: CaddieError) -> dict[str, object]:
    body: dict[str, object] = {"code": exc.code, "message": exc.message}
    problems = exc.details.get("problems")
    if problems:
        body["problems"] = problems
    return {"error": body}


def error_response(exc: CaddieError) -> JSONResponse:
    """The reply for ``exc``; a throttled caller also learns when to retry."""
    headers = None
    retry_after = exc.details.get("retry_after")
    if isinstance(retry_after, int | float):
        headers = {"Retry-After": str(max(1, math.ceil(retry_after)))}
    return JSONResponse(error_body(exc), status_code=exc.http_status, headers=headers)


def _where(loc: Sequence[int | str]) -> str:
    """``("body", "lines", 0, "qty")`` -> ``lines.0.qty``; parameters say where they were."""
    source, *path = [str(part) for part in loc] or ["body"]
    field = ".".join(path)
    if source == "body":
        return field or "body"
    return f"{field} ({source} parameter)" if field else source


def validation_error(errors: Sequence[Any]) -> CaddieError:
    """A framework validation failure as the error a service would have raised.

    Each problem names its field and says what was expected; the rejected value is left
    out (it may be a password or a token)."""
    if any(isinstance(e, dict) and e.get("type") == "json_invalid" for e in errors):
        return BadMessage("the body is not valid JSON")
    problems = []
    for error in errors[:MAX_PROBLEMS]:
        loc = error.get("loc", ()) if isinstance(error, dict) else ()
        message = str(error.get("msg", "invalid")) if isinstance(error, dict) else "invalid"
        problems.append(f"{_where(loc)}: {message}"[:MAX_PROBLEM_CHARS])
    if len(errors) > MAX_PROBLEMS:
        problems.append(f"... and {len(errors) - MAX_PROBLEMS} more")
    if not problems:
        problems = ["the request is malformed"]
    return InvalidInput("; ".join(problems), problems=problems)


def install_error_handlers(app: FastAPI) -> None:
    """Answer service errors, framework validation failures and refusals, a database that is
    down (503, retry) and anything unexpected (500, logged with its request id, no
    traceback to the client) with the Caddie error body."""

    @app.exception_handler(CaddieError)
    async def caddie_error(request: Request, exc: CaddieError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return error_response(Unavailable("the database is unavailable; retry", retry_after=2))

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client closed the connection while sending its body (a cancelled upload,
        # a till that lost its network): nothing to answer and nothing went wrong here.
        log.info("client went away during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request_id_var.get() or str(uuid.uuid4())
        log.exception("unexpected error (request %s)", request_id)
        return JSONResponse(
            {"error": {"code": "internal", "message": f"internal error (request {request_id})"}},
            status_code=500,
        )

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_refusal(request: Request, exc: HTTPException) -> Response:
        headers = getattr(exc, "headers", None)
        if exc.status_code < 400 or exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        code = _HTTP_CODES.get(exc.status_code, "internal" if exc.status_code >= 500 else "error")
        message = exc.detail if isinstance(exc.detail, str) and exc.detail else code
        return JSONResponse(
            {"error": {"code": code, "message": message}},
            status_code=exc.status_code,
            headers=headers,
        )
