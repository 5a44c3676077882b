"""The JSON API (``/api/v1``, SPEC §10.2): one table of endpoints, each a thin adapter onto a
command of ``service.py``.

An endpoint turns the request into command arguments (path id, query string, JSON body) and
answers with the command's result, so the API validates and fails exactly like the socket.
What is web-only lives here: the session (401 without one), the CSRF token on every mutating
request, the re-authentication window on sensitive ones, and rate limiting of passwords.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cullarrd import metrics
from cullarrd.errors import ValidationFailed
from cullarrd.web import auth
from cullarrd.web.context import WebContext

MAX_BODY = 1 << 20  # a plan of 500 targets is well under this
INTEGER = re.compile(r"-?[0-9]{1,19}")  # ASCII digits that fit an id column
PUBLIC_HEALTH = ("status", "version", "db", "uptime_s")  # what anyone may learn


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    command: str
    status: int = 200
    public: bool = False
    sensitive: bool = False  # needs a sign-in or re-authentication within the window
    password: bool = False  # carries the operator's password: rate limited, proves re-auth
    ints: frozenset[str] = frozenset()  # query parameters read as integers
    bools: frozenset[str] = frozenset()  # ... as true/false
    lists: frozenset[str] = frozenset()  # ... as lists (repeated or comma-separated)
    not_over_http: frozenset[str] = frozenset()  # socket-only arguments (``wait``)


PAGING = frozenset({"limit", "before_id"})
WAIT = frozenset({"wait"})  # would hold the request open for the whole run: poll instead
E = Endpoint
ENDPOINTS = [
    E("GET", "/health", "health", public=True),
    E("GET", "/status", "status"),
    E("GET", "/settings", "settings.get"),
    E("PATCH", "/settings", "settings.set", sensitive=True),
    E("GET", "/integrations", "integrations.list"),
    E("POST", "/integrations/{id:id}/check", "integrations.check"),
    E("POST", "/integrations/{id:id}/reset-history", "integrations.reset_history",
      status=202, sensitive=True),
    E("GET", "/sync-runs", "runs.list", ints=PAGING),
    E("POST", "/sync-runs", "sync.trigger", status=202, not_over_http=WAIT),
    E("GET", "/sync-runs/{id:id}", "runs.get"),
    E("POST", "/sync-runs/{id:id}/cancel", "sync.cancel"),
    E("GET", "/users", "users.list"),
    E("GET", "/candidates", "candidates.query",
      ints=frozenset({"limit", "saved_view_id", "plex_user_ids"}),
      bools=frozenset({"include_blocked"}), lists=frozenset({"users", "plex_user_ids"})),
    E("GET", "/keep-markers", "keep.list"),
    E("POST", "/keep-markers", "keep.add", status=201),
    E("DELETE", "/keep-markers/{id:id}", "keep.remove", sensitive=True),
    E("GET", "/path-exclusions", "exclusions.list"),
    E("POST", "/path-exclusions", "exclusions.add", status=201),
    E("PATCH", "/path-exclusions/{id:id}", "exclusions.update", sensitive=True),
    E("DELETE", "/path-exclusions/{id:id}", "exclusions.remove", sensitive=True),
    E("GET", "/saved-views", "views.list"),
    E("POST", "/saved-views", "views.add", status=201),
    E("PATCH", "/saved-views/{id:id}", "views.update"),
    E("DELETE", "/saved-views/{id:id}", "views.remove"),
    E("POST", "/security/re-auth", "auth.reauth", password=True),
    E("POST", "/delete-mode/unlock", "delete.unlock", password=True),
    E("POST", "/deletion-runs/plan", "deletion.plan"),
    E("POST", "/deletion-runs", "deletion.create", status=201, sensitive=True,
      not_over_http=WAIT),
    E("GET", "/deletion-runs", "deletion.list", ints=PAGING),
    E("GET", "/deletion-runs/{id:id}", "deletion.get"),
    E("POST", "/deletion-runs/{id:id}/cancel", "deletion.cancel"),
    E("GET", "/audit-events", "audit.list", ints=PAGING),
]  # fmt: skip


def _typed(value: str, name: str, ep: Endpoint) -> Any:
    """A query value as the command expects it; unreadable values pass through as text so the
    command reports them like any other bad argument."""
    if name in ep.ints and INTEGER.fullmatch(value):
        return int(value)
    if name in ep.bools:
        return {"true": True, "1": True, "false": False, "0": False}.get(value.lower(), value)
    return value


def query_args(request: Request, ep: Endpoint) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name in dict.fromkeys(request.query_params.keys()):
        values = request.query_params.getlist(name)
        if name in ep.lists:
            parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
            args[name] = [_typed(p, name, ep) for p in parts]
        else:
            args[name] = _typed(values[-1], name, ep)
    return args


async def body_args(request: Request) -> dict[str, Any]:
    too_big = ValidationFailed({"body": [f"must be at most {MAX_BODY} bytes"]})
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY:
        raise too_big
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY:
            raise too_big
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, too deep, too long a number
        body = None
    if not isinstance(body, dict):
        raise ValidationFailed({"body": ["must be a JSON object"]})
    return body


def handler(ep: Endpoint, web: WebContext):
    async def handle(request: Request) -> Response:
        session = web.session(request)
        if not ep.public:
            web.require_operator(session)
        if ep.method not in auth.SAFE_METHODS:
            auth.check_csrf(session, request.headers.get(auth.CSRF_HEADER))
        if ep.sensitive:
            await web.require_reauth(session)
        args = query_args(request, ep) if ep.method == "GET" else await body_args(request)
        if socket_only := sorted(ep.not_over_http & args.keys()):
            raise ValidationFailed(
                {k: ["not available over HTTP; poll the run"] for k in socket_only}
            )
        args.update(request.path_params)
        caller = web.caller(request, session, reauthenticated=ep.sensitive)
        if ep.password:
            result = await web.password_checked(request, session, ep.command, args, caller)
        else:
            result = await web.service.dispatch(ep.command, args, caller)
        if ep.command == "health":
            if not web.signed_in(session):  # plugin errors and run details are for the operator
                last = result["last_sync"] or {}
                result = {key: result[key] for key in PUBLIC_HEALTH} | {
                    "last_sync": {k: last.get(k) for k in ("status", "finished_at")}
                    if last else None,
                    "plugins_failed": [{"name": p["name"]} for p in result["plugins_failed"]],
                }  # fmt: skip
            return JSONResponse(result, status_code=200 if result["db"] else 503)
        return JSONResponse(result, status_code=ep.status)

    return handle


def routes(web: WebContext) -> list[Route]:
    """One route per path with every method it has, so a wrong method's 405 names them all."""
    by_path: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        by_path.setdefault(ep.path, {})[ep.method] = handler(ep, web)

    def by_method(handlers: dict[str, Any]):
        async def handle(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await handlers[method](request)

        return handle

    found = [
        Route(path, by_method(handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]
    return [*found, Route("/metrics", metrics_handler(web), methods=["GET"])]


def metrics_handler(web: WebContext):
    """Prometheus text; public unless ``web.metrics_public: false`` (it carries no titles,
    paths or secrets either way)."""

    async def handle(request: Request) -> Response:
        if not web.service.rt.config.web.metrics_public:
            web.require_operator(web.session(request))
        body = await metrics.exposition(web.service.rt.store)
        return Response(body, media_type=metrics.CONTENT_TYPE)

    return handle
