"""Sonarr inventory: fetch series, episodes and episode files, then write them as store rows.

A multi-episode file is one ``media_files`` row attached to its first episode (lowest season and
episode number) and pointed at by every episode whose ``episodeFileId`` names it. An episode
pointing at a file the file list does not hold gets no file (``media_file_id`` NULL), and a
listed file no episode points at is not stored: neither can be deleted safely, both are counted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cullarrd.store.models import Episode, Integration, MediaFile, Season, Series
from cullarrd.sync.inventory_rows import Rows
from cullarrd.sync.inventory_support import (
    FILE_FIELDS,
    FILE_ROWS,
    KEEP,
    file_values,
    minutes_to_ms,
    naive_utc,
)
from cullarrd.sync.paths import PathMapper
from cullarrd.types import EpisodeRecord, MediaFileRecord, SeriesRecord

SERIES_FIELDS = (
    "title",
    "sort_title",
    "year",
    "tvdb_id",
    "tmdb_id",
    "imdb_id",
    "path",
    "monitored",
    "added_at",
    "metadata_json",
)
SERIES_JSON = ("episode_file_count", "size_on_disk", "tags")
SEASON_FIELDS = ("monitored", "metadata_json")
SEASON_JSON = ("episode_file_count", "size_on_disk")
EPISODE_FIELDS = (
    "season",
    "season_number",
    "episode_number",
    "title",
    "air_date",
    "monitored",
    "duration_ms",
    "tvdb_id",
    "media_file",
)


@dataclass
class FetchedSeries:
    """One upstream series; ``episodes``/``files`` stay None when they were not fetched."""

    record: SeriesRecord
    episodes: list[EpisodeRecord] | None = None
    files: list[MediaFileRecord] | None = None

    @property
    def fetched(self) -> bool:
        return self.episodes is not None and self.files is not None

    def weight(self) -> int:
        """Rows this series may write (for bounding transactions)."""
        return 1 + len(self.record.seasons) + len(self.episodes or ()) + len(self.files or ())


def statistics(record: SeriesRecord) -> dict[str, Any]:
    """The upstream statistics an incremental pass compares."""
    return {"episode_file_count": record.episode_file_count, "size_on_disk": record.size_on_disk}


def load_series_state(name: str) -> tuple[int | None, dict[int, dict[str, Any] | None]]:
    """The integration's store id and, per stored series, its statistics (None when missing)."""
    integration = Integration.get_or_none(Integration.name == name)
    if integration is None:
        return None, {}
    query = Series.select(Series.sonarr_series_id, Series.metadata_json, Series.missing_since)
    state: dict[int, dict[str, Any] | None] = {}
    for arr_id, metadata, missing in query.where(Series.integration == integration.id).tuples():
        meta = metadata or {}
        stats = {key: meta.get(key) for key in ("episode_file_count", "size_on_disk")}
        state[arr_id] = None if missing is not None else stats
    return integration.id, state


def needs_fetch(record: SeriesRecord, stored: dict[str, Any] | None, full: bool) -> bool:
    """Full passes fetch every series; incremental ones skip a present, unchanged series."""
    return full or stored is None or stored != statistics(record)


async def fetch_series(adapter: Any, item: FetchedSeries) -> None:
    """Read one series' episodes and files (two requests; nothing is written)."""
    arr_id = item.record.arr_id
    episodes = [episode async for episode in adapter.iter_episodes(arr_id)]
    files = [file async for file in adapter.iter_episode_files(arr_id)]
    item.episodes, item.files = episodes, files


