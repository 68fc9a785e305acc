"""The shopper app's pages: one app shell for the store handheld (kiosk) and the
shopper's own phone, its service worker, and its static files.

Everything the shopper does happens in the browser (``web/static/shop.js``): scanning,
the IndexedDB outbox, the cart. The server only hands out files here; the app talks the
handheld WebSocket (docs/PROTOCOL.md) and the ``/api/shop/*`` JSON routes.

The service worker is rendered with the list of files it caches and a version that is a
hash of their contents, so a deployment with any changed file installs a fresh cache and
an unchanged one fetches nothing but the worker itself. The store's settings the page
carries (the symbologies its camera reads) are part of that hash too: the cached page
is replaced when they change.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from store_server.config import Settings
from store_server.deps import StateDep
from store_server.templating import make_templates

HERE = Path(__file__).resolve().parent
WEB_DIR = HERE / "web"
STATIC_DIR = WEB_DIR / "static"
STATIC_URL = "/shop/static"
templates = make_templates(WEB_DIR / "templates")
router = APIRouter(tags=["shopper app"], include_in_schema=False)

# Cached by the service worker: the page, its scripts, styles, catalogues and the decoder
# (about 1.1 MB of WebAssembly: the app must scan with no network). Licences and notes
# are served but not cached.
_CACHED_SUFFIXES = (".js", ".mjs", ".css", ".json", ".wasm", ".svg")


def _cached_files() -> list[Path]:
    return sorted(p for p in STATIC_DIR.rglob("*") if p.is_file() and p.suffix in _CACHED_SUFFIXES)


def page_settings(settings: Settings) -> dict[str, str]:
    """What the page is told of the store's settings (as ``data-`` attributes of its
    body: the page runs no inline script)."""
    return {"symbologies": ",".join(settings.shopper_symbologies)}


@lru_cache(maxsize=4)
def shell_manifest(page_config: str = "") -> tuple[str, tuple[str, ...]]:
    """(version, URLs) of the app shell. The version changes when any cached file, the
    page template or the settings the page carries (``page_config``) change."""
    digest = hashlib.sha256(page_config.encode())
    urls = ["/shop"]
    for path in [*_cached_files(), *sorted((WEB_DIR / "templates").glob("*.html"))]:
        digest.update(str(path.relative_to(WEB_DIR)).encode())
        digest.update(path.read_bytes())
        if path.is_relative_to(STATIC_DIR):
            urls.append(f"{STATIC_URL}/{path.relative_to(STATIC_DIR).as_posix()}")
    return digest.hexdigest()[:16], tuple(urls)


def _manifest(settings: Settings) -> tuple[str, tuple[str, ...]]:
    return shell_manifest(json.dumps(page_settings(settings), sort_keys=True))


def _shell(request: Request, mode: str, settings: Settings) -> HTMLResponse:
    version, _ = _manifest(settings)
    return templates.TemplateResponse(
        request,
        "shop.html",
        {
            "mode": mode,
            "static": STATIC_URL,
            "version": version,
            "config": page_settings(settings),
        },
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/shop", response_class=HTMLResponse)
async def shop_page(request: Request, state: StateDep) -> HTMLResponse:
    """The app shell. Credentials live in the browser (localStorage), never in the URL:
    join tickets arrive in the fragment (``#join=``)."""
    return _shell(request, "shop", state.settings)


@router.get("/shop/pair", response_class=HTMLResponse)
async def pair_page(request: Request, state: StateDep) -> HTMLResponse:
    """The same shell; the one-time pairing code is in the fragment (``#code=``), which
    never reaches the server or a proxy log."""
    return _shell(request, "pair", state.settings)


@router.get("/shop/sw.js")
async def service_worker(state: StateDep) -> Response:
    """Scope ``/shop`` (not ``/shop/``, which would leave out the page itself at
    ``/shop``), allowed by the ``Service-Worker-Allowed`` header."""
    version, urls = _manifest(state.settings)
    body = (
        f"const SHELL_VERSION = {json.dumps(version)};\n"
        f"const SHELL_URLS = {json.dumps(list(urls))};\n"
        + (WEB_DIR / "sw.js").read_text(encoding="utf-8")
    )
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/shop"},
    )
