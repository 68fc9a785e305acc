"""The signage ASGI app: mounted at ``/signage`` by ``caddie serve``, or served alone.

It owns its tables (``signage.models``, migrated with everything else by
``caddie serve``). It serves on the engine of the app it is mounted in (the store
app, or the standalone app of ``caddie signage serve``), whose lifespan attaches it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from signage.config import SignageSettings, signage_settings
from signage.deps import StateHolder
from signage.signals.board import SignalBoard
from store_server.body_limit import BodyLimit
from store_server.config import Settings, get_settings
from store_server.http_errors import install_error_handlers
from store_server.websec import AuthFailureLimit, WebSecurity

log = logging.getLogger(__name__)


def create_signage_app(
    settings: Settings | None = None,
    signage_settings: SignageSettings | None = None,
    *,
    board: SignalBoard | None = None,
) -> FastAPI:
    """The signage app with routes relative to its mount point (``/signage``).

    ``board`` holds the store signals its loops read (default: the process's
    ``DEFAULT_BOARD``); whoever runs the app starts the subscriber that fills it with
    :func:`start_signage_signals`."""
    holder = StateHolder(settings, signage_settings, board)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            holder.stop_signals()

    app = FastAPI(
        title="Caddie signage",
        version="1",
        description="Mall screens: loops, the player page, proof of play, operator console.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.signage = holder
    from store_server.docs_pages import add_docs

    add_docs(app, title="Caddie signage")  # offline, as the store app's

    install_error_handlers(app)
    # CSRF, Origin checks and security headers (a no-op under an app that has them).
    app.add_middleware(WebSecurity, settings=holder.settings)

    from signage.console import router as console_router
    from signage.operator_routes import router as operator_router
    from signage.player import STATIC_DIR
    from signage.player import router as player_router
    from signage.routes import router as api_router

    app.include_router(api_router)
    app.include_router(operator_router)
    app.include_router(player_router)
    app.include_router(console_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="signage-static")

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        """The app's root: where the operator console and the screens live."""
        from signage.player import templates

        root = str(request.scope.get("root_path", ""))
        return templates.TemplateResponse(
            request, "signage/home.html", {"root": root, "user": None}
        )

    return app


def start_signage_signals(signage_app: FastAPI, events: object) -> asyncio.Task[None]:
    """Start feeding the store signals published on ``events`` to ``signage_app``'s loops.

    A mounted app gets no lifespan of its own, so ``caddie serve`` calls this from the
    store app's lifespan with the store's event bus; ``caddie signage serve`` with a bus
    of its own on ``CADDIE_PUBSUB_URL``. The task ends when the app's holder stops it or
    the loop cancels it."""
    holder: StateHolder = signage_app.state.signage
    return holder.start_signals(events)


def create_standalone_app(settings: Settings | None = None) -> FastAPI:
    """``caddie signage serve``: the signage app at ``/signage`` plus login and health."""
    settings = settings or get_settings()
    signage_app = create_signage_app(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from store_server.state import ServerState

        state = ServerState.build(settings)  # the process's engine; the login route's state
        app.state.caddie = state
        signage_app.state.signage.attach(state.db)
        # the stores publish their signals on CADDIE_PUBSUB_URL (Redis or PostgreSQL)
        await state.events.start()
        start_signage_signals(signage_app, state.events)
        try:
            yield
        finally:
            signage_app.state.signage.stop_signals()
            await state.events.stop()
            signage_app.state.signage.detach()
            state.close()

    app = FastAPI(title="Caddie signage (standalone)", version="1", lifespan=lifespan)

    install_error_handlers(app)
    app.add_middleware(WebSecurity, settings=settings)
    app.add_middleware(AuthFailureLimit, per_minute=settings.auth_failures_per_minute)
    # Bodies limited while they stream, as on the store server (store_server.body_limit).
    app.add_middleware(BodyLimit, upload_limit=signage_settings().max_upload_bytes)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    from store_server.auth.routes import router as auth_router

    app.include_router(auth_router)
    app.mount("/signage", signage_app)
    return app
