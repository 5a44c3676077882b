"""The fake Radarr answers like the real one (ENDPOINTS.md §1, §3, §4), over real loopback HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library, Movie
from tests.conftest import ServedFake, served_fake
from tests.contract.openapi import assert_no_nulls

KEY = "fake-radarr-key"
V5 = "5.28.0.10274"
V4 = "4.7.5.7809"


class Fake:
    """A served fake Radarr (URL, library, state) plus a client that sends the right key."""

    def __init__(self, running: ServedFake) -> None:
        self.app, self.url, self.library = running.app, running.url, running.library
        self.state = running.state
        self.client = httpx.Client(base_url=self.url, headers={"X-Api-Key": KEY}, timeout=10)

    def movie_json(self, movie_id: int) -> dict[str, Any]:
        response = self.client.get(f"/api/v3/movie/{movie_id}")
        assert response.status_code == 200
        return response.json()

    def hits(self, key: str) -> int:
        return self.state.seen.count(key)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(e["method"], e["path"], e["body"]) for e in self.state.writes.to_list()]


@contextlib.contextmanager
def served(version: str = V5, prefix: str = "") -> Iterator[Fake]:
    """A fake Radarr on loopback over the tiny library, mounted under ``prefix``."""
    with served_fake("radarr", api_key=KEY, version=version, prefix=prefix) as running:
        fake = Fake(running)
        with fake.client:
            yield fake


@pytest.fixture(params=[V5, V4], ids=["v5", "v4"])
def any_fake(request: pytest.FixtureRequest) -> Iterator[Fake]:
    with served(request.param) as fake:
        yield fake


@pytest.fixture
def fake() -> Iterator[Fake]:
    with served(V5) as fake:
        yield fake


@pytest.fixture
def fake_v4() -> Iterator[Fake]:
    with served(V4) as fake:
        yield fake


def _movie_with_files(library: Library, count: int) -> Movie:
    return next(m for m in library.movies.values() if len(m.file_ids) == count)


# --- auth and headers ------------------------------------------------------------------------


def test_missing_or_wrong_key_is_401_with_empty_body(fake: Fake) -> None:
    for headers in ({}, {"X-Api-Key": "wrong"}):
        response = httpx.get(f"{fake.url}/api/v3/movie", headers=headers)
        assert response.status_code == 401
        assert response.content == b""


def test_query_apikey_wins_over_header(fake: Fake) -> None:
    url = f"{fake.url}/api/v3/system/status"
    refused = httpx.get(url, params={"apikey": "wrong"}, headers={"X-Api-Key": KEY})
    accepted = httpx.get(url, params={"apikey": KEY}, headers={"X-Api-Key": "wrong"})
    assert refused.status_code == 401
    assert accepted.status_code == 200


def test_answers_carry_the_application_version(any_fake: Fake) -> None:
    response = any_fake.client.get("/api/v3/system/status")
    assert response.headers["X-Application-Version"] == any_fake.state.version
    status = response.json()
    assert status["appName"] == "Radarr"
    assert status["version"] == any_fake.state.version


def test_routes_ignore_case_and_a_trailing_slash(fake: Fake) -> None:
    assert fake.client.get("/API/V3/Movie/1/").json()["id"] == 1


# --- reads -----------------------------------------------------------------------------------


def test_movies_leave_null_fields_out(any_fake: Fake) -> None:
    movies = any_fake.client.get("/api/v3/movie").json()
    assert len(movies) == len(any_fake.library.movies)
    assert_no_nulls(movies)
    without_file = next(m for m in movies if not m["hasFile"])
    assert "movieFile" not in without_file
    with_imdb_missing = [m for m in any_fake.library.movies.values() if m.imdb_id is None]
    for movie in with_imdb_missing:
        assert "imdbId" not in any_fake.movie_json(movie.id)


def test_v5_movie_has_file_id_and_statistics(fake: Fake) -> None:
    two = _movie_with_files(fake.library, 2)
    doc = fake.movie_json(two.id)
    assert doc["movieFileId"] == two.file_ids[0] == doc["movieFile"]["id"]
    sizes = [fake.library.movie_files[i].size for i in two.file_ids]
    assert doc["statistics"]["movieFileCount"] == 2
    assert doc["statistics"]["sizeOnDisk"] == sum(sizes)
    assert isinstance(doc["sizeOnDisk"], int) and doc["sizeOnDisk"] > 2**31  # int64 as integer
    assert doc["movieFile"]["quality"]["quality"]["source"] in ("bluray", "webdl")


def test_v4_movie_has_no_v5_fields(fake_v4: Fake) -> None:
    none = _movie_with_files(fake_v4.library, 0)
    doc = fake_v4.movie_json(none.id)
    assert doc["hasFile"] is False
    for field in ("movieFileId", "statistics", "keywords", "movieFile"):
        assert field not in doc
    status = fake_v4.client.get("/api/v3/system/status").json()
    assert "runtimeVersion" not in status  # v4's document types it as an object


def test_unknown_movie_is_404_with_a_message(fake: Fake) -> None:
    response = fake.client.get("/api/v3/movie/999")
    assert response.status_code == 404
    assert "message" in response.json()


def test_moviefile_needs_a_filter(any_fake: Fake) -> None:
    response = any_fake.client.get("/api/v3/moviefile")
    assert response.status_code == 400
    assert response.json() == {"message": "movieId or movieFileIds must be provided"}


def test_moviefile_by_movie_lists_every_version(any_fake: Fake) -> None:
    two = _movie_with_files(any_fake.library, 2)
    files = any_fake.client.get("/api/v3/moviefile", params={"movieId": two.id}).json()
    assert [f["id"] for f in files] == two.file_ids
    assert all(f["movieId"] == two.id for f in files)


def test_repeated_movie_id_is_a_list_in_v5_and_one_int_in_v4(any_fake: Fake) -> None:
    one = _movie_with_files(any_fake.library, 1)
    two = _movie_with_files(any_fake.library, 2)
    query = [("movieId", one.id), ("movieId", two.id)]
    files = any_fake.client.get("/api/v3/moviefile", params=query).json()
    expected = one.file_ids if any_fake.state.v4 else one.file_ids + two.file_ids
    assert [f["id"] for f in files] == expected


def test_moviefile_by_file_ids(fake: Fake) -> None:
    query = [("movieFileIds", 1), ("movieFileIds", 2), ("movieFileIds", 999)]
    files = fake.client.get("/api/v3/moviefile", params=query).json()
    assert [f["id"] for f in files] == [1, 2]


# --- deletes ---------------------------------------------------------------------------------


def test_delete_removes_the_only_file(any_fake: Fake) -> None:
    movie = _movie_with_files(any_fake.library, 1)
    monitored = movie.monitored
    file_id = movie.file_ids[0]
    response = any_fake.client.delete(f"/api/v3/moviefile/{file_id}")
    assert (response.status_code, response.content) == (200, b"")
    assert file_id not in any_fake.library.movie_files
    doc = any_fake.movie_json(movie.id)
    assert doc["hasFile"] is False
    assert "movieFile" not in doc
    assert doc.get("movieFileId", 0) == 0
    assert doc["monitored"] is monitored  # monitoring is untouched by default
    again = any_fake.client.delete(f"/api/v3/moviefile/{file_id}")
    assert again.status_code == 404
    assert again.json() == {"message": "Movie file not found"}


def test_deleting_the_primary_promotes_the_other_version(fake: Fake) -> None:
    two = _movie_with_files(fake.library, 2)
    primary, other = two.file_ids
    assert fake.client.delete(f"/api/v3/moviefile/{primary}").status_code == 200
    doc = fake.movie_json(two.id)
    assert doc["hasFile"] is True
    assert doc["movieFileId"] == doc["movieFile"]["id"] == other
    assert doc["statistics"]["movieFileCount"] == 1


def test_deleting_the_second_version_keeps_the_primary(fake: Fake) -> None:
    two = _movie_with_files(fake.library, 2)
    primary, other = two.file_ids
    assert fake.client.delete(f"/api/v3/moviefile/{other}").status_code == 200
    files = fake.client.get("/api/v3/moviefile", params={"movieId": two.id}).json()
    assert [f["id"] for f in files] == [primary]
    assert fake.movie_json(two.id)["movieFile"]["id"] == primary


def test_delete_refuses_invalid_id_and_missing_root_folder(fake: Fake) -> None:
    assert fake.client.delete("/api/v3/moviefile/0").json() == {"message": "0 is not a valid ID"}
    movie = _movie_with_files(fake.library, 1)
    fake.state.missing_root_folders.add(movie.root_folder_path)
    response = fake.client.delete(f"/api/v3/moviefile/{movie.file_ids[0]}")
    assert response.status_code == 409
    assert "root folder" in response.json()["message"]
    assert movie.file_ids[0] in fake.library.movie_files


# --- tags, movie PUT, editor, commands --------------------------------------------------------


def test_tag_post_dedups_and_lower_cases(fake: Fake) -> None:
    created = fake.client.post("/api/v3/tag", json={"label": "Keep-Me"})
    assert created.status_code == 201
    assert created.json()["label"] == "keep-me"
    again = fake.client.post("/api/v3/tag", json={"label": "KEEP-ME"})
    assert (again.status_code, again.json()) == (201, created.json())
    labels = [t["label"] for t in fake.client.get("/api/v3/tag").json()]
    assert labels.count("keep-me") == 1
    assert labels == sorted(labels)


def test_tag_post_with_empty_label_is_a_validation_array(fake: Fake) -> None:
    response = fake.client.post("/api/v3/tag", json={"label": ""})
    assert response.status_code == 400
    assert response.json()[0]["propertyName"] == "Label"


def test_put_movie_needs_the_full_resource(fake: Fake) -> None:
    movie = _movie_with_files(fake.library, 1)
    partial = fake.client.put(f"/api/v3/movie/{movie.id}", json={"monitored": False})
    assert partial.status_code == 400
    assert {e["propertyName"] for e in partial.json()} == {"Path", "QualityProfileId"}
    bad = {**fake.movie_json(movie.id), "qualityProfileId": 99}
    assert fake.client.put(f"/api/v3/movie/{movie.id}", json=bad).status_code == 400
    full = {**fake.movie_json(movie.id), "monitored": False, "tags": [1]}
    response = fake.client.put(
        f"/api/v3/movie/{movie.id}", params={"moveFiles": "false"}, json=full
    )
    assert response.status_code == 202
    assert (response.json()["monitored"], movie.monitored, movie.tags) == (False, False, [1])
    assert fake.client.put("/api/v3/movie/999", json=full).status_code == 404


def test_movie_editor_unmonitors_and_applies_tags(fake: Fake) -> None:
    ids = sorted(fake.library.movies)[:2]
    response = fake.client.put("/api/v3/movie/editor", json={"movieIds": ids, "monitored": False})
    assert response.status_code == 202
    assert [m["id"] for m in response.json()] == ids
    assert all(not fake.library.movies[i].monitored for i in ids)
    body = {"movieIds": ids, "tags": [3], "applyTags": "add"}
    assert fake.client.put("/api/v3/movie/editor", json=body).status_code == 202
    assert all(3 in fake.library.movies[i].tags for i in ids)
    body = {"movieIds": ids, "tags": [3], "applyTags": "remove"}
    fake.client.put("/api/v3/movie/editor", json=body)
    assert all(3 not in fake.library.movies[i].tags for i in ids)


def test_commands_are_queued_deduplicated_and_completed(any_fake: Fake) -> None:
    first = any_fake.client.post("/api/v3/command", json={"name": "RescanMovie", "movieId": 1})
    assert first.status_code == 201
    assert (first.json()["status"], first.json()["body"]["movieId"]) == ("queued", 1)
    same = any_fake.client.post("/api/v3/command", json={"name": "rescanMovie", "movieId": 1})
    assert same.json()["id"] == first.json()["id"]
    polled = any_fake.client.get(f"/api/v3/command/{first.json()['id']}").json()
    assert polled["status"] == "completed"
    refresh = any_fake.client.post(
        "/api/v3/command", json={"name": "RefreshMovie", "movieIds": [1]}
    )
    assert refresh.status_code == 201
    assert refresh.json()["body"]["movieIds"] == [1]
    assert any_fake.client.post("/api/v3/command", json={"name": "Nope"}).status_code == 500
    assert any_fake.client.get("/api/v3/command/999").status_code == 404


# --- write log, faults, control routes ------------------------------------------------------


def test_every_write_is_logged_and_reads_are_not(fake: Fake) -> None:
    fake.client.get("/api/v3/movie")
    fake.client.post("/api/v3/tag", json={"label": "x"})
    fake.client.delete("/api/v3/moviefile/1")
    entries = fake.client.get("/__fake__/writes").json()["writes"]
    assert [(e["method"], e["path"], e["body"]) for e in entries] == [
        ("POST", "/api/v3/tag", {"label": "x"}),
        ("DELETE", "/api/v3/moviefile/1", None),
    ]


def test_faults_steered_through_control_routes(fake: Fake) -> None:
    fault = {"kind": "status", "match": "GET /api/v3/movie", "status": 503, "times": 1}
    assert fake.client.post("/__fake__/faults", json={"faults": [fault]}).status_code == 200
    assert fake.client.get("/api/v3/movie").status_code == 503
    assert fake.client.get("/api/v3/movie").status_code == 200
    fake.client.post("/__fake__/faults", json={"kind": "auth", "match": "*"})
    assert fake.client.get("/api/v3/tag").status_code == 401
    fake.client.delete("/__fake__/faults")
    assert fake.client.get("/api/v3/tag").status_code == 200


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        (Fault("rate_limit", "GET /api/v3/movie", retry_after="7"), "429:7"),
        (Fault("malformed_json", "GET /api/v3/movie"), "malformed"),
        (Fault("wrong_shape", "GET /api/v3/movie"), "object"),
        (Fault("latency", "GET /api/v3/movie", seconds=0.2), "list"),
    ],
)
def test_fault_kinds(fake: Fake, fault: Fault, check: str) -> None:
    fake.state.faults.add(fault)
    response = fake.client.get("/api/v3/movie")
    if check.startswith("429"):
        assert (response.status_code, response.headers["Retry-After"]) == (429, "7")
    elif check == "malformed":
        with pytest.raises(ValueError):
            response.json()
    elif check == "object":
        assert isinstance(response.json(), dict)
    else:
        assert response.elapsed.total_seconds() >= 0.2
        assert isinstance(response.json(), list)


def test_mounted_under_a_url_base() -> None:
    with served(prefix="/radarr") as fake:
        client = fake.client
        status = client.get("/api/v3/system/status")
        assert (status.status_code, status.json()["urlBase"]) == (200, "/radarr")
        fake.app.state.radarr.faults.add(Fault("status", "DELETE /api/v3/moviefile/*", status=500))
        assert client.delete("/api/v3/moviefile/1").status_code == 500
        assert fake.app.state.radarr.writes.to_list()[0]["path"] == "/api/v3/moviefile/1"


def test_large_library_is_served_quickly() -> None:
    library = generate("tiny")
    template = next(m for m in library.movies.values() if m.file_ids)
    for offset in range(1, 15_001):
        movie_id = 10_000 + offset
        library.movies[movie_id] = Movie(**{**vars(template), "id": movie_id, "file_ids": []})
    with served_fake("radarr", api_key=KEY, library=library) as fake:
        response = httpx.get(f"{fake.url}/api/v3/movie", headers={"X-Api-Key": KEY}, timeout=30)
        assert len(response.json()) == len(library.movies)
        assert response.elapsed.total_seconds() < 5
