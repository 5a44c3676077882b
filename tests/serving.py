"""Serve an ASGI app on real loopback HTTP for a test, and record what a client sends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import httpx

from cullarrd_plugins.fakelib.serving import serve  # noqa: F401 (re-exported for tests)


@dataclass(frozen=True)
class SentRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]


class RecordingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that also remembers every request it sent."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[SentRequest] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = request.content
        body = (
            json.loads(raw)
            if raw and b"json" in request.headers.get("content-type", "").encode()
            else None
        )
        self.sent.append(
            SentRequest(
                method=request.method,
                path=request.url.path,
                query=parse_qs(request.url.query.decode(), keep_blank_values=True),
                body=body,
                headers=dict(request.headers),
            )
        )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
