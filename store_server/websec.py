"""The web security layer of every browser-facing page and API: CSRF, Origin checks,
request body types and security headers.

Browsers send cookies with requests that other pages start. ``SameSite=Strict`` keeps
other *sites* out, but not other origins of the same site (another port of the host, a
sibling subdomain), so a request that carries a cookie is trusted only when

* its ``Origin`` (else its ``Referer``) is this server's own origin, when it names one,
  and ``Sec-Fetch-Site`` does not say it came from another origin;
* it carries the CSRF token of its cookies: the ``X-CSRF-Token`` header (scripts) or the
  ``csrf_token`` field of a url-encoded form (plain HTML forms).

The token is an HMAC, with the server's secret key, of the login session cookie, or,
before a login (the login forms themselves), of a random ``caddie_csrf`` cookie set by the
page that shows the token: a signed double submit, bound to the session when there is one.
Pages get it from :func:`csrf_token` through ``store_server.templating.page_context``.

Requests with an ``Authorization`` header (handhelds, POS tills, screens, scripts) carry
no ambient credential, so they need neither: a page of another origin cannot add that
header without the server's consent (CORS), which it never gives.

Every HTML page also gets a Content-Security-Policy without inline script, is refused
any frame, and is never cached when it may show someone's data.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store_server.config import Settings
from store_server.http_errors import error_response
from store_server.ratelimit import RateLimiter
from store_server.security import SESSION_COOKIE
from store_server.shared.errors import CaddieError, Forbidden, RateLimited

CSRF_COOKIE = "caddie_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")
CSRF_COOKIE_SECONDS = 365 * 24 * 3600
_SCOPE_KEY = "caddie.websec"

# No inline script anywhere; media may come from creatives' own URLs (the player) or be a
# local preview (blob:, the upload form); sockets and fetches go to this origin only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: http: https:",
        "media-src 'self' blob: http: https:",
        "frame-src 'self' blob: http: https:",
        "connect-src 'self'",
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
# The shopper app decodes barcodes with WebAssembly (the vendored zxing reader), which
# Chromium compiles only where the policy allows 'wasm-unsafe-eval'; only its pages get it.
WASM_PAGE_PREFIX = "/shop"
WASM_CONTENT_SECURITY_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", 1
)
REFERRER_POLICY = "same-origin"
# Responses that may carry someone's data and must not be kept by a browser or proxy.
_PRIVATE_TYPES = ("text/html", "application/json", "text/csv", "text/plain")


class UnsupportedMediaType(CaddieError):
    """The body's Content-Type is not one this route takes."""

    code = "unsupported_media_type"
    http_status = 415


@dataclass
class _PageState:
    """One request's view of the layer: the key, and a pre-session cookie to set."""

    secret: bytes
    secure_cookies: bool
    new_cookie: str | None = None


