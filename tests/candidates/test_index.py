"""The candidate index: kept by the sync, idempotent, filled when an older store is upgraded; and
a query with no user to ask answers nothing."""

from __future__ import annotations

from cullarrd.candidates import index
from cullarrd.daemon import Daemon
from cullarrd.store.db import open_database
from cullarrd.store.migrate import migrate
from cullarrd.store.models import database_proxy
from tests.candidates.scenario import base_library, scenario


def counts() -> dict[str, int]:
    db = database_proxy.obj
    return {
        t.name: db.execute_sql(f"SELECT COUNT(*) FROM {t.name}").fetchone()[0] for t in index.TABLES
    }


async def test_the_sync_keeps_the_index_and_an_unchanged_library_writes_nothing(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        assert await store.read(counts) == {
            "candidate_episodes": 24, "candidate_movies": 5,  # with a present file
            "candidate_seasons": 4, "candidate_shows": 3,
        }  # fmt: skip
        assert await store.write(index.refresh) == 0
        run = await sc.sync()
        assert run.phase_counts_json["phases"]["risk_detection"]["rows_written"] == 0
        sc.library.delete_movie_file(sc.library.movies[3].file_ids[0])
        await sc.sync()
        assert (await store.read(counts))["candidate_movies"] == 4


async def test_nobody_to_ask_matches_nothing(store, tmp_path):
    library = base_library()
    for user in library.plex_users.values():
        user.is_active = False  # Tautulli lists them all; Plex has them all inactive (hidden)
    with scenario(store, tmp_path, library) as sc:
        await sc.sync()
        for scope in ("movie", "tv_episode", "tv_season", "tv_show"):
            for mode in ("all", "any", "none"):
                answer = await sc.query(scope, watched_match_mode=mode, include_blocked=True)
                assert answer["items"] == [], (scope, mode)
                assert answer["diagnostics"]["effective_user_count"] == 0


def test_an_upgraded_store_gets_its_index_at_once(database_url):
    """A store from before migration 3 holds inventory but no index rows: starting fills it."""
    db = open_database(database_url)
    migrate(db, target=2)
    now = "'2026-01-01 00:00:00'"
    for statement in (
        f"INSERT INTO integrations (id, kind, name, base_url, status, settings_json,"
        f" supported_for_delete, sync_state_json, created_at, updated_at)"
        f" VALUES (1, 'sonarr', 'sonarr', 'http://x', 'healthy', '{{}}', TRUE, '{{}}',"
        f" {now}, {now})",
        f"INSERT INTO series (id, integration_id, sonarr_series_id, title, metadata_json,"
        f" created_at, updated_at) VALUES (1, 1, 7, 'Show', '{{}}', {now}, {now})",
        f"INSERT INTO seasons (id, series_id, season_number, metadata_json, created_at, updated_at)"
        f" VALUES (1, 1, 1, '{{}}', {now}, {now})",
        f"INSERT INTO media_files (id, integration_id, attachable_type, attachable_id, arr_file_id,"
        f" path, path_canonical, size_bytes, metadata_json, created_at, updated_at)"
        f" VALUES (1, 1, 'episode', 1, 5, '/tv/a.mkv', '/tv/a.mkv', 1000, '{{}}', {now}, {now})",
        f"INSERT INTO episodes (id, integration_id, season_id, sonarr_episode_id, season_number,"
        f" episode_number, media_file_id, mapping_status_code, metadata_json, created_at,"
        f" updated_at) VALUES (1, 1, 1, 9, 1, 1, 1, 'unresolved', '{{}}', {now}, {now})",
    ):
        db.execute_sql(statement)
    db.close()
    store = Daemon._open_store(database_url)
    try:
        assert counts() == {
            "candidate_episodes": 1, "candidate_movies": 0,
            "candidate_seasons": 1, "candidate_shows": 1,
        }  # fmt: skip
    finally:
        store.close()
