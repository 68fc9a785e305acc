"""Request bodies are counted while they stream in and refused (413 ``too_large``) the
moment they pass their limit, so no request makes a server process buffer more than it.

Every HTTP request body gets :data:`JSON_BODY_LIMIT` (the JSON APIs: logins, the POS,
campaigns, staff actions). A route that takes more — a file upload, a proof-of-play batch
— raises its own request's limit with :func:`allow_body` or :func:`allow_upload` in its
handler, before reading the body, which is also after its dependencies have checked the
caller: a stranger is refused (401) before any large body is read.

A body whose ``Content-Length`` is over the limit is refused before a byte of it is read;
a chunked one as soon as the bytes received pass the limit.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store_server.http_errors import error_response
from store_server.shared.errors import CaddieError

__all__ = [
    "JSON_BODY_LIMIT",
    "MULTIPART_OVERHEAD",
    "BodyLimit",
    "BodyTooLarge",
    "allow_body",
    "allow_upload",
]

JSON_BODY_LIMIT = 64 * 1024
# What a multipart/form-data upload adds to its file: part headers, boundaries, fields.
MULTIPART_OVERHEAD = 64 * 1024

_SCOPE_KEY = "caddie.body_budget"


class BodyTooLarge(CaddieError):
    """The request body is larger than this request may send."""

    code = "too_large"
    http_status = 413


class _Budget:
    """One request's body limit and the bytes received so far."""

    def __init__(self, limit: int, scope: Scope, *, upload_limit: int | None = None) -> None:
        self.limit = limit
        self.message: str | None = None
        self.upload_limit = upload_limit
        self.declared = _content_length(scope)
        self.received = 0
        self.exceeded = False

    def refusal(self) -> BodyTooLarge:
        return BodyTooLarge(
            self.message or f"the request body is larger than the limit of {self.limit} bytes"
        )

    def check(self) -> None:
        if self.received > self.limit or (self.declared or 0) > self.limit:
            self.exceeded = True
            raise self.refusal()

    def counting(self, receive: Receive) -> Receive:
        async def receive_within_limit() -> Message:
            self.check()  # a declared length over the limit: refused before reading
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                self.check()
            return message

        return receive_within_limit


class BodyLimit:
    """ASGI middleware giving every HTTP request body a limit (``default`` unless the
    route allows more); ``upload_limit`` is what :func:`allow_upload` allows.

    The limit is enforced where the body is read, by raising :class:`BodyTooLarge` into
    the reader, so the app's error handlers answer it. Should a layer in between turn it
    into another reply (a framework's 400, say), that reply is replaced by the 413."""

    def __init__(self, app: ASGIApp, *, upload_limit: int, default: int = JSON_BODY_LIMIT) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.default = default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        budget = _Budget(self.default, scope, upload_limit=self.upload_limit)
        scope[_SCOPE_KEY] = budget
        started = replaced = False

        async def send_or_refuse(message: Message) -> None:
            nonlocal started, replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                started = True
                if budget.exceeded and message["status"] != BodyTooLarge.http_status:
                    replaced = True
                    await error_response(budget.refusal())(scope, receive, send)
                    return
            await send(message)

        try:
            await self.app(scope, budget.counting(receive), send_or_refuse)
        except Exception:
            if not budget.exceeded:
                raise
            if not started:
                await error_response(budget.refusal())(scope, receive, send)


def allow_body(request: Request, limit: int, *, message: str | None = None) -> Request:
    """Let this request's body grow to ``limit`` bytes; ``message`` says why one larger is
    refused. Refuses at once a body whose Content-Length is over the limit.

    Call it before anything reads the body, and read the body from the request it
    returns: the same request behind :class:`BodyLimit`, else one that counts for itself
    (an app served without the middleware is limited all the same)."""
    budget = request.scope.get(_SCOPE_KEY)
    if isinstance(budget, _Budget):
        reader = request
    else:
        budget = _Budget(limit, request.scope)
        reader = Request(request.scope, budget.counting(request.receive))
    budget.limit, budget.message = limit, message
    budget.check()
    return reader


def allow_upload(request: Request) -> Request:
    """:func:`allow_body` with the configured upload limit (``CADDIE_MAX_UPLOAD_BYTES``),
    for routes that take a file as their body."""
    budget = request.scope.get(_SCOPE_KEY)
    if not isinstance(budget, _Budget) or budget.upload_limit is None:
        raise RuntimeError("allow_upload needs the BodyLimit middleware")
    limit = budget.upload_limit
    return allow_body(request, limit, message=f"the file is larger than the limit of {limit} bytes")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None
