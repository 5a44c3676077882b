"""Radarr inventory: fetch movies (and their extra versions), then write them as store rows.

``GET movie`` embeds each movie's primary file. Extra versions need ``moviefile?movieId=``:
Radarr v5 says how many files a movie has (``statistics.movieFileCount``), so only movies with
more than one are listed; Radarr v4 does not, so a full pass lists every movie that has a file.
An incremental pass lists a movie only when its statistics (file count, size on disk, primary
file) differ from the stored ones; otherwise its stored versions stand for upstream.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from cullarrd.store.models import Integration, MediaFile, Movie
from cullarrd.sync.inventory_rows import Rows
from cullarrd.sync.inventory_support import (
    FILE_FIELDS,
    FILE_ROWS,
    file_values,
    minutes_to_ms,
    naive_utc,
)
from cullarrd.sync.paths import PathMapper
from cullarrd.types import MediaFileRecord, MovieRecord

MOVIE_FIELDS = (
    "title",
    "sort_title",
    "year",
    "tmdb_id",
    "imdb_id",
    "path",
    "monitored",
    "added_at",
    "duration_ms",
    "metadata_json",
)
STAT_KEYS = ("movie_file_count", "size_on_disk", "primary_file_id")
MOVIE_JSON = (*STAT_KEYS, "has_file", "tags")


@dataclass
class FetchedMovie:
    """One upstream movie; ``files`` (every version) stays None when it was not listed."""

    record: MovieRecord
    files: list[MediaFileRecord] | None = None

    def weight(self) -> int:
        """Rows this movie may write (for bounding transactions)."""
        return 2 + len(self.files or ())


def statistics(record: MovieRecord) -> dict[str, Any]:
    """The upstream statistics an incremental pass compares."""
    primary = record.file.arr_file_id if record.file is not None else None
    return {
        "movie_file_count": record.movie_file_count,
        "size_on_disk": record.size_on_disk,
        "primary_file_id": primary,
    }


def load_movie_state(name: str) -> tuple[int | None, dict[int, dict[str, Any] | None]]:
    """The integration's store id and, per stored movie, its statistics (None when missing)."""
    integration = Integration.get_or_none(Integration.name == name)
    if integration is None:
        return None, {}
    query = Movie.select(Movie.radarr_movie_id, Movie.metadata_json, Movie.missing_since)
    state: dict[int, dict[str, Any] | None] = {}
    for arr_id, metadata, missing in query.where(Movie.integration == integration.id).tuples():
        meta = metadata or {}
        state[arr_id] = None if missing is not None else {key: meta.get(key) for key in STAT_KEYS}
    return integration.id, state


def may_have_versions(record: MovieRecord) -> bool:
    """Whether files beyond the embedded primary may exist (unknown on Radarr v4)."""
    if record.movie_file_count is None:
        return record.file is not None
    return record.movie_file_count > 1 or (record.movie_file_count == 1 and record.file is None)


def needs_listing(record: MovieRecord, stored: dict[str, Any] | None, full: bool) -> bool:
    """Whether this pass lists the movie's files (``moviefile?movieId=``)."""
    if not may_have_versions(record):
        return False
    return full or stored is None or stored != statistics(record)


async def list_versions(adapter: Any, item: FetchedMovie) -> None:
    """Read every file of one movie (one request; nothing is written)."""
    item.files = [file async for file in adapter.iter_movie_files(item.record.arr_id)]


@dataclass
class RadarrWriter:
    """The store side of one Radarr integration's inventory; every method runs on the writer."""

    integration_id: int
    mapper: PathMapper
    seen: dict[str, set[int]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def load(self, plan: list[FetchedMovie]) -> None:
        """Read the integration's existing rows, one query per table (every movie is diffed)."""
        iid = self.integration_id
        scope = {"integration": iid}
        self.movies = Rows(
            Movie, ("radarr_movie_id",), MOVIE_FIELDS, scope, json_keys=MOVIE_JSON
        ).load(lambda q: q.where(Movie.integration == iid))
        self.files = Rows(MediaFile, ("arr_file_id",), FILE_FIELDS, scope, **FILE_ROWS).load(
            lambda q: q.where(MediaFile.integration == iid, MediaFile.attachable_type == "movie")
        )
        self.seen = {"movies": set(), "movie_files": set()}
        self._stored_by_movie = self._index_present_files()

    def _index_present_files(self) -> dict[int, list[int]]:
        """Per movie store id: its present (not missing) file arr ids, as stored."""
        index: dict[int, list[int]] = {}
        for arr_id, row in self.files.rows.items():
            if row[1] is None:
                index.setdefault(self.files.tracked(row, "attachable_id"), []).append(arr_id)
        return index

    def write_chunk(self, chunk: list[FetchedMovie], now: dt.datetime) -> int:
        """Upsert a group of movies with their files; returns rows written."""
        before = self.movies.written + self.files.written
        self.movies.sync({item.record.arr_id: movie_values(item.record) for item in chunk}, now)
        self.seen["movies"].update(item.record.arr_id for item in chunk)
        desired: dict[int, tuple] = {}
        for item in chunk:
            movie_id = self.movies.id_of(item.record.arr_id)
            primary = item.record.file
            versions = {file.arr_file_id: file for file in item.files or ()}
            if primary is not None:
                versions.setdefault(primary.arr_file_id, primary)
            for arr_file_id, file in versions.items():
                is_primary = primary is not None and arr_file_id == primary.arr_file_id
                row = file_values(file, "movie", movie_id, self.mapper, primary=is_primary)
                desired[arr_file_id] = row
            if item.files is None and may_have_versions(item.record):
                # Not listed because nothing changed: the stored versions stand for upstream.
                self.seen["movie_files"].update(self._stored_by_movie.get(movie_id, ()))
        self.files.sync(desired, now)
        self.seen["movie_files"].update(desired)
        return self.movies.written + self.files.written - before


def movie_values(record: MovieRecord) -> tuple:
    """The owned columns of a movie row, in ``MOVIE_FIELDS`` order."""
    meta = {**statistics(record), "has_file": record.has_file, "tags": list(record.tags)}
    return (
        record.title,
        record.sort_title,
        record.year,
        record.tmdb_id,
        record.imdb_id,
        record.path,
        record.monitored,
        naive_utc(record.added_at),
        minutes_to_ms(record.runtime_minutes),
        meta,
    )