def _mac(secret: bytes, binding: str) -> str:
    return hmac.new(secret, binding.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def _expected_token(state: _PageState, cookies: dict[str, str]) -> str | None:
    session = cookies.get(SESSION_COOKIE)
    if session:
        return _mac(state.secret, "session:" + session)
    pre = cookies.get(CSRF_COOKIE) or state.new_cookie
    return _mac(state.secret, "pre:" + pre) if pre else None


def csrf_token(request: HTTPConnection) -> str:
    """The CSRF token a page shows (meta tag, hidden fields) for the cookies of the
    request that asks for it; sets a ``caddie_csrf`` cookie when there is neither a
    session nor one yet. Empty for an app served without :class:`WebSecurity`."""
    state = request.scope.get(_SCOPE_KEY)
    if not isinstance(state, _PageState):
        return ""
    cookies = request.cookies
    if not cookies.get(SESSION_COOKIE) and not cookies.get(CSRF_COOKIE):
        state.new_cookie = state.new_cookie or secrets.token_urlsafe(32)
    return _expected_token(state, cookies) or ""


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_media_type(request: Request, *allowed: str) -> None:
    """Refuse (415) a body whose Content-Type is not one of ``allowed`` (``"json"`` means
    ``application/json`` and ``application/*+json``).

    A page of another origin can send a body as a form or ``text/plain`` without asking,
    but not as JSON or CSV, so routes that read a body whatever its type would act on
    such requests. A client with an ``Authorization`` header (no ambient credential)
    that names no type at all keeps working, as before this check."""
    given = _content_type(request)
    if not given and request.headers.get("authorization"):
        return
    for want in allowed:
        if want == "json" and (given == "application/json" or given.endswith("+json")):
            return
        if given == want:
            return
    names = ", ".join("application/json" if a == "json" else a for a in allowed)
    shown = given[:60] or "none"
    raise UnsupportedMediaType(f"send the body as {names} (Content-Type was {shown})")


def _origin_of(url: str) -> str | None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _own_origin(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def cross_origin_problem(request: Request) -> str | None:
    """Why an unsafe request came from another origin, or None."""
    own = _own_origin(request)
    fetch_site = request.headers.get("sec-fetch-site", "").lower()
    if fetch_site and fetch_site not in ("same-origin", "none"):
        return f"the request came from another origin ({fetch_site})"
    origin = request.headers.get("origin")
    if origin is not None:
        if origin.lower() != own:
            return "the request came from another origin"
        return None
    referer = request.headers.get("referer")
    if referer and _origin_of(referer) != own:
        return "the request came from another page's origin"
    return None


class WebSecurity:
    """ASGI middleware: refuses cross-origin and token-less cookie requests that change
    something, and adds the security headers. Mounted apps under an app that has it run
    behind the outer one only (the scope carries its state)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.secret = hashlib.sha256(b"caddie-csrf:" + settings.secret_key.encode()).digest()
        self.always_secure = settings.cookies_always_secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        state = _PageState(
            self.secret, self.always_secure or request.url.scheme in ("https", "wss")
        )
        scope[_SCOPE_KEY] = state
        if request.method not in SAFE_METHODS and not request.headers.get("authorization"):
            try:
                receive = await self._check(request, state)
            except CaddieError as exc:
                await error_response(exc)(scope, receive, send)
                return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._headers(MutableHeaders(scope=message), request, state)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _check(self, request: Request, state: _PageState) -> Receive:
        """Raises ``Forbidden`` for a request that must not be trusted; returns the
        ``receive`` the app reads the body from (replayed if a form field was read)."""
        problem = cross_origin_problem(request)
        if problem:
            raise Forbidden(f"{problem}: refused")
        receive = request.receive
        needs_token = bool(request.headers.get("cookie")) or _content_type(request) in FORM_TYPES
        if not needs_token:
            return receive
        given = request.headers.get(CSRF_HEADER)
        if given is None and _content_type(request) == FORM_TYPES[0]:
            body = await request.body()  # within the JSON limit (BodyLimit, outside)
            try:
                fields = parse_qs(body.decode("latin-1"), max_num_fields=100)
            except ValueError:  # more fields than any console form has
                fields = {}
            given = next(iter(fields.get(CSRF_FIELD, [])), None)
            receive = _replay(body, request.receive)
        elif given is None and _content_type(request) == FORM_TYPES[1]:
            # A file upload posted by a plain form (no script to add the header).
            body = await request.body()  # within the upload limit (BodyLimit, outside)
            given = await _multipart_field(request, body, CSRF_FIELD)
            receive = _replay(body, request.receive)
        expected = _expected_token(state, request.cookies)
        if (
            not given
            or expected is None
            or not hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())
        ):
            raise Forbidden(
                "missing or wrong CSRF token: reload the page (scripts send X-CSRF-Token "
                "from the page's csrf-token meta tag)"
            )
        return receive

    def _headers(self, headers: MutableHeaders, request: Request, state: _PageState) -> None:
        content_type = headers.get("content-type", "").lower()
        own_policy = "content-security-policy" in headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", REFERRER_POLICY)
        if content_type.startswith("text/html") and not own_policy:
            path = request.url.path
            wasm = path == WASM_PAGE_PREFIX or path.startswith(WASM_PAGE_PREFIX + "/")
            headers["Content-Security-Policy"] = (
                WASM_CONTENT_SECURITY_POLICY if wasm else CONTENT_SECURITY_POLICY
            )
            headers["X-Frame-Options"] = "DENY"
        credentialed = request.headers.get("authorization") or request.headers.get("cookie")
        if content_type.startswith("text/html") or (
            credentialed and content_type.startswith(_PRIVATE_TYPES)
        ):
            headers.setdefault("Cache-Control", "no-store")
        if state.new_cookie:
            secure = "; Secure" if state.secure_cookies else ""
            headers.append(
                "set-cookie",
                f"{CSRF_COOKIE}={state.new_cookie}; Max-Age={CSRF_COOKIE_SECONDS}; Path=/; "
                f"HttpOnly; SameSite=Strict{secure}",
            )


async def _multipart_field(request: Request, body: bytes, name: str) -> str | None:
    """The text field ``name`` of a multipart body, or None (also for a malformed body,
    which the route refuses in its own words)."""
    copy = Request(request.scope, _replay(body, request.receive))
    try:
        async with copy.form(max_files=1000, max_fields=1000) as form:
            value = form.get(name)
            return value if isinstance(value, str) else None
    except Exception:
        return None


def _replay(body: bytes, then: Receive) -> Receive:
    """The body already read, then whatever the connection says next (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive


_FAILURES_KEY = "caddie.auth_failures"
CREDENTIAL_COOKIES = (f"{SESSION_COOKIE}=", "caddie_screen=")


def _presents_credentials(scope: Scope) -> bool:
    """Whether the request would make the server check a credential: a token, a session
    or screen cookie, a login, or a socket (every socket starts with one)."""
    if scope["type"] == "websocket":
        return True
    headers = dict(scope.get("headers") or ())
    if b"authorization" in headers:
        return True
    cookie = headers.get(b"cookie", b"").decode("latin-1")
    if any(name in cookie for name in CREDENTIAL_COOKIES):
        return True
    return scope.get("method") not in SAFE_METHODS and str(scope.get("path", "")).endswith("/login")


class AuthFailureLimit:
    """Failed authentications per client address: every ``401`` answer and every socket
    closed ``4401`` spends one of ``per_minute`` (refilled over a minute, in each
    process). An address with none left has its requests that present credentials
    (tokens, cookies, logins, sockets) refused, 429 with ``Retry-After`` (a socket before
    its handshake), until it refills; it costs the server no password hash and no token
    lookup meanwhile. Pages and files without credentials are still served.

    Rotating guessed tokens or spraying passwords over many accounts from one machine is
    slowed; a person elsewhere is not affected (the per-account login limit is
    ``auth.service.reserve_login_attempt``)."""

    def __init__(
        self, app: ASGIApp, *, per_minute: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limiter = RateLimiter(per_minute / 60, per_minute, clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or _FAILURES_KEY in scope:
            await self.app(scope, receive, send)
            return
        scope[_FAILURES_KEY] = True
        client = scope.get("client") or ("?", 0)
        key = "address:" + str(client[0])
        if _presents_credentials(scope):
            wait = self.limiter.peek(key)
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008, "reason": "rate_limited"})
                    return
                refusal = RateLimited(
                    f"too many failed authentications from this address; retry in {seconds} s",
                    retry_after=seconds,
                )
                await error_response(refusal)(scope, receive, send)
                return
        failed = False

        async def watch(message: Message) -> None:
            nonlocal failed
            refused = (message["type"], message.get("status") or message.get("code"))
            if refused in (("http.response.start", 401), ("websocket.close", 4401)):
                failed = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if failed:
                self.limiter.check(key)
