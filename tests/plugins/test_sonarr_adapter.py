"""The Sonarr adapter against the fake Sonarr (v4 and v3) over real loopback HTTP."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cullarrd.errors import IntegrationError
from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.sonarr.adapter import SonarrAdapter
from tests.conftest import free_port
from tests.plugins.test_sonarr_fake import KEY, V3, V4, Fake, multi_episode_file
from tests.plugins.test_sonarr_fake import served as served_sonarr
from tests.serving import RecordingTransport


class Counting:
    """ASGI wrapper that remembers every request the server saw."""

    def __init__(self) -> None:
        self.app: Any = None
        self.seen: list[str] = []

    def around(self, app: Any) -> Counting:
        self.app = app
        return self

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@contextlib.contextmanager
def served(version: str = V4, prefix: str = "") -> Iterator[tuple[Fake, Counting]]:
    counting = Counting()
    with served_sonarr(version, prefix, wrap=counting.around) as fake:
        yield fake, counting


@pytest.fixture(params=[V4, V3], ids=["v4", "v3"])
def both(request) -> Iterator[tuple[Fake, Counting]]:
    with served(request.param) as pair:
        yield pair


@pytest.fixture
def v4() -> Iterator[tuple[Fake, Counting]]:
    with served(V4) as pair:
        yield pair


@pytest.fixture
def connect(adapter_for):
    """``async with connect(fake, **cfg) as adapter`` for the fake's URL (and prefix)."""

    @contextlib.asynccontextmanager
    async def build(fake: Fake, key: str = KEY, **cfg: Any) -> AsyncIterator[SonarrAdapter]:
        async with adapter_for("sonarr", fake.url + fake.prefix, key, **cfg) as adapter:
            yield adapter

    return build


async def read_all(adapter: SonarrAdapter) -> tuple[list, dict, dict]:
    series = [s async for s in adapter.iter_series()]
    episodes = {s.arr_id: [e async for e in adapter.iter_episodes(s.arr_id)] for s in series}
    files = {s.arr_id: [f async for f in adapter.iter_episode_files(s.arr_id)] for s in series}
    return series, episodes, files


# --- health and reads ---------------------------------------------------------------------


async def test_health_reports_the_version_and_remembers_the_major(both, connect):
    fake, _ = both
    async with connect(fake) as adapter:
        health = await adapter.check_health()
    assert isinstance(adapter, SonarrAdapter)
    assert (health.app_name, health.version) == ("Sonarr", fake.app.state.fake.version)
    assert (health.min_read_version, health.min_delete_version) == ("3.0", "4.0")
    assert adapter.major == (4 if health.version == V4 else 3)


async def test_full_read_matches_the_library(both, connect):
    fake, _ = both
    library = fake.library
    async with connect(fake) as adapter:
        series, episodes, files = await read_all(adapter)
    assert {s.arr_id for s in series} == set(library.series)
    assert sum(len(v) for v in episodes.values()) == len(library.episodes)
    assert sum(len(v) for v in files.values()) == len(library.episode_files)
    by_id = {s.arr_id: s for s in series}
    bare = by_id[99]
    assert [bare.episode_file_count, bare.size_on_disk, bare.imdb_id, bare.tmdb_id] == [None] * 4
    first = library.series[1]
    assert by_id[1].path == first.path and by_id[1].tags == tuple(first.tags)
    assert by_id[1].size_on_disk == sum(f.size for f in library.episode_files_of(1))
    shared = multi_episode_file(library)
    owner = library.episode_files[shared].series_id
    assert sorted(e.arr_id for e in episodes[owner] if e.episode_file_id == shared) == sorted(
        e.id for e in library.episodes_of_file(shared)
    )
    no_file = [e for eps in episodes.values() for e in eps if e.episode_file_id is None]
    assert len(no_file) == sum(1 for e in library.episodes.values() if e.episode_file_id == 0)
    record = next(f for f in files[owner] if f.arr_file_id == shared)
    model = library.episode_files[shared]
    assert [record.path, record.size_bytes, record.quality] == [
        model.path, model.size, model.quality.name
    ]  # fmt: skip


async def test_a_base_url_path_prefix_is_kept(connect):
    with served(V4, prefix="/sonarr") as (fake, counting):
        async with connect(fake) as adapter:
            health = await adapter.check_health()
            series = [s async for s in adapter.iter_series()]
    assert health.details["url_base"] == "/sonarr"
    assert len(series) == len(fake.library.series)
    assert counting.seen == ["GET /sonarr/api/v3/system/status", "GET /sonarr/api/v3/series"]


