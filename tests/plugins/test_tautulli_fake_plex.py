"""The fake Tautulli's Plex side over real loopback HTTP: metadata, libraries, Plex down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cullarrd_plugins.fakelib.faults import Fault, Faults, WriteLog
from cullarrd_plugins.fakelib.model import Library
from tests.conftest import served_fake
from tests.plugins.test_tautulli_fake import KEY, call, data_of, history_page


@pytest.fixture
def base(library: Library, faults: Faults, writes: WriteLog) -> Iterator[str]:
    options = {"library": library, "faults": faults, "writes": writes}
    with served_fake("tautulli", api_key=KEY, **options) as fake:
        yield fake.url


def test_metadata_numbers_are_strings_and_unknown_keys_are_empty(
    base: str, library: Library
) -> None:
    movie = next(i for i in library.plex_items.values() if i.media_type == "movie")
    data = data_of(call(base, "get_metadata", rating_key=movie.rating_key))
    assert data["rating_key"] == movie.rating_key
    assert data["section_id"] == str(movie.section_id)
    assert data["duration"] == str(movie.duration_ms)
    assert data["media_info"][0]["parts"][0]["file"] == movie.files[0][0]
    assert data_of(call(base, "get_metadata", rating_key="999999999")) == {}


def test_plex_down_app_empties_plex_backed_commands_only(library: Library) -> None:
    with served_fake("tautulli", api_key=KEY, library=library, plex_down=True) as fake:
        key = next(iter(library.plex_items))
        assert data_of(call(fake.url, "get_metadata", rating_key=key)) == {}
        assert data_of(call(fake.url, "get_libraries")) == []
        media = data_of(call(fake.url, "get_library_media_info", section_id=1))
        assert (media["draw"], media["data"], media["last_refreshed"]) == (0, [], None)
        assert len(data_of(call(fake.url, "get_library_names"))) == len(library.plex_sections)
        assert history_page(fake.url)["recordsTotal"] == len(library.history)


def test_plex_down_fault_hits_only_matching_commands(
    base: str, faults: Faults, library: Library
) -> None:
    key = next(iter(library.plex_items))
    faults.add(Fault("plex_down", "get_meta*", times=1))
    assert data_of(call(base, "get_libraries")) != []
    assert data_of(call(base, "get_metadata", rating_key=key)) == {}
    assert data_of(call(base, "get_metadata", rating_key=key)) != {}


def test_media_info_cache_survives_plex_going_down(
    base: str, faults: Faults, writes: WriteLog
) -> None:
    first = data_of(call(base, "get_library_media_info", section_id=1, length=2))
    assert first["last_refreshed"] is None  # fresh from Plex, as Tautulli answers the first time
    assert first["recordsFiltered"] == first["recordsTotal"] > 0
    assert len(first["data"]) == min(2, first["recordsTotal"])
    assert all(
        isinstance(r["rating_key"], str) and isinstance(r["section_id"], int) for r in first["data"]
    )
    faults.add(Fault("plex_down", "get_library_media_info"))
    cached = data_of(call(base, "get_library_media_info", section_id=1, length=2))
    assert isinstance(cached["last_refreshed"], int)
    assert cached["data"] == first["data"]
    assert data_of(call(base, "delete_media_info_cache", section_id=1)) == {}
    gone = data_of(call(base, "get_library_media_info", section_id=1))
    assert (gone["draw"], gone["data"]) == (0, [])
    assert writes.to_list()[-1]["query"] == {"cmd": "delete_media_info_cache", "section_id": "1"}


def test_media_info_pages_and_sorts(base: str) -> None:
    everything = data_of(call(base, "get_library_media_info", section_id=1, length=100))
    titles = [r["sort_title"].lower() for r in everything["data"]]
    assert titles == sorted(titles, reverse=True)  # default: sort_title, desc
    by_size = data_of(
        call(
            base, "get_library_media_info", section_id=1, order_column="file_size", order_dir="asc"
        )
    )["data"]
    sizes = [r["file_size"] for r in by_size]
    assert sizes == sorted(sizes)
    second = data_of(call(base, "get_library_media_info", section_id=1, start=1, length=1))
    assert second["data"] == everything["data"][1:2]
    assert everything["total_file_size"] == sum(sizes)


def test_libraries_from_plex_are_strings_and_names_are_ints(base: str) -> None:
    libraries = data_of(call(base, "get_libraries"))
    names = data_of(call(base, "get_library_names"))
    assert {lib["section_id"] for lib in libraries} == {str(n["section_id"]) for n in names}
    assert all(isinstance(lib["count"], str) for lib in libraries)
    table = data_of(call(base, "get_libraries_table"))
    assert table["recordsTotal"] == len(names)
    assert [r["section_name"] for r in table["data"]] == sorted(
        (n["section_name"] for n in names), reverse=True
    )


def test_item_stats(base: str, library: Library) -> None:
    key = library.history[0].rating_key
    rows = [r for r in library.history if r.rating_key == key]
    stats = data_of(call(base, "get_item_watch_time_stats", rating_key=key, query_days="30,0"))
    assert [s["query_days"] for s in stats] == [30, 0]
    assert stats[1] == {
        "query_days": 0,
        "total_time": sum(r.play_duration for r in rows),
        "total_plays": len(rows),
    }
    per_user = data_of(call(base, "get_item_user_stats", rating_key=key))
    assert sum(u["total_plays"] for u in per_user) == len(rows)
