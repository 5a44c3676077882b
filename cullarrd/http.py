"""One HTTP client per integration: timeouts, bounded retries, the SPEC §4.2 classification.

Every failure becomes an ``IntegrationError`` with a stable code:

| upstream answer                       | code                          | retried                  |
|---------------------------------------|-------------------------------|--------------------------|
| connect error, timeout, 502/503/504   | integration_unreachable       | yes                      |
| 429                                   | rate_limited                  | yes, >= Retry-After      |
| 401, 403                              | integration_auth_failed       | no                       |
| other 4xx, 500, non-JSON, wrong shape | integration_contract_mismatch | no                       |

A call that is not idempotent is retried only when the server cannot have acted on it (the
connection was never made, or it answered 429/503). The API key never appears in an error, a
log line or a detail: it is masked in URLs (``apikey=***``) and in echoed bodies.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import random
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from cullarrd.errors import IntegrationError
from cullarrd.netguard import check_base_url

log = structlog.get_logger(__name__)

BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 30.0
MAX_RETRY_AFTER_S = 120.0  # a longer wait fails the call as rate_limited instead of stalling
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE"})
APIKEY_IN_URL = re.compile(r"(apikey=)[^&\s]*", re.IGNORECASE)
# Requests sent per (integration, outcome code or "ok"), for status and /metrics.
REQUEST_COUNTS: Counter[tuple[str, str]] = Counter()


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any  # parsed JSON, or None for an empty body
    headers: Mapping[str, str]


class IntegrationHttp:
    """The HTTP side of one integration; adapters call ``request``/``get_json`` with API paths."""

    def __init__(
        self,
        cfg: Any,
        *,
        auth_header: str | None = "X-Api-Key",
        auth_param: str | None = None,
        security: Any = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.name = cfg.name
        self.base_url = cfg.base_url.rstrip("/") + "/"
        self.max_attempts = cfg.retry_max_attempts
        self.security = security
        self._key = cfg.api_key.reveal()
        self._auth_param = auth_param
        self._sleep = sleep
        self._rng = rng or random.Random()
        headers = {"Accept": "application/json", "User-Agent": "cullarrd"}
        if auth_header:
            headers[auth_header] = self._key
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(cfg.request_timeout_seconds),
            follow_redirects=False,
            verify=cfg.verify_ssl,
            transport=transport,
        )

    def use_query_auth(self, param: str) -> None:
        """Send the key as a query parameter instead of a header (Tautulli's only way)."""
        self._client.headers.pop("X-Api-Key", None)
        self._auth_param = param

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> IntegrationHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def check_url(self) -> None:
        """Refuse a base URL the allow-lists no longer admit (checked before each sync)."""
        if self.security is None:
            return
        problem = check_base_url(self.base_url.rstrip("/"), self.security)
        if problem:
            raise IntegrationError(f"{self.name}: {problem}", code="integration_url_forbidden")

    async def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document (retried per the table)."""
        return (await self.request("GET", path, params=params)).data

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        ok_statuses: tuple[int, ...] = (),
    ) -> Answer:
        """Send one call with retries; ``ok_statuses`` are answers the caller handles itself."""
        method = method.upper()
        idempotent = method in IDEMPOTENT if idempotent is None else idempotent
        query = dict(params or {})
        if self._auth_param:
            query[self._auth_param] = self._key
        attempt = 0
        while True:
            attempt += 1
            error, may_have_acted = await self._attempt(
                method, path, query, json_body, form, ok_statuses
            )
            REQUEST_COUNTS[self.name, "ok" if isinstance(error, Answer) else error.code] += 1
            if isinstance(error, Answer):
                return error
            # A contract mismatch after a write the server accepted is still a mismatch:
            # never retried (the retryable codes are only unreachable and rate_limited).
            retry = error.retryable and (idempotent or not may_have_acted)
            if not retry or attempt >= self.max_attempts:
                raise error
            delay = self._delay(attempt, error.retry_after)
            if delay is None:
                raise error
            log.info(
                "integration.retry",
                integration=self.name,
                code=error.code,
                attempt=attempt,
                delay_s=round(delay, 3),
            )
            await self._sleep(delay)

    async def _attempt(
        self, method: str, path: str, query: dict, json_body: Any, form: Any, ok_statuses: tuple
    ) -> tuple[Answer | IntegrationError, bool]:
        """One try: ``(Answer or IntegrationError, whether the server may have acted)``."""
        where = f"{method} {self._redact(self.base_url + path)}"
        try:
            response = await self._client.request(
                method, path, params=query, json=json_body, data=form
            )
        except httpx.ConnectError as exc:
            return self._error(f"cannot connect: {exc}", where, "integration_unreachable"), False
        except httpx.ConnectTimeout:
            return self._error("connect timed out", where, "integration_unreachable"), False
        except httpx.TimeoutException:
            return self._error("timed out", where, "integration_unreachable"), True
        except httpx.TransportError as exc:
            return self._error(f"transport error: {exc}", where, "integration_unreachable"), True
        status = response.status_code
        if 200 <= status < 300 or status in ok_statuses:
            return self._parse(response, where), False
        return self._classify(response, where)

    def _parse(self, response: httpx.Response, where: str) -> Answer | IntegrationError:
        text = response.text
        if not text.strip():
            return Answer(response.status_code, None, response.headers)
        try:
            data = json.loads(text)
        except ValueError:
            return self._error(
                "answered with a body that is not JSON",
                where,
                "integration_contract_mismatch",
                status=response.status_code,
                body=text,
            )
        return Answer(response.status_code, data, response.headers)

    def _classify(self, response: httpx.Response, where: str) -> tuple[IntegrationError, bool]:
        status = response.status_code
        body = response.text
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = self._error("rate limited", where, "rate_limited", status=status, body=body)
            error.retry_after = retry_after
            return error, False
        if status in (502, 503, 504):
            return self._error(
                f"answered {status}", where, "integration_unreachable", status=status, body=body
            ), status != 503
        if status in (401, 403):
            return self._error(
                "refused the API key", where, "integration_auth_failed", status=status, body=body
            ), False
        return self._error(
            f"answered {status}", where, "integration_contract_mismatch", status=status, body=body
        ), False

    def _error(
        self, what: str, where: str, code: str, *, status: int | None = None, body: str = ""
    ) -> IntegrationError:
        return IntegrationError(
            self._redact(f"{self.name}: {where} {what}"),
            code=code,
            status=status,
            body=self._redact(body) if body else None,
            details={"integration": self.name},
        )

    def _delay(self, attempt: int, retry_after: float | None) -> float | None:
        backoff = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1))
        delay = backoff * (0.5 + self._rng.random() / 2)  # jitter: 50-100 % of the step
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER_S:
                return None
            delay = max(delay, retry_after)
        return delay

    def _redact(self, text: str) -> str:
        text = APIKEY_IN_URL.sub(r"\1***", text)
        return text.replace(self._key, "***") if self._key else text


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())
