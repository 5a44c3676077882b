"""The inventory phases (SPEC §5.3): Sonarr and Radarr into series/seasons/episodes/movies/files.

Isolation rule: an integration is fetched *completely* before anything of it is written. Every
upstream request of one integration (the series or movie list, then the per-series episodes and
files or per-movie versions, ``fetch_workers`` at a time) runs first and keeps its answers in
memory; only when all of them succeeded are the rows written, in transactions of bounded size
(about ``CHUNK_ROWS`` rows each, never spanning an HTTP call). An integration that fails anywhere
in fetching (an ``IntegrationError`` or any ``CullarrError``) is recorded with ``ctx.fail`` and
left exactly as it was: no row rewritten, nothing recorded as seen, so cleanup marks nothing
missing. Only after the last chunk is written does the phase record ``ctx.seen`` and call
``ctx.completed``; cleanup acts only on integrations that completed in this run.

A cancel is honoured between items while fetching and between write transactions; a run canceled
in the write stage keeps the chunks already written (they are complete, fresh upstream data per
series or movie) and, as the run never reaches cleanup, marks nothing missing.

Incremental passes (``ctx.full_inventory[name]`` False) skip the per-series requests of series
whose statistics (``episodeFileCount``, ``sizeOnDisk``) equal the stored ones, and the version
listing of movies whose statistics are unchanged; their stored, present rows count as seen. A
successful full pass stamps ``integrations.sync_state_json.last_full_inventory_at``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from cullarrd.errors import CullarrError, IntegrationError
from cullarrd.store.models import Integration
from cullarrd.sync.cleanup import refresh_ambiguous_paths
from cullarrd.sync.context import PhaseContext
from cullarrd.sync.inventory_radarr import (
    FetchedMovie,
    RadarrWriter,
    list_versions,
    load_movie_state,
    needs_listing,
)
from cullarrd.sync.inventory_sonarr import (
    FetchedSeries,
    SonarrWriter,
    fetch_series,
    load_series_state,
    needs_fetch,
)
from cullarrd.sync.inventory_support import chunked_by_weight, fetch_each
from cullarrd.sync.paths import PathMapper
from cullarrd.timeutil import isoformat, parse_iso, utcnow

log = structlog.get_logger(__name__)

CHUNK_ROWS = 2000  # rows per write transaction (a single bigger series still goes alone)
LAST_FULL_KEY = "last_full_inventory_at"


def is_full_pass_due(sync_state: Mapping[str, Any] | None, hours: int, now: dt.datetime) -> bool:
    """Whether the next inventory of an integration must be a full pass.

    Due when no full pass is recorded, the stamp is unreadable or lies in the future (a clock
    that jumped back), or at least ``hours`` passed since it: a full pass is always the safe
    answer.
    """
    stamp = (sync_state or {}).get(LAST_FULL_KEY)
    if not isinstance(stamp, str):
        return True
    try:
        last = parse_iso(stamp)
    except ValueError:
        return True
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    return last > now or now - last >= dt.timedelta(hours=hours)


@dataclass(frozen=True)
class _Kind:
    """How one inventory kind lists its items, decides what to fetch, fetches and writes."""

    name: str
    load_state: Callable[[str], tuple[int | None, dict[int, Any]]]
    items: Callable[[Any], AsyncIterator[Any]]  # adapter → upstream records
    wrap: Callable[[Any], Any]  # record → fetched item
    needs: Callable[[Any, Any, bool], bool]  # (record, stored statistics, full) → fetch it?
    fetch: Callable[[Any, Any], Awaitable[None]]  # (adapter, item) → fills the item
    writer: Callable[[int, PathMapper], Any]
    skipped: str  # progress counter of items not fetched


SONARR = _Kind(
    "sonarr",
    load_series_state,
    lambda adapter: adapter.iter_series(),
    FetchedSeries,
    needs_fetch,
    fetch_series,
    SonarrWriter,
    "series_skipped_unchanged",
)
RADARR = _Kind(
    "radarr",
    load_movie_state,
    lambda adapter: adapter.iter_movies(),
    FetchedMovie,
    needs_listing,
    list_versions,
    RadarrWriter,
    "movies_without_listing",
)


async def sonarr_inventory(ctx: PhaseContext) -> None:
    """Phase ``sonarr_inventory``: every Sonarr integration, each isolated from the others."""
    await _each_integration(ctx, SONARR)


async def radarr_inventory(ctx: PhaseContext) -> None:
    """Phase ``radarr_inventory``: every Radarr integration, each isolated from the others."""
    await _each_integration(ctx, RADARR)


async def _each_integration(ctx: PhaseContext, kind: _Kind) -> None:
    await ctx.each(kind.name, lambda cfg: _inventory_one(ctx, cfg, kind))
    # New or moved files may now share a path with another integration's: record it at once,
    # not only at risk detection, so candidate queries during the sync block on it. (A run
    # canceled or failed mid-phase is caught up by the engine before it ends.)
    await ctx.store.write(refresh_ambiguous_paths)


async def _inventory_one(ctx: PhaseContext, cfg: Any, kind: _Kind) -> None:
    """Fetch everything of one integration, then write it; raises on any upstream failure."""
    full = ctx.full_inventory.get(cfg.name, True)
    integration_id, stored = await ctx.store.read(functools.partial(kind.load_state, cfg.name))
    if integration_id is None:
        raise CullarrError(
            f"{cfg.name}: the integration has no row in the store (config not reconciled)",
            code="internal_error",
        )
    plan = await _fetch_all(ctx, cfg, kind, stored, full)
    writer = kind.writer(integration_id, PathMapper.from_config(cfg))
    await _write(ctx, writer, plan)
    await _finish(ctx, cfg, writer, integration_id, full)


async def _fetch_all(
    ctx: PhaseContext, cfg: Any, kind: _Kind, stored: dict[int, Any], full: bool
) -> list[Any]:
    """Every item with the details this pass needs, ``fetch_workers`` requests at a time."""
    async with ctx.adapter(cfg) as adapter, _upstream_values(cfg):
        plan = [kind.wrap(record) async for record in kind.items(adapter)]
        ctx.progress.add_total(len(plan))
        todo = [i for i in plan if kind.needs(i.record, stored.get(i.record.arr_id), full)]
        ctx.progress.advance(len(plan) - len(todo))
        ctx.progress.count(kind.skipped, len(plan) - len(todo))
        ctx.progress.count("upstream_items_fetched", len(todo))
        await ctx.progress.flush()

        async def done() -> None:
            ctx.progress.advance(1)
            await ctx.progress.flush()

        fetch = functools.partial(kind.fetch, adapter)
        await fetch_each(todo, fetch, workers=cfg.fetch_workers, cancel=ctx.cancel, done=done)
    return plan


@contextlib.asynccontextmanager
async def _upstream_values(cfg: Any) -> AsyncIterator[None]:
    """An adapter refusing an upstream value (e.g. an id of 0) fails this integration only."""
    try:
        yield
    except ValueError as exc:
        raise IntegrationError(
            f"{cfg.name}: upstream sent a value the adapter refused: {exc}",
            code="integration_contract_mismatch",
        ) from exc


async def _write(ctx: PhaseContext, writer: Any, plan: list[Any]) -> None:
    """Write everything fetched, one bounded transaction per chunk (diffing on the writer).

    Consumes ``plan``: a written chunk's upstream data is dropped at once, so a cold pass
    never holds the whole fetch and the whole written inventory at the same time.
    """
    await ctx.store.write(functools.partial(writer.load, plan))
    chunks = list(chunked_by_weight(plan, lambda item: item.weight(), CHUNK_ROWS))
    plan.clear()
    for index in range(len(chunks)):
        ctx.cancel.check()
        work = functools.partial(writer.write_chunk, chunks[index], utcnow())
        chunks[index] = []
        written = await ctx.store.write(work)
        del work
        ctx.progress.advance(0, written)
        await ctx.progress.flush()


async def _finish(
    ctx: PhaseContext, cfg: Any, writer: Any, integration_id: int, full: bool
) -> None:
    """Record what was seen (for cleanup), stamp a full pass, mark the integration completed."""
    for key, n in writer.counts.items():
        ctx.progress.count(key, n)
    if full:
        await ctx.store.write(functools.partial(_stamp_full_pass, integration_id, utcnow()))
    ctx.seen[cfg.name] = writer.seen
    log.info(
        "sync.inventory_completed",
        integration=cfg.name,
        full=full,
        **{key: len(ids) for key, ids in writer.seen.items()},
    )


def _stamp_full_pass(integration_id: int, now: dt.datetime) -> None:
    row = Integration.get_by_id(integration_id)
    state = {**(row.sync_state_json or {}), LAST_FULL_KEY: isoformat(now)}
    Integration.update(sync_state_json=state, updated_at=now).where(
        Integration.id == integration_id
    ).execute()
