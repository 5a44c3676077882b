"""The integration HTTP client over real loopback HTTP: classification, retries, redaction."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import random

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cullarrd.config import SecurityConfig
from cullarrd.errors import IntegrationError
from cullarrd.http import BACKOFF_CAP_S, IntegrationHttp, parse_retry_after
from tests.conftest import integration_config
from tests.serving import serve

KEY = "k3y-abcdef0123456789abcdef012345"


class Script:
    """A tiny upstream: answers from a queue of (status, body, headers); records what it saw."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, object, dict[str, str]]] = []
        self.seen: list[Request] = []
        self.delay = 0.0

    async def endpoint(self, request: Request) -> Response:
        self.seen.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body, headers = self.answers.pop(0) if self.answers else (200, [], {})
        if isinstance(body, str | bytes):
            return Response(body, status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    def app(self) -> Starlette:
        return Starlette(
            routes=[Route("/{path:path}", self.endpoint, methods=["GET", "POST", "PUT", "DELETE"])]
        )


@pytest.fixture
def upstream():
    script = Script()
    with serve(script.app()) as url:
        script.url = url
        yield script


def client(base_url: str, *, attempts: int = 4, timeout: int = 5, sleeps=None, **kw):
    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    cfg = integration_config(
        "sonarr", base_url, KEY, retry_max_attempts=attempts, request_timeout_seconds=timeout
    )
    return IntegrationHttp(
        cfg, sleep=sleep if sleeps is not None else asyncio.sleep, rng=random.Random(7), **kw
    )


async def test_path_prefix_is_kept_and_key_sent_as_header(upstream):
    upstream.answers.append((200, [{"id": 1}], {}))
    async with client(upstream.url + "/sonarr/") as http:
        assert await http.get_json("api/v3/series", {"tvdbId": 5}) == [{"id": 1}]
    (req,) = upstream.seen
    assert req.url.path == "/sonarr/api/v3/series" and req.query_params["tvdbId"] == "5"
    assert req.headers["x-api-key"] == KEY


async def test_rate_limit_waits_at_least_retry_after_then_succeeds(upstream):
    upstream.answers += [(429, {"message": "slow"}, {"Retry-After": "2"}), (200, {"ok": 1}, {})]
    sleeps: list[float] = []
    async with client(upstream.url, sleeps=sleeps) as http:
        assert await http.get_json("api/v3/x") == {"ok": 1}
    assert len(upstream.seen) == 2 and sleeps == [2.0]


async def test_retry_after_beyond_the_bound_fails_at_once(upstream):
    upstream.answers.append((429, "", {"Retry-After": "3600"}))
    async with client(upstream.url, sleeps=[]) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert caught.value.code == "rate_limited" and len(upstream.seen) == 1


async def test_unreachable_storm_retries_with_bounded_exponential_delays(upstream):
    upstream.answers += [(503, {"message": "starting"}, {})] * 4
    sleeps: list[float] = []
    async with client(upstream.url, attempts=4, sleeps=sleeps) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert caught.value.code == "integration_unreachable" and caught.value.details["status"] == 503
    assert len(upstream.seen) == 4 and len(sleeps) == 3
    for n, delay in enumerate(sleeps):
        step = min(BACKOFF_CAP_S, 0.25 * 2**n)
        assert step / 2 <= delay <= step


@pytest.mark.parametrize(
    ("status", "code", "tries"),
    [
        (401, "integration_auth_failed", 1),
        (403, "integration_auth_failed", 1),
        (400, "integration_contract_mismatch", 1),
        (404, "integration_contract_mismatch", 1),
        (500, "integration_contract_mismatch", 1),
        (302, "integration_contract_mismatch", 1),  # redirects are not followed
        (502, "integration_unreachable", 2),
        (504, "integration_unreachable", 2),
    ],
)
async def test_classification_table(upstream, status, code, tries):
    upstream.answers += [(status, {"message": "no"}, {"Location": "/elsewhere"})] * 2
    async with client(upstream.url, attempts=2, sleeps=[]) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert caught.value.code == code and caught.value.details["status"] == status
    assert len(upstream.seen) == tries


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"truncated": '])
async def test_a_body_that_is_not_json_is_a_contract_mismatch(upstream, body):
    upstream.answers.append((200, body, {"content-type": "application/json"}))
    async with client(upstream.url, sleeps=[]) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert caught.value.code == "integration_contract_mismatch"
    assert len(upstream.seen) == 1


async def test_empty_body_and_handled_statuses_come_back_as_answers(upstream):
    upstream.answers += [(200, "", {}), (404, {"message": "gone"}, {})]
    async with client(upstream.url, sleeps=[]) as http:
        assert (await http.request("DELETE", "api/v3/episodefile/3")).data is None
        answer = await http.request("DELETE", "api/v3/episodefile/3", ok_statuses=(404,))
    assert (answer.status, answer.data) == (404, {"message": "gone"})


async def test_a_write_the_server_may_have_acted_on_is_not_retried(upstream):
    upstream.answers += [(502, "", {}), (503, "", {}), (201, {"id": 9}, {})]
    async with client(upstream.url, sleeps=[]) as http:
        with pytest.raises(IntegrationError):
            await http.request("POST", "api/v3/tag", json_body={"label": "x"})
        assert len(upstream.seen) == 1  # 502: a gateway may have passed it on
        answer = await http.request("POST", "api/v3/tag", json_body={"label": "x"})
    assert answer.status == 201 and len(upstream.seen) == 3  # 503: refused, safe to resend


async def test_timeout_is_unreachable_and_connect_refused_too(upstream):
    upstream.delay = 2.5
    async with client(upstream.url, attempts=1, timeout=1, sleeps=[]) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert caught.value.code == "integration_unreachable" and "timed out" in caught.value.message
    async with client("http://127.0.0.1:9", attempts=2, sleeps=(sleeps := [])) as http:
        with pytest.raises(IntegrationError) as refused:
            await http.get_json("api/v3/x")
    assert refused.value.code == "integration_unreachable" and len(sleeps) == 1


async def test_the_api_key_never_reaches_an_error(upstream):
    echo = f"bad request for apikey={KEY} with header {KEY}"
    upstream.answers += [(400, {"message": echo}, {})]
    async with client(upstream.url, sleeps=[]) as http:
        http.use_query_auth("apikey")
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v2", {"cmd": "get_history"})
    assert upstream.seen[0].query_params["apikey"] == KEY
    assert "x-api-key" not in upstream.seen[0].headers
    text = f"{caught.value} {caught.value.message} {caught.value.details}"
    assert KEY not in text and "apikey=***" in text


async def test_body_in_details_is_cut_to_500_characters(upstream):
    upstream.answers.append((500, "x" * 2000, {}))
    async with client(upstream.url, sleeps=[]) as http:
        with pytest.raises(IntegrationError) as caught:
            await http.get_json("api/v3/x")
    assert len(caught.value.details["body"]) == 500


def test_base_url_outside_the_allow_lists_is_refused_before_use():
    secure = SecurityConfig(allowed_integration_hosts=("*.lan",), allowed_integration_networks=())
    http = client("http://127.0.0.1:8989", security=secure, sleeps=[])
    with pytest.raises(IntegrationError) as caught:
        http.check_url()
    assert caught.value.code == "integration_url_forbidden"
    client("http://sonarr.lan:8989", security=secure, sleeps=[]).check_url()


def test_retry_after_as_seconds_or_http_date():
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(later, now) == 42.0
    assert parse_retry_after("Mon, 01 Jan 2001 00:00:00 GMT", now) == 0.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
