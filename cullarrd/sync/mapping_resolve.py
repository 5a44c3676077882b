"""The mapping's fetch-and-resolve stage: ask Plex, load what the answers can point at, resolve.

Per batch of rating keys: the metadata (with the season and show metadata an episode needs),
then the batch's slice of the inventory (``mapping_inventory.load_batch``), then
``mapping_rules.resolve`` for every answer. Answers Plex did not give are recorded as unknown
(None); keys the budget did not reach are left out, for a later run.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from cullarrd.sync.context import PhaseContext
from cullarrd.sync.mapping_fetch import NOT_FETCHED, MetadataFetcher
from cullarrd.sync.mapping_inventory import Needs, load_batch
from cullarrd.sync.mapping_rules import (
    ATTRIBUTABLE,
    MAPPED_TYPES,
    UNRESOLVED,
    Inventory,
    PlexIds,
    Resolution,
    episode_show_ids,
    parse_guids,
    resolve,
    resolve_show,
    series_for_ids,
)
from cullarrd.sync.mapping_store import Plan, chunks
from cullarrd.sync.paths import PathMapper, classify
from cullarrd.types import PlexMetadata

BATCH = 200  # keys resolved between cancel checks and progress flushes


@dataclasses.dataclass
class MappingRun:
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


@dataclasses.dataclass(frozen=True)
class Prepared:
    """One answer with what resolving it needs: canonical paths, the show's ids."""

    meta: PlexMetadata
    paths: tuple[str, ...] = ()
    external: bool = False
    show_ids: PlexIds | None = None


async def resolve_keys(
    ctx: PhaseContext, run: MappingRun, fetcher: MetadataFetcher, keys: list[str]
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


async def _prepare(run: MappingRun, fetcher: MetadataFetcher, meta: PlexMetadata) -> Any:
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


def _resolve(run: MappingRun, inv: Inventory, item: Prepared) -> Resolution:
    """Resolve one prepared answer; remember show keys and the series of episode winners."""
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
    run: MappingRun, fetcher: MetadataFetcher, meta: PlexMetadata
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


def series_keys_of(run: MappingRun) -> dict[int, tuple[str, str | None]]:
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
