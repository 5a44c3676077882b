"""The data model of a simulated media library, shared by the three fakes.

One ``Library`` describes both sides of a home server: what Sonarr and Radarr manage (series,
episodes, episode files, movies, movie files, tags) and what Plex/Tautulli see (users, items with
rating keys and guids, file paths through Plex's own mount prefix, and watch history). The
generator (``generator.py``) fills it deterministically from a seed; the fakes render it in each
service's API shapes and mutate it when they receive writes (deleting a file really removes it).

Times are aware UTC datetimes. Ids are the upstream ids (Sonarr/Radarr ints, Plex rating keys as
strings, Tautulli user ids and history row ids as ints).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class Tag:
    id: int
    label: str  # stored lower-cased, unique per app


@dataclass
class Quality:
    id: int
    name: str  # e.g. "Bluray-1080p"
    source: str  # e.g. "bluray", "web", "television"
    resolution: int  # e.g. 1080


@dataclass
class EpisodeFile:
    id: int
    series_id: int
    season_number: int
    relative_path: str  # relative to the series path
    path: str  # absolute, as Sonarr sees it (arr mount prefix)
    size: int  # bytes
    quality: Quality
    date_added: dt.datetime
    release_group: str | None = None


@dataclass
class Episode:
    id: int
    series_id: int
    tvdb_id: int
    season_number: int  # 0 = specials
    episode_number: int
    title: str
    air_date: dt.date | None
    monitored: bool
    episode_file_id: int  # 0 = no file (Sonarr's convention)
    runtime_minutes: int
    plex_rating_key: str | None = None  # None: Plex does not have this episode


@dataclass
class SeasonInfo:
    season_number: int
    monitored: bool


@dataclass
class Series:
    id: int
    title: str
    sort_title: str
    year: int
    tvdb_id: int
    tmdb_id: int | None
    imdb_id: str | None
    path: str  # series folder as Sonarr sees it
    root_folder_path: str
    monitored: bool
    added: dt.datetime
    quality_profile_id: int
    status: str  # continuing | ended | upcoming | deleted
    series_type: str  # standard | daily | anime
    runtime_minutes: int
    seasons: list[SeasonInfo]
    tags: list[int] = field(default_factory=list)
    plex_rating_key: str | None = None  # the show's rating key in Plex


@dataclass
class MovieFile:
    id: int
    movie_id: int
    relative_path: str  # relative to the movie path
    path: str  # absolute, as Radarr sees it
    size: int
    quality: Quality
    date_added: dt.datetime
    edition: str | None = None
    release_group: str | None = None


@dataclass
class Movie:
    id: int
    title: str
    sort_title: str
    original_title: str
    year: int
    tmdb_id: int
    imdb_id: str | None
    path: str
    root_folder_path: str
    monitored: bool
    added: dt.datetime
    quality_profile_id: int
    status: str  # tba | announced | inCinemas | released | deleted
    minimum_availability: str
    runtime_minutes: int
    file_ids: list[int] = field(default_factory=list)  # first = the primary ("movieFile") version
    tags: list[int] = field(default_factory=list)
    plex_rating_key: str | None = None


@dataclass
class PlexUser:
    user_id: int  # Plex account id as Tautulli reports it (0 = "Local")
    username: str
    friendly_name: str
    email: str
    is_active: bool
    is_admin: bool
    deleted: bool = False  # deleted users are left out of get_users


@dataclass
class PlexSection:
    section_id: int
    name: str
    section_type: str  # movie | show


@dataclass
class PlexItem:
    """A Plex library item (movie, show, season or episode) as get_metadata describes it."""

    rating_key: str
    media_type: str  # movie | show | season | episode
    section_id: int
    title: str
    year: int | None
    guid: str  # plex://movie/..., plex://episode/...
    guids: list[str]  # external ids: "imdb://tt..", "tmdb://..", "tvdb://.."
    added_at: dt.datetime
    duration_ms: int | None = None
    parent_rating_key: str | None = None
    grandparent_rating_key: str | None = None
    parent_title: str = ""
    grandparent_title: str = ""
    media_index: int | None = None  # episode number (or season number for seasons)
    parent_media_index: int | None = None  # season number for episodes
    files: list[tuple[str, int]] = field(default_factory=list)  # (path as Plex sees it, bytes)


@dataclass
class HistoryRow:
    """One Tautulli history row (grouping=0: one play session)."""

    row_id: int
    user_id: int
    rating_key: str
    media_type: str  # movie | episode
    started: int  # epoch seconds
    stopped: int
    paused_counter: int  # seconds
    percent_complete: int  # 0..100
    watched_status: float  # 1 = watched by Tautulli's threshold, else 0.75/0.5/0.25/0
    platform: str = "Chrome"
    player: str = "Chrome"
    product: str = "Plex Web"
    ip_address: str = "127.0.0.1"

    @property
    def play_duration(self) -> int:
        return max(0, self.stopped - self.started - self.paused_counter)


@dataclass
class Library:
    """Both sides of one simulated home server."""

    seed: int
    now: dt.datetime  # the generator's "now"; history lies before it
    arr_tv_root: str  # e.g. "/tv" (what Sonarr sees)
    arr_movie_root: str  # e.g. "/movies" (what Radarr sees)
    plex_tv_root: str  # e.g. "/data/media/tv" (what Plex sees for the same files)
    plex_movie_root: str
    qualities: list[Quality]
    series: dict[int, Series] = field(default_factory=dict)
    episodes: dict[int, Episode] = field(default_factory=dict)
    episode_files: dict[int, EpisodeFile] = field(default_factory=dict)
    movies: dict[int, Movie] = field(default_factory=dict)
    movie_files: dict[int, MovieFile] = field(default_factory=dict)
    sonarr_tags: dict[int, Tag] = field(default_factory=dict)
    radarr_tags: dict[int, Tag] = field(default_factory=dict)
    plex_users: dict[int, PlexUser] = field(default_factory=dict)
    plex_sections: dict[int, PlexSection] = field(default_factory=dict)
    plex_items: dict[str, PlexItem] = field(default_factory=dict)
    history: list[HistoryRow] = field(default_factory=list)  # ascending row_id
    # Derived indexes of ids, rebuilt by reindex(); readers skip ids gone from the dicts above.
    episodes_by_series: dict[int, list[int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    episode_files_by_series: dict[int, list[int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    episodes_by_file: dict[int, list[int]] = field(default_factory=dict, repr=False, compare=False)
    plex_children: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)

    def reindex(self) -> None:
        """Rebuild the derived indexes; call after adding items by hand."""
        self.episodes_by_series = {series_id: [] for series_id in self.series}
        self.episode_files_by_series = {series_id: [] for series_id in self.series}
        self.episodes_by_file = {}
        ordered = sorted(
            self.episodes.values(), key=lambda e: (e.series_id, e.season_number, e.episode_number)
        )
        for episode in ordered:
            self.episodes_by_series.setdefault(episode.series_id, []).append(episode.id)
            if episode.episode_file_id:
                self.episodes_by_file.setdefault(episode.episode_file_id, []).append(episode.id)
        for episode_file in self.episode_files.values():
            self.episode_files_by_series.setdefault(episode_file.series_id, []).append(
                episode_file.id
            )
        self.plex_children = {}
        for item in self.plex_items.values():
            if item.parent_rating_key is not None:
                self.plex_children.setdefault(item.parent_rating_key, []).append(item.rating_key)

    def episodes_of(self, series_id: int) -> list[Episode]:
        """Episodes of one series, ordered by season and number."""
        if self.episodes_by_series:
            ids = self.episodes_by_series.get(series_id, ())
            return [self.episodes[i] for i in ids if i in self.episodes]
        found = [e for e in self.episodes.values() if e.series_id == series_id]
        return sorted(found, key=lambda e: (e.season_number, e.episode_number))

    def episode_files_of(self, series_id: int) -> list[EpisodeFile]:
        """Episode files of one series, in id order."""
        if self.episode_files_by_series:
            ids = self.episode_files_by_series.get(series_id, ())
            return [self.episode_files[i] for i in ids if i in self.episode_files]
        return [f for f in self.episode_files.values() if f.series_id == series_id]

    def episodes_of_file(self, file_id: int) -> list[Episode]:
        """Episodes that point at one episode file (two for a multi-episode file)."""
        if self.episodes_by_file:
            ids = self.episodes_by_file.get(file_id, ())
            found = [self.episodes[i] for i in ids if i in self.episodes]
            return [e for e in found if e.episode_file_id == file_id]
        return [e for e in self.episodes.values() if e.episode_file_id == file_id]

    def movie_files_of(self, movie_id: int) -> list[MovieFile]:
        """Files of one movie, primary version first."""
        movie = self.movies.get(movie_id)
        if movie is None:
            return []
        return [self.movie_files[i] for i in movie.file_ids if i in self.movie_files]

    def plex_children_of(self, rating_key: str) -> list[PlexItem]:
        """Seasons of a show or episodes of a season, in rating-key order."""
        keys = self.plex_children.get(rating_key, ())
        return [self.plex_items[k] for k in keys if k in self.plex_items]

    def delete_episode_file(self, file_id: int) -> list[Episode]:
        """Remove an episode file as Sonarr does: linked episodes get ``episode_file_id = 0``."""
        episodes = self.episodes_of_file(file_id)
        self.episode_files.pop(file_id, None)
        self.episodes_by_file.pop(file_id, None)
        for episode in episodes:
            episode.episode_file_id = 0
        return episodes

    def delete_movie_file(self, file_id: int) -> Movie | None:
        """Remove a movie file and drop it from its movie's ``file_ids``; returns the movie."""
        movie_file = self.movie_files.pop(file_id, None)
        if movie_file is None:
            return None
        movie = self.movies.get(movie_file.movie_id)
        if movie is not None and file_id in movie.file_ids:
            movie.file_ids.remove(file_id)
        return movie

    def plex_path(self, arr_path: str) -> str:
        """The path Plex sees for a file Sonarr/Radarr know at ``arr_path``."""
        for arr_root, plex_root in (
            (self.arr_tv_root, self.plex_tv_root),
            (self.arr_movie_root, self.plex_movie_root),
        ):
            if arr_path == arr_root or arr_path.startswith(arr_root + "/"):
                return plex_root + arr_path[len(arr_root) :]
        return arr_path
