"""Every blocker of SPEC §6.2 alone and combined, built through the fakes and a real sync, and
the keep markers, path exclusions and saved views that drive them (the story of the library is
in ``tests/candidates/scenario.py``)."""

from __future__ import annotations

import pytest

from cullarrd.integrations import reconcile
from cullarrd_plugins.fakelib.faults import Fault
from tests.candidates.scenario import SERIES_FOREST, SERIES_SOFIA, base_library, scenario

pytestmark = pytest.mark.asyncio
ALL = {"watched_match_mode": "none", "include_blocked": True}  # every row, blocked ones too


async def flags(sc, scope: str, candidate_id: str, **args) -> list[str] | None:
    """The blocker flags of one row in an ``include_blocked`` query (None: not listed)."""
    answer = await sc.query(scope, **{"include_blocked": True, "limit": 200, **args})
    row = next((r for r in answer["items"] if r["candidate_id"] == candidate_id), None)
    return None if row is None else row["blocker_flags"]


def store_id(candidate_id: str) -> int:
    return int(candidate_id.split(":")[1])


async def test_keep_markers_on_movie_episode_season_and_series(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)
        forest_season, forest_show = await sc.season(SERIES_FOREST), await sc.show(SERIES_FOREST)
        first, second = await sc.episode(13), await sc.episode(14)
        assert await sc.ids("movie") == [memory]

        marker = await sc.call("keep.add", target_type="movie", target_id=store_id(memory))
        assert await flags(sc, "movie", memory) == ["keep_marked"]
        assert await sc.ids("movie") == []  # blocked rows only with include_blocked
        await sc.call("keep.remove", id=marker["id"])
        assert await sc.ids("movie") == [memory]

        # One kept episode: the episode is blocked, its season and show are not strictly
        # eligible any more, the other episodes stay candidates.
        marker = await sc.call("keep.add", target_type="episode", target_id=store_id(first))
        assert await flags(sc, "tv_episode", first) == ["keep_marked"]
        assert await flags(sc, "tv_episode", second) == []
        for scope, row in (("tv_season", forest_season), ("tv_show", forest_show)):
            assert await flags(sc, scope, row) == ["keep_marked", "rollup_not_strictly_eligible"]
            assert row not in await sc.ids(scope)
        answer = await sc.query("tv_season", include_blocked=True)
        row = next(r for r in answer["items"] if r["candidate_id"] == forest_season)
        assert (row["episode_count"], row["eligible_episode_count"]) == (5, 4)
        await sc.call("keep.remove", id=marker["id"])
        assert forest_season in await sc.ids("tv_season")

        # A season's or series' marker covers every episode in it.
        for target_type, target in (("season", forest_season), ("series", forest_show)):
            marker = await sc.call(
                "keep.add", target_type=target_type, target_id=store_id(target), note="rewatch"
            )
            assert await flags(sc, "tv_episode", second) == ["keep_marked"]
            assert "keep_marked" in await flags(sc, "tv_show", forest_show)
            await sc.call("keep.remove", id=marker["id"])
        assert await flags(sc, "tv_episode", second) == []


