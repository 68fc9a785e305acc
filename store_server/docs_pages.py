"""API documentation pages served with local assets: stores and malls often run on closed
networks, where the CDN that FastAPI's default /docs page loads from is out of reach, and a
script loaded from a CDN would run with the consoles' origin.

The pages carry no inline script (the consoles' Content-Security-Policy allows none):
Swagger UI starts from ``swagger-init.js``. Their own policy lets the bundles' inline
styles and ReDoc's search worker (``blob:``) through, still with scripts from here only.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

INIT_DIR = Path(__file__).resolve().parent / "static_docs"
DOCS_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)


def assets_dir() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def _page(title: str, head: str, body: str) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title>{head}</head><body>{body}</body></html>"
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_POLICY})


def add_docs(app: FastAPI, *, title: str) -> None:
    """Swagger UI at /docs and ReDoc at /redoc, with the bundled JavaScript and CSS, at
    whatever path the app is mounted (``root_path``)."""
    app.mount("/static/docs", StaticFiles(directory=assets_dir()), name="docs-static")
    app.mount("/static/docs-init", StaticFiles(directory=INIT_DIR), name="docs-init")
    page_title = f"{title} — API"

    def where(request: Request) -> tuple[str, str]:
        root = escape(str(request.scope.get("root_path", "")))
        return root + "/static/docs", root + escape(app.openapi_url or "/openapi.json")

    @app.get("/docs", include_in_schema=False)
    async def swagger(request: Request) -> HTMLResponse:
        assets, spec = where(request)
        root = escape(str(request.scope.get("root_path", "")))
        return _page(
            page_title,
            f'<link rel="stylesheet" href="{assets}/swagger-ui.css">'
            f'<link rel="icon" href="{assets}/favicon.png">',
            f'<div id="swagger-ui" data-openapi-url="{spec}"></div>'
            f'<script src="{assets}/swagger-ui-bundle.js"></script>'
            f'<script src="{root}/static/docs-init/swagger-init.js"></script>',
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        assets, spec = where(request)
        return _page(
            page_title,
            f'<link rel="icon" href="{assets}/favicon.png">',
            f'<redoc spec-url="{spec}"></redoc>'
            f'<script src="{assets}/redoc.standalone.js"></script>',
        )
