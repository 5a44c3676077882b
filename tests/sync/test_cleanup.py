"""Cleanup (missing_since) and risk detection (ambiguous ownership) over the fakes and a store."""

from __future__ import annotations

import copy

import pytest

from cullarrd.errors import IntegrationError
from cullarrd.store.models import Episode, Integration, MediaFile, Movie, Season, Series
from cullarrd.sync.cleanup import ambiguous_paths_query, risk_detection
from cullarrd.timeutil import utcnow
from cullarrd_plugins.fakelib.model import Library
from tests.sync.helpers import PATH_MAPPINGS, make_context, make_runtime
from tests.sync.test_inventory import (
    record_inventory_writes,
    run_phases,
    single_episode_file,
    snapshot,
    sync_inventory,
)


def missing() -> dict[str, set]:
    """Upstream ids (store ids for seasons) of every row that is marked missing."""
    return {
        "series": _missing(Series.sonarr_series_id),
        "seasons": _missing(Season.id),
        "episodes": _missing(Episode.sonarr_episode_id),
        "movies": _missing(Movie.radarr_movie_id),
        "files": _missing(MediaFile.attachable_type, MediaFile.arr_file_id),
    }


def _missing(*columns) -> set:
    model = columns[0].model
    query = model.select(*columns).where(model.missing_since.is_null(False)).tuples()
    return {row if len(row) > 1 else row[0] for row in query}


NOTHING_MISSING = {
    "series": set(),
    "seasons": set(),
    "episodes": set(),
    "movies": set(),
    "files": set(),
}


def season_ids(series_arr_id: int) -> set[int]:
    query = Season.select(Season.id).join(Series).where(Series.sonarr_series_id == series_arr_id)
    return {season.id for season in query}


