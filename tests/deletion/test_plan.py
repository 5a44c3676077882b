"""Deletion plans (SPEC §7.2): every target re-evaluated by the candidate engine, blocked targets
with every flag and the code a run would answer, version choices, side effects per scope; no
unlock needed and nothing written (the library's story is in ``tests/candidates/scenario.py``)."""

from __future__ import annotations

import pytest

from cullarrd.errors import ValidationFailed
from cullarrd.store.models import ALL_MODELS
from tests.candidates.scenario import (
    SERIES_FOREST,
    SERIES_SOFIA,
    ZOE,
)
from tests.deletion.helpers import deletion_scenario, refused, store_id

pytestmark = pytest.mark.asyncio


async def table_counts(store) -> dict[str, int]:
    return await store.read(lambda: {m._meta.table_name: m.select().count() for m in ALL_MODELS})


async def test_a_movie_plan_lists_its_file_and_side_effects_and_writes_nothing(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)
        before = await table_counts(store)
        plan = await sc.plan("movie", [memory])
        assert await table_counts(store) == before  # no unlock needed, nothing written
        assert sc.writes("radarr") == [] and sc.writes("sonarr") == []
        (target,) = plan["targets"]
        assert target["candidate_id"] == memory and target["eligible"] is True
        assert target["watched_summary"]["watched_users"] == ["Local", "Will", "Zoe"]
        (entry,) = plan["files"]
        movie = sc.library.movies[4]
        (upstream,) = sc.library.movie_files_of(4)
        assert (entry["integration"], entry["arr_file_id"]) == ("radarr", upstream.id)
        assert (entry["path"], entry["size_bytes"]) == (upstream.path, upstream.size)
        assert plan["total_bytes"] == upstream.size and plan["blocked"] == []
        item = {"integration": "radarr", "type": "movie", "arr_id": 4, "title": movie.title}
        assert plan["side_effects"] == {
            "unmonitor": [item],
            "tag": [{**item, "tag": "cullarr:culled"}],
            "affected_episodes": [],
        }
        assert plan["request"] == {
            "scope": "movie", "target_ids": [memory], "versions": {}, "plex_user_ids": [],
            "watched_match_mode": "all",
        }  # fmt: skip
        assert len(plan["fingerprint"]) == 64
        assert (await sc.plan("movie", [store_id(memory)]))["fingerprint"] == plan["fingerprint"]


