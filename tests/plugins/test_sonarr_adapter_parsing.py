"""The Sonarr adapter against documents the fake would never send: every field is checked."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.plugins.test_sonarr_adapter import fails
from tests.plugins.test_sonarr_fake import KEY
from tests.serving import serve


def canned(routes: dict[str, Any]) -> Starlette:
    """An app answering fixed JSON per ``"path"`` or ``"METHOD path"`` (any key accepted)."""

    def answer(body: Any):
        async def endpoint(request):
            return JSONResponse(body, status_code=200 if request.method == "GET" else 202)

        return endpoint

    table = [(k.split(" ") if " " in k else ["GET", k], b) for k, b in routes.items()]
    return Starlette(routes=[Route(p, answer(b), methods=[m]) for (m, p), b in table])


FILE = {"id": 7, "seriesId": 1, "path": "/tv/a.mkv", "size": 10}
EPISODE = {"id": 3, "seriesId": 1, "seasonNumber": 1, "episodeNumber": 1, "episodeFileId": 0}


@pytest.mark.parametrize(
    ("path", "body", "call", "needle"),
    [
        ("/api/v3/system/status", {"appName": "Radarr", "version": "5.0"}, "health", "appName"),
        ("/api/v3/system/status", {"appName": "Sonarr", "version": "x"}, "health", "version"),
        ("/api/v3/series", [{"title": "No id"}], "series", "'id'"),
        ("/api/v3/series", [{"id": 1, "title": "T", "tags": "1"}], "series", "'tags'"),
        ("/api/v3/series", ["not an object"], "series", "item 0"),
        ("/api/v3/series", {"records": []}, "series", "JSON array"),
        ("/api/v3/episode", [{k: v for k, v in EPISODE.items() if k != "episodeFileId"}],
         "episodes", "'episodeFileId'"),
        ("/api/v3/episode", [{**EPISODE, "seriesId": 2}], "episodes", "series 2"),
        ("/api/v3/episodefile", [{k: v for k, v in FILE.items() if k != "path"}],
         "files", "'path'"),
        ("/api/v3/episodefile", [{**FILE, "size": "10"}], "files", "'size'"),
        ("/api/v3/episodefile", [{**FILE, "size": -1}], "files", "negative"),
        ("/api/v3/tag", [{"label": "keep"}], "tag", "'id'"),
    ],
)  # fmt: skip
async def test_bad_documents_name_the_field(adapter_for, path, body, call, needle):
    with serve(canned({path: body})) as url:
        async with adapter_for("sonarr", url, KEY) as adapter:
            adapter.major = 4
            calls = {
                "health": adapter.check_health,
                "series": lambda: adapter.iter_series().__anext__(),
                "episodes": lambda: adapter.iter_episodes(1).__anext__(),
                "files": lambda: adapter.list_files(1),
                "tag": lambda: adapter.find_or_create_tag("keep"),
            }
            error = await fails(calls[call]())
    assert error.code == "integration_contract_mismatch"
    assert needle in str(error)


async def test_a_write_answer_that_contradicts_the_request_is_a_mismatch(adapter_for):
    series = {"id": 1, "title": "T", "path": "/tv/T", "monitored": True, "tags": []}
    routes = {
        "PUT /api/v3/episode/monitor": [{**EPISODE, "monitored": True}],
        "GET /api/v3/series/1": series,
        "PUT /api/v3/series/1": series,  # the server kept it monitored
        "GET /api/v3/tag": [{"id": 4, "label": "keep"}],
        "PUT /api/v3/series/editor": [series],  # without the tag
    }
    with serve(canned(routes)) as url:
        async with adapter_for("sonarr", url, KEY) as adapter:
            errors = [
                await fails(adapter.unmonitor("episode", [3])),
                await fails(adapter.unmonitor("series", [1])),
                await fails(adapter.add_tag("series", [1], "keep")),
            ]
    assert all(e.code == "integration_contract_mismatch" for e in errors)
    assert all("does not show the change" in str(e) for e in errors)


async def test_missing_optional_fields_read_as_none(adapter_for):
    series = {"id": 5, "title": "Minimal", "seasons": [{"seasonNumber": 1}]}
    routes = {"/api/v3/series": [series], "/api/v3/episodefile": [FILE]}
    with serve(canned(routes)) as url:
        async with adapter_for("sonarr", url, KEY) as adapter:
            (record,) = [s async for s in adapter.iter_series()]
            (episode_file,) = await adapter.list_files(1)
    assert [record.episode_file_count, record.size_on_disk, record.path] == [None] * 3
    assert record.tags == ()
    assert record.seasons[0].monitored is None and record.seasons[0].size_on_disk is None
    assert (episode_file.quality, episode_file.date_added) == (None, None)
