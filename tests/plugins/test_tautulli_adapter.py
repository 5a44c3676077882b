"""The Tautulli adapter against the fake over real loopback HTTP (reads, classification)."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette

from cullarrd.errors import IntegrationError
from cullarrd.types import HistoryRecord, PlexMetadata
from cullarrd_plugins.fakelib.faults import Fault, Faults
from cullarrd_plugins.fakelib.model import HistoryRow, Library
from cullarrd_plugins.tautulli.adapter import TautulliAdapter
from tests.conftest import served_fake
from tests.serving import RecordingTransport, serve

KEY = "fedcba9876543210fedcba9876543210"


@pytest.fixture
def base(library: Library, faults: Faults) -> Iterator[str]:
    with served_fake("tautulli", api_key=KEY, library=library, faults=faults) as fake:
        yield fake.url


@pytest.fixture
def transport() -> RecordingTransport:
    return RecordingTransport()


def sent_commands(transport: RecordingTransport, cmd: str | None = None) -> list[dict[str, str]]:
    """The query of every request sent (one value per key), optionally of one command."""
    queries = [{k: v[0] for k, v in s.query.items()} for s in transport.sent]
    return [q for q in queries if cmd is None or q.get("cmd") == cmd]


async def all_history(adapter: TautulliAdapter, **kwargs: Any) -> list[list[HistoryRecord]]:
    return [page async for page in adapter.iter_history(**kwargs)]


def assert_secret_free(exc: IntegrationError, key: str = KEY) -> None:
    assert key not in str(exc)
    assert key not in repr(exc.details)
    assert key not in exc.message


# --- reads -------------------------------------------------------------------------------------


async def test_health_keeps_the_v_prefix(base: str, adapter_for) -> None:
    async with adapter_for("tautulli", base, KEY) as adapter:
        assert isinstance(adapter, TautulliAdapter)
        health = await adapter.check_health()
    assert health.app_name == "Tautulli"
    assert health.version == "v2.17.2"
    assert (health.min_read_version, health.min_delete_version) == ("2.12", None)


async def test_key_goes_in_the_query_only_and_the_base_path_is_kept(
    library: Library, adapter_for, transport: RecordingTransport
) -> None:
    with served_fake("tautulli", api_key=KEY, library=library, prefix="/tautulli") as fake:
        async with adapter_for("tautulli", fake.url, KEY, transport=transport) as adapter:
            await adapter.check_health()
    sent = transport.sent[0]
    assert sent.path == "/tautulli/api/v2"
    assert sent.query["apikey"] == [KEY]
    assert sent.query["cmd"] == ["get_tautulli_info"]
    assert "x-api-key" not in {h.lower() for h in sent.headers}


async def test_users_include_local_and_leave_out_deleted(
    base: str, library: Library, adapter_for
) -> None:
    async with adapter_for("tautulli", base, KEY) as adapter:
        users = [u async for u in adapter.iter_users()]
    by_id = {u.user_id: u for u in users}
    assert by_id[0].username == "Local"
    assert set(by_id) == {u.user_id for u in library.plex_users.values() if not u.deleted}
    inactive = next(u for u in library.plex_users.values() if not u.is_active and not u.deleted)
    assert by_id[inactive.user_id].is_active is False
    admin = next(u for u in library.plex_users.values() if u.is_admin and u.user_id)
    assert by_id[admin.user_id].is_admin is True


async def test_history_pages_newest_first_and_stops_at_since_id(
    base: str, library: Library, adapter_for, transport: RecordingTransport
) -> None:
    newest = max(r.row_id for r in library.history)
    since_id = newest - 25  # inside the third page of ten
    async with adapter_for("tautulli", base, KEY, transport=transport) as adapter:
        pages = await all_history(adapter, since_id=since_id, page_size=10)
    requests = sent_commands(transport, "get_history")
    assert len(requests) == 3
    assert [q["start"] for q in requests] == ["0", "10", "20"]
    assert {q["length"] for q in requests} == {"10"}
    first = requests[0]
    assert (first["order_column"], first["order_dir"]) == ("date", "desc")
    assert (first["grouping"], first["include_activity"]) == ("0", "0")
    ids = [r.history_id for page in pages for r in page]
    assert ids == sorted(ids, reverse=True)
    assert ids[0] == newest
    assert min(ids) <= since_id  # the whole page holding the mark is yielded (overlap)


async def test_full_history_stops_at_records_filtered(
    base: str, library: Library, adapter_for, transport: RecordingTransport
) -> None:
    async with adapter_for("tautulli", base, KEY, transport=transport, page_size=50) as adapter:
        pages = await all_history(adapter)
    expected = math.ceil(len(library.history) / 50)
    assert len(sent_commands(transport, "get_history")) == expected  # no extra empty page
    assert {q["length"] for q in sent_commands(transport, "get_history")} == {"50"}
    records = [r for page in pages for r in page]
    assert {r.history_id for r in records} == {r.row_id for r in library.history}


async def test_history_records_map_the_fields(base: str, library: Library, adapter_for) -> None:
    async with adapter_for("tautulli", base, KEY) as adapter:
        records = [r for page in await all_history(adapter) for r in page]
    rows = {r.row_id: r for r in library.history}
    episode = next(
        r for r in records if r.media_type == "episode" and r.rating_key in library.plex_items
    )
    source = rows[episode.history_id]
    item = library.plex_items[source.rating_key]
    assert episode.user_id == source.user_id
    assert episode.rating_key == source.rating_key
    assert episode.grandparent_rating_key == item.grandparent_rating_key
    assert (episode.season_number, episode.episode_number) == (
        item.parent_media_index,
        item.media_index,
    )
    assert episode.started_at == dt.datetime.fromtimestamp(source.started, dt.UTC)
    assert episode.play_duration_s == source.play_duration
    assert episode.percent_complete == source.percent_complete
    assert episode.watched_status == source.watched_status
    assert episode.guid == item.guid


async def test_media_types_other_than_movie_and_episode_are_dropped(
    library: Library, adapter_for
) -> None:
    newest = max(library.history, key=lambda r: r.row_id)
    track = HistoryRow(
        row_id=newest.row_id + 1,
        user_id=newest.user_id,
        rating_key="777777",
        media_type="track",
        started=newest.started + 60,
        stopped=newest.started + 240,
        paused_counter=0,
        percent_complete=100,
        watched_status=1.0,
    )
    library.history.append(track)
    with served_fake("tautulli", api_key=KEY, library=library) as fake:
        async with adapter_for("tautulli", fake.url, KEY) as adapter:
            pages = await all_history(adapter, page_size=5)
    ids = {r.history_id for page in pages for r in page}
    assert track.row_id not in ids
    assert len(ids) == len(library.history) - 1


async def test_metadata_when_plex_is_up(base: str, library: Library, adapter_for) -> None:
    episode = next(i for i in library.plex_items.values() if i.media_type == "episode")
    show = library.plex_items[episode.grandparent_rating_key]
    async with adapter_for("tautulli", base, KEY) as adapter:
        found = await adapter.get_metadata(episode.rating_key)
        unknown = await adapter.get_metadata("987654321")
    assert isinstance(found, PlexMetadata)
    assert found.rating_key == episode.rating_key
    assert found.media_type == "episode"
    assert found.section_id == episode.section_id
    assert found.grandparent_guids == tuple(show.guids)
    assert found.guids == tuple(episode.guids)
    assert found.duration_ms == episode.duration_ms
    assert found.files == tuple(path for path, _ in episode.files)
    assert (found.parent_media_index, found.media_index) == (
        episode.parent_media_index,
        episode.media_index,
    )
    assert unknown is None


async def test_metadata_is_unknown_when_plex_is_down(library: Library, adapter_for) -> None:
    key = next(iter(library.plex_items))
    with served_fake("tautulli", api_key=KEY, library=library, plex_down=True) as fake:
        async with adapter_for("tautulli", fake.url, KEY) as adapter:
            assert await adapter.get_metadata(key) is None


async def test_libraries_come_from_the_database_even_with_plex_down(
    library: Library, adapter_for, transport: RecordingTransport
) -> None:
    with served_fake("tautulli", api_key=KEY, library=library, plex_down=True) as fake:
        async with adapter_for("tautulli", fake.url, KEY, transport=transport) as adapter:
            libraries = [lib async for lib in adapter.iter_libraries()]
    assert {(lib.section_id, lib.section_type) for lib in libraries} == {
        (s.section_id, s.section_type) for s in library.plex_sections.values()
    }
    assert {q["cmd"] for q in sent_commands(transport)} == {"get_library_names"}


async def test_library_items_are_paged(
    base: str, library: Library, adapter_for, transport: RecordingTransport
) -> None:
    shows = [i for i in library.plex_items.values() if i.media_type == "show"]
    async with adapter_for("tautulli", base, KEY, transport=transport) as adapter:
        pages = [page async for page in adapter.iter_library_items(2, page_size=2)]
    assert len(pages) == math.ceil(len(shows) / 2)
    assert len(sent_commands(transport, "get_library_media_info")) == len(pages)
    items = [item for page in pages for item in page]
    assert {i.rating_key for i in items} == {s.rating_key for s in shows}
    first = items[0]
    assert first.media_type == "show" and first.section_id == 2
    assert first.parent_rating_key is None and first.media_index is None
    assert all(isinstance(i.year, int) and i.file_size for i in items)


async def test_library_items_of_an_uncached_section_with_plex_down_are_empty(
    library: Library, adapter_for
) -> None:
    with served_fake("tautulli", api_key=KEY, library=library, plex_down=True) as fake:
        async with adapter_for("tautulli", fake.url, KEY) as adapter:
            assert [page async for page in adapter.iter_library_items(1)] == []


# --- the classification table ------------------------------------------------------------------


async def test_bad_key_is_auth_failed_and_not_retried(
    base: str, adapter_for, transport: RecordingTransport
) -> None:
    wrong = "0" * 32
    async with adapter_for("tautulli", base, wrong, transport=transport) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.check_health()
    assert caught.value.code == "integration_auth_failed"
    assert "Invalid apikey" in str(caught.value)
    assert len(transport.sent) == 1
    assert_secret_free(caught.value, wrong)


async def test_unknown_command_is_a_contract_mismatch(base: str, adapter_for) -> None:
    async with adapter_for("tautulli", base, KEY) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter._call("nope")
    assert caught.value.code == "integration_contract_mismatch"
    assert caught.value.status == 400
    assert "Unknown command: nope" in str(caught.value)
    assert_secret_free(caught.value)


@pytest.mark.parametrize(
    "fault",
    [
        Fault("status", "get_users", status=500),
        Fault("malformed_json", "get_users"),
        Fault("wrong_shape", "get_users"),
        Fault("status", "get_users", status=404),
    ],
    ids=["500", "malformed_json", "wrong_shape", "404"],
)
async def test_broken_answers_are_contract_mismatches(
    base: str, faults: Faults, fault: Fault, adapter_for, transport: RecordingTransport
) -> None:
    faults.add(fault)
    async with adapter_for("tautulli", base, KEY, transport=transport) as adapter:
        with pytest.raises(IntegrationError) as caught:
            _ = [u async for u in adapter.iter_users()]
    assert caught.value.code == "integration_contract_mismatch"
    assert len(transport.sent) == 1  # never retried
    assert_secret_free(caught.value)


async def test_rate_limit_waits_for_retry_after_then_succeeds(
    base: str, faults: Faults, adapter_for, transport: RecordingTransport
) -> None:
    faults.add(Fault("rate_limit", "get_tautulli_info", times=1, retry_after="1"))
    began = time.monotonic()
    async with adapter_for("tautulli", base, KEY, transport=transport) as adapter:
        health = await adapter.check_health()
    assert health.version == "v2.17.2"
    assert time.monotonic() - began >= 1.0
    assert len(transport.sent) == 2


async def test_a_503_storm_is_unreachable_after_the_bounded_retries(
    base: str, faults: Faults, adapter_for, transport: RecordingTransport
) -> None:
    faults.add(Fault("status", "*", status=503))
    async with adapter_for("tautulli", base, KEY, transport=transport) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.check_health()
    assert caught.value.code == "integration_unreachable"
    assert len(transport.sent) == 3  # retry_max_attempts of the test config
    assert_secret_free(caught.value)


async def test_nobody_listening_is_unreachable(adapter_for) -> None:
    with serve(Starlette()) as url:
        pass  # the port is free again once the server stopped
    async with adapter_for("tautulli", url, KEY, retry_max_attempts=1) as adapter:
        with pytest.raises(IntegrationError) as caught:
            await adapter.check_health()
    assert caught.value.code == "integration_unreachable"
    assert_secret_free(caught.value)


def test_hook_answers_only_for_tautulli() -> None:
    from cullarrd_plugins import tautulli

    cfg = type("Cfg", (), {"kind": "sonarr"})()
    assert tautulli.cullarrd_make_adapter(integration=cfg, http=None, settings={}) is None
