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

import dataclasses
import functools
from collections.abc import Iterable
from typing import Any

import structlog

from cullarrd.errors import CullarrError
from cullarrd.sync.context import PhaseContext
from cullarrd.sync.mapping_decide import Change, ItemState, decide
from cullarrd.sync.mapping_fetch import NOT_FETCHED, MetadataFetcher
from cullarrd.sync.mapping_inventory import Needs, load_base, load_batch
from cullarrd.sync.mapping_rules import (
    ATTRIBUTABLE,
    MAPPED_TYPES,
    UNRESOLVED,
    Inventory,
    ItemRef,
    PlexIds,
    Resolution,
    episode_show_ids,
    parse_guids,
    resolve,
    resolve_show,
    series_for_ids,
)
from cullarrd.sync.mapping_store import (
    Plan,
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
from cullarrd.sync.paths import PathMapper, classify
from cullarrd.timeutil import isoformat, parse_iso, utcnow
from cullarrd.types import PlexMetadata

log = structlog.get_logger(__name__)

DEFAULT_BUDGET = 5000  # get_metadata calls per run and integration
BATCH = 200  # keys resolved between cancel checks and progress flushes
WRITE_BATCH = 500  # changed items per write transaction
SETTLED_KEY = "mapping_settled"
UNKNOWN_KEY = "mapping_unknown"
SETTLED_MAX_AGE_S = 86_400
UNKNOWN_KEEP = 10_000  # keys remembered as unknown (sent to the back of the queue)


async def library_mapping(ctx: PhaseContext) -> None:
    """Phase ``library_mapping``: every Tautulli integration, each isolated from the others."""
    for cfg in ctx.integrations("tautulli"):
        ctx.cancel.check()
        try:
            await _map_integration(ctx, cfg)
        except CullarrError as exc:
            ctx.fail(cfg, exc)
            log.warning("sync.mapping_failed", integration=cfg.name, code=exc.code)
        else:
            ctx.completed(cfg)
        await ctx.progress.flush()


@dataclasses.dataclass
class Run:
    """One integration's mapping run: its inputs and what it learned so far."""

    cfg: Any
    plan: Plan
    mapper: PathMapper
    roots: list[str]
    stamp: str
    fresh: dict[str, Resolution | None] = dataclasses.field(default_factory=dict)
    show_series: dict[str, tuple[list[int], str | None]] = dataclasses.field(default_factory=dict)
    base: Inventory | None = None  # movies and series; episodes are loaded per batch
    episode_series: dict[int, int] = dataclasses.field(default_factory=dict)
    pending: int = 0
    plex_answered: bool = False
    wrote: bool = False


async def _map_integration(ctx: PhaseContext, cfg: Any) -> None:
    mapper = PathMapper.from_config(cfg)
    roots = list(ctx.settings.get("managed_path_roots") or [])
    extra = repr((mapper.mappings, sorted(roots)))
    plan = await ctx.store.read(functools.partial(load_plan, cfg.name))
    stamp = await ctx.store.read(functools.partial(inventory_stamp, extra))
    run = Run(cfg, plan, mapper, roots, stamp)
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
            await _resolve_keys(ctx, run, fetcher, queue)
            changes = await _decide_all(ctx, run, fetcher)
            series_keys = _series_keys(run)
        _count_fetches(ctx, run, fetcher, queue)
    await _write(ctx, run, changes, series_keys)


def _queue(run: Run, library_keys: list[str]) -> list[str]:
    """History keys (newest first), then library keys; settled out, once-unknown ones last."""
    settled = _settled(run)
    unknown = set(run.plan.sync_state.get(UNKNOWN_KEY) or [])
    keys = [k for k in dict.fromkeys(run.plan.history_keys + library_keys) if k not in settled]
    return [k for k in keys if k not in unknown] + [k for k in keys if k in unknown]


def _settled(run: Run) -> set[str]:
    memo = run.plan.sync_state.get(SETTLED_KEY)
    if not isinstance(memo, dict) or memo.get("stamp") != run.stamp:
        return set()
    try:
        age = (utcnow() - parse_iso(memo.get("at") or "")).total_seconds()
    except (TypeError, ValueError):
        return set()
    return set(memo.get("keys") or []) if 0 <= age < SETTLED_MAX_AGE_S else set()


async def _library_keys(
    ctx: PhaseContext, run: Run, adapter: Any, fetcher: MetadataFetcher
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


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One answer with what resolving it needs: canonical paths, the show's ids."""

    meta: PlexMetadata
    paths: tuple[str, ...] = ()
    external: bool = False
    show_ids: PlexIds | None = None


async def _resolve_keys(
    ctx: PhaseContext, run: Run, fetcher: MetadataFetcher, keys: list[str]
) -> None:
    """Ask Plex about ``keys`` batch by batch and resolve every answer."""
    assert run.base is not None
    for batch in chunks(keys, BATCH):
        ctx.cancel.check()
        if not fetcher.remaining:
            break
        prepared: dict[str, Any] = {}
        for key, meta in (await fetcher.get_many(list(batch))).items():
            if meta is not NOT_FETCHED:  # not fetched: left for a later run
                prepared[key] = None if meta is None else await _prepare(run, fetcher, meta)
        needs = _needs(run.base, [p for p in prepared.values() if isinstance(p, Prepared)])
        inv = await ctx.store.read(functools.partial(load_batch, run.base, needs))
        for key, item in prepared.items():
            if item is not NOT_FETCHED:  # parent metadata not fetched: a later run
                run.fresh[key] = _resolve(run, inv, item) if item is not None else None
        ctx.progress.advance(len(batch))
        await ctx.progress.flush()


async def _prepare(run: Run, fetcher: MetadataFetcher, meta: PlexMetadata) -> Any:
    """The answer ready to resolve; None (unknown) or ``NOT_FETCHED`` for missing parents."""
    show = None
    if meta.media_type == "episode":
        meta, show = await _episode_context(run, fetcher, meta)
        if meta is None or meta is NOT_FETCHED:
            return meta
    paths = tuple(run.mapper.canonical(p) for p in meta.files)
    external = bool(run.roots and paths) and all(
        classify(p, run.roots) == "external" for p in paths
    )
    show_ids = episode_show_ids(meta, show) if meta.media_type == "episode" else None
    return Prepared(meta, paths, external, show_ids)


def _needs(base: Inventory, prepared: list[Prepared]) -> Needs:
    """Paths, episode tvdb ids and candidate series of a batch (see ``load_batch``)."""
    needs = Needs()
    for item in prepared:
        needs.paths.update(item.paths)
        if item.meta.media_type == "episode":
            needs.tvdb_ids.update(parse_guids(item.meta.guids).tvdb)
            needs.series_ids.update(
                base.series_by_key.get(item.meta.grandparent_rating_key or "", ())
            )
            needs.series_ids.update(series_for_ids(base, item.show_ids or PlexIds()))
    return needs


def _resolve(run: Run, inv: Inventory, item: Prepared) -> Resolution:
    meta = item.meta
    if meta.media_type == "show":
        run.show_series[meta.rating_key] = (resolve_show(meta, inv), meta.guid)
    if meta.media_type not in MAPPED_TYPES:
        return Resolution(meta.rating_key, meta.media_type, meta.guid, UNRESOLVED, ())
    resolution = resolve(meta, inv, item.paths, external=item.external, show_ids=item.show_ids)
    for kind, item_id in resolution.items:
        if kind == "episode":
            run.episode_series[item_id] = inv.items[(kind, item_id)].series_id
    return resolution


async def _episode_context(
    run: Run, fetcher: MetadataFetcher, meta: PlexMetadata
) -> tuple[Any, Any]:
    """Fill in an episode's season number and show guids from cached parent metadata."""
    assert run.base is not None
    if meta.parent_media_index is None and meta.parent_rating_key:
        season = await fetcher.get(meta.parent_rating_key)
        if season is None or season is NOT_FETCHED:
            return season, None
        meta = dataclasses.replace(meta, parent_media_index=season.media_index)
    show = None
    known_show = (meta.grandparent_rating_key or "") in run.base.series_by_key
    if not known_show and episode_show_ids(meta).empty and meta.grandparent_rating_key:
        show = await fetcher.get(meta.grandparent_rating_key)
        if show is None or show is NOT_FETCHED:
            return show, None
    return meta, show


async def _decide_all(ctx: PhaseContext, run: Run, fetcher: MetadataFetcher) -> list[Change]:
    """Per-item decisions; keys a conflicted item involves are asked again first."""
    states = await _states(ctx, run)
    recheck = {k for s in states.values() for k in s.involved_keys()} - set(run.fresh)
    if recheck and fetcher.remaining:
        await _resolve_keys(ctx, run, fetcher, sorted(recheck))
        states = await _states(ctx, run)
    claims = _claims(run.fresh.values())
    changes = []
    for ref in sorted(states):
        change = decide(states[ref], claims.get(ref, []), run.fresh)
        if change is not None:
            changes.append(change)
    return changes


async def _states(ctx: PhaseContext, run: Run) -> dict[ItemRef, ItemState]:
    refs = list(_claims(run.fresh.values()))
    keys = [k for k, r in run.fresh.items() if r is not None]
    return await ctx.store.read(functools.partial(load_states, refs, keys))


def _claims(resolutions: Iterable[Resolution | None]) -> dict[ItemRef, list[Resolution]]:
    claims: dict[ItemRef, list[Resolution]] = {}
    for resolution in resolutions:
        for ref in resolution.items if resolution is not None else ():
            claims.setdefault(ref, []).append(resolution)
    return claims


def _series_keys(run: Run) -> dict[int, tuple[str, str | None]]:
    """Show rating keys for series without one: from shows, and from episodes mapped to them."""
    assert run.base is not None
    found: dict[int, set[tuple[str, str | None]]] = {}
    for key, (series, guid) in run.show_series.items():
        for series_id in series:
            found.setdefault(series_id, set()).add((key, guid))
    for resolution in run.fresh.values():
        if resolution is None or resolution.plex_type != "episode":
            continue
        if resolution.status not in ATTRIBUTABLE or len(resolution.items) != 1:
            continue
        show_key = resolution.diagnostics["steps"]["tv_structure"].get("show_rating_key")
        series_id = run.episode_series.get(resolution.items[0][1])
        if show_key and series_id is not None:
            found.setdefault(series_id, set()).add((show_key, None))
    updates = {}
    for series_id, pairs in found.items():
        keys = {key for key, _ in pairs}
        if len(keys) == 1 and run.base.series_key.get(series_id) is None:
            key = keys.pop()
            updates[series_id] = (key, next((g for k, g in pairs if k == key and g), None))
    return updates


def _count_fetches(ctx: PhaseContext, run: Run, fetcher: MetadataFetcher, queue: list[str]) -> None:
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
    run: Run,
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


async def _remember(ctx: PhaseContext, run: Run) -> None:
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
