"""The inventory the mapping resolves against, loaded as little as the work needs.

Movies and series are few and every title/year or show-id lookup may touch any of them: they are
loaded once per run (``load_base``). Episodes and media files are the bulk of a library: each
batch of rating keys loads only those its metadata can point at (``load_batch``): the files on
its canonical paths (indexed) and their episodes, the episodes with its tvdb ids, and every
episode of the series its shows were identified as. Only present rows (not missing, not culled)
are candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

from cullarrd.store.models import Episode, MediaFile, Movie, Season, Series
from cullarrd.sync.mapping_rules import Inventory, ItemRow, normalize_title
from cullarrd.sync.mapping_store import chunks


@dataclass
class Needs:
    """What one batch's metadata can point at."""

    paths: set[str] = field(default_factory=set)
    tvdb_ids: set[int] = field(default_factory=set)
    series_ids: set[int] = field(default_factory=set)


def load_base() -> Inventory:
    """Every present movie and series, with their id and title lookups."""
    inv = Inventory()
    for mid, tmdb, imdb, title, year, key, status in Movie.select(
        Movie.id, Movie.tmdb_id, Movie.imdb_id, Movie.title, Movie.year,
        Movie.plex_rating_key, Movie.mapping_status_code,
    ).where(Movie.missing_since.is_null()).tuples():  # fmt: skip
        inv.items[("movie", mid)] = ItemRow("movie", mid, key, status)
        inv.movie_ids[mid] = (tmdb, imdb or None)
        if tmdb is not None:
            inv.movie_tmdb.setdefault(tmdb, []).append(mid)
        if imdb:
            inv.movie_imdb.setdefault(imdb, []).append(mid)
        if normalize_title(title) and year is not None:
            inv.movie_title_year.setdefault((normalize_title(title), year), []).append(mid)
    query = Series.select(
        Series.id, Series.tvdb_id, Series.tmdb_id, Series.imdb_id, Series.plex_rating_key
    ).where(Series.missing_since.is_null())
    for sid, tvdb, tmdb, imdb, key in query.tuples():
        inv.series_key[sid] = key
        if key:
            inv.series_by_key.setdefault(key, []).append(sid)
        for source, value in (("tvdb", tvdb), ("tmdb", tmdb), ("imdb", imdb)):
            if value not in (None, ""):
                inv.series_ids.setdefault((source, value), []).append(sid)
    return inv


def load_batch(base: Inventory, needs: Needs) -> Inventory:
    """``base`` plus the media files and episodes ``needs`` names."""
    inv = dataclasses.replace(
        base, items=dict(base.items), by_path={}, episode_tvdb={}, episode_at={}
    )
    files = _files(needs.paths)
    file_ids = sorted({f[0] for f in files})
    owners = sorted({f[2] for f in files if f[1] == "episode"})
    wanted = [EPISODES.where(Episode.media_file.in_(p)) for p in chunks(file_ids)]
    wanted += [EPISODES.where(Episode.id.in_(p)) for p in chunks(owners)]
    wanted += [EPISODES.where(Episode.tvdb_id.in_(p)) for p in chunks(sorted(needs.tvdb_ids))]
    wanted += [EPISODES.where(Season.series.in_(p)) for p in chunks(sorted(needs.series_ids))]
    by_file = _add_episodes(inv, wanted)
    for file_id, kind, owner, path in files:
        refs = {("episode", e) for e in by_file.get(file_id, ())} | {(kind, owner)}
        present = sorted(ref for ref in refs if ref in inv.items)
        if present:
            inv.by_path.setdefault(path, []).extend(present)
    return inv


def _add_episodes(inv: Inventory, queries: Iterable) -> dict[int, set[int]]:
    """Index the episodes the queries find (each once); their ids by media file."""
    by_file: dict[int, set[int]] = {}
    for query in queries:
        for eid, series, season, number, tvdb, file_id, key, status in query.tuples():
            if file_id is not None:
                by_file.setdefault(file_id, set()).add(eid)
            if ("episode", eid) in inv.items:
                continue
            row = ItemRow("episode", eid, key, status, series, season, number)
            inv.items[("episode", eid)] = row
            inv.episode_at.setdefault((series, season, number), []).append(eid)
            if tvdb is not None:
                inv.episode_tvdb.setdefault(tvdb, []).append(eid)
    return by_file


EPISODES = (
    Episode.select(
        Episode.id, Season.series, Episode.season_number, Episode.episode_number,
        Episode.tvdb_id, Episode.media_file, Episode.plex_rating_key,
        Episode.mapping_status_code,
    )
    .join(Season, on=Episode.season == Season.id)
    .where(Episode.missing_since.is_null())
)  # fmt: skip


def _files(paths: Iterable[str]) -> list[tuple[int, str, int, str]]:
    """(id, attachable type, attachable id, canonical path) of present files on ``paths``."""
    found = []
    for part in chunks(sorted(set(paths))):
        query = MediaFile.select(
            MediaFile.id, MediaFile.attachable_type, MediaFile.attachable_id,
            MediaFile.path_canonical,
        ).where(
            MediaFile.path_canonical.in_(part)
            & MediaFile.missing_since.is_null()
            & MediaFile.culled_at.is_null()
        )  # fmt: skip
        found += [(i, kind, int(owner), path) for i, kind, owner, path in query.tuples()]
    return found
