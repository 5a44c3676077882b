"""Server-rendered pages (SPEC §10.3): sign-in, Status, Candidates, Runs, Settings.

Each page gathers what it shows through the same commands as the API and renders a Jinja2
template; the small scripts in ``static/`` then act through the JSON API (with the page's CSRF
token) and keep the page live by polling. Without scripts a page still shows everything and
refreshes itself while something is running.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from cullarrd.candidates.params import MATCH_MODES, SCOPES, SORTS
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.operators import current_operator
from cullarrd.service import Caller
from cullarrd.settings import SPECS_BY_KEY
from cullarrd.timeutil import parse_iso
from cullarrd.web import auth, candidate_form
from cullarrd.web.api import ENDPOINTS, query_args
from cullarrd.web.context import WebContext, correlation_id

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CANDIDATES = next(ep for ep in ENDPOINTS if ep.command == "candidates.query")
Gather = Callable[[Request, WebContext, Caller], Awaitable[dict[str, Any]]]


def human_bytes(value: Any) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(size) < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def short_time(value: Any) -> str:
    if not value:
        return "—"
    try:
        when = parse_iso(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


templates.env.filters["bytes"] = human_bytes
templates.env.filters["time"] = short_time


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, a script or a scraper)."""
    web: WebContext = request.app.state.web
    api_prefix = f"{web.base_path}/api/"
    return not request.url.path.startswith(api_prefix) and "text/html" in request.headers.get(
        "accept", ""
    )


def error_page(request: Request, error: CullarrError) -> Response:
    web: WebContext = request.app.state.web
    context = {"error": error, "correlation_id": correlation_id(request), "base": web.base_path}
    return templates.TemplateResponse(request, "error.html", context, status_code=error.http_status)


def _render(
    request: Request, web: WebContext, session: auth.Session, name: str, context: dict[str, Any]
) -> Response:
    base = {
        "base": web.base_path,
        "csrf": session.csrf,
        "signed_in": web.signed_in(session),
        "path": request.url.path,
    }
    return templates.TemplateResponse(request, name, {**base, **context})


def page(web: WebContext, name: str, gather: Gather) -> Callable[[Request], Awaitable[Response]]:
    """A signed-in page: visitors without a session are sent to sign in, then back here."""

    async def handle(request: Request) -> Response:
        session = web.session(request)
        if session is None or not web.signed_in(session):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login = f"{web.base_path}/login?next={quote(target, safe='')}"
            return RedirectResponse(login, status_code=303)
        context = await gather(request, web, web.caller(request, session))
        return _render(request, web, session, name, context)

    return handle


def _safe_next(web: WebContext, value: str | None) -> str:
    """Only a path of this site (no scheme, no host, no ``//``) is a place to return to."""
    home = f"{web.base_path}/"
    if not value or not value.startswith(home) or value.startswith("//") or "\\" in value:
        return home
    parts = urlsplit(value)
    return home if parts.scheme or parts.netloc else value


async def login_form(request: Request) -> Response:
    web: WebContext = request.app.state.web
    next_path = request.query_params.get("next")
    return await _login_page(request, web, next_path, error=None, status=200)


async def _login_page(
    request: Request, web: WebContext, next_path: str | None, *, error: str | None, status: int
) -> Response:
    token = request.cookies.get(auth.COOKIE)
    session = web.sessions.get(token)
    fresh = None
    if session is None:
        fresh, session = web.sessions.new()
    if web.signed_in(session) and error is None:
        return RedirectResponse(_safe_next(web, next_path), 303)
    has_operator = await web.service.rt.store.read(_operator_exists)
    context = {
        "error": error,
        "has_operator": has_operator,
        "next": _safe_next(web, next_path),
    }
    response = _render(request, web, session, "login.html", context)
    response.status_code = status
    if fresh:
        auth.set_cookie(response, request, fresh, web.base_path)
    return response


def _operator_exists() -> bool:
    return current_operator() is not None


async def login(request: Request) -> Response:
    return await (login_submit if request.method == "POST" else login_form)(request)


async def login_submit(request: Request) -> Response:
    web: WebContext = request.app.state.web
    form = await request.form()
    token = request.cookies.get(auth.COOKIE)
    session = web.sessions.get(token)
    auth.check_csrf(session, str(form.get(auth.CSRF_FIELD) or ""))
    next_path = str(form.get("next") or "")
    args = {"email": form.get("email") or None, "password": form.get("password") or None}
    try:
        result = await web.password_checked(
            request, None, "auth.login", args, web.caller(request, None)
        )
    except ValidationFailed:
        return await _login_page(
            request, web, next_path, error="Enter your email and password.", status=422
        )
    except CullarrError as exc:
        return await _login_page(request, web, next_path, error=exc.message, status=exc.http_status)
    new_token, _ = web.sessions.sign_in(
        token, result["operator"]["id"], web.service.credentials_epoch
    )
    response = RedirectResponse(_safe_next(web, next_path), status_code=303)
    auth.set_cookie(response, request, new_token, web.base_path)
    return response


async def logout(request: Request) -> Response:
    web: WebContext = request.app.state.web
    form = await request.form()
    token = request.cookies.get(auth.COOKIE)
    session = web.sessions.get(token)
    if session is not None:  # an ended session (restart, expiry) has nothing left to end
        auth.check_csrf(session, str(form.get(auth.CSRF_FIELD) or ""))
        web.sessions.drop(token)
    response = RedirectResponse(f"{web.base_path}/login", status_code=303)
    auth.clear_cookie(response, request, web.base_path)
    return response