async def test_exclusions_match_on_path_segment_boundaries(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        sofia = await sc.episode(18)
        paul = await sc.movie(6)
        # Canonical paths: Sonarr's /tv is /mnt/media/tv, Radarr's /movies is /mnt/media/movies.
        near = await sc.call("exclusions.add", name="near miss", path_prefix="/mnt/media/tv/Sofia")
        assert await flags(sc, "tv_episode", sofia, watched_match_mode="all") == []
        exact = await sc.call(
            "exclusions.add", name="sofia", path_prefix="/mnt/media/tv/Sofia's Circle (2009)/"
        )
        assert exact["path_prefix"] == "/mnt/media/tv/Sofia's Circle (2009)"
        assert await flags(sc, "tv_episode", sofia, watched_match_mode="all") == ["path_excluded"]
        season = await sc.season(SERIES_SOFIA)
        assert await flags(sc, "tv_season", season, watched_match_mode="any") == [
            "path_excluded", "rollup_not_strictly_eligible",
        ]  # fmt: skip
        await sc.call("exclusions.set_enabled", id=exact["id"], enabled=False)
        assert await flags(sc, "tv_episode", sofia, watched_match_mode="all") == []
        await sc.call("exclusions.remove", id=near["id"])

        # One of a movie's two versions excluded blocks the movie.
        version = sc.library.movie_files[sc.library.movies[6].file_ids[1]]
        path = version.path.replace("/movies", "/mnt/media/movies", 1)
        await sc.call("exclusions.add", name="extended cut", path_prefix=path)
        assert await flags(sc, "movie", paul, watched_match_mode="any") == ["path_excluded"]


async def test_a_type_mismatch_blocks_the_episode_and_leaves_the_movie_uncertain(store, tmp_path):
    library = base_library()
    movie_key = library.movies[4].plex_rating_key
    episode_key = library.episodes[4].plex_rating_key
    library.plex_items[movie_key].files = list(library.plex_items[episode_key].files)
    with scenario(store, tmp_path, library) as sc:
        await sc.sync()
        episode, memory = await sc.episode(4), await sc.movie(4)
        assert await flags(sc, "tv_episode", episode, **ALL) == ["ambiguous_mapping"]
        # The movie's plays could not be attributed: it looks unwatched but may not be.
        assert await flags(sc, "movie", memory, **ALL) == ["unattributed_watch_history"]
        assert memory not in await sc.ids("movie", watched_match_mode="none")
        answer = await sc.query("tv_episode", **ALL)
        row = next(r for r in answer["items"] if r["candidate_id"] == episode)
        assert row["mapping_status"]["state"] == "ambiguous"
        assert "type mismatch" in row["mapping_status"]["details"]


async def test_two_integrations_owning_one_path_block_on_ownership_and_mapping(store, tmp_path):
    copy = {"name": "radarr-copy"}  # a second Radarr with the same files and mappings
    with scenario(store, tmp_path, extra=[copy]) as sc:
        await sc.sync()
        answer = await sc.query("movie", **ALL)
        assert answer["items"]
        for row in answer["items"]:
            assert "ambiguous_ownership" in row["blocker_flags"], row["candidate_id"]
        memory = [r for r in answer["items"] if r["title"] == "The Memory of the Mountain"]
        assert {r["integrations"][0] for r in memory} == {"radarr", "radarr-copy"}
        assert all("ambiguous_mapping" in r["blocker_flags"] for r in memory)
        assert await sc.ids("movie", watched_match_mode="any") == []


async def test_an_unavailable_integration_blocks_its_items(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, forest = await sc.movie(4), await sc.episode(13)
        sc.fakes.faults["radarr"].add(Fault("status", "GET /api/v3/movie", status=500))
        await sc.sync(expect="partial_failure")
        assert await flags(sc, "movie", memory) == ["integration_unavailable"]
        assert await flags(sc, "tv_episode", forest) == []  # Sonarr synced fine
        sc.fakes.faults["radarr"].clear()
        await sc.sync()
        assert await flags(sc, "movie", memory) == []
        # Taken out of the config: its items stay known but are never deletable.
        kept = [cfg for cfg in sc.runtime.config.integrations if cfg.name != "radarr"]
        await store.write(lambda: reconcile(kept, sc.runtime.audit))
        assert await flags(sc, "movie", memory) == ["integration_unavailable"]


async def test_history_plex_could_not_attribute_blocks_same_title_items(store, tmp_path):
    with scenario(store, tmp_path, plex_down=True) as sc:
        await sc.sync()
        memory, pilot, maya = await sc.movie(4), await sc.episode(13), await sc.movie(1)
        # Nothing is attributed while Plex is down: these look unwatched, but the history
        # names them (title and year; show, season and episode), so they are blocked.
        assert await flags(sc, "movie", memory, **ALL) == ["unattributed_watch_history"]
        assert await flags(sc, "tv_episode", pilot, **ALL) == ["unattributed_watch_history"]
        assert await flags(sc, "movie", maya, **ALL) == []  # nobody played it
        none = await sc.ids("movie", watched_match_mode="none")
        assert memory not in none and maya in none


async def test_blockers_combine_on_one_row(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        gambit = await sc.movie(3)  # Zoe is part-way into it
        await sc.call("keep.add", target_type="movie", target_id=store_id(gambit))
        await sc.call("exclusions.add", name="movies", path_prefix="/mnt/media/movies")
        row_flags = await flags(sc, "movie", gambit, **ALL)
        assert row_flags == ["path_excluded", "keep_marked", "in_progress_any"]
        answer = await sc.query("movie", **ALL)
        row = next(r for r in answer["items"] if r["candidate_id"] == gambit)
        assert set(row["flag_details"]) == set(row_flags)
        assert answer["diagnostics"]["rows_blocked"] == answer["diagnostics"]["rows_matching"]


async def test_saved_views_give_defaults_that_explicit_arguments_override(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        will = await sc.user_id("will")
        view = await sc.call(
            "views.add", name="will's leftovers", scope="movie",
            filters={"plex_user_ids": [will], "watched_match_mode": "any", "sort": "title"},
        )  # fmt: skip
        by_view = await sc.call("candidates.query", saved_view="will's leftovers")
        assert by_view["filters"]["saved_view_id"] == view["id"]
        assert by_view["filters"]["sort"] == "title" and by_view["filters"]["order"] == "asc"
        # By sort title: "memory of the mountain" before "pauls race".
        titles = [r["title"] for r in by_view["items"]]
        assert titles == ["The Memory of the Mountain", "Paul's Race"]
        overridden = await sc.call(
            "candidates.query", saved_view_id=view["id"], watched_match_mode="none"
        )
        assert overridden["filters"]["plex_user_ids"] == [will]
        titles = [r["title"] for r in overridden["items"]]
        assert titles == ["Gambit of Camelot", "Gambit of Camelot", "Maya's School"]
        episodes = await sc.call("candidates.query", saved_view_id=view["id"], scope="tv_show")
        assert episodes["scope"] == "tv_show"


async def test_what_blocks_one_episode_of_a_shared_file_blocks_the_other(store, tmp_path):
    """Episodes 2 and 3 of Oakland Wolf share one file: deleting it deletes both."""
    from cullarrd.candidates.params import parse_query
    from cullarrd.candidates.query import evaluate_targets

    with scenario(store, tmp_path) as sc:
        await sc.sync()
        pilot, partner = await sc.episode(2), await sc.episode(3)  # Will watched the pilot
        assert await flags(sc, "tv_episode", pilot, watched_match_mode="any") == []
        await sc.call("keep.add", target_type="episode", target_id=store_id(partner))
        assert await flags(sc, "tv_episode", pilot, watched_match_mode="any") == ["keep_marked"]
        settings = await store.read(sc.runtime.settings.values)
        query = parse_query({"scope": "tv_episode", "watched_match_mode": "any"})
        (row,) = await store.read(lambda: evaluate_targets(query, [store_id(pilot)], settings))
        assert row["blocker_flags"] == ["keep_marked"] and row["eligible"] is False


async def test_an_integration_not_cleared_for_deleting_blocks_its_items(store, tmp_path):
    from cullarrd.store.models import Integration

    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)
        assert await flags(sc, "movie", memory) == []
        for change in ({"supported_for_delete": False}, {"last_sync_outcome": None}):
            await store.write(
                lambda change=change: (
                    Integration.update(**change).where(Integration.name == "radarr").execute()
                )
            )
            assert await flags(sc, "movie", memory) == ["integration_unavailable"], change
            await sc.sync()  # a health check and a complete sync clear it again
            assert await flags(sc, "movie", memory) == [], change


async def test_an_exclusion_of_the_root_covers_everything(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        await sc.call("exclusions.add", name="everything", path_prefix="/")
        for scope in ("movie", "tv_episode", "tv_season", "tv_show"):
            answer = await sc.query(scope, watched_match_mode="any", include_blocked=True)
            assert answer["items"], scope
            assert all("path_excluded" in r["blocker_flags"] for r in answer["items"]), scope


async def test_deletion_planning_checks_ownership_live(store, tmp_path):
    """A file of another integration on the same path, written by a sync that stopped before
    ``ambiguous_paths`` was refreshed: the list cannot know, the planner must."""
    from cullarrd.candidates.params import parse_query
    from cullarrd.candidates.query import evaluate_targets
    from cullarrd.store.models import Integration, MediaFile

    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)

        def squat() -> None:
            original = MediaFile.get(
                MediaFile.attachable_type == "movie", MediaFile.attachable_id == store_id(memory)
            )
            other = Integration.create(kind="radarr", name="radarr-old", base_url="http://x")
            MediaFile.create(
                integration=other, attachable_type="movie", attachable_id=999, arr_file_id=1,
                path=original.path, path_canonical=original.path_canonical, size_bytes=1,
            )  # fmt: skip

        await store.write(squat)
        settings = await store.read(sc.runtime.settings.values)
        query = parse_query({"scope": "movie"})
        (row,) = await store.read(lambda: evaluate_targets(query, [store_id(memory)], settings))
        assert row["blocker_flags"] == ["ambiguous_ownership"]
