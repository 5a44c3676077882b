"""The candidate query over a real sync of the fakes: match modes, users, watched modes, roll-ups,
multi-version and multi-episode files, removed items, paging, validation (SPEC §6).

The story behind every expectation is in ``tests/candidates/scenario.py``.
"""

from __future__ import annotations

import pytest

from cullarrd.errors import ValidationFailed
from cullarrd.store.models import AuditEvent, WatchStat
from tests.candidates.scenario import SERIES_FOREST, SERIES_OAKLAND, SERIES_SOFIA, scenario

pytestmark = pytest.mark.asyncio


async def expected(sc, scope: str, names: list[tuple]) -> list[str]:
    """Candidate ids from ``(kind, upstream id[, season])`` tuples."""
    found = []
    for kind, *key in names:
        found.append(await getattr(sc, kind)(*key))
    return sorted(found)


async def test_match_modes_and_user_selection_per_scope(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        will, zoe, victor = [await sc.user_id(n) for n in ("will", "zoe", "victor")]
        cases = [
            # scope, args, expected rows
            ("movie", {}, [("movie", 4)]),
            ("movie", {"watched_match_mode": "any"}, [("movie", 4), ("movie", 6)]),
            ("movie", {"watched_match_mode": "none"}, [("movie", 1), ("movie", 5)]),
            ("movie", {"plex_user_ids": [will]}, [("movie", 4), ("movie", 6)]),
            ("movie", {"plex_user_ids": [will, zoe]}, [("movie", 4)]),
            ("movie", {"plex_user_ids": [victor]}, [("movie", 5)]),  # hidden, chosen explicitly
            ("movie", {"users": ["Victor", "will"], "watched_match_mode": "any"},
             [("movie", 4), ("movie", 5), ("movie", 6)]),
            ("tv_episode", {}, [("episode", n) for n in range(13, 25)]),
            ("tv_episode", {"watched_match_mode": "any"},
             [("episode", n) for n in (2, *range(13, 26))]),
            ("tv_episode", {"watched_match_mode": "none"},
             [("episode", n) for n in (1, 3, *range(4, 12))]),
            ("tv_season", {}, [("season", SERIES_FOREST)]),
            ("tv_season", {"watched_match_mode": "any"},
             [("season", SERIES_FOREST), ("season", SERIES_SOFIA)]),
            ("tv_season", {"watched_match_mode": "none"}, [("season", SERIES_OAKLAND, 0)]),
            ("tv_season", {"plex_user_ids": [will]},
             [("season", SERIES_FOREST), ("season", SERIES_SOFIA)]),
            ("tv_show", {}, [("show", SERIES_FOREST)]),
            ("tv_show", {"watched_match_mode": "any"},
             [("show", SERIES_FOREST), ("show", SERIES_SOFIA)]),
            ("tv_show", {"watched_match_mode": "none"}, []),  # Oakland: one episode watched
        ]  # fmt: skip
        for scope, args, rows in cases:
            got = sorted(await sc.ids(scope, **args))
            assert got == await expected(sc, scope, rows), (scope, args)


async def test_rows_say_who_watched_what_and_why(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        answer = await sc.query("movie", watched_match_mode="any")
        assert answer["scope"] == "movie"
        assert answer["filters"]["watched_match_mode"] == "any"
        rows = {row["candidate_id"]: row for row in answer["items"]}
        paul = rows[await sc.movie(6)]
        assert paul["title"] == "Paul's Race" and paul["year"] == 1962
        assert paul["integrations"] == ["radarr"]
        assert paul["watched_summary"]["watched_users"] == ["Will"]
        assert paul["watched_summary"]["selected_user_count"] == 3
        assert paul["watched_summary"]["watched_user_count"] == 1
        assert paul["risk_flags"] == ["multiple_versions"] and paul["blocker_flags"] == []
        sizes = [v["size_bytes"] for v in paul["versions"]]
        assert len(sizes) == 2 and paul["reclaimable_bytes"] == sum(sizes)
        assert len(paul["media_file_ids"]) == 2
        assert {v["quality"] for v in paul["versions"]} == {"Bluray-1080p", "Bluray-2160p"}
        assert paul["mapping_status"]["code"] == "verified_path"
        assert paul["mapping_status"]["state"] == "verified"
        assert paul["mapping_status"]["details"]
        assert "watched_by_a_selected_user" in paul["reasons"]
        assert f"reclaims_gb:{sum(sizes) / 1e9:.2f}" in paul["reasons"]
        assert any(r.startswith("last_watched_days_ago:") for r in paul["reasons"])
        assert any(r.startswith("added_days_ago:") for r in paul["reasons"])
        memory = rows[await sc.movie(4)]
        assert memory["watched_summary"]["watched_users"] == ["Local", "Will", "Zoe"]
        assert memory["versions"] == []  # one file: no version choice
        diagnostics = answer["diagnostics"]
        assert diagnostics["rows_scanned"] == 5  # movie 2 has no file
        assert diagnostics["rows_returned"] == 2 == diagnostics["rows_matching"]
        # Maya's School, both Gambits (Zoe is only part-way into one: not watched)
        assert diagnostics["rows_filtered_unwatched"] == 3
        assert diagnostics["rows_filtered_blocked"] == 0
        assert diagnostics["selected_user_count"] == 0
        assert diagnostics["effective_user_count"] == 3
        assert diagnostics["total_reclaimable_bytes"] == sum(
            r["reclaimable_bytes"] for r in answer["items"]
        )
        blocked = await sc.query("movie", watched_match_mode="none", include_blocked=True)
        gambit_id, maya_id = await sc.movie(3), await sc.movie(1)
        gambit = next(r for r in blocked["items"] if r["candidate_id"] == gambit_id)
        assert gambit["blocker_flags"] == ["in_progress_any"]
        assert gambit["flag_details"]["in_progress_any"]
        assert gambit["eligible"] is False
        maya = next(r for r in blocked["items"] if r["candidate_id"] == maya_id)
        assert maya["risk_flags"] == ["no_plex_mapping"] and maya["eligible"] is True
        assert maya["mapping_status"]["code"] == "unresolved"


async def test_episodes_seasons_and_shows_roll_up_strictly(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        episodes = await sc.query("tv_episode", watched_match_mode="any", limit=200)
        pilot_id, partner_id = await sc.episode(2), await sc.episode(3)
        pilot = next(r for r in episodes["items"] if r["candidate_id"] == pilot_id)
        assert pilot["title"] == "Oakland Wolf S01E01 Pilot"
        assert pilot["risk_flags"] == ["shared_file"]
        assert pilot["shared_with_episode_ids"] == [int(partner_id.split(":")[1])]
        forest = await sc.query("tv_season", include_blocked=True)
        (season,) = forest["items"]
        assert season["title"] == "The Story of the Forest - Season 1"
        assert season["episode_count"] == 5 == season["eligible_episode_count"]
        assert season["watched_summary"]["watched_users"] == ["Local", "Will", "Zoe"]
        assert season["mapping_status"]["state"] == "verified"
        # Oakland Wolf season 1: a multi-episode file counts once; Will's one episode makes the
        # season not strictly eligible when nobody may have watched it.
        none = await sc.query("tv_season", watched_match_mode="none", include_blocked=True)
        season_id = await sc.season(SERIES_OAKLAND)
        oakland = next(r for r in none["items"] if r["candidate_id"] == season_id)
        files = sc.library.episode_files
        season_files = [f for f in files.values() if f.series_id == 1 and f.season_number == 1]
        assert oakland["reclaimable_bytes"] == sum(f.size for f in season_files)
        assert oakland["episode_count"] == 10  # episodes with a file; episode 12 has none
        assert oakland["eligible_episode_count"] == 9
        assert oakland["blocker_flags"] == ["rollup_not_strictly_eligible"]
        assert len(oakland["media_file_ids"]) == len(season_files)
        show = await sc.query("tv_show", watched_match_mode="none", include_blocked=True)
        (oakland_show,) = show["items"]
        assert oakland_show["blocker_flags"] == ["rollup_not_strictly_eligible"]
        assert oakland_show["episode_count"] == 11
        everything = [f for f in files.values() if f.series_id == 1]
        assert oakland_show["reclaimable_bytes"] == sum(f.size for f in everything)
        # Sofia's Circle: Will watched every episode, the others all but the last.
        sofia = await sc.query("tv_show", watched_match_mode="any")
        sofia_id = await sc.show(SERIES_SOFIA)
        row = next(r for r in sofia["items"] if r["candidate_id"] == sofia_id)
        assert row["watched_summary"]["watched_users"] == ["Will"]
        assert row["eligible_episode_count"] == row["episode_count"] == 8


async def test_watched_mode_percent_and_its_threshold_edge(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)  # played to 95 % by all three
        assert await sc.ids("movie") == [memory]
        await sc.call("settings.set", values={"watched_mode": "percent"})
        await sc.call("settings.set", values={"watched_percent_threshold": 95})
        assert await sc.ids("movie") == [memory]  # 95 >= 95
        await sc.call("settings.set", values={"watched_percent_threshold": 96})
        assert await sc.ids("movie") == []  # 95 < 96: nobody watched it; all three mid-way
        blocked = await sc.query("movie", watched_match_mode="none", include_blocked=True)
        row = next(r for r in blocked["items"] if r["candidate_id"] == memory)
        assert row["blocker_flags"] == ["in_progress_any"]
        assert blocked["diagnostics"]["watched_mode"] == "percent"
        # Gambit at 40 % is watched once the threshold is that low.
        await sc.call("settings.set", values={"watched_percent_threshold": 40})
        assert await sc.movie(3) in await sc.ids("movie", watched_match_mode="any")


async def test_items_removed_upstream_are_never_candidates(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, forest_pilot = await sc.movie(4), await sc.episode(13)
        assert memory in await sc.ids("movie")
        sc.library.delete_movie_file(sc.library.movies[4].file_ids[0])
        del sc.library.movies[4]
        sc.library.delete_episode_file(sc.library.episodes[13].episode_file_id)
        await sc.sync()
        for mode in ("all", "any", "none"):
            every = {"watched_match_mode": mode, "include_blocked": True}
            assert memory not in await sc.ids("movie", **every)
            assert forest_pilot not in await sc.ids("tv_episode", **every)
        season = (await sc.query("tv_season"))["items"][0]
        assert season["episode_count"] == 4  # the episode without a file no longer counts


@pytest.mark.parametrize("sort", ["reclaimable_bytes", "last_watched_at", "added_at", "title"])
async def test_paging_walks_every_row_once_in_sort_order(store, tmp_path, sort):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        for scope in ("movie", "tv_episode", "tv_season", "tv_show"):
            for order in ("asc", "desc"):
                args = {"watched_match_mode": "none", "include_blocked": True, "sort": sort,
                        "order": order}  # fmt: skip
                whole = await sc.query(scope, limit=200, **args)
                pages, cursor = [], None
                while True:
                    extra = {"cursor": cursor} if cursor else {}
                    page = await sc.query(scope, limit=2, **args, **extra)
                    pages += page["items"]
                    assert (
                        page["diagnostics"]["rows_matching"]
                        == whole["diagnostics"]["rows_matching"]
                    )
                    cursor = page["page"]["next_cursor"]
                    if cursor is None:
                        break
                ids = [r["candidate_id"] for r in pages]
                assert ids == [r["candidate_id"] for r in whole["items"]], (scope, order)
                assert len(set(ids)) == len(ids) == whole["diagnostics"]["rows_matching"]
                if sort != "title":  # the title key (sort title, padded numbers) is internal
                    keys = [sort_value(r, sort) for r in pages]
                    assert keys == sorted(keys, reverse=order == "desc"), (scope, order)


def sort_value(row: dict, sort: str):
    if sort == "reclaimable_bytes":
        return row["reclaimable_bytes"]
    value = (
        row["watched_summary"]["last_watched_at"] if sort == "last_watched_at" else row["added_at"]
    )
    return value or ""


async def test_invalid_queries_list_every_bad_field(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        with pytest.raises(ValidationFailed) as caught:
            await sc.call(
                "candidates.query", scope="films", watched_match_mode="most", limit=201,
                sort="size", order="up", include_blocked="yes", plex_user_ids=[0], bogus=1,
                users=["nobody"],
            )  # fmt: skip
        fields = caught.value.details["fields"]
        assert set(fields) == {
            "scope", "watched_match_mode", "limit", "sort", "order", "include_blocked",
            "plex_user_ids", "bogus", "users",
        }  # fmt: skip
        with pytest.raises(ValidationFailed) as caught:
            await sc.call("candidates.query")
        assert "scope" in caught.value.details["fields"]
        with pytest.raises(ValidationFailed) as caught:
            await sc.call("candidates.query", scope="movie", plex_user_ids=[999])
        assert caught.value.details["fields"] == {"plex_user_ids": ["unknown user ids: 999"]}
        first = await sc.query("movie", watched_match_mode="none", include_blocked=True, limit=1)
        cursor = first["page"]["next_cursor"]
        with pytest.raises(ValidationFailed) as caught:
            await sc.query("movie", watched_match_mode="any", limit=1, cursor=cursor)
        assert "another sort" in caught.value.details["fields"]["cursor"][0]
        with pytest.raises(ValidationFailed) as caught:
            await sc.query("movie", cursor="not-a-cursor")
        assert caught.value.details["fields"]["cursor"] == ["is not a valid cursor"]


async def test_a_query_writes_nothing(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()

        def snapshot():
            """Rows and the newest change of every table."""
            db = store.db
            state = {}
            for table in db.get_tables():
                columns = {c.name for c in db.get_columns(table)}
                newest = "MAX(updated_at)" if "updated_at" in columns else "NULL"
                state[table] = db.execute_sql(f"SELECT COUNT(*), {newest} FROM {table}").fetchone()
            return state, AuditEvent.select().count(), WatchStat.select().count()

        before = await store.read(snapshot)
        for scope in ("movie", "tv_episode", "tv_season", "tv_show"):
            await sc.query(scope, watched_match_mode="none", include_blocked=True)
        await sc.call("users.list")
        assert await store.read(snapshot) == before


async def test_users_list_names_every_plex_user(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        users = (await sc.call("users.list"))["items"]
        by_name = {u["username"]: u for u in users}
        assert by_name["victor"]["hidden"] is True  # inactive in Plex
        assert by_name["will"]["hidden"] is False and by_name["will"]["friendly_name"] == "Will"
        assert by_name["will"]["tautulli_user_id"] == 17629681
        assert {"Local", "will", "zoe", "victor"} <= set(by_name)


async def test_named_targets_evaluate_like_the_index(store, tmp_path):
    """Deletion planning evaluates named items inline from the inventory; every row it sees
    matches what the index-backed query says about the same item."""
    from cullarrd.candidates.params import parse_query
    from cullarrd.candidates.query import evaluate_targets, run_query

    with scenario(store, tmp_path) as sc:
        await sc.sync()
        await sc.call("keep.add", target_type="episode", target_id=13)
        settings = await store.read(sc.runtime.settings.values)
        compared = ("reclaimable_bytes", "blocker_flags", "risk_flags", "watched_summary",
                    "media_file_ids", "mapping_status", "eligible", "reasons")  # fmt: skip
        for scope in ("movie", "tv_episode", "tv_season", "tv_show"):
            for mode in ("all", "any", "none"):
                query = parse_query({"scope": scope, "watched_match_mode": mode,
                                     "include_blocked": True, "limit": 200})  # fmt: skip
                listed = await store.read(lambda q=query: run_query(q, settings))
                rows = {r["candidate_id"]: r for r in listed["items"]}
                ids = [int(c.split(":")[1]) for c in rows]
                named = await store.read(lambda q=query, i=ids: evaluate_targets(q, i, settings))
                assert [r["candidate_id"] for r in named] == sorted(rows, key=store_key)
                for row in named:
                    for key in compared:
                        assert row[key] == rows[row["candidate_id"]][key], (scope, mode, key)
        # A target that does not match the mode is still answered (not eligible).
        query = parse_query({"scope": "movie", "watched_match_mode": "all"})
        maya = int((await sc.movie(1)).split(":")[1])
        (row,) = await store.read(lambda: evaluate_targets(query, [maya], settings))
        assert row["eligible"] is False and row["watched_summary"]["watched_user_count"] == 0


def store_key(candidate_id: str) -> int:
    return int(candidate_id.split(":")[1])
