"""The fake Sonarr answers like the real one (ENDPOINTS.md §1, §2, §4), over real loopback HTTP."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library, SeasonInfo, Series
from tests.conftest import ServedFake, served_fake
from tests.contract.openapi import assert_no_nulls

KEY = "fake-sonarr-key-0123456789abcdef"
V3 = "3.0.10.1567"
V4 = "4.0.19.2979"


def library_with_bare_series() -> Library:
    """The tiny generated library plus one series without episodes (no statistics row)."""
    library = generate("tiny")
    library.series[99] = Series(
        id=99,
        title="Bare Series",
        sort_title="bare series",
        year=2020,
        tvdb_id=99_999,
        tmdb_id=None,
        imdb_id=None,
        path="/tv/Bare Series (2020)",
        root_folder_path="/tv",
        monitored=True,
        added=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        quality_profile_id=4,
        status="upcoming",
        series_type="standard",
        runtime_minutes=45,
        seasons=[SeasonInfo(1, True)],
    )
    library.reindex()
    return library


class Fake:
    """A served fake plus the objects that steer and observe it; ``url`` is the server root."""

    def __init__(self, running: ServedFake, prefix: str = "") -> None:
        self.library, self.app, self.prefix = running.library, running.app, prefix
        self.faults, self.writes = running.state.faults, running.state.writes
        self.url = running.url.removesuffix(prefix)

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url + self.prefix, **kwargs)

    def api(self, **kwargs) -> httpx.Client:
        return self.client(headers={"X-Api-Key": KEY}, **kwargs)


@contextlib.contextmanager
def served(
    version: str = V4, prefix: str = "", wrap: Callable[[Any], Any] | None = None
) -> Iterator[Fake]:
    """A fake Sonarr on loopback over ``library_with_bare_series``, under ``prefix``."""
    library = library_with_bare_series()
    options = {"version": version, "prefix": prefix, "wrap": wrap}
    with served_fake("sonarr", api_key=KEY, library=library, **options) as fake:
        yield Fake(fake, prefix)


@pytest.fixture(params=[V4, V3], ids=["v4", "v3"])
def fake(request) -> Iterator[Fake]:
    with served(request.param) as built:
        yield built


@pytest.fixture
def fake4() -> Iterator[Fake]:
    with served(V4) as built:
        yield built


def multi_episode_file(library: Library) -> int:
    """The id of a file two episodes point at (the generator's double pilot)."""
    for file_id in library.episode_files:
        if len(library.episodes_of_file(file_id)) == 2:
            return file_id
    raise AssertionError("the generated library has no multi-episode file")


# --- status, auth, headers ----------------------------------------------------------------


def test_status_names_the_app_and_version_with_the_version_header(fake):
    with fake.api() as client:
        answer = client.get("/api/v3/system/status")
    assert answer.status_code == 200
    assert answer.headers["X-Application-Version"] == answer.json()["version"]
    assert answer.json()["appName"] == "Sonarr"
    assert answer.json()["version"] in (V3, V4)


def test_a_missing_or_wrong_key_gets_401_with_an_empty_body(fake):
    with fake.client() as client:
        for headers in ({}, {"X-Api-Key": "wrong"}, {"X-Api-Key": ""}):
            answer = client.get("/api/v3/series", headers=headers)
            assert (answer.status_code, answer.content) == (401, b"")
        assert client.get("/api/v3/series", params={"apikey": "nope"}).status_code == 401
        assert client.get("/api/v3/series", params={"apikey": KEY}).status_code == 200
        assert client.get("/api/v3/nothing-here", headers={"X-Api-Key": "no"}).status_code == 401


def test_v4_lets_the_query_key_win_over_the_header():
    with served(V4) as fake, httpx.Client(base_url=fake.url) as client:
        good_query = client.get("/api/v3/tag", params={"apikey": KEY}, headers={"X-Api-Key": "x"})
        bad_query = client.get("/api/v3/tag", params={"apikey": "x"}, headers={"X-Api-Key": KEY})
        bearer = client.get("/api/v3/tag", headers={"Authorization": f"Bearer {KEY}"})
    assert (good_query.status_code, bad_query.status_code, bearer.status_code) == (200, 401, 200)


def test_v3_lets_the_header_win_over_the_query_key():
    with served(V3) as fake, httpx.Client(base_url=fake.url) as client:
        good_header = client.get("/api/v3/tag", params={"ApiKey": "x"}, headers={"X-Api-Key": KEY})
        bad_header = client.get("/api/v3/tag", params={"apikey": KEY}, headers={"X-Api-Key": "x"})
        query_only = client.get("/api/v3/tag", params={"ApiKey": KEY})
    assert (good_header.status_code, bad_header.status_code, query_only.status_code) == (
        200,
        401,
        200,
    )


# --- reads --------------------------------------------------------------------------------


def test_reads_leave_null_fields_out_and_size_is_an_integer(fake):
    with fake.api() as client:
        series = client.get("/api/v3/series").json()
        docs = [series]
        for item in series:
            docs.append(client.get("/api/v3/episode", params={"seriesId": item["id"]}).json())
            docs.append(client.get("/api/v3/episodefile", params={"seriesId": item["id"]}).json())
    for doc in docs:
        assert_no_nulls(doc)
    by_id = {item["id"]: item for item in series}
    assert len(series) == len(fake.library.series)
    assert "statistics" not in by_id[99] and "imdbId" not in by_id[99]
    assert all(isinstance(f["size"], int) for d in docs[2::2] for f in d)
    if fake.app.state.fake.major >= 4:
        assert by_id[99]["tmdbId"] == 0 and by_id[1]["monitorNewItems"] == "all"
    else:
        assert "tmdbId" not in by_id[1] and by_id[1]["languageProfileId"] == 1


def test_episode_files_carry_languages_on_v4_and_language_on_v3(fake):
    with fake.api() as client:
        files = client.get("/api/v3/episodefile", params={"seriesId": 1}).json()
    if fake.app.state.fake.major >= 4:
        assert all(f["languages"] == [{"id": 1, "name": "English"}] for f in files)
        assert not any("language" in f for f in files)
    else:
        assert all(f["language"] == {"id": 1, "name": "English"} for f in files)
        assert not any("languages" in f for f in files)


def test_filters_are_required_and_unknown_ids_answer_404_with_a_message(fake):
    with fake.api() as client:
        no_filter = client.get("/api/v3/episodefile")
        no_episode_filter = client.get("/api/v3/episode")
        unknown_series = client.get("/api/v3/series/4242")
        unknown_series_files = client.get("/api/v3/episodefile", params={"seriesId": 4242})
        unknown_file = client.get("/api/v3/episodefile/4242")
        zero_id = client.delete("/api/v3/episodefile/0")
    assert no_filter.status_code == 400
    assert no_filter.json() == {"message": "seriesId or episodeFileIds must be provided"}
    assert no_episode_filter.status_code == 400 and "message" in no_episode_filter.json()
    for answer in (unknown_series, unknown_series_files, unknown_file):
        assert answer.status_code == 404 and isinstance(answer.json()["message"], str)
    assert zero_id.status_code == 400 and zero_id.json() == {"message": "0 is not a valid ID"}


def test_id_lists_follow_the_version_format_and_an_unknown_id_fails_the_whole_list(fake):
    v3 = fake.app.state.fake.major < 4
    with fake.api() as client:
        repeated = client.get("/api/v3/episodefile", params={"episodeFileIds": [1, 2]})
        commas = client.get("/api/v3/episodefile", params={"episodeFileIds": "1,2"})
        unknown = client.get("/api/v3/episodefile", params={"episodeFileIds": [1, 4242]})
        episodes = client.get("/api/v3/episode", params={"episodeIds": [1, 4242]})
    assert sorted(f["id"] for f in repeated.json()) == [1, 2]
    if v3:  # Nancy joins a repeated key with commas, so both spellings work
        assert sorted(f["id"] for f in commas.json()) == [1, 2]
    else:
        assert commas.status_code == 400
    for answer in (unknown, episodes):  # BasicRepository.Get(ids) throws on a short answer
        assert answer.status_code == 500
        assert answer.json()["message"] == "Expected query to return 2 rows but returned 1"


# --- writes -------------------------------------------------------------------------------


def test_delete_removes_the_file_and_clears_every_linked_episode(fake):
    library = fake.library
    file_id = multi_episode_file(library)
    linked = [e.id for e in library.episodes_of_file(file_id)]
    monitored_before = {i: library.episodes[i].monitored for i in linked}
    with fake.api() as client:
        answer = client.delete(f"/api/v3/episodefile/{file_id}")
        again = client.delete(f"/api/v3/episodefile/{file_id}")
        gone = client.get(f"/api/v3/episodefile/{file_id}")
        episodes = client.get("/api/v3/episode", params={"episodeIds": linked}).json()
    assert (answer.status_code, answer.content) == (200, b"")
    assert again.status_code == 404 and again.json() == {"message": "Episode file not found"}
    assert gone.status_code == 404
    assert file_id not in library.episode_files
    assert [(e["episodeFileId"], e["hasFile"]) for e in episodes] == [(0, False), (0, False)]
    assert {e["id"]: e["monitored"] for e in episodes} == monitored_before  # untouched


def test_delete_under_a_missing_root_folder_answers_409_and_keeps_the_file(fake4):
    fake4.app.state.fake.missing_root_folders.add("/tv")
    with fake4.api() as client:
        answer = client.delete("/api/v3/episodefile/1")
    assert answer.status_code == 409
    assert answer.json() == {"message": "Series' root folder (/tv) doesn't exist."}
    assert 1 in fake4.library.episode_files


def test_tags_are_stored_lower_case_and_a_known_label_returns_the_same_tag(fake):
    with fake.api() as client:
        created = client.post("/api/v3/tag", json={"label": "Cullarr-Keep"})
        again = client.post("/api/v3/tag", json={"label": "CULLARR-KEEP"})
        existing = client.post("/api/v3/tag", json={"label": "Keep"})
        empty = client.post("/api/v3/tag", json={"label": ""})
        listed = client.get("/api/v3/tag").json()
    assert created.status_code == 201 and created.json()["label"] == "cullarr-keep"
    assert created.headers["Location"].endswith(f"/api/v3/tag/{created.json()['id']}")
    assert again.status_code == 201 and again.json() == created.json()
    assert existing.json()["id"] == 4  # the generator's "keep"
    assert empty.status_code == 400 and empty.json()[0]["propertyName"] == "Label"
    labels = [t["label"] for t in listed]
    assert labels == sorted(labels) and labels.count("cullarr-keep") == 1


def test_put_series_needs_the_full_resource(fake):
    series = fake.library.series[1]
    with fake.api() as client:
        full = client.get("/api/v3/series/1").json()
        partial = client.put("/api/v3/series/1", json={"id": 1, "monitored": False})
        bad_profile = client.put("/api/v3/series/1", json={**full, "qualityProfileId": 999})
        full["monitored"] = False
        accepted = client.put("/api/v3/series/1", params={"moveFiles": "false"}, json=full)
        unknown = client.put("/api/v3/series/4242", json={**full, "id": 0})
    assert partial.status_code == 400
    assert {e["propertyName"] for e in partial.json()} == {"Path", "QualityProfileId"}
    assert bad_profile.status_code == 400
    assert bad_profile.json()[0]["errorMessage"] == "Quality Profile does not exist"
    assert accepted.status_code == 202 and accepted.json()["monitored"] is False
    assert series.monitored is False and series.path == full["path"]
    assert unknown.status_code == 404


def test_episode_monitor_and_series_editor_answer_202_with_arrays(fake):
    library = fake.library
    with fake.api() as client:
        monitor = client.put(
            "/api/v3/episode/monitor", json={"episodeIds": [2, 3], "monitored": False}
        )
        single_unknown = client.put(
            "/api/v3/episode/monitor", json={"episodeIds": [4242], "monitored": False}
        )
        editor = client.put(
            "/api/v3/series/editor", json={"seriesIds": [1, 2], "tags": [5], "applyTags": "add"}
        )
        replaced = client.put(
            "/api/v3/series/editor", json={"seriesIds": [2], "tags": [1], "applyTags": "replace"}
        )
        unknown = client.put("/api/v3/series/editor", json={"seriesIds": [1, 4242], "tags": [5]})
    assert monitor.status_code == 202 and [e["monitored"] for e in monitor.json()] == [False] * 2
    assert not library.episodes[2].monitored and not library.episodes[3].monitored
    assert single_unknown.status_code == 404
    assert editor.status_code == 202 and all(5 in s["tags"] for s in editor.json())
    assert 5 in library.series[1].tags and library.series[2].tags == [1]
    assert replaced.status_code == 202
    assert unknown.status_code == 500


def test_commands_queue_dedupe_complete_and_refuse_unknown_names(fake):
    with fake.api() as client:
        first = client.post("/api/v3/command", json={"name": "RescanSeries", "seriesId": 1})
        duplicate = client.post("/api/v3/command", json={"name": "rescanseries", "seriesId": 1})
        polled = client.get(f"/api/v3/command/{first.json()['id']}").json()
        after = client.post("/api/v3/command", json={"name": "RescanSeries", "seriesId": 1})
        refresh = client.post("/api/v3/command", json={"name": "RefreshSeries", "seriesId": 2})
        unknown = client.post("/api/v3/command", json={"name": "NoSuchThing"})
        missing = client.get("/api/v3/command/4242")
    assert first.status_code == 201 and first.json()["status"] == "queued"
    assert first.json()["body"]["seriesId"] == 1
    assert duplicate.json()["id"] == first.json()["id"]
    assert polled["status"] == "completed" and polled["result"] == "successful"
    assert after.json()["id"] != first.json()["id"]
    body = refresh.json()["body"]
    if fake.app.state.fake.major >= 4:
        assert body["seriesIds"] == [2] and "seriesId" not in body
    else:
        assert body["seriesId"] == 2 and "seriesIds" not in body
    assert unknown.status_code == 500 and "message" in unknown.json()
    assert missing.status_code == 404


def test_every_write_is_logged_and_reads_are_not(fake4):
    with fake4.api() as client:
        client.get("/api/v3/series")
        client.delete("/api/v3/episodefile/1")
        client.post("/api/v3/tag", json={"label": "x"})
        client.put("/api/v3/episode/monitor", json={"episodeIds": [1], "monitored": False})
        listed = client.get("/__fake__/writes").json()["writes"]
    entries = fake4.writes.to_list()
    assert [(e["method"], e["path"]) for e in entries] == [
        ("DELETE", "/api/v3/episodefile/1"),
        ("POST", "/api/v3/tag"),
        ("PUT", "/api/v3/episode/monitor"),
    ]
    assert entries[1]["body"] == {"label": "x"} and listed == entries


# --- faults and control routes ------------------------------------------------------------


def test_each_fault_kind_is_served(fake4):
    add = fake4.faults.add
    with fake4.api() as client:
        add(Fault("status", "GET /api/v3/tag", times=1, status=503))
        assert client.get("/api/v3/tag").status_code == 503
        assert client.get("/api/v3/tag").status_code == 200  # times=1 is spent
        add(Fault("rate_limit", "GET /api/v3/tag", times=1, retry_after="7"))
        limited = client.get("/api/v3/tag")
        assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
        add(Fault("malformed_json", "GET /api/v3/series", times=1))
        with pytest.raises(ValueError):
            client.get("/api/v3/series").json()
        add(Fault("wrong_shape", "GET /api/v3/series", times=1))
        assert isinstance(client.get("/api/v3/series").json(), dict)
        add(Fault("auth", "GET /api/v3/tag", times=1))
        refused = client.get("/api/v3/tag")
        assert (refused.status_code, refused.content) == (401, b"")
        add(Fault("latency", "GET /api/v3/tag", times=1, seconds=0.3))
        started = time.monotonic()
        assert client.get("/api/v3/tag").status_code == 200
        assert time.monotonic() - started >= 0.3
        add(Fault("timeout", "DELETE /api/v3/episodefile/*", times=1, seconds=2))
        with pytest.raises(httpx.ReadTimeout):
            client.delete("/api/v3/episodefile/1", timeout=0.5)


def test_control_routes_steer_faults_without_a_key(fake4):
    with fake4.client() as client:
        added = client.post(
            "/__fake__/faults",
            json={"kind": "status", "match": "get /api/v3/SERIES", "status": 502},
        )
        listed = client.get("/__fake__/faults").json()["faults"]
        faulted = client.get("/api/v3/series", headers={"X-Api-Key": KEY})
        cleared = client.delete("/__fake__/faults")
        healthy = client.get("/api/v3/series", headers={"X-Api-Key": KEY})
        bad = client.post("/__fake__/faults", json={"kind": "gremlins", "match": "*"})
    assert added.status_code == 200 and listed[0]["status"] == 502
    assert faulted.status_code == 502 and faulted.json() == {"message": "Injected fault: HTTP 502"}
    assert cleared.json() == {"faults": []} and healthy.status_code == 200
    assert bad.status_code == 400


def test_under_a_path_prefix_fault_keys_and_the_write_log_use_the_api_path():
    with served(V4, prefix="/sonarr") as fake:
        fake.faults.add(Fault("status", "GET /api/v3/tag", times=1, status=503))
        with fake.api() as client:
            assert client.get("/api/v3/tag").status_code == 503
            status = client.get("/api/v3/system/status").json()
            client.delete("/api/v3/episodefile/1")
    assert status["urlBase"] == "/sonarr"
    assert fake.writes.to_list()[0]["path"] == "/api/v3/episodefile/1"
