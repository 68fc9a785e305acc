"""The store server FastAPI application."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store_server.config import Settings, get_settings
from store_server.errors import CaddieError
from store_server.state import ServerState

log = logging.getLogger(__name__)


def error_body(exc: CaddieError) -> dict[str, object]:
    body: dict[str, object] = {"code": exc.code, "message": exc.message}
    problems = exc.details.get("problems")
    if problems:
        body["problems"] = problems
    return {"error": body}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState.build(settings)
        app.state.caddie = state
        await state.events.start()
        from store_server.checkout.expiry import start_expiry

        expiry = start_expiry(state)
        try:
            yield
        finally:
            expiry.cancel()
            await state.events.stop()
            state.close()

    app = FastAPI(
        title="Caddie store server",
        version="1",
        description="Catalog, baskets, checkout and the handheld WebSocket of a Caddie store.",
        lifespan=lifespan,
    )

    @app.exception_handler(CaddieError)
    async def caddie_error(request: Request, exc: CaddieError) -> JSONResponse:
        return JSONResponse(error_body(exc), status_code=exc.http_status)

    @app.exception_handler(OperationalError)
    async def database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            {"error": {"code": "unavailable", "message": "the database is unavailable; retry"}},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = request.headers.get("x-request-id") or str(uuid.uuid4())
        log.exception("unexpected error (request %s)", request_id)
        return JSONResponse(
            {"error": {"code": "internal", "message": f"internal error (request {request_id})"}},
            status_code=500,
        )

    @app.middleware("http")
    async def request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        response = await call_next(request)
        response.headers["x-request-id"] = rid[:64]
        return response

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        state: ServerState = request.app.state.caddie

        def ping(session: object) -> None:
            session.exec(text("SELECT 1"))  # type: ignore[attr-defined]

        try:
            await state.run_db(ping)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "database": str(exc)[:200]}, status_code=503
            )
        return JSONResponse({"status": "ready"})

    from store_server.auth.routes import router as auth_router
    from store_server.catalog.routes import router as catalog_router
    from store_server.checkout.console import STATIC_DIR as checkout_static
    from store_server.checkout.console import router as checkout_console_router
    from store_server.checkout.routes import router as checkout_router
    from store_server.devices.routes import router as devices_router
    from store_server.handheld.routes import router as handheld_router

    app.include_router(auth_router)
    app.include_router(catalog_router)
    app.include_router(devices_router)
    app.include_router(handheld_router)
    app.include_router(checkout_router)
    app.include_router(checkout_console_router)
    from fastapi.staticfiles import StaticFiles

    app.mount("/static/checkout", StaticFiles(directory=checkout_static), name="checkout-static")
    return app
