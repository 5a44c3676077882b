"""Peewee models of the store's tables (the DDL itself lives in the numbered migrations).

Times are naive UTC datetimes in the store and ISO-8601 with ``Z`` at the edges.
``tests/test_store.py`` checks that every model field exists in the migrated schema.
"""

from __future__ import annotations

from peewee import (
    BigIntegerField,
    BooleanField,
    DatabaseProxy,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    JSONField,
    Model,
    TextField,
)

from cullarrd.timeutil import utcnow

database_proxy = DatabaseProxy()


class BaseModel(Model):
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        database = database_proxy
        legacy_table_names = False

    def save(self, *args, **kwargs):
        self.updated_at = utcnow()
        return super().save(*args, **kwargs)


def _json(**kwargs) -> JSONField:
    return JSONField(default=dict, **kwargs)


# --- identity and security
class Operator(BaseModel):
    email = TextField(unique=True)
    password_digest = TextField()
    last_login_at = DateTimeField(null=True)

    class Meta:
        table_name = "operators"


class DeleteModeUnlock(BaseModel):
    operator = ForeignKeyField(Operator, column_name="operator_id")
    token_digest = TextField(unique=True)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

    class Meta:
        table_name = "delete_mode_unlocks"


class AuditEvent(BaseModel):
    event_name = TextField()
    operator = ForeignKeyField(Operator, column_name="operator_id", null=True)
    correlation_id = TextField(null=True)
    payload_json = _json()
    occurred_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "audit_events"


# --- configuration
class AppSetting(BaseModel):
    key = TextField(unique=True)
    value_json = JSONField()

    class Meta:
        table_name = "app_settings"


class Integration(BaseModel):
    kind = TextField()
    name = TextField(unique=True)
    base_url = TextField()
    status = TextField(default="unknown")
    settings_json = _json()
    reported_version = TextField(null=True)
    last_checked_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    supported_for_delete = BooleanField(default=False)
    sync_state_json = _json()
    last_sync_outcome = TextField(null=True)  # ok | failed, of the last finished sync
    last_sync_at = DateTimeField(null=True)

    class Meta:
        table_name = "integrations"


class PathMapping(BaseModel):
    integration = ForeignKeyField(Integration, column_name="integration_id", on_delete="CASCADE")
    from_prefix = TextField()
    to_prefix = TextField()
    enabled = BooleanField(default=True)

    class Meta:
        table_name = "path_mappings"


class PathExclusion(BaseModel):
    name = TextField()
    path_prefix = TextField(unique=True)
    enabled = BooleanField(default=True)

    class Meta:
        table_name = "path_exclusions"


class SavedView(BaseModel):
    name = TextField(unique=True)
    scope = TextField()
    filters_json = _json()

    class Meta:
        table_name = "saved_views"


# --- media inventory
class Series(BaseModel):
    integration = ForeignKeyField(Integration, column_name="integration_id")
    sonarr_series_id = IntegerField()
    title = TextField()
    sort_title = TextField(null=True)
    year = IntegerField(null=True)
    tvdb_id = IntegerField(null=True)
    tmdb_id = IntegerField(null=True)
    imdb_id = TextField(null=True)
    path = TextField(null=True)
    monitored = BooleanField(null=True)
    added_at = DateTimeField(null=True)
    plex_rating_key = TextField(null=True)
    plex_guid = TextField(null=True)
    metadata_json = _json()
    missing_since = DateTimeField(null=True)

    class Meta:
        table_name = "series"


class Season(BaseModel):
    series = ForeignKeyField(Series, column_name="series_id")
    season_number = IntegerField()
    monitored = BooleanField(null=True)
    metadata_json = _json()
    missing_since = DateTimeField(null=True)

    class Meta:
        table_name = "seasons"


class MediaFile(BaseModel):
    integration = ForeignKeyField(Integration, column_name="integration_id")
    attachable_type = TextField()
    attachable_id = BigIntegerField()
    arr_file_id = IntegerField()
    path = TextField()
    path_canonical = TextField()
    size_bytes = BigIntegerField(default=0)
    quality = TextField(null=True)
    metadata_json = _json()
    added_at = DateTimeField(null=True)
    missing_since = DateTimeField(null=True)
    culled_at = DateTimeField(null=True)

    class Meta:
        table_name = "media_files"


class WatchableModel(BaseModel):
    """Columns shared by the two things people watch (movies, episodes; each its own table):
    length, the Plex item they map to and how sure that mapping is, and upstream presence."""

    duration_ms = BigIntegerField(null=True)
    plex_rating_key = TextField(null=True)
    plex_guid = TextField(null=True)
    mapping_status_code = TextField(default="unresolved")
    mapping_diagnostics_json = JSONField(null=True)
    metadata_json = _json()
    missing_since = DateTimeField(null=True)


class Episode(WatchableModel):
    integration = ForeignKeyField(Integration, column_name="integration_id")
    season = ForeignKeyField(Season, column_name="season_id")
    sonarr_episode_id = IntegerField()
    season_number = IntegerField()
    episode_number = IntegerField()
    title = TextField(null=True)
    air_date = TextField(null=True)
    monitored = BooleanField(null=True)
    tvdb_id = IntegerField(null=True)
    media_file = ForeignKeyField(MediaFile, column_name="media_file_id", null=True)

    class Meta:
        table_name = "episodes"


