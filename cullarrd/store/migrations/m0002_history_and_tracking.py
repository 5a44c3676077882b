"""Additions beyond the seeds (SPEC §3): idempotent watch history, missing/culled tracking."""

STATEMENTS = [
    """CREATE TABLE watch_history (
        id {pk}, integration_id {fk} NOT NULL REFERENCES integrations(id),
        history_id {bigint} NOT NULL, tautulli_user_id {bigint} NOT NULL,
        media_type TEXT NOT NULL CHECK (media_type IN ('movie','episode')),
        rating_key TEXT, parent_rating_key TEXT, grandparent_rating_key TEXT,
        season_number INTEGER, episode_number INTEGER, title TEXT, grandparent_title TEXT,
        year INTEGER, guid TEXT, started_at {ts}, stopped_at {ts},
        play_duration_s INTEGER NOT NULL DEFAULT 0, duration_ms {bigint},
        percent_complete INTEGER NOT NULL DEFAULT 0, watched_status INTEGER NOT NULL DEFAULT 0,
        watchable_type TEXT CHECK (watchable_type IN ('movie','episode')), watchable_id {fk},
        {stamps}, UNIQUE (integration_id, history_id))""",
    "CREATE INDEX watch_history_watchable ON watch_history(watchable_type, watchable_id)",
    "CREATE INDEX watch_history_rating_key ON watch_history(rating_key)",
    "CREATE INDEX watch_history_user ON watch_history(tautulli_user_id)",
    "ALTER TABLE series ADD COLUMN missing_since {ts}",
    "ALTER TABLE seasons ADD COLUMN missing_since {ts}",
    "ALTER TABLE episodes ADD COLUMN missing_since {ts}",
    "ALTER TABLE movies ADD COLUMN missing_since {ts}",
    "ALTER TABLE media_files ADD COLUMN missing_since {ts}",
    "ALTER TABLE media_files ADD COLUMN culled_at {ts}",
]
