"""The fake Radarr's wire: request parsing, the API-key rule, error answers, JSON out.

Radarr matches route and field names ignoring case, wants numbers as JSON numbers and answers
type errors with 400; a handler raises ``FakeError`` (``arr_fake``) anywhere and the dispatcher
renders it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from cullarrd_plugins.fakelib.arr_fake import FakeError, message, query_values


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON the way Radarr sends it (compact, UTF-8)."""
    body = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return Response(body, status, headers=headers, media_type="application/json; charset=utf-8")


def int_list(value: Any, name: str) -> list[int]:
    """A JSON array of integers (``"5"`` is refused, as Radarr's deserializer does)."""
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise FakeError(400, not_converted(name))
    return value


def not_converted(name: str) -> dict[str, str]:
    """The 400 body ASP.NET writes when a JSON value has the wrong type."""
    return {"message": f"The JSON value could not be converted for {name}."}


@dataclass
class Call:
    """One parsed request: route parameters, repeated query values, JSON body."""

    request: Request
    path: str
    match: dict[str, str]
    query: dict[str, list[str]]  # keys lower-cased: ASP.NET binds query names ignoring case
    body: Any

    def route_id(self) -> int | None:
        """The ``{id}`` route parameter, if the route has one."""
        raw = self.match.get("id")
        return None if raw is None else int(raw)

    def ints(self, name: str) -> list[int]:
        """Every integer value of a (repeatable) query parameter; 400 for a non-number."""
        try:
            return [int(value) for value in self.query.get(name.lower(), [])]
        except ValueError:
            raise message(400, f"The value is not valid for {name}.") from None

    def object_body(self) -> dict[str, Any]:
        """The JSON object body with lower-cased keys (Radarr matches names ignoring case)."""
        if not isinstance(self.body, dict):
            raise message(400, "A non-empty request body is required.")
        return {key.lower(): value for key, value in self.body.items()}


def presented_key(request: Request) -> str | None:
    """The key Radarr would check: query ``apikey`` first, then ``X-Api-Key``, then Bearer."""
    query = query_values(request, "apikey")
    if query:  # present, even empty, it decides
        return query[0]
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None


async def parse_call(request: Request, path: str, match: dict[str, str]) -> Call:
    """Parse the query (names lower-cased) and the JSON body; 400 for a body that is not JSON."""
    query: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        query.setdefault(name.lower(), []).append(value)
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError:
        raise message(400, "The request body is not valid JSON.") from None
    return Call(request, path, match, query, body)
