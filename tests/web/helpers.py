"""The web app over real HTTP on loopback, in the test's loop, in front of a scenario's service;
and a signed-in client that carries the session cookie and CSRF token like the page does."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from cullarrd.web.app import create_app
from tests.deletion.helpers import PASSWORD

EMAIL = "op@example.com"
CSRF_META = re.compile(r'data-csrf="([^"]+)"')


@contextlib.asynccontextmanager
async def served(service: Any, base_path: str = "") -> AsyncIterator[str]:
    """Serve ``create_app(service)`` on a free loopback port; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(service, base_path=base_path), log_config=None, access_log=False,
        lifespan="off",
    )  # fmt: skip
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
        return await self.http.request(
            method, "/api/v1" + path, json=json, headers=headers, **kw
        )

    async def aclose(self) -> None:
        await self.http.aclose()


@contextlib.asynccontextmanager
async def web_client(service: Any, *, signed_in: bool = True) -> AsyncIterator[WebClient]:
    async with served(service) as base_url:
        client = WebClient(base_url)
        try:
            if signed_in:
                answer = await client.sign_in()
                assert answer.status_code == 303, answer.text
            yield client
        finally:
            await client.aclose()
