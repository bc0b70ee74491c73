"""The FastAPI application: lifespan owns the engine; one place renders every error as JSON."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cati import __version__
from cati.api.guards import NoStore, TextGuard
from cati.auth.access import NotAuthenticated, check_routes, public
from cati.checkpoints.keys import SignerSource
from cati.clock import Clock
from cati.db import make_engine, make_sessionmaker
from cati.dialing.control import NullDialer
from cati.errors import AppError
from cati.events import EventBus, install_session_events
from cati.messages import error_body, has_message, request_locale
from cati.settings import Settings, get_settings


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413 before a handler sees them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await _send_json(send, 413, {"detail": f"request body over {self.limit} bytes"})
                return
        seen = 0
        responded = False
        started = False

        async def limited() -> Message:
            # Over the limit mid-stream (chunked upload): answer 413 now and tell the app the
            # client went away; whatever the app sends afterwards is dropped below.
            nonlocal seen, responded
            if responded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    if not started:
                        responded = True
                        await _send_json(send, 413, {"detail": f"request body over {self.limit} bytes"})
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if responded:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited, guarded_send)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": data})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the engine is made in the lifespan, not at import."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(
            settings.effective_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout,
        )
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.bus.bind(asyncio.get_running_loop())
        install_session_events(app.state.sessionmaker, app.state.bus)
        # One service clock for the dialer, the scheduler and the built-in PBX (docs/dialing.md).
        app.state.clock = Clock(speed=settings.speed, start=settings.sim_start)
        # Signed audit checkpoints (docs/audit.md): at every campaign status change, in its
        # transaction, and every few minutes of fieldwork. The key loads on first use.
        from cati.checkpoints import bind_signer
        from cati.checkpoints.job import run_periodic

        bind_signer(app.state.sessionmaker, app.state.signer)
        service = None
        if settings.dialer:
            from cati.dialing.service import DialerService

            service = DialerService(settings, app.state.sessionmaker, app.state.bus, app.state.clock)
            await service.start()
            app.state.dialer = service
        checkpoints = asyncio.create_task(
            run_periodic(app.state.sessionmaker, app.state.signer, settings.checkpoint_minutes * 60),
            name="cati-checkpoints",
        )
        try:
            yield
        finally:
            app.state.dialer = NullDialer()
            checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpoints
            if service is not None:
                await service.stop()
            engine.dispose()

    # /docs uses the vendored Swagger UI (no CDN: call centres often run on closed networks); ReDoc,
    # which FastAPI would load from a CDN, is off.
    app = FastAPI(
        title="CATI service", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.bus = EventBus()
    app.state.dialer = NullDialer()
    app.state.clock = Clock(speed=settings.speed, start=settings.sim_start)
    app.state.signer = SignerSource(settings)

    swagger = "/static/vendor/swagger-ui-dist"

    @app.get("/docs", include_in_schema=False, dependencies=[public()])
    def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="CATI service API",
            swagger_js_url=f"{swagger}/swagger-ui-bundle.js",
            swagger_css_url=f"{swagger}/swagger-ui.css",
            swagger_favicon_url=f"{swagger}/favicon-32x32.png",
        )

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if isinstance(exc, NotAuthenticated) and _wants_page(request):
            return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)
        if exc.code is not None and has_message(exc.code):
            # A coded error: the words in the reader's language, the code for programs.
            body = error_body(exc.code, exc.params, request_locale(request))
            return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        # The last door: log it server-side, never show a traceback to the client.
        import logging

        logging.getLogger("cati").exception("unhandled error")
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/api/v1/health", tags=["meta"], dependencies=[public()])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    for router in _routers():
        app.include_router(router)

    # Innermost first: the text check reads a body BodyLimit has already capped; NoStore is outermost
    # so even a 413 is not cached.
    app.add_middleware(TextGuard)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(NoStore)
    # Deny by default: an app with a route that declares no access rule does not start.
    check_routes(app)
    return app


def _routers() -> list[APIRouter]:
    """Every feature's router; a new feature adds its router here."""
    from cati.announcement.endpoints import page_router as announcement_page_router
    from cati.announcement.endpoints import router as announcement_router
    from cati.auth.endpoints import router as auth_router
    from cati.bundle.endpoints import router as bundle_router
    from cati.campaigns.endpoints import router as campaigns_router
    from cati.checkpoints.endpoints import router as audit_router
    from cati.console.endpoints import page_router as console_page_router
    from cati.console.endpoints import router as console_router
    from cati.controls.endpoints import page_router as supervise_page_router
    from cati.controls.endpoints import router as controls_router
    from cati.dialing.endpoints import router as dialer_router
    from cati.live.endpoints import page_router as live_page_router
    from cati.live.endpoints import router as live_router
    from cati.results.endpoints import router as results_router
    from cati.results.page import page_router as results_page_router
    from cati.web.pages import router as pages_router

    return [
        auth_router,
        campaigns_router,
        results_router,
        results_page_router,
        bundle_router,
        announcement_router,
        announcement_page_router,
        audit_router,
        console_router,
        console_page_router,
        dialer_router,
        controls_router,
        supervise_page_router,
        live_router,
        live_page_router,
        pages_router,
    ]


def _wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API): sent to the login page instead of a 401."""
    return (
        request.method == "GET"
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )
