"""Frozen records that adapters return; the core alone turns them into store rows.

Absent upstream values are ``None`` (Sonarr/Radarr omit null fields; a missing key is null).
Times are aware UTC datetimes. Upstream ids keep their upstream names (``arr_id``,
``arr_file_id``, ``rating_key``) so nothing confuses them with store ids.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """What a health check learned about the service (the core applies the version policy)."""

    app_name: str
    version: str  # as reported, e.g. "4.0.19.2979" or "v2.17.2"
    min_read_version: str
    min_delete_version: str | None  # None: this kind never deletes (watch role)
    details: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SeasonRecord:
    season_number: int
    monitored: bool | None
    episode_file_count: int | None = None
    size_on_disk: int | None = None


@dataclass(frozen=True, slots=True)
class SeriesRecord:
    arr_id: int
    title: str
    sort_title: str | None
    year: int | None
    tvdb_id: int | None
    tmdb_id: int | None
    imdb_id: str | None
    path: str | None
    monitored: bool | None
    added_at: dt.datetime | None
    tags: tuple[int, ...]
    seasons: tuple[SeasonRecord, ...]
    episode_file_count: int | None  # upstream statistics; None when absent
    size_on_disk: int | None
    runtime_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    arr_id: int
    series_arr_id: int
    season_number: int
    episode_number: int
    title: str | None
    air_date: str | None  # "YYYY-MM-DD"
    monitored: bool | None
    episode_file_id: int | None  # None: no file (upstream 0)
    tvdb_id: int | None
    runtime_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class MediaFileRecord:
    """An episode file or a movie file as Sonarr/Radarr list it."""

    arr_file_id: int
    owner_arr_id: int  # series id for episode files, movie id for movie files
    path: str
    size_bytes: int
    quality: str | None
    relative_path: str | None = None
    season_number: int | None = None
    date_added: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class MovieRecord:
    arr_id: int
    title: str
    sort_title: str | None
    year: int | None
    tmdb_id: int | None
    imdb_id: str | None
    path: str | None
    monitored: bool | None
    added_at: dt.datetime | None
    tags: tuple[int, ...]
    has_file: bool
    size_on_disk: int | None
    file: MediaFileRecord | None  # the embedded primary file
    movie_file_count: int | None  # v5+ statistics; None on v4 (then list files to be sure)
    runtime_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class TagRecord:
    arr_tag_id: int
    label: str


@dataclass(frozen=True, slots=True)
class PlexUserRecord:
    user_id: int
    username: str | None
    friendly_name: str | None
    email: str | None
    is_active: bool
    is_admin: bool


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    """One Tautulli history row (requested with grouping=0: one play session per row)."""

    history_id: int
    user_id: int
    media_type: str  # movie | episode (others are dropped by the adapter)
    rating_key: str | None
    parent_rating_key: str | None
    grandparent_rating_key: str | None
    season_number: int | None
    episode_number: int | None
    title: str | None
    grandparent_title: str | None
    year: int | None
    guid: str | None
    started_at: dt.datetime | None
    stopped_at: dt.datetime | None
    play_duration_s: int
    percent_complete: int
    watched_status: float  # 1 = watched by Tautulli's threshold


@dataclass(frozen=True, slots=True)
class PlexMetadata:
    """``get_metadata`` of one item; the adapter returns None instead when Plex said nothing."""

    rating_key: str
    media_type: str  # movie | show | season | episode
    title: str | None
    year: int | None
    section_id: int | None
    parent_rating_key: str | None
    grandparent_rating_key: str | None
    media_index: int | None
    parent_media_index: int | None
    grandparent_title: str | None
    guid: str | None
    guids: tuple[str, ...]
    parent_guids: tuple[str, ...]
    grandparent_guids: tuple[str, ...]
    duration_ms: int | None
    files: tuple[str, ...]  # absolute paths as Plex sees them


@dataclass(frozen=True, slots=True)
class LibraryRecord:
    section_id: int
    name: str
    section_type: str  # movie | show | artist | photo
    count: int | None = None


@dataclass(frozen=True, slots=True)
class LibraryItemRecord:
    rating_key: str
    media_type: str
    title: str | None
    year: int | None
    section_id: int
    parent_rating_key: str | None = None
    grandparent_rating_key: str | None = None
    media_index: int | None = None
    parent_media_index: int | None = None
    file_size: int | None = None
