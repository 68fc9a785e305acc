"""The browser player page, its service worker and the media files it plays.

Kiosk set-up: open ``/signage/screens/{id}/play#token=<screen token>`` once. The token
is in the URL's fragment, which the browser never sends, so no proxy or access log sees
it: the unpaired page's script (``pair.js``) posts it to ``/screens/{id}/pair``, which
checks it and stores it in an HttpOnly cookie (``caddie_screen``, path ``/signage``, a
year, ``Secure`` as the login cookie is); the page then drops the fragment and reloads.
Links of the older form ``?token=`` still work: the server pairs and redirects to the
same URL without the token, so it is not left in the address bar or in history (but a
proxy in front may have logged it; prefer the fragment). Later visits
and every API call of the page use the cookie. Re-enrolling the screen revokes it (the
page then shows its fallback and asks for a new link).

Media (``/signage/media/<sha256>.<ext>``) is public and immutable: the name is the
content's hash, so players and proxies may cache it forever. HTML creatives are
served with a sandboxing Content-Security-Policy, so an advertiser's page cannot act
as the signage origin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from signage import media, service
from signage.deps import SCREEN_COOKIE, SessionDep, StateDep
from signage.routes import _json_body
from store_server.deps import cookies_secure
from store_server.deps import error_responses as errors
from store_server.shared.errors import CaddieError, InvalidInput, NotFound
from store_server.templating import make_templates

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static" / "signage"
templates = make_templates(HERE / "templates")
router = APIRouter(include_in_schema=False)

COOKIE_SECONDS = 365 * 24 * 3600


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("caddie")
    except PackageNotFoundError:
        return "0"


PLAYER_VERSION = _version()


@router.get("/screens/{screen_id}/play", response_class=HTMLResponse)
def play_page(
    screen_id: str,
    request: Request,
    state: StateDep,
    session: SessionDep,
    token: Annotated[str | None, Query(max_length=256)] = None,
    flush_s: Annotated[float, Query(ge=0.2, le=600)] = 10.0,
) -> Response:
    """The kiosk page; ``?token=`` once to pair the browser with the screen."""
    root = request.scope.get("root_path", "")
    if token is not None:
        try:
            service.authenticate_screen(session, token, screen_id)
        except CaddieError as exc:
            return templates.TemplateResponse(
                request,
                "signage/player_error.html",
                {"message": exc.message, "root": root, "screen_id": screen_id},
                status_code=exc.http_status,
            )
        query = f"?flush_s={flush_s:g}" if "flush_s" in request.query_params else ""
        response = RedirectResponse(f"{root}/screens/{screen_id}/play{query}", status_code=303)
        _set_screen_cookie(response, request, state, token)
        return response
    cookie = request.cookies.get(SCREEN_COOKIE)
    try:
        screen = service.authenticate_screen(session, cookie, screen_id)
    except CaddieError as exc:
        return templates.TemplateResponse(
            request,
            "signage/player_error.html",
            {"message": exc.message, "root": root, "screen_id": screen_id},
            status_code=exc.http_status,
        )
    return templates.TemplateResponse(
        request,
        "signage/player.html",
        {
            "screen": screen,
            "root": root,
            "flush_ms": int(flush_s * 1000),
            "status_ms": int(state.signage.status_seconds * 1000),
            "version": PLAYER_VERSION,
        },
    )


@router.post("/screens/{screen_id}/pair", status_code=204, responses=errors(401, 403, 415, 422))
async def pair(screen_id: str, request: Request, state: StateDep) -> Response:
    """Pair this browser with the screen: the token (from the pairing link's fragment) in
    the body, never in a URL; answered with the screen cookie."""
    body = await _json_body(request, 4096)
    token = body.get("token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not 1 <= len(token) <= 256:
        problem = "token: the screen's token, 1-256 characters"
        raise InvalidInput(problem, problems=[problem])
    await state.db.run(lambda session: service.authenticate_screen(session, token, screen_id))
    response = Response(status_code=204)
    _set_screen_cookie(response, request, state, token)
    return response


def _set_screen_cookie(response: Response, request: Request, state: Any, token: str) -> None:
    response.set_cookie(
        SCREEN_COOKIE,
        token,
        max_age=COOKIE_SECONDS,
        path=request.scope.get("root_path", "") or "/",
        httponly=True,
        samesite="strict",
        secure=cookies_secure(state.settings, request),
    )


@router.get("/player-sw.js")
def service_worker() -> Response:
    """Served from the signage root so its scope covers ``/signage/`` (pages and media)."""
    return FileResponse(
        STATIC_DIR / "player-sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/signage/"},
    )


@router.get("/media/{file_name}")
def media_file(file_name: str, state: StateDep) -> Response:
    if not media.FILE_NAME.match(file_name):
        raise NotFound("no such media file")
    path = state.signage.media_dir / file_name
    if not path.is_file():
        raise NotFound("no such media file")
    content_type = next((t for t, ext in media.EXTENSIONS.items() if file_name.endswith(ext)), None)
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "X-Content-Type-Options": "nosniff",
    }
    if content_type == "text/html":
        headers["Content-Security-Policy"] = "sandbox allow-scripts"
    return FileResponse(path, media_type=content_type, headers=headers)
