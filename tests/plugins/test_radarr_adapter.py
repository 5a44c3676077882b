"""The Radarr adapter against the fake Radarr (v5 and v4) over real loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cullarrd.errors import IntegrationError, ValidationFailed
from cullarrd_plugins.fakelib.faults import Fault
from tests.plugins.test_radarr_fake import KEY, V4, V5, Fake, served
from tests.serving import RecordingTransport, serve


@pytest.fixture(params=[V5, V4], ids=["v5", "v4"])
def radarr(request: pytest.FixtureRequest) -> Iterator[Fake]:
    with served(request.param) as fake:
        yield fake


@pytest.fixture
def radarr_v5() -> Iterator[Fake]:
    with served(V5) as fake:
        yield fake


def assert_secret_free(error: IntegrationError) -> None:
    """The API key must appear nowhere in what an error shows."""
    shown = " ".join([str(error), error.message, json.dumps(error.details), repr(error)])
    assert KEY not in shown


# --- health and reads ------------------------------------------------------------------------


async def test_health_reports_the_version_as_given(adapter_for, radarr: Fake) -> None:
    async with adapter_for("radarr", radarr.url, KEY) as adapter:
        health = await adapter.check_health()
    assert (health.app_name, health.version) == ("Radarr", radarr.state.version)
    assert (health.min_read_version, health.min_delete_version) == ("4.0", "5.0")
    assert adapter.major_version == int(radarr.state.version[0])


async def test_health_refuses_another_app(adapter_for) -> None:
    async def status(request: Any) -> JSONResponse:
        return JSONResponse({"appName": "Sonarr", "version": "4.0.19.2979"})

    app = Starlette(routes=[Route("/api/v3/system/status", status)])
    with serve(app) as url:
        async with adapter_for("radarr", url, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await adapter.check_health()
    assert caught.value.code == "integration_contract_mismatch"
    assert "appName" in caught.value.message


async def test_full_read_of_a_generated_library(adapter_for, radarr: Fake) -> None:
    lib = radarr.library
    async with adapter_for("radarr", radarr.url, KEY) as adapter:
        await adapter.check_health()
        movies = [m async for m in adapter.iter_movies()]
        versions = {m.arr_id: [f async for f in adapter.iter_movie_files(m.arr_id)] for m in movies}
    assert sorted(m.arr_id for m in movies) == sorted(lib.movies)
    for record in movies:
        movie = lib.movies[record.arr_id]
        assert (record.title, record.tmdb_id, record.path) == (
            movie.title,
            movie.tmdb_id,
            movie.path,
        )
        assert record.imdb_id == movie.imdb_id
        assert record.has_file is bool(movie.file_ids)
        assert [f.arr_file_id for f in versions[movie.id]] == movie.file_ids
        if movie.file_ids:
            primary = lib.movie_files[movie.file_ids[0]]
            assert record.file is not None
            assert (record.file.arr_file_id, record.file.path) == (primary.id, primary.path)
            assert record.file.size_bytes == primary.size == record.size_on_disk
            assert record.file.owner_arr_id == movie.id
        else:
            assert record.file is None
        expected_count = None if radarr.state.v4 else len(movie.file_ids)
        assert record.movie_file_count == expected_count
    assert any(not m.has_file for m in movies)
    assert any(len(files) == 2 for files in versions.values())


async def test_get_files_rereads_live_and_leaves_gone_ones_out(adapter_for, radarr_v5) -> None:
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        assert await adapter.get_files([]) == []
        assert await adapter.delete_file(2) is True
        files = await adapter.get_files([1, 2, 3])
    assert [f.arr_file_id for f in files] == [1, 3]
    assert files[0].path == radarr_v5.library.movie_files[1].path


async def test_base_url_path_prefix_is_kept(adapter_for) -> None:
    transport = RecordingTransport()
    with served(V5, prefix="/radarr") as fake:
        async with adapter_for("radarr", fake.url, KEY, transport=transport) as adapter:
            health = await adapter.check_health()
            movies = [m async for m in adapter.iter_movies()]
    assert health.details["url_base"] == "/radarr"
    assert len(movies) == len(fake.library.movies)
    assert all(sent.path.startswith("/radarr/api/v3/") for sent in transport.sent)


# --- writes ----------------------------------------------------------------------------------


async def test_delete_then_delete_again(adapter_for, radarr_v5: Fake) -> None:
    movie = next(m for m in radarr_v5.library.movies.values() if len(m.file_ids) == 2)
    primary, other = movie.file_ids
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        await adapter.check_health()
        assert await adapter.delete_file(primary) is True
        assert await adapter.delete_file(primary) is False  # already gone: still success
        remaining = await adapter.list_files(movie.id)
    assert [f.arr_file_id for f in remaining] == [other]
    assert primary not in radarr_v5.library.movie_files


async def test_delete_on_missing_root_folder_keeps_radarrs_message(adapter_for, radarr_v5) -> None:
    movie = next(m for m in radarr_v5.library.movies.values() if m.file_ids)
    radarr_v5.state.missing_root_folders.add(movie.root_folder_path)
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.delete_file(movie.file_ids[0])
    assert caught.value.code == "integration_contract_mismatch"
    assert "root folder (/movies) doesn't exist" in caught.value.message
    assert movie.file_ids[0] in radarr_v5.library.movie_files


async def test_v4_refuses_to_delete_after_its_health_check(adapter_for) -> None:
    with served(V4) as fake:
        async with adapter_for("radarr", fake.url, KEY) as adapter:
            await adapter.check_health()
            with pytest.raises(IntegrationError) as caught:
                await adapter.delete_file(1)
    assert caught.value.code == "unsupported_integration_version"
    assert fake.writes() == []


async def test_unmonitor_uses_the_movie_editor(adapter_for, radarr: Fake) -> None:
    ids = sorted(radarr.library.movies)[:3]
    async with adapter_for("radarr", radarr.url, KEY) as adapter:
        await adapter.unmonitor("movie", ids)
    assert all(not radarr.library.movies[i].monitored for i in ids)
    assert radarr.writes() == [
        ("PUT", "/api/v3/movie/editor", {"movieIds": ids, "monitored": False})
    ]


async def test_add_tag_creates_once_then_reuses(adapter_for, radarr: Fake) -> None:
    async with adapter_for("radarr", radarr.url, KEY) as adapter:
        first = await adapter.add_tag("movie", [1], "Cullarr-Candidate")
        second = await adapter.add_tag("movie", [2], "cullarr-candidate")
        existing = await adapter.add_tag("movie", [3], "4K")
    assert first == second
    assert first.label == "cullarr-candidate"
    posts = [w for w in radarr.writes() if w[0] == "POST"]
    assert posts == [("POST", "/api/v3/tag", {"label": "cullarr-candidate"})]
    assert existing.arr_tag_id == 1  # the generator's "4k" tag
    for movie_id, tag_id in ((1, first.arr_tag_id), (2, first.arr_tag_id), (3, 1)):
        assert tag_id in radarr.library.movies[movie_id].tags
    editor = [w[2] for w in radarr.writes() if w[1] == "/api/v3/movie/editor"]
    assert editor[0] == {"movieIds": [1], "tags": [first.arr_tag_id], "applyTags": "add"}


# --- classification (SPEC §4.2) through faults ---------------------------------------------


async def test_rate_limit_waits_for_retry_after_then_succeeds(adapter_for, radarr_v5) -> None:
    radarr_v5.state.faults.add(Fault("rate_limit", "GET /api/v3/tag", times=1, retry_after="1"))
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        started = time.monotonic()
        tag = await adapter.add_tag("movie", [], "kids")
        waited = time.monotonic() - started
    assert tag.arr_tag_id == 2
    assert radarr_v5.hits("GET /api/v3/tag") == 2
    assert 1.0 <= waited < 5


async def test_503_storm_is_unreachable_after_the_attempts(adapter_for, radarr_v5) -> None:
    radarr_v5.state.faults.add(Fault("status", "GET /api/v3/movie", status=503))
    async with adapter_for("radarr", radarr_v5.url, KEY, retry_max_attempts=3) as adapter:
        with pytest.raises(IntegrationError) as caught:
            [m async for m in adapter.iter_movies()]
    assert caught.value.code == "integration_unreachable"
    assert radarr_v5.hits("GET /api/v3/movie") == 3
    assert_secret_free(caught.value)


async def test_timeout_is_unreachable(adapter_for, radarr_v5: Fake) -> None:
    radarr_v5.state.faults.add(Fault("timeout", "GET /api/v3/system/status", seconds=3))
    cfg = {"request_timeout_seconds": 1, "retry_max_attempts": 1}
    async with adapter_for("radarr", radarr_v5.url, KEY, **cfg) as adapter:
        started = time.monotonic()
        with pytest.raises(IntegrationError) as caught:
            await adapter.check_health()
    assert caught.value.code == "integration_unreachable"
    assert time.monotonic() - started < 2.5
    assert_secret_free(caught.value)


async def test_wrong_key_is_auth_failed_and_not_retried(adapter_for, radarr_v5) -> None:
    wrong = "wrong-" + KEY
    async with adapter_for("radarr", radarr_v5.url, wrong) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.check_health()
    assert caught.value.code == "integration_auth_failed"
    assert radarr_v5.state.seen == ["GET /api/v3/system/status"]
    assert wrong not in str(caught.value) + json.dumps(caught.value.details)


@pytest.mark.parametrize(
    ("fault", "path"),
    [
        (Fault("status", "GET /api/v3/movie", status=500), "movie"),
        (Fault("malformed_json", "GET /api/v3/movie"), "movie"),
        (Fault("wrong_shape", "GET /api/v3/movie"), "movie"),
        (Fault("wrong_shape", "GET /api/v3/system/status"), "system/status"),
        (Fault("auth", "GET /api/v3/movie"), "movie"),
    ],
    ids=["500", "malformed", "wrong-shape-list", "wrong-shape-object", "auth-fault"],
)
async def test_bad_answers_are_classified_without_retry(
    adapter_for, radarr_v5: Fake, fault: Fault, path: str
) -> None:
    radarr_v5.state.faults.add(fault)
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        with pytest.raises(IntegrationError) as caught:
            if path == "movie":
                [m async for m in adapter.iter_movies()]
            else:
                await adapter.check_health()
    expected = (
        "integration_auth_failed" if fault.kind == "auth" else "integration_contract_mismatch"
    )
    assert caught.value.code == expected
    assert radarr_v5.hits(f"GET /api/v3/{path}") == 1
    assert_secret_free(caught.value)


# --- defensive parsing -----------------------------------------------------------------------


def _scripted(movies: Any, files: Any = ()) -> Starlette:
    async def movie(request: Any) -> JSONResponse:
        return JSONResponse(movies)

    async def moviefile(request: Any) -> JSONResponse:
        return JSONResponse(list(files))

    return Starlette(routes=[Route("/api/v3/movie", movie), Route("/api/v3/moviefile", moviefile)])


FILE = {"id": 7, "movieId": 1, "path": "/movies/A/a.mkv", "size": 5}


@pytest.mark.parametrize(
    ("movies", "files", "field"),
    [
        ([{"title": "No id"}], [], "'id'"),
        ([{"id": "1", "title": "Text id"}], [], "'id'"),
        ([{"id": 1, "title": "A", "movieFile": {"id": 7, "movieId": 1, "size": 5}}], [], "'path'"),
        ([{"id": 1, "title": "A", "movieFile": {**FILE, "size": "5"}}], [], "'size'"),
        ([{"id": 1, "title": "A", "movieFile": {**FILE, "movieId": 2}}], [], "movie 2"),
        ([{"id": 1, "title": "A"}], [{**FILE, "movieId": 9}], "other movies"),
        ([{"id": 1, "title": "A", "tags": "1"}], [], "'tags'"),
        ({"id": 1}, [], "JSON array"),
    ],
)
async def test_contract_breaks_name_the_field(adapter_for, movies, files, field: str) -> None:
    with serve(_scripted(movies, files)) as url:
        async with adapter_for("radarr", url, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                for movie in [m async for m in adapter.iter_movies()]:
                    await adapter.list_files(movie.arr_id)
    assert caught.value.code == "integration_contract_mismatch"
    assert field in caught.value.message


async def test_missing_optional_fields_read_as_none(adapter_for) -> None:
    with serve(_scripted([{"id": 1, "title": "Bare"}])) as url:
        async with adapter_for("radarr", url, KEY) as adapter:
            (movie,) = [m async for m in adapter.iter_movies()]
    assert (movie.has_file, movie.file, movie.imdb_id, movie.added_at) == (False, None, None, None)
    assert (movie.tags, movie.movie_file_count, movie.size_on_disk) == ((), None, None)


@pytest.mark.parametrize("body", ["Not Found", ""], ids=["text-404", "empty-404"])
async def test_a_404_that_is_not_radarrs_is_not_already_gone(adapter_for, body: str) -> None:
    async def not_found(request: Any) -> Response:
        return Response(body, status_code=404, media_type="text/plain")

    app = Starlette(routes=[Route("/{path:path}", not_found, methods=["DELETE"])])
    with serve(app) as url:
        async with adapter_for("radarr", url, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await adapter.delete_file(5)
    assert caught.value.code == "integration_contract_mismatch"


async def test_only_movies_can_be_changed(adapter_for, radarr_v5: Fake) -> None:
    async with adapter_for("radarr", radarr_v5.url, KEY) as adapter:
        with pytest.raises(ValidationFailed):
            await adapter.unmonitor("series", [1])
        with pytest.raises(ValidationFailed):
            await adapter.add_tag("movie", [1], "  ")
        with pytest.raises(ValidationFailed):
            await adapter.delete_file(0)
    assert radarr_v5.writes() == []