async def test_blocked_targets_carry_every_flag_and_the_refusal_code(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, camelot, race = await sc.movie(4), await sc.movie(3), await sc.movie(6)
        plan = await sc.plan("movie", [memory, camelot, race])
        assert [f["candidate_id"] for f in plan["files"]] == [memory]
        blocked = {b["candidate_id"]: b for b in plan["blocked"]}
        assert set(blocked) == {camelot, race}
        # Zoe is 40 % into Gambit of Camelot; Paul's Race was watched by Will only.
        assert blocked[camelot]["blocker_flags"] == ["in_progress_any"]
        assert blocked[camelot]["error_code"] == "guardrail_in_progress"
        assert blocked[camelot]["flag_details"]["in_progress_any"]
        assert blocked[race]["error_code"] == "guardrail_watch_rule"
        # A plan names every blocker of a target, watched or not (unlike the list, which only
        # shows rows matching the mode).
        await sc.call("keep.add", target_type="movie", target_id=store_id(race))
        plan = await sc.plan("movie", [race])
        assert plan["blocked"][0]["blocker_flags"] == ["keep_marked"]
        assert plan["blocked"][0]["error_code"] == "guardrail_keep_marker"
        assert plan["files"] == [] and plan["total_bytes"] == 0


async def test_several_versions_must_be_chosen_and_decide_the_side_effects(store, tmp_path):
    """Paul's Race (Radarr movie 6) has two files; Will watched it."""
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        race = await sc.movie(6)
        will = {"users": ["will"]}
        error = await refused(sc.plan("movie", [race], **will))
        assert error.code == "multi_version_selection_required"
        (choice,) = error.details["targets"]
        versions = [v["media_file_id"] for v in choice["versions"]]
        assert choice["candidate_id"] == race and len(versions) == 2

        one = await sc.plan("movie", [race], versions={race: versions[:1]}, **will)
        assert [f["media_file_id"] for f in one["files"]] == versions[:1]
        assert one["side_effects"]["unmonitor"] == [] and one["side_effects"]["tag"] == []

        both = await sc.plan("movie", [race], versions={race: versions}, **will)
        assert [f["media_file_id"] for f in both["files"]] == versions
        assert [u["arr_id"] for u in both["side_effects"]["unmonitor"]] == [6]
        assert [t["arr_id"] for t in both["side_effects"]["tag"]] == [6]

        # The setting unmonitors the movie on a partial delete too; it is never tagged then.
        await sc.call("settings.set", values={"unmonitor_parent_on_partial_version_delete": True})
        one = await sc.plan("movie", [race], versions={race: versions[1:]}, **will)
        assert [u["arr_id"] for u in one["side_effects"]["unmonitor"]] == [6]
        assert one["side_effects"]["tag"] == []

        error = await refused(sc.plan("movie", [race], versions={race: [999_999]}, **will))
        assert isinstance(error, ValidationFailed) and "versions" in error.details["fields"]


async def test_side_effects_per_scope(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        forest = sc.library.episodes_of(SERIES_FOREST)
        forest_ids = [e.id for e in forest if e.episode_file_id]

        season = await sc.plan("tv_season", [await sc.season(SERIES_FOREST)])
        assert len(season["files"]) == len(forest_ids)
        assert [u["arr_id"] for u in season["side_effects"]["unmonitor"]] == forest_ids
        assert {u["type"] for u in season["side_effects"]["unmonitor"]} == {"episode"}
        assert season["side_effects"]["tag"] == []

        show = await sc.plan("tv_show", [await sc.show(SERIES_FOREST)])
        series = {"integration": "sonarr", "type": "series", "arr_id": SERIES_FOREST,
                  "title": sc.library.series[SERIES_FOREST].title}  # fmt: skip
        # Every episode whose file goes is unmonitored (a run stopped half-way leaves none
        # monitored without a file), and the series with its culled tag.
        unmonitor = show["side_effects"]["unmonitor"]
        assert [u["arr_id"] for u in unmonitor if u["type"] == "episode"] == forest_ids
        assert [u for u in unmonitor if u["type"] == "series"] == [series]
        assert show["side_effects"]["tag"] == [{**series, "tag": "cullarr:culled"}]
        assert sorted(f["arr_file_id"] for f in show["files"]) == sorted(
            e.episode_file_id for e in forest if e.episode_file_id
        )

        episode = await sc.plan("tv_episode", [await sc.episode(forest_ids[0])])
        assert [u["arr_id"] for u in episode["side_effects"]["unmonitor"]] == forest_ids[:1]


async def test_a_shared_file_unmonitors_and_lists_its_partner(store, tmp_path):
    """Oakland Wolf's episodes 2 and 3 share a file; Will watched episode 2 only."""
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        pilot, partner = await sc.episode(2), await sc.episode(3)
        plan = await sc.plan("tv_episode", [pilot], users=["will"])
        (entry,) = plan["files"]
        assert entry["arr_file_id"] == sc.library.episodes[2].episode_file_id
        assert [u["arr_id"] for u in plan["side_effects"]["unmonitor"]] == [2, 3]
        (affected,) = plan["side_effects"]["affected_episodes"]
        assert affected["episode_id"] == store_id(partner) and affected["shares_file_with"] == pilot
        assert "shared_file" in plan["targets"][0]["risk_flags"]
        # Named too, the unwatched partner is not deletable itself (no one watched it), yet
        # the pilot's delete still takes its file: it stays listed as affected.
        any_will = {"users": ["will"], "watched_match_mode": "any"}
        both = await sc.plan("tv_episode", [pilot, partner], **any_will)
        assert [b["candidate_id"] for b in both["blocked"]] == [partner]
        assert both["side_effects"]["affected_episodes"] == [affected]


async def test_roll_ups_plan_only_when_strictly_eligible(store, tmp_path):
    """Sofia's Circle: everyone watched all but the last episode, which only Will watched."""
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        sofia = await sc.season(SERIES_SOFIA)
        plan = await sc.plan("tv_season", [sofia])
        (blocked,) = plan["blocked"]
        assert blocked["error_code"] == "guardrail_watch_rule" and plan["files"] == []
        # Will watched every episode: for Will alone the season is eligible.
        will = await sc.plan("tv_season", [sofia], users=["will"])
        assert will["blocked"] == [] and len(will["files"]) == 8
        # A kept episode blocks the whole season with the keep marker's code.
        await sc.call("keep.add", target_type="episode", target_id=store_id(await sc.episode(18)))
        plan = await sc.plan("tv_season", [sofia], users=["will"])
        assert plan["blocked"][0]["error_code"] == "guardrail_keep_marker"
        assert "rollup_not_strictly_eligible" in plan["blocked"][0]["blocker_flags"]


async def test_watching_started_after_a_plan_shows_in_the_next_plan(store, tmp_path):
    """Movie 5 is unwatched by the default users; Zoe starts it after the first plan."""
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        twin = await sc.movie(5)
        unwatched = {"watched_match_mode": "none"}
        assert (await sc.plan("movie", [twin], **unwatched))["blocked"] == []
        sc.start_playing(ZOE, sc.library.movies[5].plex_rating_key)
        await sc.sync()
        (blocked,) = (await sc.plan("movie", [twin], **unwatched))["blocked"]
        assert blocked["error_code"] == "guardrail_in_progress"


async def test_bad_requests_are_refused_with_every_problem(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        error = await refused(sc.call("deletion.plan", scope="films", target_ids="x", extra=1))
        assert set(error.details["fields"]) == {"scope", "target_ids", "extra"}
        error = await refused(sc.plan("tv_episode", ["movie:1", 0, True]))
        assert "target_ids" in error.details["fields"]
        season = await sc.season(SERIES_FOREST)
        error = await refused(sc.plan("tv_season", [season], versions={season: [1]}))
        assert "versions" in error.details["fields"]
        error = await refused(sc.plan("movie", [await sc.movie(4)], users=["nobody"]))
        assert "users" in error.details["fields"]
        error = await refused(sc.plan("movie", [await sc.movie(2)]))  # no file on disk
        assert error.code == "validation_failed" and "not present" in str(error.details)