class Movie(WatchableModel):
    integration = ForeignKeyField(Integration, column_name="integration_id")
    radarr_movie_id = IntegerField()
    title = TextField()
    sort_title = TextField(null=True)
    year = IntegerField(null=True)
    tmdb_id = IntegerField(null=True)
    imdb_id = TextField(null=True)
    path = TextField(null=True)
    monitored = BooleanField(null=True)
    added_at = DateTimeField(null=True)

    class Meta:
        table_name = "movies"


class ArrTag(BaseModel):
    integration = ForeignKeyField(Integration, column_name="integration_id", on_delete="CASCADE")
    name = TextField()
    arr_tag_id = IntegerField()

    class Meta:
        table_name = "arr_tags"


# --- watch context and safety markers
class PlexUser(BaseModel):
    tautulli_user_id = BigIntegerField(unique=True)
    username = TextField(null=True)
    friendly_name = TextField(null=True)
    is_hidden = BooleanField(default=False)
    metadata_json = _json()

    class Meta:
        table_name = "plex_users"


class WatchStat(BaseModel):
    plex_user = ForeignKeyField(PlexUser, column_name="plex_user_id")
    watchable_type = TextField()
    watchable_id = BigIntegerField()
    play_count = IntegerField(default=0)
    last_watched_at = DateTimeField(null=True)
    max_view_offset_ms = BigIntegerField(default=0)
    max_percent_complete = IntegerField(default=0)
    in_progress = BooleanField(default=False)

    class Meta:
        table_name = "watch_stats"


class WatchHistory(BaseModel):
    integration = ForeignKeyField(Integration, column_name="integration_id")
    history_id = BigIntegerField()
    tautulli_user_id = BigIntegerField()
    media_type = TextField()
    rating_key = TextField(null=True)
    parent_rating_key = TextField(null=True)
    grandparent_rating_key = TextField(null=True)
    season_number = IntegerField(null=True)
    episode_number = IntegerField(null=True)
    title = TextField(null=True)
    grandparent_title = TextField(null=True)
    year = IntegerField(null=True)
    guid = TextField(null=True)
    started_at = DateTimeField(null=True)
    stopped_at = DateTimeField(null=True)
    play_duration_s = IntegerField(default=0)
    duration_ms = BigIntegerField(null=True)
    percent_complete = IntegerField(default=0)
    watched_status = IntegerField(default=0)
    watchable_type = TextField(null=True)
    watchable_id = BigIntegerField(null=True)

    class Meta:
        table_name = "watch_history"


class AmbiguousPath(BaseModel):
    """A canonical path present files of more than one integration own (kept by the sync)."""

    path_canonical = TextField(unique=True)
    integration_count = IntegerField()

    class Meta:
        table_name = "ambiguous_paths"


class KeepMarker(BaseModel):
    keepable_type = TextField()
    keepable_id = BigIntegerField()
    note = TextField(null=True)

    class Meta:
        table_name = "keep_markers"


# --- workflow execution
class RunModel(BaseModel):
    """Lifecycle columns shared by sync and deletion runs (each has its own table)."""

    status = TextField()
    error_code = TextField(null=True)
    error_message = TextField(null=True)
    cancel_requested = BooleanField(default=False)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)


class SyncRun(RunModel):
    trigger = TextField()
    phase = TextField(null=True)
    phase_counts_json = _json()
    queued_next = BooleanField(default=False)

    class Meta:
        table_name = "sync_runs"


class DeletionRun(RunModel):
    operator = ForeignKeyField(Operator, column_name="operator_id")
    scope = TextField()
    selected_plex_user_ids_json = JSONField(default=list)
    summary_json = _json()

    class Meta:
        table_name = "deletion_runs"


class DeletionAction(BaseModel):
    deletion_run = ForeignKeyField(DeletionRun, column_name="deletion_run_id", backref="actions")
    media_file = ForeignKeyField(MediaFile, column_name="media_file_id")
    integration = ForeignKeyField(Integration, column_name="integration_id")
    status = TextField(default="queued")
    idempotency_key = TextField()
    error_code = TextField(null=True)
    error_message = TextField(null=True)
    retry_count = IntegerField(default=0)
    stage_timestamps_json = _json()
    plan_json = _json(null=True)
    warnings_json = JSONField(default=list, null=True)

    class Meta:
        table_name = "deletion_actions"


ALL_MODELS: tuple[type[BaseModel], ...] = (
    Operator,
    DeleteModeUnlock,
    AuditEvent,
    AppSetting,
    Integration,
    PathMapping,
    PathExclusion,
    SavedView,
    Series,
    Season,
    MediaFile,
    Episode,
    Movie,
    ArrTag,
    PlexUser,
    WatchStat,
    WatchHistory,
    AmbiguousPath,
    KeepMarker,
    SyncRun,
    DeletionRun,
    DeletionAction,
)
