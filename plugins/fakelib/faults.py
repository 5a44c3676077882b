"""Fault injection and write recording shared by the Sonarr, Radarr and Tautulli fakes.

A fake computes an endpoint key per request (``endpoint_key``: ``"GET /api/v3/series"`` for
Sonarr/Radarr, the path below any mount prefix; the command name such as ``"get_history"`` for
Tautulli), asks ``Faults.take`` for a matching fault and answers through ``respond_with_fault``.
Every non-GET request goes into a ``WriteLog`` (``record_request``). ``control_routes`` lets a test
or a benchmark steer a fake running in another process; ``fake_app`` mounts them outside the
fake's API-key check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import inspect
import json
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

KINDS = (
    "latency",  # sleep ``seconds``, then answer normally
    "status",  # answer ``status`` with {"message": ...}
    "rate_limit",  # 429 with Retry-After: ``retry_after`` or "1"
    "timeout",  # sleep ``seconds`` (default 30, beyond any client timeout), then answer normally
    "malformed_json",  # 200 with a truncated JSON body
    "wrong_shape",  # 200 with valid JSON of the wrong shape (object for list and vice versa)
    "auth",  # 401 with an empty body, as Sonarr/Radarr answer a bad key
    "plex_down",  # Tautulli only: Plex-backed commands answer as if Plex were unreachable
)
DEFAULT_TIMEOUT_SECONDS = 30.0
MALFORMED_BODY = b'{"page": 1, "records": [{"id": 1, "title": "Trunc'

Normal = Callable[[], Awaitable[Response]]
Override = Callable[["Fault"], Response | Awaitable[Response]]


@dataclass
class Fault:
    """One injected misbehaviour for the requests whose endpoint key matches ``match``."""

    kind: str
    match: str  # fnmatch pattern over the endpoint key, case-insensitive
    times: int | None = None  # matching requests it still affects; None = until cleared
    seconds: float = 0.0
    status: int = 500
    retry_after: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if not isinstance(self.match, str) or not self.match:
            raise ValueError("fault match must be a non-empty pattern")
        if self.times is not None and (isinstance(self.times, bool) or self.times < 1):
            raise ValueError("fault times must be a positive integer or null")
        if self.seconds < 0:
            raise ValueError("fault seconds must not be negative")
        if not 100 <= self.status <= 599:
            raise ValueError("fault status must be an HTTP status code")

    def matches(self, key: str) -> bool:
        """Whether this fault applies to the endpoint ``key``."""
        return fnmatch.fnmatchcase(key.lower(), self.match.lower())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """A fault from JSON fields; unknown fields or wrong types raise ``ValueError``."""
        if not isinstance(data, Mapping):
            raise ValueError("a fault must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        values = dict(data)
        retry_after = values.get("retry_after")
        if isinstance(retry_after, int | float) and not isinstance(retry_after, bool):
            values["retry_after"] = str(retry_after)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ValueError(f"bad fault: {exc}") from exc


class Faults:
    """The active faults of one fake, consulted in the order they were added."""

    # No __len__/__bool__ on purpose: an empty Faults must stay truthy, so ``faults or Faults()``
    # in a fake never swaps out the instance the control routes steer.

    def __init__(self, faults: Iterable[Fault] = ()) -> None:
        self._faults: list[Fault] = list(faults)
        self._lock = threading.Lock()

    @classmethod
    def from_dicts(cls, items: Iterable[Mapping[str, Any]]) -> Faults:
        """Faults from JSON objects (see ``Fault.from_dict``)."""
        return cls(Fault.from_dict(item) for item in items)

    def add(self, fault: Fault) -> None:
        """Activate ``fault`` after the ones already active."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Drop every fault."""
        with self._lock:
            self._faults.clear()

    def take(self, key: str) -> Fault | None:
        """The first fault matching ``key``, spending one of its ``times``; None if none."""
        with self._lock:
            for index, fault in enumerate(self._faults):
                if not fault.matches(key):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        del self._faults[index]
                return fault
            return None

    def to_list(self) -> list[dict[str, Any]]:
        """The active faults as JSON objects."""
        with self._lock:
            return [fault.to_dict() for fault in self._faults]


def route_path(request: Request) -> str:
    """The request path below any mount prefix (``/sonarr/api/v3/tag`` → ``/api/v3/tag``)."""
    # Starlette 1.x keeps the whole path in ``path`` and the mount prefix in ``root_path``.
    path, root = request.scope["path"], request.scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def endpoint_key(request: Request) -> str:
    """``"METHOD /path"`` of a Sonarr/Radarr request below any mount prefix, no trailing slash."""
    return f"{request.method.upper()} {route_path(request).rstrip('/') or '/'}"


