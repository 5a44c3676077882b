"""Columns and indexes the candidate queries read (SPEC §6).

- ``media_files.added_at``: when the file arrived (Sonarr/Radarr ``dateAdded``), for the
  ``added_at`` sort and the ``added_days_ago`` reason of episodes, seasons and shows.
- ``integrations.last_sync_outcome``/``last_sync_at``: how the integration fared in the last
  finished sync (``ok``/``failed``); a failed one blocks its items (``integration_unavailable``).
- ``ambiguous_paths``: canonical paths present files of more than one integration own, kept
  current by the sync (after each inventory phase, in risk detection and after cleanup) so a
  candidate query reads a handful of rows instead of grouping every file.
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
]
