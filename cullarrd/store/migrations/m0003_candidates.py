"""Columns and indexes the candidate queries read (SPEC §6).

- ``media_files.added_at``: when the file arrived (Sonarr/Radarr ``dateAdded``), for the
  ``added_at`` sort and the ``added_days_ago`` reason of episodes, seasons and shows.
- ``integrations.last_sync_outcome``/``last_sync_at``: how the integration fared in the last
  finished sync (``ok``/``failed``); a failed one blocks its items (``integration_unavailable``).
- ``ambiguous_paths``: canonical paths present files of more than one integration own, kept
  current by the sync (after each inventory phase, in risk detection and after cleanup) so a
  candidate query reads a handful of rows instead of grouping every file.
- The candidate index (``candidate_*``): one narrow row per present episode with a file, per
  movie, season and show with files, holding what only the sync changes (sizes, dates, mapping
  rank, title keys); kept by the sync (``cullarrd/candidates/index.py``) so a query scans one
  small table instead of joining five wide ones. Blockers people change (keep markers,
  exclusions) and watch state are never stored there: they are read live.
- Indexes the candidate statement reads through: the history no item claimed, present files by
  canonical path (exclusion prefixes are range scans over it), watch stats per user.
"""

STATEMENTS = [
    "ALTER TABLE media_files ADD COLUMN added_at {ts}",
    "ALTER TABLE integrations ADD COLUMN last_sync_outcome TEXT"
    " CHECK (last_sync_outcome IN ('ok','failed'))",
    "ALTER TABLE integrations ADD COLUMN last_sync_at {ts}",
    "CREATE INDEX watch_history_unattributed ON watch_history(media_type, tautulli_user_id)"
    " WHERE watchable_id IS NULL",
    """CREATE TABLE ambiguous_paths (
        id {pk}, path_canonical TEXT NOT NULL UNIQUE, integration_count INTEGER NOT NULL,
        {stamps})""",
    "CREATE INDEX media_files_present_path ON media_files(path_canonical, integration_id)"
    " WHERE missing_since IS NULL AND culled_at IS NULL",
    """CREATE TABLE candidate_episodes (
        episode_id {fk} PRIMARY KEY, season_id {fk} NOT NULL, series_id {fk} NOT NULL,
        media_file_id {fk} NOT NULL, integration_id {fk} NOT NULL, size_bytes {bigint} NOT NULL,
        added_at {ts}, mapping_rank INTEGER NOT NULL, unmapped INTEGER NOT NULL,
        provisional INTEGER NOT NULL, season_number INTEGER NOT NULL,
        episode_number INTEGER NOT NULL, series_key TEXT NOT NULL, history_key TEXT NOT NULL)""",
    "CREATE INDEX candidate_episodes_season ON candidate_episodes(season_id)",
    "CREATE INDEX candidate_episodes_series ON candidate_episodes(series_id)",
    """CREATE TABLE candidate_movies (
        movie_id {fk} PRIMARY KEY, integration_id {fk} NOT NULL, size_bytes {bigint} NOT NULL,
        versions INTEGER NOT NULL, added_at {ts}, mapping_rank INTEGER NOT NULL,
        unmapped INTEGER NOT NULL, provisional INTEGER NOT NULL, title_key TEXT NOT NULL,
        title_lower TEXT NOT NULL, year INTEGER)""",
    """CREATE TABLE candidate_seasons (
        season_id {fk} PRIMARY KEY, series_id {fk} NOT NULL, episode_count INTEGER NOT NULL,
        size_bytes {bigint} NOT NULL, added_at {ts}, mapping_rank INTEGER NOT NULL,
        unverified_count INTEGER NOT NULL, unmapped INTEGER NOT NULL,
        provisional INTEGER NOT NULL, title_key TEXT NOT NULL)""",
    """CREATE TABLE candidate_shows (
        series_id {fk} PRIMARY KEY, episode_count INTEGER NOT NULL,
        size_bytes {bigint} NOT NULL, added_at {ts}, mapping_rank INTEGER NOT NULL,
        unverified_count INTEGER NOT NULL, unmapped INTEGER NOT NULL,
        provisional INTEGER NOT NULL, title_key TEXT NOT NULL)""",
]
