"""Every request the Sonarr adapter sends, and every fake answer to it, matches sonarr-openapi.json.

The document declares no body for ``PUT episode/monitor`` and ``PUT series/editor`` although the
real server answers them with an array of resources (ENDPOINTS.md §1); those arrays are checked
item by item against ``EpisodeResource`` / ``SeriesResource``. ``CommandResource.body`` is the
base ``Command`` schema, while the real server echoes the command's own fields (``seriesId``…)
there; those fields are set aside before validating. In v3 mode the v3-only episode file field
``language`` is set aside (the document describes v4's ``languages``); v4-only fields are absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from cullarrd_plugins.sonarr.adapter import SonarrAdapter
from tests.contract.exchanges import Exchange, ExchangeRecorder
from tests.contract.openapi import OpenApiContract, assert_no_nulls
from tests.plugins.test_sonarr_fake import KEY, V3, V4, Fake, multi_episode_file, served

CONTRACT = OpenApiContract("sonarr-openapi.json")
UNDECLARED_ARRAYS = {
    ("PUT", "/api/v3/episode/monitor"): "EpisodeResource",
    ("PUT", "/api/v3/series/editor"): "SeriesResource",
}
V3_ONLY_FILE_FIELDS = ("language",)
COMMAND_FIELDS = ("seriesId", "seriesIds", "isNewSeries")


@pytest.fixture(params=[V4, V3], ids=["v4", "v3"])
def fake(request) -> Iterator[Fake]:
    with served(request.param) as built:
        yield built


async def run_every_operation(adapter: SonarrAdapter, fake: Fake) -> None:
    """Each adapter operation once, the writes with both of their outcomes."""
    library = fake.library
    await adapter.check_health()
    series = [s async for s in adapter.iter_series()]
    for record in series:
        [e async for e in adapter.iter_episodes(record.arr_id)]
        [f async for f in adapter.iter_episode_files(record.arr_id)]
    shared = multi_episode_file(library)
    owner = library.episode_files[shared].series_id
    await adapter.get_files([shared, 2])
    assert await adapter.delete_file(shared) is True
    assert await adapter.delete_file(shared) is False
    await adapter.get_files([shared, 2])  # 500 for the list, then one by one (one 404)
    await adapter.list_files(owner)
    await adapter.unmonitor("episode", [3, 4])
    await adapter.unmonitor("series", [owner])
    await adapter.add_tag("series", [1, 2], "Cullarr-Keep")
    await adapter.add_tag("series", [3], "cullarr-keep")


def validate_answer(exchange: Exchange, major: int) -> None:
    """The answer of one successful exchange against the operation's declared schema."""
    body = exchange.answer
    if major < 4 and "/episodefile" in exchange.path:
        body = without(body, V3_ONLY_FILE_FIELDS)
    schema = UNDECLARED_ARRAYS.get((exchange.method, exchange.path))
    if schema is None:
        CONTRACT.validate_response(exchange.method, exchange.path, body)
        return
    assert isinstance(body, list) and body, f"{exchange.path} answers an array of resources"
    validator = component(schema)
    for item in body:
        error = next(iter(validator.iter_errors(item)), None)
        assert error is None, f"{exchange.method} {exchange.path}: {error.message}"
    assert_no_nulls(body)


def component(name: str) -> Draft202012Validator:
    """A strict validator for one schema of the document's components."""
    schema = {"$ref": f"{CONTRACT.uri}#/components/schemas/{name}"}
    return Draft202012Validator(schema, registry=CONTRACT.registry)


def without(body: Any, fields: tuple[str, ...]) -> Any:
    """``body`` (an object or a list of objects) with ``fields`` set aside."""
    if isinstance(body, list):
        return [without(item, fields) for item in body]
    if not isinstance(body, dict):
        return body
    return {k: v for k, v in body.items() if k not in fields}


async def test_adapter_requests_and_fake_answers_match_the_spec(fake, adapter_for):
    transport = ExchangeRecorder()
    async with adapter_for("sonarr", fake.url, KEY, transport=transport) as adapter:
        await run_every_operation(adapter, fake)
    exchanges = transport.exchanges
    assert len(exchanges) == len(transport.sent)  # every request got an answer
    operations = {CONTRACT.operation(e.method, e.path)[0] + " " + e.method for e in exchanges}
    assert len(operations) == 12, sorted(operations)
    statuses = set()
    for exchange in exchanges:
        CONTRACT.validate_request(exchange.method, exchange.path, exchange.query, exchange.body)
        statuses.add(exchange.status)
        if 200 <= exchange.status < 300:
            validate_answer(exchange, adapter.major)
        else:  # the errors the adapter handles carry Sonarr's message object
            assert exchange.status in (404, 500) and "message" in exchange.answer
    assert statuses == {200, 201, 202, 404, 500}


def test_v3_files_differ_only_by_their_language_field(fake):
    with httpx.Client(base_url=fake.url, headers={"X-Api-Key": KEY}) as client:
        files = client.get("/api/v3/episodefile", params={"seriesId": 1}).json()
    v3 = fake.app.state.fake.major < 4
    assert all(("language" in f) is v3 and ("languages" in f) is not v3 for f in files)
    CONTRACT.validate_response("GET", "/api/v3/episodefile", without(files, V3_ONLY_FILE_FIELDS))


def test_fake_answers_the_adapter_does_not_use_validate_too(fake):
    with httpx.Client(base_url=fake.url, headers={"X-Api-Key": KEY}) as client:
        series = client.get("/api/v3/series", params={"tvdbId": fake.library.series[1].tvdb_id})
        episodes = client.get(
            "/api/v3/episode",
            params={"seriesId": 1, "includeSeries": "true", "includeEpisodeFile": "true"},
        )
        by_file = client.get("/api/v3/episode", params={"episodeFileId": 1})
        one_file = client.get("/api/v3/episodefile/1")
        queued = client.post("/api/v3/command", json={"name": "RefreshSeries", "seriesId": 1})
        polled = client.get(f"/api/v3/command/{queued.json()['id']}")
        listed = client.get("/api/v3/command")
    v3 = fake.app.state.fake.major < 4
    CONTRACT.validate_response("GET", "/api/v3/series", series.json())
    assert len(series.json()) == 1
    embedded = episodes.json()
    if v3:  # includeSeries / includeEpisodeFile are v4 only
        assert not any("series" in e or "episodeFile" in e for e in embedded)
    else:
        assert any("episodeFile" in e for e in embedded) and all("series" in e for e in embedded)
    CONTRACT.validate_response("GET", "/api/v3/episode", embedded)
    assert [e["episodeFileId"] for e in by_file.json()] == [1]
    CONTRACT.validate_response("GET", "/api/v3/episode", by_file.json())
    file_body = without(one_file.json(), V3_ONLY_FILE_FIELDS)
    CONTRACT.validate_response("GET", "/api/v3/episodefile/1", file_body)
    for method, path, answer in (
        ("POST", "/api/v3/command", queued.json()),
        ("GET", "/api/v3/command/1", polled.json()),
    ):
        answer["body"] = without(answer["body"], COMMAND_FIELDS)
        CONTRACT.validate_response(method, path, answer)
    commands = [{**c, "body": without(c["body"], COMMAND_FIELDS)} for c in listed.json()]
    CONTRACT.validate_response("GET", "/api/v3/command", commands)
    CONTRACT.validate_request("POST", "/api/v3/command", {}, {"name": "RefreshSeries"})
