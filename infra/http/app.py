"""The ASGI application `zhibao serve` runs: the API, the web workspace, the OpenAPI
document and its interactive docs — every asset served from here (no CDN: government
networks are often offline) — behind the edge's guards: a body size limit consistent with
the event bound, security headers (a CSP without inline script, no framing, no caching of
pages with personal data) and errors as problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui_bundle
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.base import DomainError
from infra.http import api, web
from infra.http.door import Door
from infra.http.problems import Problem, from_domain
from infra.ops.metrics import health_app, metrics_app
from infra.settings import Settings, get_settings

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
"""Swagger UI sets style attributes; still no inline script."""


class BodyLimit:
    """Refuse a body above the bound before reading it all (413): one command is at most
    `max_event_bytes`; a JSONL batch that many per line of its allowed lines."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.single = settings.max_event_bytes
        self.batch = settings.max_event_bytes * settings.http_max_batch_lines

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.batch if scope["path"].endswith("/batch") else self.single
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(limit)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge(limit)
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _too_large(limit)(scope, receive, send)


class _TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        self.limit = limit


def _too_large(limit: int) -> Response:
    return Problem(413, "body too large", "body", f"at most {limit} bytes "
                   "(ZHIBAO_MAX_EVENT_BYTES per command)").response()


class SecurityHeaders:
    """Every answer carries the headers (a pure ASGI wrapper: no extra task per request):
    the CSP, no framing, no sniffing, no referrer; and no-store but on static assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = [(b"content-security-policy", (DOCS_CSP if path == "/api/docs" else CSP)
                    .encode()), (b"x-frame-options", b"DENY"),
                   (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
        if not path.startswith(("/static/", "/api/docs-assets/")):
            headers.append((b"cache-control", b"no-store"))

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, with_headers)


class _Plain:
    """An ASGI app served at exactly one path: a Route given a plain object passes requests
    through (a Mount would redirect `/metrics` to `/metrics/`, which monitors need not follow)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The front door over the store `settings` name (opened when the server starts)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.door = Door.open(settings)
        try:
            yield
        finally:
            app.state.door.close()

    app = FastAPI(title="zhibao 直报", version="1", lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url="/api/v1/openapi.json",
                  description="The front door of zhibao: commands, directory, views, "
                              "submissions and audit. Authenticate with `Authorization: "
                              "Bearer <API token or single sign-on JWT>`.")
    app.include_router(api.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount("/api/docs-assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")
    app.router.routes += [Route("/metrics", _Plain(metrics_app(settings))),
                          Route("/healthz", _Plain(health_app(settings)))]

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse((STATIC / "docs.html").read_text())

    @app.exception_handler(Problem)
    async def problem(request: Request, exc: Problem) -> Response:
        return exc.response()

    @app.exception_handler(DomainError)
    async def domain(request: Request, exc: DomainError) -> Response:
        return from_domain(exc).response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"][1:]) or str(error["loc"][0])
        return Problem(422, "rejected, nothing written", field, error["msg"]).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return Problem(exc.status_code, str(exc.detail)).response()

    app.add_middleware(api.CommandRoute)  # type: ignore[arg-type]
    app.add_middleware(BodyLimit, settings=settings)  # type: ignore[arg-type]
    app.add_middleware(SecurityHeaders)  # type: ignore[arg-type]
    return app
