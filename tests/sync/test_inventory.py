"""The inventory phases over the fakes and a real store: upserts, no rewrites, isolation, cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import re

import httpx
import pytest

from cullarrd.store.models import Episode, Integration, MediaFile, Movie, Season, Series
from cullarrd.sync import inventory
from cullarrd.sync.cleanup import cleanup
from cullarrd.sync.context import SyncCanceled
from cullarrd.sync.inventory import is_full_pass_due, radarr_inventory, sonarr_inventory
from cullarrd.sync.inventory_sonarr import SonarrWriter
from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.fakelib.model import Library, MovieFile
from tests.harness import FAKE_KEYS
from tests.serving import RecordingTransport, serve
from tests.sync.helpers import make_context, make_runtime

INVENTORY = (Series, Season, Episode, Movie, MediaFile)
INVENTORY_WRITE = re.compile(
    r'^\s*(INSERT INTO|UPDATE|DELETE FROM) "(series|seasons|episodes|movies|media_files)"'
)
PHASES = {"sonarr_inventory": sonarr_inventory, "radarr_inventory": radarr_inventory}


async def run_phases(ctx, *names: str) -> None:
    """Run phases the way the engine does (begin, run, finish)."""
    table = {**PHASES, "cleanup": cleanup}
    for name in names:
        ctx.progress.begin(name)
        await table[name](ctx)
        ctx.progress.finish(name)


async def sync_inventory(runtime, *, full: bool = True, cleanup_too: bool = True, **overrides):
    """One run of both inventory phases (and cleanup); returns the context."""
    ctx = make_context(runtime, **overrides)
    ctx.full_inventory = {"sonarr": full, "radarr": full}
    phases = ["sonarr_inventory", "radarr_inventory"] + (["cleanup"] if cleanup_too else [])
    await run_phases(ctx, *phases)
    return ctx


def snapshot() -> dict[str, list[tuple]]:
    """Every inventory row, every column (updated_at included), in id order."""
    return {model.__name__: list(model.select().order_by(model.id).tuples()) for model in INVENTORY}


def record_inventory_writes(store, monkeypatch) -> list[str]:
    """Capture every INSERT/UPDATE/DELETE the store sends to an inventory table."""
    statements: list[str] = []
    original = store.db.execute_sql

    def execute_sql(sql, *args, **kwargs):
        if INVENTORY_WRITE.match(sql):
            statements.append(sql)
        return original(sql, *args, **kwargs)

    monkeypatch.setattr(store.db, "execute_sql", execute_sql)
    return statements


def recording(ctx) -> list[RecordingTransport]:
    """Give every adapter of ``ctx`` a recording transport; returns the list they land in."""
    transports: list[RecordingTransport] = []

    def factory() -> RecordingTransport:
        transports.append(RecordingTransport())
        return transports[-1]

    ctx.transport_factory = factory
    return transports


def series_fetches(transports) -> dict[str, list[int]]:
    """Series ids each per-series endpoint was asked for."""
    asked: dict[str, list[int]] = {"episode": [], "episodefile": []}
    for sent in (s for t in transports for s in t.sent):
        endpoint = sent.path.rsplit("/", 1)[-1]
        if endpoint in asked and "seriesId" in sent.query:
            asked[endpoint].append(int(sent.query["seriesId"][0]))
    return {key: sorted(ids) for key, ids in asked.items()}


def add_movie(library: Library, movie_id: int, file_id: int) -> None:
    """Add a movie with one file to the fake library (copied from movie 1)."""
    template = library.movies[1]
    path = f"/movies/Brand New ({movie_id})"
    library.movies[movie_id] = dataclasses.replace(
        template, id=movie_id, title="Brand New", tmdb_id=900_000 + movie_id, path=path,
        file_ids=[file_id], tags=[],
    )  # fmt: skip
    source = library.movie_files[template.file_ids[0]]
    library.movie_files[file_id] = MovieFile(
        id=file_id, movie_id=movie_id, relative_path="new.mkv", path=f"{path}/new.mkv",
        size=1234, quality=source.quality, date_added=source.date_added,
    )  # fmt: skip


def single_episode_file(library: Library, series_id: int) -> int:
    """A file of ``series_id`` that exactly one episode points at."""
    return next(
        f.id
        for f in library.episode_files_of(series_id)
        if len(library.episodes_of_file(f.id)) == 1
    )


# --- first inventory ----------------------------------------------------------------------


async def test_a_first_inventory_stores_the_whole_library(runtime, store, library):
    ctx = await sync_inventory(runtime, cleanup_too=False)
    assert {o.name: o.failed_phase for o in ctx.outcomes.values()} == {
        "sonarr": None, "radarr": None, "tautulli": None,
    }  # fmt: skip
    assert ctx.outcomes["sonarr"].completed_phases == ["sonarr_inventory"]
    rows = await store.read(snapshot)
    assert len(rows["Series"]) == len(library.series)
    assert len(rows["Episode"]) == len(library.episodes)
    assert len(rows["Movie"]) == len(library.movies)
    assert len(rows["MediaFile"]) == len(library.episode_files) + len(library.movie_files)
    seasons = {(e.series_id, e.season_number) for e in library.episodes.values()}
    seasons |= {(s.id, n.season_number) for s in library.series.values() for n in s.seasons}
    assert len(rows["Season"]) == len(seasons)
    assert ctx.seen["sonarr"] == {
        "series": set(library.series),
        "seasons": {row[0] for row in rows["Season"]},
        "episodes": set(library.episodes),
        "episode_files": set(library.episode_files),
    }
    assert ctx.seen["radarr"] == {
        "movies": set(library.movies),
        "movie_files": set(library.movie_files),
    }
    progress = ctx.progress.phases["sonarr_inventory"]
    assert progress.total_units == progress.processed_units == len(library.series)
    linked = sum(1 for e in library.episodes.values() if e.episode_file_id)
    inserted = len(library.series) + len(seasons) + len(library.episodes)
    assert progress.rows_written == inserted + len(library.episode_files) + linked
    assert ctx.progress.phases["radarr_inventory"].rows_written == len(rows["Movie"]) + len(
        library.movie_files
    )


async def test_files_link_to_episodes_and_movies_as_upstream_says(runtime, store, library):
    await sync_inventory(runtime, cleanup_too=False)
    multi_id, episodes = next(
        (f, library.episodes_of_file(f)) for f in library.episode_files
        if len(library.episodes_of_file(f)) == 2
    )  # fmt: skip

    def read():
        file = MediaFile.get(
            MediaFile.arr_file_id == multi_id, MediaFile.attachable_type == "episode"
        )
        linked = {
            e.sonarr_episode_id: e for e in Episode.select().where(Episode.media_file == file)
        }
        no_file = Episode.get(Episode.sonarr_episode_id == 12)
        two = Movie.get(Movie.radarr_movie_id == 6)
        versions = list(MediaFile.select().where(
            MediaFile.attachable_type == "movie", MediaFile.attachable_id == two.id
        ))  # fmt: skip
        return file, linked, no_file, two, versions

    file, linked, no_file, two, versions = await store.read(read)
    first = min(episodes, key=lambda e: (e.season_number, e.episode_number))
    assert set(linked) == {e.id for e in episodes}  # one row, pointed at by both episodes
    assert file.attachable_id == linked[first.id].id
    assert library.episodes[12].episode_file_id == 0 and no_file.media_file_id is None
    assert sorted(v.arr_file_id for v in versions) == sorted(library.movies[6].file_ids)
    assert [v.metadata_json["primary"] for v in sorted(versions, key=lambda v: v.arr_file_id)] == [
        f == library.movies[6].file_ids[0] for f in sorted(library.movies[6].file_ids)
    ]
    assert two.duration_ms == library.movies[6].runtime_minutes * 60_000


async def test_rows_carry_upstream_fields_and_canonical_paths(runtime, store, library):
    await sync_inventory(runtime, cleanup_too=False)

    def read():
        return (
            list(MediaFile.select()),
            Series.get(Series.sonarr_series_id == 1),
            Episode.get(Episode.sonarr_episode_id == 1),
            Integration.get(Integration.name == "sonarr").sync_state_json,
        )

    files, series, episode, state = await store.read(read)
    for file in files:
        root, to = ("/tv", "/mnt/media/tv") if file.attachable_type == "episode" else (
            "/movies", "/mnt/media/movies"
        )  # fmt: skip
        assert file.path.startswith(root + "/")
        assert file.path_canonical == to + file.path[len(root) :]
    upstream = library.series[1]
    assert (series.title, series.year, series.tvdb_id, series.path, series.monitored) == (
        upstream.title, upstream.year, upstream.tvdb_id, upstream.path, upstream.monitored,
    )  # fmt: skip
    assert series.added_at == upstream.added.replace(tzinfo=None)
    stats = library.episode_files_of(1)
    assert series.metadata_json["episode_file_count"] == sum(
        len(library.episodes_of_file(f.id)) for f in stats
    )
    assert series.metadata_json["size_on_disk"] == sum(f.size for f in stats)
    assert episode.duration_ms == library.episodes[1].runtime_minutes * 60_000
    assert is_full_pass_due(state, 24, dt.datetime.now(dt.UTC)) is False


# --- no rewrites --------------------------------------------------------------------------


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
async def test_an_unchanged_resync_writes_no_rows(runtime, store, monkeypatch, full):
    await sync_inventory(runtime)
    before = await store.read(snapshot)
    statements = record_inventory_writes(store, monkeypatch)
    ctx = await sync_inventory(runtime, full=full)
    assert statements == []
    assert await store.read(snapshot) == before
    for phase in ("sonarr_inventory", "radarr_inventory", "cleanup"):
        assert ctx.progress.phases[phase].rows_written == 0
    assert ctx.outcomes["sonarr"].completed_phases == ["sonarr_inventory"]


# --- upstream changes ---------------------------------------------------------------------


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
async def test_upstream_changes_update_and_insert_only_what_changed(runtime, store, library, full):
    await sync_inventory(runtime)
    before = {k: {row[0]: row for row in v} for k, v in (await store.read(snapshot)).items()}
    library.series[1].title = "Renamed Show"
    add_movie(library, 100, 100)
    gone_file = single_episode_file(library, 3)
    (orphaned,) = library.delete_episode_file(gone_file)
    ctx = await sync_inventory(runtime, full=full)

    def read():
        return (
            Series.get(Series.sonarr_series_id == 1),
            Movie.get(Movie.radarr_movie_id == 100),
            Episode.get(Episode.sonarr_episode_id == orphaned.id),
            snapshot(),
        )

    renamed, new, unlinked, after = await store.read(read)
    assert renamed.title == "Renamed Show"
    assert new.title == "Brand New" and new.missing_since is None
    new_file = await store.read(
        lambda: MediaFile.get(
            MediaFile.attachable_type == "movie", MediaFile.attachable_id == new.id
        )
    )
    assert new_file.arr_file_id == 100 and new_file.path_canonical.startswith("/mnt/media/movies/")
    assert unlinked.media_file_id is None
    changed = {
        name: [row[0] for row in rows if before[name].get(row[0]) != row]
        for name, rows in after.items()
    }
    stats_changed = await store.read(lambda: Series.get(Series.sonarr_series_id == 3).id)
    season = await store.read(lambda: Season.get(Season.id == unlinked.season_id))
    gone = await store.read(
        lambda: MediaFile.get(
            MediaFile.attachable_type == "episode", MediaFile.arr_file_id == gone_file
        )
    )
    assert changed["Series"] == sorted([renamed.id, stats_changed])  # title; statistics
    assert changed["Season"] == [season.id]  # its statistics
    assert changed["Episode"] == [unlinked.id]
    assert changed["Movie"] == [new.id]
    assert changed["MediaFile"] == [gone.id, new_file.id]  # cleanup marked it missing; new
    assert ctx.progress.phases["radarr_inventory"].rows_written == 2


# --- incremental passes -------------------------------------------------------------------


async def test_an_incremental_pass_fetches_only_series_whose_statistics_changed(
    runtime, store, library
):
    await sync_inventory(runtime)
    library.delete_episode_file(single_episode_file(library, 2))
    ctx = make_context(runtime)
    ctx.full_inventory = {"sonarr": False, "radarr": False}
    transports = recording(ctx)
    await run_phases(ctx, "sonarr_inventory", "radarr_inventory", "cleanup")
    assert series_fetches(transports) == {"episode": [2], "episodefile": [2]}
    assert not any("moviefile" in s.path for t in transports for s in t.sent)
    assert ctx.progress.phases["sonarr_inventory"].counts["series_skipped_unchanged"] == 2
    # The skipped series' stored rows stood for upstream: nothing of them was marked missing.
    assert await store.read(
        lambda: Episode.select().where(Episode.missing_since.is_null()).count()
    ) == len(library.episodes)

    full = make_context(runtime)
    full.full_inventory = {"sonarr": True, "radarr": True}
    transports = recording(full)
    await run_phases(full, "sonarr_inventory", "radarr_inventory")
    assert series_fetches(transports) == {"episode": [1, 2, 3], "episodefile": [1, 2, 3]}


async def test_a_missing_full_inventory_flag_means_a_full_pass(runtime, store):
    await sync_inventory(runtime)
    ctx = make_context(runtime)  # the engine said nothing: the safe answer is a full pass
    transports = recording(ctx)
    await run_phases(ctx, "sonarr_inventory")
    assert series_fetches(transports)["episode"] == [1, 2, 3]


async def test_radarr_v4_lists_versions_on_full_passes_only(store, library, fakes, tmp_path):
    from cullarrd_plugins.radarr.fake import create_app

    with serve(create_app(library, api_key=FAKE_KEYS["radarr"], version="4.7.5.7809")) as url:
        runtime = make_runtime(store, fakes.integrations(radarr={"base_url": url}), tmp_path)
        ctx = make_context(runtime)
        ctx.full_inventory = {"radarr": True}
        transports = recording(ctx)
        await run_phases(ctx, "radarr_inventory", "cleanup")
        listed = sorted(
            int(s.query["movieId"][0]) for t in transports for s in t.sent if "movieId" in s.query
        )
        assert listed == sorted(m.id for m in library.movies.values() if m.file_ids)

        def files() -> int:
            query = MediaFile.select().where(MediaFile.attachable_type == "movie")
            return query.where(MediaFile.missing_since.is_null()).count()

        assert await store.read(files) == len(library.movie_files)

        ctx = make_context(runtime)
        ctx.full_inventory = {"radarr": False}
        transports = recording(ctx)
        await run_phases(ctx, "radarr_inventory", "cleanup")
        assert not any("movieId" in s.query for t in transports for s in t.sent)
        assert await store.read(files) == len(library.movie_files)  # extra version kept


def test_is_full_pass_due():
    now = dt.datetime(2026, 6, 1, 12, 0)
    assert is_full_pass_due({}, 24, now) and is_full_pass_due(None, 24, now)
    assert not is_full_pass_due({"last_full_inventory_at": "2026-06-01T01:00:00Z"}, 24, now)
    assert is_full_pass_due({"last_full_inventory_at": "2026-05-31T12:00:00Z"}, 24, now)
    assert not is_full_pass_due({"last_full_inventory_at": "2026-05-31T12:00:00Z"}, 25, now)
    assert is_full_pass_due({"last_full_inventory_at": "2026-06-02T00:00:00Z"}, 24, now)  # future
    assert is_full_pass_due({"last_full_inventory_at": "garbage"}, 24, now)
    assert is_full_pass_due({"last_full_inventory_at": 5}, 24, now)
    aware = now.replace(tzinfo=dt.UTC)
    assert not is_full_pass_due({"last_full_inventory_at": "2026-06-01T11:30:00+00:00"}, 1, aware)


# --- concurrency and cancel ---------------------------------------------------------------


class InFlight(RecordingTransport):
    """A recording transport that also tracks how many requests were open at once."""

    peak = 0
    open = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        InFlight.open += 1
        InFlight.peak = max(InFlight.peak, InFlight.open)
        try:
            return await super().handle_async_request(request)
        finally:
            InFlight.open -= 1


async def test_per_series_fetches_run_concurrently_bounded_by_fetch_workers(store, fakes, tmp_path):
    runtime = make_runtime(store, fakes.integrations(sonarr={"fetch_workers": 2}), tmp_path)
    fakes.faults["sonarr"].add(Fault("latency", "GET /api/v3/episode*", seconds=0.2))
    InFlight.peak = InFlight.open = 0
    ctx = make_context(runtime, transport_factory=InFlight)
    await run_phases(ctx, "sonarr_inventory")
    assert InFlight.peak == 2
    assert ctx.outcomes["sonarr"].completed_phases == ["sonarr_inventory"]


async def test_cancel_while_fetching_stops_before_anything_is_written(store, fakes, tmp_path):
    runtime = make_runtime(store, fakes.integrations(sonarr={"fetch_workers": 1}), tmp_path)
    fakes.faults["sonarr"].add(Fault("latency", "GET /api/v3/episode", seconds=0.3))
    ctx = make_context(runtime)
    transports = recording(ctx)
    asyncio.get_running_loop().call_later(0.2, ctx.cancel.request)
    ctx.progress.begin("sonarr_inventory")
    with pytest.raises(SyncCanceled):
        await sonarr_inventory(ctx)
    assert len(series_fetches(transports)["episode"]) < 3
    assert await store.read(lambda: Series.select().count()) == 0
    assert "sonarr" not in ctx.seen and ctx.outcomes["sonarr"].completed_phases == []


async def test_cancel_between_write_transactions_keeps_whole_chunks(runtime, store, monkeypatch):
    monkeypatch.setattr(inventory, "CHUNK_ROWS", 1)  # one series per transaction
    ctx = make_context(runtime)
    original = SonarrWriter.write_chunk

    def write_then_cancel(self, chunk, now):
        written = original(self, chunk, now)
        ctx.cancel.request()
        return written

    monkeypatch.setattr(SonarrWriter, "write_chunk", write_then_cancel)
    ctx.progress.begin("sonarr_inventory")
    with pytest.raises(SyncCanceled):
        await sonarr_inventory(ctx)
    assert await store.read(lambda: Series.select().count()) == 1
    assert "sonarr" not in ctx.seen and ctx.outcomes["sonarr"].completed_phases == []


# --- isolation ----------------------------------------------------------------------------

MISMATCH = "integration_contract_mismatch"
SONARR_FAULTS = {
    "series_500": (Fault("status", "GET /api/v3/series", status=500), MISMATCH),
    "series_429_storm": (
        Fault("rate_limit", "GET /api/v3/series", retry_after="0"),
        "rate_limited",
    ),
    "series_auth": (Fault("auth", "GET /api/v3/series"), "integration_auth_failed"),
    "episodes_timeout": (
        Fault("timeout", "GET /api/v3/episode", seconds=2),
        "integration_unreachable",
    ),
    "files_malformed": (Fault("malformed_json", "GET /api/v3/episodefile"), MISMATCH),
    "one_series_files_500": (
        Fault("status", "GET /api/v3/episodefile", times=1, status=500),
        MISMATCH,
    ),
}


def sonarr_rows(rows: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """The Sonarr side of a snapshot (episode files only among media files)."""
    files = [row for row in rows["MediaFile"] if row[3] == "episode"]  # attachable_type
    return {"Series": rows["Series"], "Season": rows["Season"], "Episode": rows["Episode"],
            "MediaFile": files}  # fmt: skip


def sync_state(name: str) -> dict:
    return Integration.get(Integration.name == name).sync_state_json


@pytest.mark.parametrize("fault", list(SONARR_FAULTS))
async def test_a_failing_integration_is_skipped_and_left_exactly_as_it_was(
    store, fakes, library, tmp_path, fault
):
    config = fakes.integrations(sonarr={"request_timeout_seconds": 1})
    runtime = make_runtime(store, config, tmp_path)
    await sync_inventory(runtime)
    before = sonarr_rows(await store.read(snapshot))
    state = await store.read(lambda: sync_state("sonarr"))
    # Upstream changes on both sides: only Radarr's may land.
    library.series[1].title = "Renamed Show"
    library.delete_episode_file(single_episode_file(library, 3))
    del library.movies[1]
    fakes.faults["sonarr"].add(SONARR_FAULTS[fault][0])

    ctx = await sync_inventory(runtime, full=True)
    sonarr = ctx.outcomes["sonarr"]
    assert sonarr.failed_phase == "sonarr_inventory"
    assert sonarr.error["code"] == SONARR_FAULTS[fault][1]
    assert sonarr.completed_phases == [] and "sonarr" not in ctx.seen
    assert ctx.outcomes["radarr"].completed_phases == ["radarr_inventory"]
    # Not rewritten from partial data, not marked missing by cleanup, no full pass stamped.
    assert sonarr_rows(await store.read(snapshot)) == before
    assert await store.read(lambda: sync_state("sonarr")) == state
    gone = await store.read(lambda: Movie.get(Movie.radarr_movie_id == 1))
    assert gone.missing_since is not None  # Radarr completed and was cleaned up


async def test_an_upstream_value_the_adapter_refuses_fails_that_integration_only(
    runtime, store, library
):
    library.series[0] = dataclasses.replace(library.series[1], id=0)  # Sonarr never sends id 0
    library.reindex()
    ctx = await sync_inventory(runtime)
    assert ctx.outcomes["sonarr"].failed_phase == "sonarr_inventory"
    assert ctx.outcomes["sonarr"].error["code"] == MISMATCH
    assert ctx.outcomes["radarr"].completed_phases == ["radarr_inventory"]
    assert await store.read(lambda: Series.select().count()) == 0


async def test_metadata_keys_of_other_phases_survive_updates(runtime, store, library):
    await sync_inventory(runtime)

    def annotate() -> None:
        series = Series.get(Series.sonarr_series_id == 1)
        meta = {**series.metadata_json, "plex_section": 2}
        Series.update(metadata_json=meta).where(Series.id == series.id).execute()

    await store.write(annotate)
    before = await store.read(snapshot)
    await sync_inventory(runtime)  # unchanged: the foreign key is no reason to write
    assert await store.read(snapshot) == before
    library.series[1].tags = [*library.series[1].tags, 99]
    await sync_inventory(runtime)
    series = await store.read(lambda: Series.get(Series.sonarr_series_id == 1))
    assert series.metadata_json["plex_section"] == 2
    assert series.metadata_json["tags"][-1] == 99