async def test_get_files_uses_the_version_list_format_and_skips_gone_files(both, adapter_for):
    fake, _ = both
    transport = RecordingTransport()
    async with adapter_for("sonarr", fake.url, KEY, transport=transport) as adapter:
        found = await adapter.get_files([1, 2])
        fake.library.delete_episode_file(1)
        after = await adapter.get_files([1, 2])
    assert [f.arr_file_id for f in found] == [1, 2] and [f.arr_file_id for f in after] == [2]
    listed = next(s.query for s in transport.sent if s.path == "/api/v3/episodefile")
    expected = ["1,2"] if adapter.major < 4 else ["1", "2"]
    assert listed["episodeFileIds"] == expected
    # Sonarr fails a list naming a gone id with 500; the adapter re-reads those one by one.
    assert [s.path for s in transport.sent[-2:]] == [
        "/api/v3/episodefile/1",
        "/api/v3/episodefile/2",
    ]


# --- writes -------------------------------------------------------------------------------


async def test_delete_is_true_then_false_and_the_file_is_gone(both, connect):
    fake, _ = both
    library = fake.library
    shared = multi_episode_file(library)
    owner = library.episode_files[shared].series_id
    async with connect(fake) as adapter:
        first = await adapter.delete_file(shared)
        second = await adapter.delete_file(shared)
        remaining = await adapter.list_files(owner)
        episodes = [e async for e in adapter.iter_episodes(owner)]
    assert (first, second) == (True, False)
    assert shared not in {f.arr_file_id for f in remaining}
    assert shared not in {e.episode_file_id for e in episodes}


async def test_delete_refused_for_a_missing_root_folder_keeps_sonarrs_message(v4, connect):
    fake, _ = v4
    fake.app.state.fake.missing_root_folders.add("/tv")
    async with connect(fake) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.delete_file(1)
    assert caught.value.code == "integration_contract_mismatch"
    assert "Series' root folder (/tv) doesn't exist." in str(caught.value)
    assert caught.value.details["status"] == 409 and 1 in fake.library.episode_files


async def test_a_404_that_is_not_sonarrs_is_never_taken_as_already_gone(connect):
    with served(V4, prefix="/sonarr") as (fake, _):
        fake.prefix = ""  # the base URL misses /sonarr: the server's own 404 page answers
        async with connect(fake) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await adapter.delete_file(1)
    assert caught.value.code == "integration_contract_mismatch"
    assert 1 in fake.library.episode_files


async def test_unmonitor_episodes_in_one_call(v4, connect):
    fake, _ = v4
    async with connect(fake) as adapter:
        await adapter.unmonitor("episode", [2, 3, 2])
    assert not fake.library.episodes[2].monitored and not fake.library.episodes[3].monitored
    (write,) = fake.writes.to_list()
    assert (write["method"], write["path"]) == ("PUT", "/api/v3/episode/monitor")
    assert write["body"] == {"episodeIds": [2, 3], "monitored": False}


async def test_unmonitor_series_puts_back_the_full_resource(both, adapter_for):
    fake, _ = both
    fake.library.series[1].monitored = True
    transport = RecordingTransport()
    async with adapter_for("sonarr", fake.url, KEY, transport=transport) as adapter:
        await adapter.unmonitor("series", [1])
        check = await adapter.http.get_json("api/v3/series/1")
    (write,) = fake.writes.to_list()
    assert [write["method"], write["path"], write["query"]] == [
        "PUT", "/api/v3/series/1", {"moveFiles": "false"}
    ]  # fmt: skip
    assert write["body"] == {**check, "monitored": False}  # every field, not a partial body
    assert fake.library.series[1].monitored is False and check["monitored"] is False
    assert fake.library.series[1].path == write["body"]["path"]


async def test_add_tag_creates_once_lower_cased_then_reuses(both, connect):
    fake, _ = both
    library = fake.library
    async with connect(fake) as adapter:
        created = await adapter.add_tag("series", [1, 2], "Cullarr-Keep")
        reused = await adapter.add_tag("series", [3], "CULLARR-KEEP")
        existing = await adapter.add_tag("series", [], "Keep")
    assert created == reused and created.label == "cullarr-keep"
    assert existing.arr_tag_id == 4
    assert all(created.arr_tag_id in library.series[i].tags for i in (1, 2, 3))
    posts = [w for w in fake.writes.to_list() if w["method"] == "POST"]
    assert [w["body"] for w in posts] == [{"label": "cullarr-keep"}]
    editor = [w["body"] for w in fake.writes.to_list() if w["path"] == "/api/v3/series/editor"]
    assert editor[0] == {"seriesIds": [1, 2], "tags": [created.arr_tag_id], "applyTags": "add"}


