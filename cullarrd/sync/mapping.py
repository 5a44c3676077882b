"""Phase ``library_mapping``: link Plex items to Sonarr/Radarr items, then attribute history.

Per Tautulli integration (SPEC §5.6):

1. *What to map*, recomputed from the store every run (nothing to lose on a crash): the rating
   keys of unattributed history rows that no mapped item holds, newest first, then the movies
   and shows of the Plex libraries that no item holds yet. Keys that resolved to nothing new are
   remembered as settled until the inventory (or the path mappings, or the managed roots)
   change, or a day has passed; keys that came back unknown go to the back of the next queue.
2. *Ask Plex* through ``get_metadata``, at most ``mapping_metadata_budget`` calls per run, cached
   per key (show and season metadata too). Keys left over wait for the next run.
3. *Resolve* each key by the strict order of ``mapping_rules.resolve`` and *decide* per item
   (``mapping_decide``), re-asking the other keys a conflicted item involves so a conflict only
   ends on fresh evidence. Unknown answers change nothing.
4. *Write* only the changed items, in batches, after every HTTP call is done; then re-attribute
   the history in SQL and hand the touched watchables to ``watch_stats``.

A Tautulli failure records the integration as failed; nothing of its mapping is written.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import structlog

from cullarrd.sync.context import PhaseContext
from cullarrd.sync.mapping_decide import Change, ItemState, decide
from cullarrd.sync.mapping_fetch import MetadataFetcher
from cullarrd.sync.mapping_inventory import load_base
from cullarrd.sync.mapping_resolve import MappingRun, resolve_keys, series_keys_of
from cullarrd.sync.mapping_rules import MAPPED_TYPES, ItemRef, Resolution
from cullarrd.sync.mapping_store import (
    apply_changes,
    apply_series_keys,
    attribute_history,
    chunks,
    held_keys,
    inventory_stamp,
    load_plan,
    load_states,
    save_sync_state,
)
from cullarrd.sync.paths import PathMapper
from cullarrd.timeutil import isoformat, parse_iso, utcnow

log = structlog.get_logger(__name__)

DEFAULT_BUDGET = 5000  # get_metadata calls per run and integration
WRITE_BATCH = 500  # changed items per write transaction
SETTLED_KEY = "mapping_settled"
UNKNOWN_KEY = "mapping_unknown"
SETTLED_MAX_AGE_S = 86_400
UNKNOWN_KEEP = 10_000  # keys remembered as unknown (sent to the back of the queue)


async def library_mapping(ctx: PhaseContext) -> None:
    """Phase ``library_mapping``: every Tautulli integration, each isolated from the others."""
    await ctx.each("tautulli", lambda cfg: _map_integration(ctx, cfg))


async def _map_integration(ctx: PhaseContext, cfg: Any) -> None:
    """Plan from the store, ask Plex and decide (no transaction open), then write."""
    mapper = PathMapper.from_config(cfg)
    roots = list(ctx.settings.get("managed_path_roots") or [])
    extra = repr((mapper.mappings, sorted(roots)))
    plan = await ctx.store.read(functools.partial(load_plan, cfg.name))
    stamp = await ctx.store.read(functools.partial(inventory_stamp, extra))
    run = MappingRun(cfg, plan, mapper, roots, stamp)
    budget = int(ctx.settings.get("mapping_metadata_budget", DEFAULT_BUDGET))
    changes: list[Change] = []
    series_keys: dict[int, tuple[str, str | None]] = {}
    async with ctx.adapter(cfg) as adapter:
        fetcher = MetadataFetcher(
            adapter, budget=budget, workers=cfg.fetch_workers, probe_keys=plan.probe_keys
        )
        queue = _queue(run, await _library_keys(ctx, run, adapter, fetcher))
        ctx.progress.add_total(min(len(queue), budget))
        if queue:
            run.base = await ctx.store.read(load_base)
            await resolve_keys(ctx, run, fetcher, queue)
            changes = await _decide_all(ctx, run, fetcher)
            series_keys = series_keys_of(run)
        _count_fetches(ctx, run, fetcher, queue)
    await _write(ctx, run, changes, series_keys)


def _queue(run: MappingRun, library_keys: list[str]) -> list[str]:
    """History keys (newest first), then library keys; settled out, once-unknown ones last."""
    settled = _settled(run)
    unknown = set(run.plan.sync_state.get(UNKNOWN_KEY) or [])
    keys = [k for k in dict.fromkeys(run.plan.history_keys + library_keys) if k not in settled]
    return [k for k in keys if k not in unknown] + [k for k in keys if k in unknown]


def _settled(run: MappingRun) -> set[str]:
    """Keys settled by earlier runs, if the inventory is as it was then and a day has not passed."""
    memo = run.plan.sync_state.get(SETTLED_KEY)
    if not isinstance(memo, dict) or memo.get("stamp") != run.stamp:
        return set()
    try:
        age = (utcnow() - parse_iso(memo.get("at") or "")).total_seconds()
    except (TypeError, ValueError):
        return set()
    return set(memo.get("keys") or []) if 0 <= age < SETTLED_MAX_AGE_S else set()


async def _library_keys(
    ctx: PhaseContext, run: MappingRun, adapter: Any, fetcher: MetadataFetcher
) -> list[str]:
    """Plex movies and shows that no item holds yet (shows first: they identify episodes)."""
    shows: list[str] = []
    movies: list[str] = []
    async for library in adapter.iter_libraries():
        if library.section_type not in ("movie", "show"):
            continue
        async for page in adapter.iter_library_items(library.section_id):
            ctx.cancel.check()
            fetcher.add_probe_keys(item.rating_key for item in page[:1])
            for item in page:
                if item.media_type == "movie" and item.rating_key not in run.plan.held_movie_keys:
                    movies.append(item.rating_key)
                elif item.media_type == "show" and item.rating_key not in run.plan.held_series_keys:
                    shows.append(item.rating_key)
    return shows + movies


async def _decide_all(ctx: PhaseContext, run: MappingRun, fetcher: MetadataFetcher) -> list[Change]:
    """Per-item decisions; keys a conflicted item involves are asked again first."""
    states = await _states(ctx, run)
    recheck = {k for s in states.values() for k in s.involved_keys()} - set(run.fresh)
    if recheck and fetcher.remaining:
        await resolve_keys(ctx, run, fetcher, sorted(recheck))
        states = await _states(ctx, run)
    claims = _claims(run.fresh.values())
    changes = []
    for ref in sorted(states):
        change = decide(states[ref], claims.get(ref, []), run.fresh)
        if change is not None:
            changes.append(change)
    return changes


async def _states(ctx: PhaseContext, run: MappingRun) -> dict[ItemRef, ItemState]:
    """Stored mapping columns of every claimed item and every holder of a resolved key."""
    refs = list(_claims(run.fresh.values()))
    keys = [k for k, r in run.fresh.items() if r is not None]
    return await ctx.store.read(functools.partial(load_states, refs, keys))


def _claims(resolutions: Iterable[Resolution | None]) -> dict[ItemRef, list[Resolution]]:
    """The resolutions that name each item."""
    claims: dict[ItemRef, list[Resolution]] = {}
    for resolution in resolutions:
        for ref in resolution.items if resolution is not None else ():
            claims.setdefault(ref, []).append(resolution)
    return claims


def _count_fetches(
    ctx: PhaseContext, run: MappingRun, fetcher: MetadataFetcher, queue: list[str]
) -> None:
    """Progress counts of the fetch stage and the keys left for a later run."""
    unknown = sum(1 for r in run.fresh.values() if r is None)
    run.pending = sum(1 for k in queue if k not in run.fresh)
    run.plex_answered = fetcher.known > 0
    ctx.progress.count("metadata_calls", fetcher.calls)
    if fetcher.plex_unreachable:
        ctx.progress.count("plex_unreachable")
        unknown += run.pending
    ctx.progress.count("metadata_unknown", unknown)
    ctx.progress.count("mapping_pending", run.pending)
    for resolution in run.fresh.values():  # what the keys said, e.g. keys_unresolved
        if resolution is not None and resolution.plex_type in MAPPED_TYPES:
            ctx.progress.count(f"keys_{resolution.status}")
    event = log.warning if fetcher.plex_unreachable else log.info
    event(
        "sync.mapping_fetched",
        integration=run.cfg.name,
        metadata_calls=fetcher.calls,
        unknown=unknown,
        pending=run.pending,
        plex_unreachable=fetcher.plex_unreachable,
    )


async def _write(
    ctx: PhaseContext,
    run: MappingRun,
    changes: list[Change],
    series_keys: dict[int, tuple[str, str | None]],
) -> None:
    """Changed items in batches, series keys, history attribution, then the queue memo."""
    for batch in chunks(changes, WRITE_BATCH):
        ctx.cancel.check()
        written = await ctx.store.write(functools.partial(apply_changes, batch))
        ctx.progress.advance(0, written)
        await ctx.progress.flush()
    for change in changes:
        ctx.progress.count(f"changed_to_{change.status}")
    run.wrote = bool(changes or series_keys)
    if series_keys:
        written = await ctx.store.write(functools.partial(apply_series_keys, series_keys))
        ctx.progress.advance(0, written)
        ctx.progress.count("series_keys_recorded", written)
    integration_id = run.plan.integration_id
    changed = [change.ref for change in changes]
    touched, attached, detached = await ctx.store.write(
        functools.partial(attribute_history, integration_id, changed)
    )
    ctx.touched_watchables |= touched
    ctx.progress.advance(0, attached + detached)
    ctx.progress.count("history_attributed", attached)
    ctx.progress.count("history_detached", detached)
    await _remember(ctx, run)


async def _remember(ctx: PhaseContext, run: MappingRun) -> None:
    """Settled keys (resolved, nothing holds them) and unknown keys for the next run's queue."""
    resolved = [k for k, r in run.fresh.items() if r is not None]
    held = await ctx.store.read(functools.partial(held_keys, resolved))
    stamp = run.stamp
    if run.wrote:  # this run's series keys are part of the stamp
        extra = repr((run.mapper.mappings, sorted(run.roots)))
        stamp = await ctx.store.read(functools.partial(inventory_stamp, extra))
    before = _settled(run)  # valid for this run's start; this run's own writes keep it valid
    settled = before | (set(resolved) - held)
    memo = run.plan.sync_state.get(SETTLED_KEY) or {}
    at = memo.get("at") if before else isoformat(utcnow())  # all are looked at again after a day
    known = {k for k, r in run.fresh.items() if r is not None}
    unknown = {k for k in run.plan.sync_state.get(UNKNOWN_KEY) or [] if k not in known}
    if run.plex_answered:  # unknown while Plex answered other keys: probably gone, ask last
        unknown |= {k for k, r in run.fresh.items() if r is None}
    updates = {
        SETTLED_KEY: {"stamp": stamp, "at": at, "keys": sorted(settled)},
        UNKNOWN_KEY: sorted(unknown)[:UNKNOWN_KEEP],
    }
    await ctx.store.write(functools.partial(save_sync_state, run.plan.integration_id, updates))
