"""The store server FastAPI application."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import func, text
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store_server import metrics
from store_server.body_limit import BodyLimit
from store_server.config import Settings, get_settings
from store_server.deps import BearerScheme, metrics_reader
from store_server.http_errors import error_body as error_body
from store_server.http_errors import install_error_handlers
from store_server.landing import metrics_refusal, wants_html
from store_server.logging_setup import configure_logging, connection_id_var, request_id_var
from store_server.ratelimit import RateLimiter
from store_server.shared.errors import Forbidden, Unauthorized
from store_server.state import ServerState

log = logging.getLogger(__name__)
access = logging.getLogger("caddie.access")


def _tune_garbage_collector() -> None:
    """Fewer collector pauses while serving. What start-up built (modules, the app, the
    mappers) lives as long as the process, so it is moved out of the collector's sight,
    and the youngest generation is collected every 20,000 allocations instead of 700 (a
    scan allocates a few thousand objects). Measured with ``benchmarks/scale_bench.py
    --loads 1000 --pace 2 --processes 1`` (PostgreSQL): ack latency p99 276 -> 123 ms,
    p99.9 473 -> 177 ms, CPU per scan unchanged."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 1_000)


_SAFE_ID = re.compile(r"[^A-Za-z0-9._:-]")


class RequestIds:
    """Gives each HTTP request an id (the caller's ``X-Request-ID`` if it sends one,
    echoed back) and each WebSocket a connection id, in context variables that every log
    line written for them picks up; logs one line per request and per socket (the path
    only: a query string may carry something private)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"")
        rid = _SAFE_ID.sub("", given.decode("latin-1"))[:64] or uuid.uuid4().hex
        request_id_var.set(rid)  # each request runs in its own task: no reset needed
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            access.info(
                "%s %s %d %.1f ms",
                scope.get("method"),
                scope.get("path"),
                status,
                (time.perf_counter() - started) * 1000,
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection_id_var.set("ws-" + uuid.uuid4().hex[:16])
        client = scope.get("client") or ("?", 0)
        closed: list[int] = []

        async def watch(message: Message) -> None:
            if message["type"] == "websocket.close":
                closed.append(int(message.get("code", 1000)))
            await send(message)

        access.info("websocket %s open from %s", scope.get("path"), client[0])
        try:
            await self.app(scope, receive, watch)
        finally:
            how = f"closed by the server ({closed[0]})" if closed else "ended"
            access.info("websocket %s %s", scope.get("path"), how)


def _drain_on_signals(state: ServerState) -> Callable[[], None]:
    """On the first SIGTERM/SIGINT, drain the handheld sockets, then hand the signal to
    the server (uvicorn), which stops accepting and runs the shutdown. Returns a function
    that puts the previous handlers back.

    Why not leave it to uvicorn: it closes WebSockets with 1012 at once, cutting a scan
    being applied; its reply would be lost and the device would have to resend it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # test clients run the app in a worker thread
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in signals}

    def forward(sig: int, frame: FrameType | None) -> None:
        handler = previous[sig]
        if callable(handler):
            handler(sig, frame)
        elif handler == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    def on_signal(sig: int, frame: FrameType | None) -> None:
        if state.draining:
            if sig == signal.SIGINT:  # a second Ctrl-C: stop now
                forward(sig, frame)
            return
        state.draining = True

        def begin() -> None:
            task = loop.create_task(state.drain())
            task.add_done_callback(lambda _: forward(sig, None))
            state.drain_task = task

        loop.call_soon_threadsafe(begin)

    for sig in signals:
        signal.signal(sig, on_signal)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def create_served_app() -> FastAPI:
    """The app as ``caddie serve`` runs it in each (worker) process: logging is set up
    here because uvicorn's worker processes start from a fresh interpreter."""
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    from signage.app import create_signage_app, start_signage_signals

    signage_app = create_signage_app(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = ServerState.build(settings)
        app.state.caddie = state
        signage_app.state.signage.attach(state.db)  # one engine per process
        await state.events.start()
        from store_server.checkout.expiry import start_expiry

        expiry = start_expiry(state)
        from store_server.signals.publisher import start_signal_publisher

        store_signals = start_signal_publisher(state)
        from store_server.manager.refresher import start_rollup_refresher

        manager_rollup = start_rollup_refresher(state)
        signage_signals = start_signage_signals(signage_app, state.events)  # for the screens
        restore_signals = _drain_on_signals(state)
        _tune_garbage_collector()
        try:
            yield
        finally:
            restore_signals()
            if store_signals is not None:
                store_signals.cancel()
            signage_signals.cancel()
            expiry.cancel()
            if manager_rollup is not None:
                manager_rollup.cancel()
            await state.events.stop()
            signage_app.state.signage.detach()  # a mounted app has no lifespan of its own
            state.close()
            metrics.mark_process_dead()

    app = FastAPI(
        title="Caddie store server",
        version="1",
        description="Catalog, baskets, checkout and the handheld WebSocket of a Caddie store.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    from store_server.docs_pages import add_docs

    add_docs(app, title="Caddie store server")
    app.state.api_limiter = RateLimiter(
        settings.api_rate_limit_per_second, settings.api_rate_limit_burst
    )

    install_error_handlers(app)  # one error body, whichever layer refused

    # Bodies are counted as they stream in: small for the JSON APIs, the configured upload
    # limit (CADDIE_MAX_UPLOAD_BYTES, as for signage media) for the catalog and promotion
    # files. Inside RequestIds, so the access log shows a refusal's 413.
    from signage.config import signage_settings
    from store_server.websec import AuthFailureLimit, WebSecurity

    # CSRF, Origin checks and security headers for this app and the mounted signage app
    # (store_server.websec); inside BodyLimit, so a form it reads is limited too.
    app.add_middleware(WebSecurity, settings=settings)
    app.add_middleware(BodyLimit, upload_limit=signage_settings().max_upload_bytes)
    # Failed authentications per client address (finding: rotating guessed tokens).
    app.add_middleware(AuthFailureLimit, per_minute=settings.auth_failures_per_minute)
    app.add_middleware(RequestIds)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz(request: Request) -> JSONResponse:
        """Ready to take traffic: not draining, database AND pub/sub reachable."""
        state: ServerState = request.app.state.caddie
        if state.draining:
            return JSONResponse(
                {"status": "draining", "message": "shutting down; use another server"},
                status_code=503,
            )

        def ping(session: object) -> None:
            session.exec(text("SELECT 1"))  # type: ignore[attr-defined]

        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(state.db.run(ping, read_only=True), 5)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = _unavailable(exc)
        try:
            await state.events.ping()
            checks["pubsub"] = f"ok ({state.events.name})"
        except Exception as exc:
            checks["pubsub"] = f"{_unavailable(exc)} ({state.events.name})"
        if all(v.startswith("ok") for v in checks.values()):
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "unavailable", **checks}, status_code=503)

    @app.get("/metrics", tags=["ops"], include_in_schema=False, dependencies=[BearerScheme])
    async def prometheus_metrics(request: Request) -> Response:
        """Prometheus text format; store-wide gauges are read from the database. For
        Prometheus (``CADDIE_METRICS_TOKEN``) and admins only; a browser that is refused
        gets a page saying so and where to log in, API clients the JSON error."""
        try:
            await metrics_reader(request)
        except (Unauthorized, Forbidden) as exc:
            if wants_html(request):
                return metrics_refusal(request, exc.message, exc.http_status)
            raise
        state: ServerState = request.app.state.caddie
        facts: dict[str, dict[str, int]] = {}
        try:
            facts["caddie_baskets"] = await asyncio.wait_for(
                state.db.run(_basket_counts, read_only=True), 5
            )
        except Exception as exc:
            log.warning("metrics: basket counts unavailable: %s", _unavailable(exc))
        manager: dict[str, dict[str, float]] = {}
        try:
            from store_server.manager.service import today_figures

            manager = await asyncio.wait_for(
                state.db.run(lambda s: today_figures(s, timezone=state.settings.timezone)), 5
            )
        except Exception as exc:
            log.warning("metrics: manager figures unavailable: %s", _unavailable(exc))
        body, content_type = metrics.exposition(facts, manager)
        return Response(body, media_type=content_type)

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

    from store_server.landing import STATIC_DIR as site_static
    from store_server.landing import router as landing_router

    app.include_router(landing_router)
    app.mount("/static/site", StaticFiles(directory=site_static), name="site-static")
    app.mount("/static/checkout", StaticFiles(directory=checkout_static), name="checkout-static")
    # The shopper app's server side (joining, pairing, trip status, entrance, receipts).
    from store_server.shopper.routes import router as shopper_router

    app.include_router(shopper_router)

    # The shopper app's pages and files; its JSON API is the router above.
    from store_server.shopper.pages import STATIC_DIR as shopper_static
    from store_server.shopper.pages import router as shopper_pages_router

    app.include_router(shopper_pages_router)
    app.mount("/shop/static", StaticFiles(directory=shopper_static), name="shopper-static")

    # The store manager's console.
    from store_server.manager.routes import STATIC_DIR as manager_static
    from store_server.manager.routes import api as manager_api
    from store_server.manager.routes import router as manager_router

    app.include_router(manager_router)
    app.include_router(manager_api)
    app.mount("/static/manager", StaticFiles(directory=manager_static), name="manager-static")
    app.mount("/signage", signage_app)
    return app


def _unavailable(exc: BaseException) -> str:
    first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"unavailable: {first[0][:200] if first else type(exc).__name__}"


def _basket_counts(session: Any) -> dict[str, int]:
    from sqlmodel import select

    from store_server.baskets.models import Basket

    rows = session.exec(select(Basket.status, func.count()).group_by(Basket.status)).all()
    return {status: int(count) for status, count in rows}