async def test_writes_refuse_ids_that_are_not_positive_integers(v4, connect):
    fake, counting = v4
    async with connect(fake) as adapter:
        for bad in (0, -1, True, "5"):
            with pytest.raises(ValueError):
                await adapter.delete_file(bad)
        with pytest.raises(ValueError):
            await adapter.unmonitor("season", [1])
    assert counting.seen == []


# --- the classification table through faults ----------------------------------------------


async def fails(adapter_call) -> IntegrationError:
    with pytest.raises(IntegrationError) as caught:
        await adapter_call
    error = caught.value
    assert KEY not in str(error) and KEY not in repr(error.details)
    return error


async def test_429_with_retry_after_is_retried_after_waiting(v4, connect):
    fake, counting = v4
    fake.faults.add(Fault("rate_limit", "GET /api/v3/series", times=1, retry_after="1"))
    started = time.monotonic()
    async with connect(fake) as adapter:
        series = [s async for s in adapter.iter_series()]
    assert time.monotonic() - started >= 1.0
    assert len(series) == len(fake.library.series)
    assert counting.seen == ["GET /api/v3/series"] * 2


async def test_a_503_storm_beyond_the_attempts_is_unreachable(v4, connect):
    fake, counting = v4
    fake.faults.add(Fault("status", "GET /api/v3/series", status=503))
    async with connect(fake, retry_max_attempts=3) as adapter:
        error = await fails(adapter.iter_series().__anext__())
    assert error.code == "integration_unreachable"
    assert counting.seen == ["GET /api/v3/series"] * 3


async def test_a_timeout_is_unreachable(v4, connect):
    fake, counting = v4
    fake.faults.add(Fault("timeout", "GET /api/v3/system/status", seconds=3))
    async with connect(fake, request_timeout_seconds=1, retry_max_attempts=2) as adapter:
        error = await fails(adapter.check_health())
    assert error.code == "integration_unreachable"
    assert len(counting.seen) == 2


async def test_a_bad_key_is_auth_failed_and_not_retried(v4, connect):
    fake, counting = v4
    async with connect(fake, key="not-the-key") as adapter:
        error = await fails(adapter.check_health())
    assert error.code == "integration_auth_failed"
    assert counting.seen == ["GET /api/v3/system/status"]
    assert "not-the-key" not in str(error) and "not-the-key" not in repr(error.details)


async def test_a_closed_port_is_unreachable_and_a_403_is_auth_failed(v4, connect, adapter_for):
    fake, counting = v4
    fake.faults.add(Fault("status", "GET /api/v3/tag", status=403))
    async with connect(fake) as adapter:
        forbidden = await fails(adapter.find_or_create_tag("keep"))
    async with adapter_for("sonarr", f"http://127.0.0.1:{free_port()}", KEY) as adapter:
        closed = await fails(adapter.check_health())
    assert forbidden.code == "integration_auth_failed" and counting.seen == ["GET /api/v3/tag"]
    assert closed.code == "integration_unreachable"


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", "GET /api/v3/series", status=500),
        Fault("malformed_json", "GET /api/v3/series"),
        Fault("wrong_shape", "GET /api/v3/series"),
    ],
    ids=["500", "malformed_json", "wrong_shape"],
)
async def test_broken_answers_are_contract_mismatches(v4, connect, fault):
    fake, counting = v4
    fake.faults.add(fault)
    async with connect(fake) as adapter:
        error = await fails(adapter.iter_series().__anext__())
    assert error.code == "integration_contract_mismatch"
    assert counting.seen == ["GET /api/v3/series"]  # never retried


async def test_a_wrong_shape_on_status_and_a_fault_on_a_write(v4, connect):
    fake, _ = v4
    fake.faults.add(Fault("wrong_shape", "GET /api/v3/system/status"))
    fake.faults.add(Fault("auth", "DELETE /api/v3/episodefile/*"))
    async with connect(fake) as adapter:
        shape = await fails(adapter.check_health())
        auth = await fails(adapter.delete_file(1))
    assert shape.code == "integration_contract_mismatch" and "JSON object" in str(shape)
    assert auth.code == "integration_auth_failed" and 1 in fake.library.episode_files


def test_the_plugin_builds_the_adapter_only_for_its_kind():
    from cullarrd_plugins import sonarr

    class Cfg:
        kind = "radarr"
        name = "r"

    assert sonarr.cullarrd_make_adapter(integration=Cfg(), http=None, settings={}) is None
    Cfg.kind = "sonarr"
    built = sonarr.cullarrd_make_adapter(integration=Cfg(), http=None, settings={})
    assert isinstance(built, SonarrAdapter) and built.MIN_DELETE_VERSION == "4.0"