# --- what each page shows -----------------------------------------------------------------------


async def _status(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    dispatch = web.service.dispatch
    status = await dispatch("status", {}, caller)
    sync_runs = (await dispatch("runs.list", {"limit": 5}, caller))["runs"]
    deletion_runs = (await dispatch("deletion.list", {"limit": 5}, caller))["runs"]
    reclaimable: dict[str, Any] = {}
    for scope in ("movie", "tv_episode"):
        try:
            answer = await dispatch("candidates.query", {"scope": scope, "limit": 1}, caller)
            reclaimable[scope] = answer["diagnostics"]["total_reclaimable_bytes"]
        except CullarrError:
            reclaimable[scope] = None  # unknown, not zero
    active = status["active_sync_run"]
    active_run = None
    if active:
        active_run = (await dispatch("runs.get", {"id": active["id"]}, caller))["run"]
    return {
        "status": status,
        "sync_runs": sync_runs,
        "deletion_runs": deletion_runs,
        "reclaimable": reclaimable,
        "active_run": active_run,
    }


async def _candidates(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    dispatch = web.service.dispatch
    args = candidate_form.query_from_form(query_args(request, CANDIDATES))
    result, errors = None, {}
    try:
        result = await dispatch("candidates.query", args, caller)
    except ValidationFailed as exc:
        errors = exc.details.get("fields", {})
        if "scope" not in args and ("saved_view_id" in errors or "saved_view" in errors):
            errors.pop("scope", None)  # the scope was to come from that view
    keep = (await dispatch("keep.list", {}, caller))["items"]
    users = (await dispatch("users.list", {}, caller))["items"]
    form = candidate_form.form_state(args, result, users)
    return {
        "args": args,
        "result": result,
        "errors": errors,
        "users": users,
        "views": (await dispatch("views.list", {}, caller))["items"],
        "keep_markers": keep,
        "keep_by_target": {m["candidate_id"]: m for m in keep},
        "scopes": SCOPES,
        "match_modes": MATCH_MODES,
        "sorts": list(SORTS),
        "sort_defaults": SORTS,
        "form": form,
        **candidate_form.links(form, args, result),
    }


async def _runs(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    dispatch = web.service.dispatch
    sync_runs = (await dispatch("runs.list", {"limit": 25}, caller))["runs"]
    deletion_runs = (await dispatch("deletion.list", {"limit": 25}, caller))["runs"]
    live = ("queued", "running")
    active_sync = next((run for run in sync_runs if run["status"] in live), None)
    return {
        "sync_runs": sync_runs,
        "deletion_runs": deletion_runs,
        "active_sync": active_sync,  # followed by the progress bar above the table
        "any_active": any(run["status"] in live for run in [*sync_runs, *deletion_runs]),
    }


async def _sync_run(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    args = {"id": request.path_params["id"]}
    run = (await web.service.dispatch("runs.get", args, caller))["run"]
    return {"run": run, "active": run["status"] in ("queued", "running")}


async def _deletion_run(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    args = {"id": request.path_params["id"]}
    run = (await web.service.dispatch("deletion.get", args, caller))["run"]
    return {"run": run, "active": run["status"] in ("queued", "running")}


async def _settings(request: Request, web: WebContext, caller: Caller) -> dict[str, Any]:
    dispatch = web.service.dispatch
    mappings = [
        {"integration": i.name, "from": m.from_prefix, "to": m.to_prefix, "enabled": m.enabled}
        for i in web.service.rt.config.integrations
        for m in i.path_mappings
    ]
    settings = (await dispatch("settings.get", {}, caller))["settings"]
    # One form field per setting, typed and bounded as settings.py reads it; config-managed
    # keys (no spec) are shown read-only.
    fields = []
    for key, entry in settings.items():
        spec = SPECS_BY_KEY.get(key)
        fields.append(
            {
                "key": key,
                "label": key.replace("_", " ").capitalize(),
                "value": entry["value"],
                "source": entry["source"],
                "readonly": entry["source"] == "config" or spec is None,
                "help": spec.help if spec is not None else "set in config.yaml",
                "min": None, "max": None, "choices": [], "max_length": None,
                **(spec.field() if spec is not None else {"kind": "text"}),
            }
        )  # fmt: skip
    return {
        "settings": settings,
        "fields": fields,
        "integrations": (await dispatch("integrations.list", {}, caller))["integrations"],
        "path_mappings": mappings,
        "exclusions": (await dispatch("exclusions.list", {}, caller))["items"],
        "keep_markers": (await dispatch("keep.list", {}, caller))["items"],
        "views": (await dispatch("views.list", {}, caller))["items"],
        "audit": (await dispatch("audit.list", {"limit": 50}, caller))["events"],
    }


def routes(web: WebContext) -> list[Route]:
    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", page(web, "status.html", _status), methods=["GET"]),
        Route("/candidates", page(web, "candidates.html", _candidates), methods=["GET"]),
        Route("/runs", page(web, "runs.html", _runs), methods=["GET"]),
        Route("/runs/sync/{id:id}", page(web, "sync_run.html", _sync_run), methods=["GET"]),
        Route(
            "/runs/deletion/{id:id}",
            page(web, "deletion_run.html", _deletion_run),
            methods=["GET"],
        ),
        Route("/settings", page(web, "settings.html", _settings), methods=["GET"]),
    ]