async def respond_with_fault(
    fault: Fault | None, normal: Normal, *, overrides: Mapping[str, Override] | None = None
) -> Response:
    """Answer through ``fault``: delay then ``normal()``, or a faulty response instead.

    ``overrides`` lets a fake render a kind its own way (Tautulli's auth error and ``plex_down``).
    Without an override, ``plex_down`` has no effect here.
    """
    if fault is None:
        return await normal()
    if overrides and fault.kind in overrides:
        result = overrides[fault.kind](fault)
        return await result if inspect.isawaitable(result) else result
    kind = fault.kind
    if kind in ("latency", "timeout"):
        seconds = fault.seconds or (DEFAULT_TIMEOUT_SECONDS if kind == "timeout" else 0.0)
        await asyncio.sleep(seconds)
        return await normal()
    if kind == "status":
        message = f"Injected fault: HTTP {fault.status}"
        return JSONResponse({"message": message}, status_code=fault.status)
    if kind == "rate_limit":
        headers = {"Retry-After": fault.retry_after or "1"}
        return JSONResponse({"message": "Too Many Requests"}, status_code=429, headers=headers)
    if kind == "malformed_json":
        return Response(MALFORMED_BODY, status_code=200, media_type="application/json")
    if kind == "wrong_shape":
        return await _wrong_shape(normal)
    if kind == "auth":
        return Response(status_code=401)
    return await normal()


async def _wrong_shape(normal: Normal) -> Response:
    """Valid JSON of the other shape: an object where the fake would send a list, else a list."""
    response = await normal()
    try:
        decoded = json.loads(getattr(response, "body", b"") or b"null")
    except ValueError:
        decoded = None
    shape: Any = {"unexpected": True} if isinstance(decoded, list) else []
    status = response.status_code if 200 <= response.status_code < 300 else 200
    return JSONResponse(shape, status_code=status)


class WriteLog:
    """Every write request a fake received, oldest first (for deletion tests)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, method: str, path: str, query: Mapping[str, Any], body: Any) -> None:
        """Append one request; a repeated query key keeps all its values as a list."""
        with self._lock:
            self.entries.append(
                {
                    "seq": len(self.entries) + 1,
                    "method": method.upper(),
                    "path": path,
                    "query": _plain_query(query),
                    "body": body,
                }
            )

    def to_list(self) -> list[dict[str, Any]]:
        """A snapshot of the entries."""
        with self._lock:
            return list(self.entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self.entries.clear()


def decode_body(raw: bytes) -> Any:
    """A request body as JSON when it is JSON, else its text; None when there is none."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


async def record_request(writes: WriteLog, request: Request) -> None:
    """Record ``request`` with its path below any mount prefix and its body decoded."""
    body = decode_body(await request.body())
    writes.record(request.method, route_path(request), request.query_params, body)


def _plain_query(query: Mapping[str, Any]) -> dict[str, Any]:
    multi_items = getattr(query, "multi_items", None)
    if multi_items is None:
        return dict(query)
    plain: dict[str, Any] = {}
    for key, value in multi_items():
        if key not in plain:
            plain[key] = value
        elif isinstance(plain[key], list):
            plain[key].append(value)
        else:
            plain[key] = [plain[key], value]
    return plain


def control_routes(faults: Faults, writes: WriteLog) -> list[Route]:
    """Test-only routes under ``/__fake__/`` to steer faults and read writes (no API key)."""

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": faults.to_list()})

    async def add_faults(request: Request) -> Response:
        try:
            payload = await request.json()
            items = payload.get("faults") if isinstance(payload, dict) else None
            if isinstance(payload, dict) and "kind" in payload:
                items = [payload]
            if not isinstance(items, list):
                raise ValueError('body must be {"faults": [ {...}, ... ]}')
            new = [Fault.from_dict(item) for item in items]
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"message": str(exc)}, status_code=400)
        for fault in new:
            faults.add(fault)
        return JSONResponse({"faults": faults.to_list()})

    async def clear_faults(request: Request) -> Response:
        faults.clear()
        return JSONResponse({"faults": []})

    async def list_writes(request: Request) -> Response:
        return JSONResponse({"writes": writes.to_list()})

    async def clear_writes(request: Request) -> Response:
        writes.clear()
        return JSONResponse({"writes": []})

    return [
        Route("/__fake__/faults", list_faults, methods=["GET"]),
        Route("/__fake__/faults", add_faults, methods=["POST"]),
        Route("/__fake__/faults", clear_faults, methods=["DELETE"]),
        Route("/__fake__/writes", list_writes, methods=["GET"]),
        Route("/__fake__/writes", clear_writes, methods=["DELETE"]),
    ]


def fake_app(fake: Any, routes: Iterable[BaseRoute], *, alias: str = "fake") -> Starlette:
    """A fake's app: control routes, then ``routes``; ``app.state.fake`` (and ``alias``) is it."""
    app = Starlette(routes=[*control_routes(fake.faults, fake.writes), *routes])
    app.state.fake = fake
    setattr(app.state, alias, fake)
    return app