class Removal:
    """Take items out of the fake library (as Sonarr/Radarr would) and put them back later."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.saved = copy.deepcopy(library)

    def series(self, series_id: int) -> None:
        lib = self.library
        for episode in lib.episodes_of(series_id):
            del lib.episodes[episode.id]
        for file in lib.episode_files_of(series_id):
            del lib.episode_files[file.id]
        del lib.series[series_id]
        lib.reindex()

    def movie(self, movie_id: int) -> None:
        for file_id in self.library.movies.pop(movie_id).file_ids:
            self.library.movie_files.pop(file_id, None)

    def restore(self) -> None:
        for name in ("series", "episodes", "episode_files", "movies", "movie_files"):
            setattr(self.library, name, copy.deepcopy(getattr(self.saved, name)))
        self.library.reindex()


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
async def test_items_gone_upstream_get_missing_since_and_lose_it_when_they_return(
    runtime, store, library, monkeypatch, full
):
    await sync_inventory(runtime)
    series3 = {
        "episodes": {e.id for e in library.episodes_of(3)},
        "files": {("episode", f.id) for f in library.episode_files_of(3)},
    }
    seasons3 = await store.read(lambda: season_ids(3))
    removal = Removal(library)
    removal.series(3)
    removal.movie(1)
    deleted_file = single_episode_file(library, 2)
    library.delete_episode_file(deleted_file)
    extra_version = library.movies[6].file_ids[1]
    library.delete_movie_file(extra_version)

    ctx = await sync_inventory(runtime, full=full)
    assert await store.read(missing) == {
        "series": {3},
        "seasons": seasons3,
        "episodes": series3["episodes"],
        "movies": {1},
        "files": series3["files"]
        | {("episode", deleted_file), ("movie", 1), ("movie", extra_version)},
    }
    marked = 1 + len(seasons3) + len(series3["episodes"]) + len(series3["files"]) + 1 + 3
    assert ctx.progress.phases["cleanup"].counts == {"missing_marked": marked, "missing_cleared": 0}

    # Still gone: the first missing_since stays, nothing is written (an incremental pass that
    # skips a series must not count its missing rows as seen).
    before = await store.read(snapshot)
    statements = record_inventory_writes(store, monkeypatch)
    await sync_inventory(runtime, full=False)
    await sync_inventory(runtime, full=True)
    assert statements == [] and await store.read(snapshot) == before

    removal.restore()
    ctx = await sync_inventory(runtime, full=full)
    assert await store.read(missing) == NOTHING_MISSING
    cleared = ctx.progress.phases["cleanup"].counts["missing_cleared"]
    episode_side = 1 + len(seasons3) + len(series3["episodes"]) + len(series3["files"]) + 1
    assert cleared == 0  # the inventory already cleared every row it saw again
    assert ctx.progress.phases["sonarr_inventory"].rows_written >= episode_side


async def test_marking_is_set_based_not_row_by_row(runtime, store, library, monkeypatch):
    await sync_inventory(runtime)
    Removal(library).series(3)
    statements = record_inventory_writes(store, monkeypatch)
    ctx = make_context(runtime)
    ctx.full_inventory = {"sonarr": True}
    await run_phases(ctx, "sonarr_inventory")
    assert statements == []  # the inventory itself writes nothing for a vanished series
    await run_phases(ctx, "cleanup")
    assert ctx.progress.phases["cleanup"].rows_written > 4
    assert [s.split('"')[1] for s in statements] == ["series", "seasons", "episodes", "media_files"]


async def test_integrations_that_did_not_complete_their_inventory_are_not_cleaned(
    runtime, store, library
):
    await sync_inventory(runtime)
    before = await store.read(snapshot)
    Removal(library).series(3)
    Removal(library).movie(1)
    ctx = make_context(runtime)
    # Sonarr's inventory did not run in this run; Radarr's ran but failed.
    ctx.progress.begin("radarr_inventory")
    ctx.fail(
        next(c for c in runtime.config.integrations if c.name == "radarr"),
        IntegrationError("radarr: down", code="integration_unreachable"),
    )
    ctx.seen["radarr"] = {"movies": set(), "movie_files": set()}  # must not be trusted
    await run_phases(ctx, "cleanup")
    assert await store.read(snapshot) == before
    assert ctx.progress.phases["cleanup"].counts == {"integrations_not_cleaned": 1}


async def test_a_table_absent_from_seen_is_left_alone(runtime, store):
    await sync_inventory(runtime)
    ctx = make_context(runtime)
    ctx.progress.begin("sonarr_inventory")
    ctx.completed(next(c for c in runtime.config.integrations if c.name == "sonarr"))
    ctx.seen["sonarr"] = {"series": {1, 2}}  # nothing said about seasons, episodes, files
    await run_phases(ctx, "cleanup")
    assert await store.read(missing) == {**NOTHING_MISSING, "series": {3}}


# --- risk detection -----------------------------------------------------------------------


def two_sonarrs(fakes, second_mappings):
    """Config with a second Sonarr integration on the same fake."""
    config = fakes.integrations()
    sonarr = next(entry for entry in config if entry["kind"] == "sonarr")
    return [*config, {**sonarr, "name": "sonarr-b", "path_mappings": second_mappings}]


async def run_risk(runtime) -> int:
    ctx = make_context(runtime)
    await run_phases(ctx, "sonarr_inventory")
    ctx.progress.begin("risk_detection")
    await risk_detection(ctx)
    return ctx.progress.phases["risk_detection"].counts["ambiguous_ownership_paths"]


async def test_a_path_two_integrations_own_is_ambiguous(store, fakes, library, tmp_path):
    runtime = make_runtime(store, two_sonarrs(fakes, PATH_MAPPINGS["sonarr"]), tmp_path)
    assert await run_risk(runtime) == len(library.episode_files)

    def rows_in_subquery() -> int:
        query = MediaFile.select().where(MediaFile.path_canonical.in_(ambiguous_paths_query()))
        return query.count()

    assert await store.read(rows_in_subquery) == 2 * len(library.episode_files)

    def forget_two() -> None:  # a missing and a culled copy own nothing any more
        b = Integration.get(Integration.name == "sonarr-b")
        files = MediaFile.select().where(MediaFile.integration == b).order_by(MediaFile.id)
        first, second = list(files)[:2]
        MediaFile.update(missing_since=utcnow()).where(MediaFile.id == first.id).execute()
        MediaFile.update(culled_at=utcnow()).where(MediaFile.id == second.id).execute()

    await store.write(forget_two)
    ctx = make_context(runtime)
    ctx.progress.begin("risk_detection")
    await risk_detection(ctx)
    assert ctx.progress.phases["risk_detection"].counts == {
        "ambiguous_ownership_paths": len(library.episode_files) - 2
    }


async def test_different_canonical_paths_are_not_ambiguous(store, fakes, tmp_path):
    other = [{"from": "/tv", "to": "/mnt/other/tv"}]
    runtime = make_runtime(store, two_sonarrs(fakes, other), tmp_path)
    assert await run_risk(runtime) == 0
