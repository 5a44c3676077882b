"""The web app over real HTTP on loopback, in the test's loop, in front of a scenario's service;
and a signed-in client that carries the session cookie and CSRF token like the page does."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from cullarrd import operators
from cullarrd.web.app import create_app
from cullarrd.web.context import WebContext
from tests.deletion.helpers import PASSWORD

EMAIL = "op@example.com"
CSRF_META = re.compile(r'data-csrf="([^"]+)"')


@contextlib.asynccontextmanager
async def served(service: Any, base_path: str = "") -> AsyncIterator[str]:
    """Serve ``create_app(service)`` on a free loopback port; yields the base URL."""
    async with serve_app(create_app(service, base_path=base_path), base_path) as url:
        yield url


@contextlib.asynccontextmanager
async def serve_app(app: Any, base_path: str = "") -> AsyncIterator[str]:
    """Serve an ASGI ``app`` on a free loopback port in the test's loop; yields the base URL."""
    sock = socket.socket()
    # Accepted connections inherit this (as in the daemon): no 40 ms Nagle/delayed-ACK stall
    # per response.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}{base_path}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


class WebClient:
    """An httpx client that signs in through the login form and sends the page's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf: str | None = None
        self.web: WebContext | None = None  # the app's sessions and limiter (``app_client``)

    async def page_csrf(self, path: str = "/login") -> str:
        page = await self.http.get(path, headers={"Accept": "text/html"})
        match = CSRF_META.search(page.text)
        assert match, page.text[:500]
        self.csrf = match.group(1)
        return self.csrf

    async def sign_in(self, email: str = EMAIL, password: str = PASSWORD) -> httpx.Response:
        csrf = await self.page_csrf("/login")
        answer = await self.http.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf, "next": "/"}
        )
        if answer.status_code == 303:
            await self.page_csrf("/")  # the signed-in session has its own token
        return answer

    async def api(self, method: str, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        if method != "GET" and self.csrf is not None:
            headers.setdefault("X-CSRF-Token", self.csrf)
        return await self.http.request(method, "/api/v1" + path, json=json, headers=headers, **kw)

    async def aclose(self) -> None:
        await self.http.aclose()


@contextlib.asynccontextmanager
async def web_client(service: Any, *, signed_in: bool = True) -> AsyncIterator[WebClient]:
    async with app_client(service, signed_in=signed_in) as client:
        yield client


@contextlib.asynccontextmanager
async def app_client(service: Any, *, signed_in: bool = True) -> AsyncIterator[WebClient]:
    """Like ``web_client``, with ``client.web`` set to the app's ``WebContext`` so a test can
    swap the session and limiter clocks (see ``Clock``) or read the live sessions."""
    app = create_app(service)
    async with serve_app(app) as base_url:
        client = WebClient(base_url)
        client.web = app.state.web
        try:
            if signed_in:
                answer = await client.sign_in()
                assert answer.status_code == 303, answer.text
            yield client
        finally:
            await client.aclose()


class Clock:
    """A monotonic clock a test can move forward (for ``Sessions`` and ``LoginLimiter``)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def record_bodies(client: WebClient) -> list[str]:
    """Every response body ``client`` receives from now on, in order (to search for secrets)."""
    bodies: list[str] = []

    async def keep(response: httpx.Response) -> None:
        await response.aread()
        bodies.append(response.text)

    client.http.event_hooks["response"].append(keep)
    return bodies


def envelope(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error of an error answer, checked to be the shared envelope with this status/code."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {"code", "message", "correlation_id", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert error["correlation_id"] == response.headers["x-correlation-id"]
    return error


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def with_operator(sc: Any) -> None:
    """Create the operator (as ``cullarrctl operator set-password`` would)."""
    with sc.runtime.store.db.atomic():
        operators.set_password(EMAIL, operators.hash_password(PASSWORD), sc.runtime.audit)
