"""Risk detection and cleanup, the last two sync phases (SPEC §5.8).

Ambiguous ownership: a canonical path that present media files of more than one integration
claim. Files of every integration count, removed or failed ones too (their *arr may still manage
the file); files already missing or culled do not (nobody owns them any more).

Cleanup touches only integrations whose inventory phase completed fully in this run. For those,
rows the inventory did not see get ``missing_since = now`` (when not already set) and seen rows
lose it. ``ctx.seen[name]`` holds upstream ids (``series``, ``episodes``, ``episode_files``,
``movies``, ``movie_files``) and, for seasons, which have none, store ids (``seasons``). A table
whose key is absent from ``ctx.seen`` is left alone: not knowing what was seen must never read as
"nothing was seen". Marking is set-based: one select of the integration's rows per table, then
``UPDATE … WHERE id IN (…)`` in batches for the few rows whose state changes.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import structlog
from peewee import fn

from cullarrd.candidates import index as candidate_index
from cullarrd.store.models import (
    AmbiguousPath,
    BaseModel,
    Episode,
    Integration,
    MediaFile,
    Movie,
    Season,
    Series,
)
from cullarrd.sync.context import PhaseContext
from cullarrd.sync.inventory_support import UPDATE_BATCH, batches
from cullarrd.timeutil import utcnow

log = structlog.get_logger(__name__)


def ambiguous_paths_query() -> Any:
    """Subquery of ``path_canonical`` values present files of more than one integration own.

    Use it as ``MediaFile.path_canonical.in_(ambiguous_paths_query())``; it aliases its own
    table, so it nests inside queries over ``media_files``.
    """
    owner = MediaFile.alias("ambiguous_owner")
    return (
        owner.select(owner.path_canonical)
        .where(owner.missing_since.is_null(), owner.culled_at.is_null())
        .group_by(owner.path_canonical)
        .having(fn.COUNT(fn.DISTINCT(owner.integration)) > 1)
    )


def refresh_ambiguous_paths() -> tuple[int, int]:
    """Bring ``ambiguous_paths`` in line with the files (inside a write); (paths, rows written).

    Only differences are written, so an unchanged library writes nothing.
    """
    now = utcnow()
    owner = MediaFile.alias("ambiguous_owner")
    found = dict(
        ambiguous_paths_query()
        .select(owner.path_canonical, fn.COUNT(fn.DISTINCT(owner.integration)))
        .tuples()
    )
    stored = dict(
        AmbiguousPath.select(AmbiguousPath.path_canonical, AmbiguousPath.integration_count).tuples()
    )
    gone = [path for path in stored if path not in found]
    written = 0
    for batch in batches(gone, UPDATE_BATCH):
        written += (
            AmbiguousPath.delete().where(AmbiguousPath.path_canonical.in_(list(batch))).execute()
        )
    for path, count in found.items():
        if stored.get(path) == count:
            continue
        AmbiguousPath.insert(
            path_canonical=path, integration_count=count, created_at=now, updated_at=now
        ).on_conflict(
            conflict_target=[AmbiguousPath.path_canonical],
            update={AmbiguousPath.integration_count: count, AmbiguousPath.updated_at: now},
        ).execute()
        written += 1
    return len(found), written


def refresh_read_models() -> tuple[int, int]:
    """Ambiguous paths and the candidate index, both brought up to date (inside a write).

    The sync calls it in risk detection (after inventory and mapping) and after cleanup marked
    rows missing; (ambiguous paths, rows written).
    """
    found, written = refresh_ambiguous_paths()
    return found, written + candidate_index.refresh()


async def risk_detection(ctx: PhaseContext) -> None:
    """Phase ``risk_detection``: record ambiguously owned paths (candidates are blocked on them)
    and bring the candidate index up to date with inventory and mapping."""
    ctx.progress.add_total(1)
    found, written = await ctx.store.write(refresh_read_models)
    ctx.progress.count("ambiguous_ownership_paths", found)
    ctx.progress.advance(1, written)
    if found:
        log.warning("sync.ambiguous_ownership", paths=found)
    await ctx.progress.flush()


@dataclass(frozen=True)
class Table:
    """One inventory table as cleanup sees it: which ``seen`` key and which key column."""

    seen_key: str
    model: type[BaseModel]
    key_column: str  # the column ``seen`` ids are compared with

    def rows(self, integration_id: int) -> Any:
        """Select ``(id, key, missing_since)`` of the integration's rows."""
        model = self.model
        query = model.select(model.id, getattr(model, self.key_column), model.missing_since)
        if model is Season:
            return query.join(Series).where(Series.integration == integration_id)
        query = query.where(model.integration == integration_id)
        if model is MediaFile:
            kind = "episode" if self.seen_key == "episode_files" else "movie"
            query = query.where(MediaFile.attachable_type == kind)
        return query


TABLES: dict[str, tuple[Table, ...]] = {
    "sonarr": (
        Table("series", Series, "sonarr_series_id"),
        Table("seasons", Season, "id"),
        Table("episodes", Episode, "sonarr_episode_id"),
        Table("episode_files", MediaFile, "arr_file_id"),
    ),
    "radarr": (
        Table("movies", Movie, "radarr_movie_id"),
        Table("movie_files", MediaFile, "arr_file_id"),
    ),
}


async def cleanup(ctx: PhaseContext) -> None:
    """Phase ``cleanup``: ``missing_since`` for integrations whose inventory completed now."""
    for kind, tables in TABLES.items():
        integrations = ctx.integrations(kind)
        ctx.progress.add_total(len(integrations))
        for cfg in integrations:
            seen = ctx.seen.get(cfg.name)
            if seen is None or not ctx.completed_fully(cfg, f"{kind}_inventory"):
                ctx.progress.count("integrations_not_cleaned", 1)
                ctx.progress.advance(1)
                continue
            work = functools.partial(mark_missing, cfg.name, tables, seen, utcnow())
            marked, cleared = await ctx.store.write(work)
            if marked or cleared:  # items came or went: ownership and candidates change
                await ctx.store.write(refresh_read_models)
            ctx.progress.count("missing_marked", marked)
            ctx.progress.count("missing_cleared", cleared)
            ctx.progress.advance(1, marked + cleared)
            log.info("sync.cleanup", integration=cfg.name, marked=marked, cleared=cleared)
            await ctx.progress.flush()


def mark_missing(
    name: str, tables: Iterable[Table], seen: dict[str, set[int]], now: dt.datetime
) -> tuple[int, int]:
    """Set or clear ``missing_since`` on one integration's tables; (marked, cleared) rows."""
    integration = Integration.get_or_none(Integration.name == name)
    if integration is None:
        return 0, 0
    marked = cleared = 0
    for table in tables:
        if table.seen_key not in seen:
            continue
        ids = seen[table.seen_key]
        gone: list[int] = []
        back: list[int] = []
        for row_id, key, missing in table.rows(integration.id).tuples().iterator():
            if key not in ids and missing is None:
                gone.append(row_id)
            elif key in ids and missing is not None:
                back.append(row_id)
        marked += _set_missing(table.model, gone, now, now)
        cleared += _set_missing(table.model, back, None, now)
    return marked, cleared


def _set_missing(
    model: type[BaseModel], ids: list[int], value: dt.datetime | None, now: dt.datetime
) -> int:
    for batch in batches(ids, UPDATE_BATCH):
        model.update(missing_since=value, updated_at=now).where(model.id.in_(list(batch))).execute()
    return len(ids)
