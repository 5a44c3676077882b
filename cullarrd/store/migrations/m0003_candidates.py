"""Columns and indexes the candidate queries read (SPEC §6).

- ``media_files.added_at``: when the file arrived (Sonarr/Radarr ``dateAdded``), for the
  ``added_at`` sort and the ``added_days_ago`` reason of episodes, seasons and shows.
- ``integrations.last_sync_outcome``/``last_sync_at``: how the integration fared in the last
  finished sync (``ok``/``failed``); a failed one blocks its items (``integration_unavailable``).
- A partial index over the history no item claimed, read by the ``unattributed_watch_history``
  blocker on every candidate query.
"""

STATEMENTS = [
    "ALTER TABLE media_files ADD COLUMN added_at {ts}",
    "ALTER TABLE integrations ADD COLUMN last_sync_outcome TEXT"
    " CHECK (last_sync_outcome IN ('ok','failed'))",
    "ALTER TABLE integrations ADD COLUMN last_sync_at {ts}",
    "CREATE INDEX watch_history_unattributed ON watch_history(media_type, tautulli_user_id)"
    " WHERE watchable_id IS NULL",
]