@dataclass
class SonarrWriter:
    """The store side of one Sonarr integration's inventory; every method runs on the writer."""

    integration_id: int
    mapper: PathMapper
    seen: dict[str, set[int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def load(self, plan: list[FetchedSeries]) -> None:
        """Read the integration's series and seasons, and what skipped series hold.

        Episodes and files are read per chunk, for the fetched series being written (so only
        one chunk of them is in memory at a time); of series skipped by an incremental pass
        just the ids of their present rows are read, which is all cleanup needs.
        """
        iid = self.integration_id
        self.series = Rows(
            Series,
            ("sonarr_series_id",),
            SERIES_FIELDS,
            {"integration": iid},
            json_keys=SERIES_JSON,
        ).load(lambda q: q.where(Series.integration == iid))
        self.seasons = Rows(
            Season, ("series", "season_number"), SEASON_FIELDS, {}, json_keys=SEASON_JSON
        ).load(lambda q: q.join(Series).where(Series.integration == iid))
        self.seen = {key: set() for key in ("series", "seasons", "episodes", "episode_files")}
        self.written = 0
        skipped = [item.record.arr_id for item in plan if not item.fetched]
        self._stored_by_series = self._present_rows(skipped) if skipped else {}

    def _load_rows(self, fetched: list[FetchedSeries]) -> None:
        """The stored episodes and files of some series (Sonarr never moves them between series)."""
        iid, scope = self.integration_id, {"integration": self.integration_id}
        episode_ids = self._episodes_of([item.record.arr_id for item in fetched])
        self.episodes = Rows(
            Episode, ("sonarr_episode_id",), EPISODE_FIELDS, scope, tracked=("season", "media_file")
        )
        self.files = Rows(MediaFile, ("arr_file_id",), FILE_FIELDS, scope, **FILE_ROWS)
        if not fetched:
            return
        self.episodes.load(
            lambda q: q.where(Episode.integration == iid, Episode.id.in_(episode_ids))
        )
        self.files.load(
            lambda q: q.where(
                MediaFile.integration == iid,
                MediaFile.attachable_type == "episode",
                MediaFile.attachable_id.in_(episode_ids),
            )
        )

    def _episodes_of(self, series_arr_ids: list[int]) -> Any:
        """Subquery of the store ids of the episodes of some of the integration's series."""
        return (
            Episode.select(Episode.id)
            .join(Season)
            .join(Series)
            .where(
                Series.integration == self.integration_id,
                Series.sonarr_series_id.in_(series_arr_ids),
            )
        )

    def _present_rows(self, series_arr_ids: list[int]) -> dict[int, dict[str, list[int]]]:
        """Per skipped series: its present (not missing) season, episode and file ids."""
        index: dict[int, dict[str, list[int]]] = {
            arr_id: {"seasons": [], "episodes": [], "episode_files": []}
            for arr_id in series_arr_ids
        }
        wanted = (Series.integration == self.integration_id) & Series.sonarr_series_id.in_(
            series_arr_ids
        )
        episodes = (
            Episode.select(Series.sonarr_series_id, Episode.sonarr_episode_id, Episode.season)
            .join(Season)
            .join(Series)
            .where(wanted, Episode.missing_since.is_null())
        )
        for owner, arr_id, season_id in episodes.tuples().iterator():
            index[owner]["episodes"].append(arr_id)
            index[owner]["seasons"].append(season_id)
        files = (
            MediaFile.select(Series.sonarr_series_id, MediaFile.arr_file_id)
            .join(Episode, on=(MediaFile.attachable_id == Episode.id))
            .join(Season)
            .join(Series)
            .where(
                wanted,
                MediaFile.integration == self.integration_id,
                MediaFile.attachable_type == "episode",
                MediaFile.missing_since.is_null(),
            )
        )
        for owner, arr_id in files.tuples().iterator():
            index[owner]["episode_files"].append(arr_id)
        return index

    def write_chunk(self, chunk: list[FetchedSeries], now: dt.datetime) -> int:
        """Upsert a group of series with everything fetched for them; returns rows written."""
        written = self.series.sync({i.record.arr_id: series_values(i.record) for i in chunk}, now)
        self.seen["series"].update(item.record.arr_id for item in chunk)
        written += self._sync_seasons(chunk, now)
        fetched = [item for item in chunk if item.fetched]
        self._load_rows(fetched)
        self._sync_episodes(fetched, now)
        self._sync_files(fetched, now)
        self._link_files(fetched, now)
        written += self.episodes.written + self.files.written
        for item in chunk:
            if not item.fetched:  # statistics unchanged: the stored rows stand for upstream
                for key, ids in self._stored_by_series.get(item.record.arr_id, {}).items():
                    self.seen[key].update(ids)
        self.written += written
        return written

    def _sync_seasons(self, chunk: list[FetchedSeries], now: dt.datetime) -> int:
        desired: dict[tuple[int, int], tuple] = {}
        for item in chunk:
            series_id = self.series.id_of(item.record.arr_id)
            for episode in item.episodes or ():
                desired[(series_id, episode.season_number)] = (None, _season_meta(None, None))
            for season in item.record.seasons:
                meta = _season_meta(season.episode_file_count, season.size_on_disk)
                desired[(series_id, season.season_number)] = (season.monitored, meta)
        written = self.seasons.sync(desired, now)
        self.seen["seasons"].update(self.seasons.id_of(key) for key in desired)
        return written

    def _sync_episodes(self, fetched: list[FetchedSeries], now: dt.datetime) -> None:
        desired = {}
        for item in fetched:
            series_id = self.series.id_of(item.record.arr_id)
            for episode in item.episodes or ():
                season_id = self.seasons.id_of((series_id, episode.season_number))
                desired[episode.arr_id] = episode_values(episode, item.record, season_id)
        self.episodes.sync(desired, now)
        self.seen["episodes"].update(desired)

    def _sync_files(self, fetched: list[FetchedSeries], now: dt.datetime) -> None:
        desired = {}
        for item in fetched:
            owners = first_episodes(item.episodes or ())
            for file in item.files or ():
                owner = owners.get(file.arr_file_id)
                if owner is None:
                    self._count("orphan_episode_files")
                    continue
                episode_id = self.episodes.id_of(owner)
                desired[file.arr_file_id] = file_values(file, "episode", episode_id, self.mapper)
        self.files.sync(desired, now)
        self.seen["episode_files"].update(desired)

    def _link_files(self, fetched: list[FetchedSeries], now: dt.datetime) -> None:
        links: dict[int, int | None] = {}
        for item in fetched:
            listed = {file.arr_file_id for file in item.files or ()}
            for episode in item.episodes or ():
                file_id = episode.episode_file_id
                if file_id is not None and file_id not in listed:
                    self._count("episodes_with_unlisted_file")
                    file_id = None
                links[episode.arr_id] = None if file_id is None else self.files.id_of(file_id)
        self.episodes.assign("media_file", links, now)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


def series_values(record: SeriesRecord) -> tuple:
    """The owned columns of a series row, in ``SERIES_FIELDS`` order."""
    meta = {**statistics(record), "tags": list(record.tags)}
    return (
        record.title,
        record.sort_title,
        record.year,
        record.tvdb_id,
        record.tmdb_id,
        record.imdb_id,
        record.path,
        record.monitored,
        naive_utc(record.added_at),
        meta,
    )


def _season_meta(file_count: int | None, size: int | None) -> dict[str, Any]:
    return {"episode_file_count": file_count, "size_on_disk": size}


def episode_values(episode: EpisodeRecord, series: SeriesRecord, season_id: int | None) -> tuple:
    """The owned columns of an episode row; the file link is set after the files are written."""
    runtime = episode.runtime_minutes or series.runtime_minutes
    return (
        season_id,
        episode.season_number,
        episode.episode_number,
        episode.title,
        episode.air_date,
        episode.monitored,
        minutes_to_ms(runtime),
        episode.tvdb_id,
        KEEP,
    )


def first_episodes(episodes: list[EpisodeRecord]) -> dict[int, int]:
    """File arr id → arr id of the first episode (lowest season, then number) pointing at it."""
    owners: dict[int, EpisodeRecord] = {}
    for episode in episodes:
        file_id = episode.episode_file_id
        if file_id is None:
            continue
        current = owners.get(file_id)
        order = (episode.season_number, episode.episode_number, episode.arr_id)
        if current is None or order < (
            current.season_number,
            current.episode_number,
            current.arr_id,
        ):
            owners[file_id] = episode
    return {file_id: episode.arr_id for file_id, episode in owners.items()}
