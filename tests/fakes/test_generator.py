"""The generated library is deterministic, sized as promised, and internally consistent."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

from cullarrd_plugins.fakelib.generator import DEFAULT_NOW, PLEX_EXTERNAL_MOVIE_ROOT, generate
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.fakelib.plexgen import watched_status

SLOW = os.environ.get("CULLARR_SLOW_TESTS") == "1"


@pytest.fixture(scope="module")
def tiny() -> Library:
    return generate("tiny", seed=1)


@pytest.fixture(scope="module")
def medium() -> Library:
    return generate("medium", seed=1)


@pytest.fixture(scope="module", params=["tiny", "medium"])
def library(request, tiny, medium) -> Library:
    return {"tiny": tiny, "medium": medium}[request.param]


def test_same_size_and_seed_give_an_identical_library(tiny, medium):
    assert generate("tiny", seed=1) == tiny
    assert generate("medium", seed=1) == medium


def test_every_process_generates_the_same_library():
    # The three fakes run as separate processes; string hashing must not leak into the library.
    code = (
        "import hashlib; from cullarrd_plugins.fakelib.generator import generate; "
        "print(hashlib.sha256(repr(generate('medium', seed=7)).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2")
    }
    assert digests == {hashlib.sha256(repr(generate("medium", seed=7)).encode()).hexdigest()}


def test_another_seed_gives_another_library(tiny):
    other = generate("tiny", seed=2)
    assert other != tiny
    assert [s.title for s in other.series.values()] != [s.title for s in tiny.series.values()]


def test_unknown_size_and_naive_now_are_refused():
    with pytest.raises(ValueError, match="unknown library size"):
        generate("huge")
    with pytest.raises(ValueError, match="timezone-aware"):
        generate("tiny", now=dt.datetime(2026, 1, 1))


def test_history_follows_the_given_now():
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    library = generate("tiny", seed=1, now=now)
    assert library.now == now
    assert max(row.stopped for row in library.history) < now.timestamp()
    assert min(row.started for row in library.history) > DEFAULT_NOW.timestamp()


def test_tiny_counts(tiny):
    assert len(tiny.series) == 3
    assert 18 <= len(tiny.episodes) <= 32
    assert any(e.season_number == 0 for e in tiny.episodes.values())
    assert len(tiny.movies) == 6
    assert len(tiny.plex_users) == 5 and 0 in tiny.plex_users
    assert len(tiny.history) == 60


def test_medium_counts(medium):
    assert len(medium.series) == 40
    assert 1_300 <= len(medium.episodes) <= 1_700
    assert len(medium.movies) == 300
    assert len(medium.plex_users) == 9
    assert len(medium.history) == 10_000


def test_tiny_has_the_edge_cases_sync_tests_need(tiny):
    shared = Counter(e.episode_file_id for e in tiny.episodes.values() if e.episode_file_id)
    assert any(count == 2 for count in shared.values()), "a multi-episode file"
    assert any(e.episode_file_id == 0 for e in tiny.episodes.values()), "an episode without file"
    assert any(not m.file_ids for m in tiny.movies.values()), "a movie without file"
    assert any(len(m.file_ids) == 2 for m in tiny.movies.values()), "a movie with two versions"
    assert any(m.file_ids and m.plex_rating_key is None for m in tiny.movies.values())
    pairs = Counter((m.title, m.year) for m in tiny.movies.values())
    assert sorted(pairs.values())[-1] == 2, "a same title+year pair"


def test_episode_files_belong_to_their_episodes_series(library):
    covered = Counter()
    for episode in library.episodes.values():
        if episode.episode_file_id == 0:
            continue
        episode_file = library.episode_files[episode.episode_file_id]
        assert episode_file.series_id == episode.series_id
        assert episode_file.season_number == episode.season_number
        covered[episode_file.id] += 1
    assert set(covered) == set(library.episode_files), "no orphan files"
    assert max(covered.values()) <= 2


def test_multi_episode_files_cover_consecutive_episodes(library, medium):
    by_file: dict[int, list[int]] = {}
    for episode in library.episodes.values():
        if episode.episode_file_id:
            by_file.setdefault(episode.episode_file_id, []).append(episode.episode_number)
    multi = {file_id: sorted(numbers) for file_id, numbers in by_file.items() if len(numbers) > 1}
    assert multi
    for file_id, (first, second) in multi.items():
        assert second == first + 1
        assert f"E{first:02d}-E{second:02d}" in library.episode_files[file_id].relative_path
    if library is medium:
        assert len(multi) >= 3
        share = len(multi) / len(library.episode_files)
        assert 0.002 <= share <= 0.03


def test_episodes_without_file_are_about_five_percent(medium):
    missing = sum(1 for e in medium.episodes.values() if e.episode_file_id == 0)
    assert 0.02 <= missing / len(medium.episodes) <= 0.08


def test_external_ids_are_unique(library):
    series = list(library.series.values())
    movies = list(library.movies.values())
    assert len({s.tvdb_id for s in series}) == len(series)
    tmdb = [s.tmdb_id for s in series if s.tmdb_id is not None]
    assert len(set(tmdb)) == len(tmdb)
    assert len({m.tmdb_id for m in movies}) == len(movies)
    imdb = [x.imdb_id for x in [*series, *movies] if x.imdb_id is not None]
    assert len(set(imdb)) == len(imdb)
    assert all(re.fullmatch(r"tt\d{7}", i) for i in imdb)
    assert len({e.tvdb_id for e in library.episodes.values()}) == len(library.episodes)
    if len(movies) > 100:
        assert any(s.tmdb_id is None for s in series) and any(s.imdb_id is None for s in series)


def test_titles_are_unique_except_one_same_title_and_year_pair(library):
    titles = [s.title for s in library.series.values()]
    assert len(set(titles)) == len(titles)
    movie_titles = Counter(m.title for m in library.movies.values())
    twins = [title for title, count in movie_titles.items() if count > 1]
    assert len(twins) == 1 and movie_titles[twins[0]] == 2
    pair = [m for m in library.movies.values() if m.title == twins[0]]
    assert pair[0].year == pair[1].year and pair[0].tmdb_id != pair[1].tmdb_id
    assert pair[0].path != pair[1].path


def test_paths_follow_the_arr_naming(library):
    for series in library.series.values():
        assert series.path == f"{library.arr_tv_root}/{series.title} ({series.year})"
    pattern = re.compile(r"Season (\d\d)/(.+) - S(\d\d)E\d\d(-E\d\d)? - .+ [\w-]+\.mkv")
    for episode_file in library.episode_files.values():
        series = library.series[episode_file.series_id]
        assert episode_file.path == f"{series.path}/{episode_file.relative_path}"
        match = pattern.fullmatch(episode_file.relative_path)
        assert match, episode_file.relative_path
        assert int(match[1]) == int(match[3]) == episode_file.season_number
        assert match[2] == series.title
        assert episode_file.relative_path.endswith(f" {episode_file.quality.name}.mkv")
        assert 200_000_000 <= episode_file.size <= 4_000_000_000
    for movie in library.movies.values():
        assert movie.path.startswith(f"{library.arr_movie_root}/{movie.title} ({movie.year})")
        for file_id in movie.file_ids:
            movie_file = library.movie_files[file_id]
            assert movie_file.movie_id == movie.id
            assert movie_file.path == f"{movie.path}/{movie_file.relative_path}"
            assert 1_000_000_000 <= movie_file.size <= 60_000_000_000


def test_movie_versions_and_missing_files_are_in_proportion(medium):
    movies = list(medium.movies.values())
    two = [m for m in movies if len(m.file_ids) == 2]
    assert 0.03 <= len(two) / len(movies) <= 0.07
    for movie in two:
        first, second = (medium.movie_files[i].quality.resolution for i in movie.file_ids)
        assert (first, second) == (1080, 2160)
    assert 0.01 <= sum(1 for m in movies if not m.file_ids) / len(movies) <= 0.05
    assert {f.id for f in medium.movie_files.values()} == {i for m in movies for i in m.file_ids}


def test_plex_files_are_the_arr_files_through_plex_roots(library):
    arr_files = {library.plex_path(f.path): f.size for f in library.episode_files.values()}
    arr_files |= {library.plex_path(f.path): f.size for f in library.movie_files.values()}
    radarr_tmdb = {f"tmdb://{m.tmdb_id}" for m in library.movies.values()}
    externals = 0
    for item in library.plex_items.values():
        assert item.rating_key.isdigit()
        if item.media_type in ("show", "season"):
            assert item.files == []
            continue
        assert item.files
        for path, size in item.files:
            if path.startswith(PLEX_EXTERNAL_MOVIE_ROOT + "/"):
                externals += 1
                assert not radarr_tmdb & set(item.guids)
                continue
            root = library.plex_tv_root if item.media_type == "episode" else library.plex_movie_root
            assert path.startswith(root + "/")
            assert arr_files[path] == size
    assert externals >= 1


def test_arr_items_point_at_matching_plex_items(library):
    for movie in library.movies.values():
        if movie.plex_rating_key is None:
            continue
        item = library.plex_items[movie.plex_rating_key]
        assert item.media_type == "movie" and item.section_id == 1
        assert f"tmdb://{movie.tmdb_id}" in item.guids
        assert (movie.imdb_id is None) or f"imdb://{movie.imdb_id}" in item.guids
        assert re.fullmatch(r"plex://movie/[0-9a-f]{24}", item.guid)
        assert len(item.files) == len(movie.file_ids)
        assert item.duration_ms and abs(item.duration_ms - movie.runtime_minutes * 60_000) < 120_000
    for episode in library.episodes.values():
        if episode.plex_rating_key is None:
            continue
        assert episode.episode_file_id != 0
        item = library.plex_items[episode.plex_rating_key]
        series = library.series[episode.series_id]
        assert item.media_type == "episode"
        assert item.guids == [f"tvdb://{episode.tvdb_id}"]
        assert (item.parent_media_index, item.media_index) == (
            episode.season_number,
            episode.episode_number,
        )
        assert item.grandparent_rating_key == series.plex_rating_key
        season = library.plex_items[item.parent_rating_key]
        assert season.media_type == "season" and season.parent_rating_key == series.plex_rating_key
        show = library.plex_items[series.plex_rating_key]
        assert f"tvdb://{series.tvdb_id}" in show.guids
        path = library.episode_files[episode.episode_file_id].path
        assert item.files[0][0] == library.plex_path(path)


def test_some_arr_items_are_not_in_plex(medium):
    absent = [m for m in medium.movies.values() if m.file_ids and m.plex_rating_key is None]
    with_files = [m for m in medium.movies.values() if m.file_ids]
    assert 1 <= len(absent) <= 0.05 * len(with_files)
    in_plex = sum(1 for e in medium.episodes.values() if e.plex_rating_key)
    with_file = sum(1 for e in medium.episodes.values() if e.episode_file_id)
    assert 0.9 * with_file <= in_plex < with_file


def test_users(library):
    users = library.plex_users
    assert users[0].username == "Local" and users[0].is_admin
    named = [u for uid, u in users.items() if uid != 0]
    assert sum(1 for u in named if not u.is_active) == 1
    assert sum(1 for u in named if u.deleted) == 1
    assert len({u.username for u in users.values()}) == len(users)
    assert all(u.email.endswith("@example.com") for u in named)


def test_history_rows_are_consistent(library):
    rows = library.history
    assert [r.row_id for r in rows] == list(range(1, len(rows) + 1))
    assert all(a.started <= b.started for a, b in itertools.pairwise(rows))
    assert rows[-1].stopped < library.now.timestamp()
    known = 0
    for row in rows:
        assert row.user_id in library.plex_users
        assert 0 <= row.percent_complete <= 100
        assert row.watched_status == watched_status(row.percent_complete)
        assert row.stopped >= row.started + row.paused_counter
        item = library.plex_items.get(row.rating_key)
        if item is None:
            continue
        known += 1
        assert item.media_type == row.media_type in ("movie", "episode")
        watched_seconds = item.duration_ms / 1000 * row.percent_complete / 100
        assert row.play_duration <= watched_seconds + 1
    stale = len(rows) - known
    assert 1 <= stale <= max(2, 0.01 * len(rows))


def test_history_mix_of_percentages_and_rewatches(medium):
    percents = [r.percent_complete for r in medium.history]
    share = Counter(
        "done" if p >= 90 else "partial" if 20 <= p <= 80 else "abandoned" if p < 5 else "other"
        for p in percents
    )
    assert share["done"] > 0.6 * len(percents)
    assert share["partial"] > 0.05 * len(percents)
    assert share["abandoned"] > 0.01 * len(percents)
    pairs = Counter((r.user_id, r.rating_key) for r in medium.history)
    assert sum(1 for count in pairs.values() if count >= 2) > 100
    assert len({r.user_id for r in medium.history}) == len(medium.plex_users)


def test_watched_status_follows_tautulli():
    assert [watched_status(p) for p in (100, 85, 84, 75, 60, 50, 40, 25, 24, 0)] == [
        1.0,
        1.0,
        0.75,
        0.75,
        0.5,
        0.5,
        0.25,
        0.25,
        0.0,
        0.0,
    ]


def test_indexes_match_a_full_scan(medium):
    for series_id in list(medium.series)[:5]:
        scanned = sorted(
            (e for e in medium.episodes.values() if e.series_id == series_id),
            key=lambda e: (e.season_number, e.episode_number),
        )
        assert medium.episodes_of(series_id) == scanned
        files = [f for f in medium.episode_files.values() if f.series_id == series_id]
        assert medium.episode_files_of(series_id) == files
    show = next(i for i in medium.plex_items.values() if i.media_type == "show")
    seasons = medium.plex_children_of(show.rating_key)
    assert seasons and all(s.parent_rating_key == show.rating_key for s in seasons)


def test_deleting_files_updates_the_library():
    library = generate("tiny", seed=1)
    shared = Counter(e.episode_file_id for e in library.episodes.values() if e.episode_file_id)
    multi_id = next(file_id for file_id, count in shared.items() if count == 2)
    cleared = library.delete_episode_file(multi_id)
    assert len(cleared) == 2 and all(e.episode_file_id == 0 for e in cleared)
    assert multi_id not in library.episode_files
    assert library.delete_episode_file(multi_id) == []
    movie = next(m for m in library.movies.values() if len(m.file_ids) == 2)
    extra = movie.file_ids[1]
    assert library.delete_movie_file(extra) is movie
    assert movie.file_ids == [movie.file_ids[0]] and extra not in library.movie_files
    assert library.delete_movie_file(extra) is None


@pytest.mark.slow
@pytest.mark.skipif(not SLOW, reason="benchmark-size library; set CULLARR_SLOW_TESTS=1")
def test_benchmark_library():
    began = time.perf_counter()
    library = generate("benchmark", seed=1)
    elapsed = time.perf_counter() - began
    with_files = sum(1 for e in library.episodes.values() if e.episode_file_id)
    print(f"benchmark library generated in {elapsed:.2f} s")
    assert len(library.series) == 1_500
    assert 95_000 <= with_files <= 105_000
    assert len(library.movies) == 15_000
    assert len(library.plex_users) == 26
    assert len(library.history) == 400_000
    two = sum(1 for m in library.movies.values() if len(m.file_ids) == 2)
    assert 0.04 <= two / len(library.movies) <= 0.06
