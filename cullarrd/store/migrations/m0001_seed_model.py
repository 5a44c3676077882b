"""The seed data model (shared/seeds): identity, configuration, inventory, watch context, workflow.

DDL is written once with a few type tokens that ``migrate.render`` fills in per backend, so the
same statements create the same schema on SQLite and PostgreSQL.
"""

STATEMENTS = [
    # --- identity and security
    """CREATE TABLE operators (
        id {pk}, email TEXT NOT NULL UNIQUE, password_digest TEXT NOT NULL, last_login_at {ts},
        {stamps})""",
    """CREATE TABLE delete_mode_unlocks (
        id {pk}, operator_id {fk} NOT NULL REFERENCES operators(id),
        token_digest TEXT NOT NULL UNIQUE, expires_at {ts} NOT NULL, used_at {ts}, {stamps})""",
    """CREATE TABLE audit_events (
        id {pk}, event_name TEXT NOT NULL, operator_id {fk} REFERENCES operators(id),
        correlation_id TEXT, payload_json {json} NOT NULL, occurred_at {ts} NOT NULL, {stamps})""",
    "CREATE INDEX audit_events_event_name ON audit_events(event_name)",
    "CREATE INDEX audit_events_occurred_at ON audit_events(occurred_at)",
    "CREATE INDEX audit_events_correlation_id ON audit_events(correlation_id)",
    # --- configuration
    """CREATE TABLE app_settings (
        id {pk}, key TEXT NOT NULL UNIQUE, value_json {json} NOT NULL, {stamps})""",
    """CREATE TABLE integrations (
        id {pk}, kind TEXT NOT NULL, name TEXT NOT NULL UNIQUE, base_url TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'unknown'
            CHECK (status IN ('unknown','healthy','warning','unsupported','error','removed')),
        settings_json {json} NOT NULL, reported_version TEXT, last_checked_at {ts},
        last_error TEXT, supported_for_delete {bool} NOT NULL DEFAULT {false},
        sync_state_json {json} NOT NULL, {stamps})""",
    """CREATE TABLE path_mappings (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        from_prefix TEXT NOT NULL, to_prefix TEXT NOT NULL,
        enabled {bool} NOT NULL DEFAULT {true}, {stamps},
        UNIQUE (integration_id, from_prefix, to_prefix))""",
    """CREATE TABLE path_exclusions (
        id {pk}, name TEXT NOT NULL, path_prefix TEXT NOT NULL UNIQUE,
        enabled {bool} NOT NULL DEFAULT {true}, {stamps})""",
    """CREATE TABLE saved_views (
        id {pk}, name TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('movie','tv_episode','tv_season','tv_show')),
        filters_json {json} NOT NULL, {stamps})""",
    # --- media inventory
    """CREATE TABLE series (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id),
        sonarr_series_id INTEGER NOT NULL, title TEXT NOT NULL, sort_title TEXT, year INTEGER,
        tvdb_id INTEGER, tmdb_id INTEGER, imdb_id TEXT, path TEXT, monitored {bool},
        added_at {ts}, plex_rating_key TEXT, plex_guid TEXT, metadata_json {json} NOT NULL,
        {stamps}, UNIQUE (integration_id, sonarr_series_id))""",
    "CREATE INDEX series_plex_rating_key ON series(plex_rating_key)",
    """CREATE TABLE seasons (
        id {pk}, series_id {fk} NOT NULL REFERENCES series(id), season_number INTEGER NOT NULL,
        monitored {bool}, metadata_json {json} NOT NULL, {stamps},
        UNIQUE (series_id, season_number))""",
    """CREATE TABLE media_files (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id),
        attachable_type TEXT NOT NULL CHECK (attachable_type IN ('movie','episode')),
        attachable_id {fk} NOT NULL, arr_file_id INTEGER NOT NULL, path TEXT NOT NULL,
        path_canonical TEXT NOT NULL, size_bytes {bigint} NOT NULL DEFAULT 0, quality TEXT,
        metadata_json {json} NOT NULL, {stamps}, UNIQUE (integration_id, arr_file_id))""",
    "CREATE INDEX media_files_path_canonical ON media_files(path_canonical)",
    "CREATE INDEX media_files_attachable ON media_files(attachable_type, attachable_id)",
    """CREATE TABLE episodes (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id),
        season_id {fk} NOT NULL REFERENCES seasons(id), sonarr_episode_id INTEGER NOT NULL,
        season_number INTEGER NOT NULL, episode_number INTEGER NOT NULL, title TEXT,
        air_date TEXT, monitored {bool}, duration_ms {bigint}, tvdb_id INTEGER,
        media_file_id {fk} REFERENCES media_files(id), plex_rating_key TEXT, plex_guid TEXT,
        mapping_status_code TEXT NOT NULL DEFAULT 'unresolved' {mapping_check},
        mapping_diagnostics_json {json}, metadata_json {json} NOT NULL, {stamps},
        UNIQUE (integration_id, sonarr_episode_id))""",
    "CREATE INDEX episodes_plex_rating_key ON episodes(plex_rating_key)",
    "CREATE INDEX episodes_mapping_status_code ON episodes(mapping_status_code)",
    "CREATE INDEX episodes_season_id ON episodes(season_id)",
    "CREATE INDEX episodes_media_file_id ON episodes(media_file_id)",
    """CREATE TABLE movies (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id),
        radarr_movie_id INTEGER NOT NULL, title TEXT NOT NULL, sort_title TEXT, year INTEGER,
        tmdb_id INTEGER, imdb_id TEXT, path TEXT, monitored {bool}, added_at {ts},
        duration_ms {bigint}, plex_rating_key TEXT, plex_guid TEXT,
        mapping_status_code TEXT NOT NULL DEFAULT 'unresolved' {mapping_check},
        mapping_diagnostics_json {json}, metadata_json {json} NOT NULL, {stamps},
        UNIQUE (integration_id, radarr_movie_id))""",
    "CREATE INDEX movies_plex_rating_key ON movies(plex_rating_key)",
    "CREATE INDEX movies_mapping_status_code ON movies(mapping_status_code)",
    """CREATE TABLE arr_tags (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        name TEXT NOT NULL, arr_tag_id INTEGER NOT NULL, {stamps},
        UNIQUE (integration_id, name), UNIQUE (integration_id, arr_tag_id))""",
    # --- watch context and safety markers
    """CREATE TABLE plex_users (
        id {pk}, tautulli_user_id {bigint} NOT NULL UNIQUE, username TEXT, friendly_name TEXT,
        is_hidden {bool} NOT NULL DEFAULT {false}, metadata_json {json} NOT NULL, {stamps})""",
    """CREATE TABLE watch_stats (
        id {pk}, plex_user_id {fk} NOT NULL REFERENCES plex_users(id),
        watchable_type TEXT NOT NULL CHECK (watchable_type IN ('movie','episode')),
        watchable_id {fk} NOT NULL, play_count INTEGER NOT NULL DEFAULT 0,
        last_watched_at {ts}, max_view_offset_ms {bigint} NOT NULL DEFAULT 0,
        max_percent_complete INTEGER NOT NULL DEFAULT 0,
        in_progress {bool} NOT NULL DEFAULT {false}, {stamps},
        UNIQUE (plex_user_id, watchable_type, watchable_id))""",
    "CREATE INDEX watch_stats_watchable ON watch_stats(watchable_type, watchable_id)",
    """CREATE TABLE keep_markers (
        id {pk},
        keepable_type TEXT NOT NULL CHECK (keepable_type IN ('movie','episode','season','series')),
        keepable_id {fk} NOT NULL, note TEXT, {stamps}, UNIQUE (keepable_type, keepable_id))""",
    # --- workflow execution
    """CREATE TABLE sync_runs (
        id {pk},
        status TEXT NOT NULL CHECK (status IN
            ('queued','running','success','partial_failure','failed','canceled')),
        trigger TEXT NOT NULL CHECK (trigger IN ('manual','scheduler','startup_recovery')),
        phase TEXT, phase_counts_json {json} NOT NULL, error_code TEXT, error_message TEXT,
        queued_next {bool} NOT NULL DEFAULT {false},
        cancel_requested {bool} NOT NULL DEFAULT {false},
        started_at {ts}, finished_at {ts}, {stamps})""",
    "CREATE INDEX sync_runs_status ON sync_runs(status)",
    """CREATE TABLE deletion_runs (
        id {pk}, operator_id {fk} NOT NULL REFERENCES operators(id),
        status TEXT NOT NULL CHECK (status IN
            ('queued','running','success','partial_failure','failed','canceled')),
        scope TEXT NOT NULL CHECK (scope IN ('movie','tv_episode','tv_season','tv_show')),
        selected_plex_user_ids_json {json} NOT NULL, summary_json {json} NOT NULL,
        error_code TEXT, error_message TEXT, cancel_requested {bool} NOT NULL DEFAULT {false},
        started_at {ts}, finished_at {ts}, {stamps})""",
    "CREATE INDEX deletion_runs_status ON deletion_runs(status)",
    """CREATE TABLE deletion_actions (
        id {pk}, deletion_run_id {fk} NOT NULL REFERENCES deletion_runs(id),
        media_file_id {fk} NOT NULL REFERENCES media_files(id),
        integration_id {fk} NOT NULL REFERENCES integrations(id),
        status TEXT NOT NULL CHECK (status IN ('queued','running','deleted','unmonitored',
            'tagged','confirmed','failed','skipped')),
        idempotency_key TEXT NOT NULL, error_code TEXT, error_message TEXT,
        retry_count INTEGER NOT NULL DEFAULT 0, stage_timestamps_json {json} NOT NULL, {stamps},
        UNIQUE (deletion_run_id, media_file_id), UNIQUE (integration_id, idempotency_key))""",
    "CREATE INDEX deletion_actions_status ON deletion_actions(status)",
]

MAPPING_STATUS_CODES = (
    "verified_path",
    "verified_external_ids",
    "verified_tv_structure",
    "provisional_title_year",
    "external_source_not_managed",
    "unresolved",
    "ambiguous_conflict",
)

TOKENS = {
    "mapping_check": "CHECK (mapping_status_code IN ({}))".format(
        ",".join(f"'{code}'" for code in MAPPING_STATUS_CODES)
    ),
}
