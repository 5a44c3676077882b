"""The Starlette application: pages, the JSON API, static files, the error envelope.

Handlers are thin adapters onto ``service.py``; a ``CullarrError`` raised there renders as
``{"error": {code, message, correlation_id, details}}`` with its HTTP status (as a small HTML
page for a browser outside the API), and every response carries ``X-Correlation-Id`` (an
incoming ``X-Request-Id`` is honoured) and the security headers.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cullarrd.errors import CullarrError
from cullarrd.service import Service
from cullarrd.web import api, pages
from cullarrd.web.context import WebContext, correlation_id

log = structlog.get_logger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class CorrelationMiddleware:
    """Gives every request a correlation id and stamps it (and security headers) on replies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        cid = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["correlation_id"] = cid
        static = "/static/" in scope.get("path", "")

        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = list(message.get("headers") or [])
                headers.append((b"x-correlation-id", cid.encode()))
                headers.extend(SECURITY_HEADERS)
                if not static:  # pages and answers carry tokens, paths and audit payloads
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(correlation_id=cid):
            try:
                await self.app(scope, receive, stamped)
            except Exception:
                # Rendered here (not by Starlette's outermost handler) so even a 500 carries
                # the envelope and the correlation id; the traceback goes to the log only.
                log.exception("web.unhandled_error", path=scope.get("path"))
                if started:
                    raise
                error = CullarrError("internal error")
                try:
                    response = error_response(Request(scope), error)
                except Exception:  # the error page itself failed: the envelope always works
                    response = JSONResponse(error.to_dict(cid), status_code=500)
                await response(scope, receive, stamped)


def error_response(request: Request, error: CullarrError) -> Response:
    """The shared envelope for the API and scripts; a small page for a browser's page view."""
    if pages.wants_html(request):
        return pages.error_page(request, error)
    return JSONResponse(error.to_dict(correlation_id(request)), status_code=error.http_status)


async def _cullarr_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CullarrError)
    return error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated", 403: "forbidden"}
    error = CullarrError(str(exc.detail), code=code.get(exc.status_code, "bad_request"))
    response = error_response(request, error)
    response.status_code = exc.status_code
    response.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return response


def create_app(service: Service, *, base_path: str = "") -> Starlette:
    """Build the web application around the service layer."""
    web = WebContext(service, base_path)
    routes = [
        Mount("/api/v1", routes=api.routes(web)),
        Route("/metrics", api.metrics_handler(web), methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
        *pages.routes(web),
    ]
    if web.base_path:
        routes = [Mount(web.base_path, routes=routes)]
    app = Starlette(
        routes=routes,
        exception_handlers={CullarrError: _cullarr_error, HTTPException: _http_error},
    )
    app.add_middleware(CorrelationMiddleware)
    app.state.web = web
    return app
