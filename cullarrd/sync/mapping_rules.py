"""What one Plex item's metadata says about the inventory (SPEC §5.6), as pure functions.

``resolve`` runs the steps in their strict order (path → external ids → TV structure → title +
year) over an in-memory snapshot of the inventory and returns the first unique winner, or a
conflict that fails closed. Every step that can see something is evaluated, so a later strong
step that points elsewhere than the winner turns the answer into ``strong_signal_disagreement``,
and the diagnostics show what each step saw. Nothing here touches the store or the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cullarrd.types import PlexMetadata

ItemRef = tuple[str, int]  # ("movie", id) | ("episode", id)

VERIFIED_PATH = "verified_path"
VERIFIED_IDS = "verified_external_ids"
VERIFIED_STRUCTURE = "verified_tv_structure"
PROVISIONAL = "provisional_title_year"
EXTERNAL = "external_source_not_managed"
UNRESOLVED = "unresolved"
AMBIGUOUS = "ambiguous_conflict"
# Statuses whose rating key attributes history (every mapped one; never an ambiguous one).
ATTRIBUTABLE = (VERIFIED_PATH, VERIFIED_IDS, VERIFIED_STRUCTURE, PROVISIONAL, EXTERNAL)
STEP_STATUS = {"path": VERIFIED_PATH, "external_ids": VERIFIED_IDS}
STEP_STATUS.update(tv_structure=VERIFIED_STRUCTURE, title_year=PROVISIONAL)
STRONG_STEPS = ("path", "external_ids", "tv_structure")
# When one item is caught in several conflicts, the reason shown is the first of these.
REASONS = (
    "type_mismatch",
    "strong_signal_disagreement",
    "multiple_path_candidates",
    "multiple_external_id_candidates",
    "plex_rating_key_conflict",
)
MAPPED_TYPES = frozenset({"movie", "episode"})
_LEGACY = {"themoviedb": "tmdb", "thetvdb": "tvdb", "imdb": "imdb", "tmdb": "tmdb", "tvdb": "tvdb"}


def ref_text(ref: ItemRef) -> str:
    """``movie:12``: how diagnostics name an item."""
    return f"{ref[0]}:{ref[1]}"


def key_order(rating_key: str) -> tuple[int, int | str]:
    """Sort rating keys numerically when they are numbers (they usually are)."""
    return (0, int(rating_key)) if rating_key.isdigit() else (1, rating_key)


def normalize_title(title: str | None) -> str:
    """Case-folded words of a title, punctuation dropped (``Foo: Bar!`` → ``foo bar``)."""
    return re.sub(r"[\W_]+", " ", (title or "").casefold()).strip()


@dataclass(slots=True)
class ItemRow:
    """A movie or episode as the mapping sees it (no diagnostics: they are loaded on demand)."""

    kind: str
    id: int
    rating_key: str | None
    status: str
    series_id: int | None = None
    season: int | None = None
    number: int | None = None


@dataclass
class Inventory:
    """Lookups over the present inventory: all movies and series, episodes and files as loaded."""

    items: dict[ItemRef, ItemRow] = field(default_factory=dict)
    by_path: dict[str, list[ItemRef]] = field(default_factory=dict)
    movie_tmdb: dict[int, list[int]] = field(default_factory=dict)
    movie_imdb: dict[str, list[int]] = field(default_factory=dict)
    movie_title_year: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    movie_ids: dict[int, tuple[int | None, str | None]] = field(default_factory=dict)
    episode_tvdb: dict[int, list[int]] = field(default_factory=dict)
    episode_at: dict[tuple[int, int, int], list[int]] = field(default_factory=dict)
    series_ids: dict[tuple[str, int | str], list[int]] = field(default_factory=dict)
    series_by_key: dict[str, list[int]] = field(default_factory=dict)
    series_key: dict[int, str | None] = field(default_factory=dict)

    def present(self, kind: str, ids: Iterable[int]) -> list[ItemRef]:
        """The refs of ``ids`` of one kind, sorted."""
        return sorted({(kind, i) for i in ids})


@dataclass(frozen=True)
class Resolution:
    """What one rating key maps to: a winner, a conflict over several items, or nothing."""

    rating_key: str
    plex_type: str
    guid: str | None
    status: str
    items: tuple[ItemRef, ...]
    step: str | None = None
    reason: str | None = None
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    """One step's candidates (and its own conflict, if it has one)."""

    found: tuple[ItemRef, ...] = ()
    conflict: str | None = None
    seen: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PlexIds:
    """External ids parsed from Plex guids (``tmdb://1``, legacy agent guids too)."""

    tmdb: tuple[int, ...] = ()
    imdb: tuple[str, ...] = ()
    tvdb: tuple[int, ...] = ()
    raw: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.tmdb or self.imdb or self.tvdb)


def parse_guids(guids: Iterable[str | None]) -> PlexIds:
    """``imdb://tt1``, ``tmdb://2``, ``tvdb://3`` and ``com.plexapp.agents.imdb://tt1?lang=en``."""
    found: dict[str, list[Any]] = {"tmdb": [], "imdb": [], "tvdb": []}
    raw: list[str] = []
    for guid in guids:
        if not guid or "://" not in guid:
            continue
        scheme, _, rest = guid.partition("://")
        source = _LEGACY.get(scheme.rsplit(".", 1)[-1].lower())
        value = rest.split("?", 1)[0].split("/", 1)[0].strip()
        if source is None or not value:
            continue
        if source == "imdb":
            if value.startswith("tt"):
                found["imdb"].append(value)
        elif value.isdigit():
            found[source].append(int(value))
        else:
            continue
        raw.append(f"{source}://{value}")
    return PlexIds(
        tuple(sorted(set(found["tmdb"]))),
        tuple(sorted(set(found["imdb"]))),
        tuple(sorted(set(found["tvdb"]))),
        tuple(sorted(set(raw))),
    )


def _refs(refs: Iterable[ItemRef]) -> list[str]:
    """Sorted ``kind:id`` texts for diagnostics."""
    return [ref_text(r) for r in sorted(set(refs))]


# --- the steps -------------------------------------------------------------------------------


def path_step(meta: PlexMetadata, inv: Inventory, paths: Sequence[str]) -> StepResult:
    """Media files whose canonical path equals one of the Plex item's canonical paths."""
    refs = sorted({ref for path in paths for ref in inv.by_path.get(path, ())})
    seen: dict[str, Any] = {"canonical_paths": sorted(set(paths)), "candidates": _refs(refs)}
    if not refs:
        return StepResult((), None, seen)
    if any(kind != meta.media_type for kind, _ in refs):
        seen["plex_type"] = meta.media_type
        return StepResult(tuple(refs), "type_mismatch", seen)
    if len(refs) > 1 and meta.media_type == "episode":
        # A multi-episode file is one path for several episodes: Plex's numbers pick one.
        wanted = (meta.parent_media_index, meta.media_index)
        narrowed = [r for r in refs if (inv.items[r].season, inv.items[r].number) == wanted]
        seen["narrowed_by_numbers"] = _refs(narrowed)
        if len(narrowed) == 1:
            return StepResult(tuple(narrowed), None, seen)
    if len(refs) > 1:
        return StepResult(tuple(refs), "multiple_path_candidates", seen)
    return StepResult(tuple(refs), None, seen)


def ids_step(meta: PlexMetadata, inv: Inventory) -> StepResult:
    """Movies by tmdb/imdb id; episodes by their own tvdb id (from the item's guids)."""
    if meta.media_type == "movie":
        ids = parse_guids([*meta.guids, meta.guid])
        movie_ids = [m for t in ids.tmdb for m in inv.movie_tmdb.get(t, ())]
        movie_ids += [m for i in ids.imdb for m in inv.movie_imdb.get(i, ())]
        refs = inv.present("movie", movie_ids)
    else:  # a legacy episode guid names the show, not the episode: only ``guids`` count
        ids = parse_guids(meta.guids)
        episode_ids = [e for t in ids.tvdb for e in inv.episode_tvdb.get(t, ())]
        refs = inv.present("episode", episode_ids)
    seen = {"ids": list(ids.raw), "candidates": _refs(refs)}
    conflict = "multiple_external_id_candidates" if len(refs) > 1 else None
    return StepResult(tuple(refs), conflict, seen)


def structure_step(meta: PlexMetadata, inv: Inventory, show_ids: PlexIds) -> StepResult:
    """An episode by its show (rating key or show ids), then season and episode numbers."""
    show_key = meta.grandparent_rating_key
    by_key = set(inv.series_by_key.get(show_key or "", ()))
    by_ids = set(series_for_ids(inv, show_ids))
    season, number = meta.parent_media_index, meta.media_index
    seen: dict[str, Any] = {
        "show_rating_key": show_key,
        "show_ids": list(show_ids.raw),
        "series_by_rating_key": sorted(by_key),
        "series_by_ids": sorted(by_ids),
        "season": season,
        "episode": number,
    }
    if by_key and by_ids and not by_key & by_ids:
        refs = _episodes_at(inv, by_key | by_ids, season, number)
        seen["candidates"] = _refs(refs)
        return StepResult(tuple(refs), "strong_signal_disagreement", seen)
    series = (by_key & by_ids) or by_key or by_ids
    refs = _episodes_at(inv, series, season, number)
    seen["candidates"] = _refs(refs)
    conflict = "multiple_external_id_candidates" if len(refs) > 1 else None
    return StepResult(tuple(refs), conflict, seen)


def _episodes_at(
    inv: Inventory, series: Iterable[int], season: int | None, number: int | None
) -> list[ItemRef]:
    """Present episodes of ``series`` with those season and episode numbers."""
    if season is None or number is None:
        return []
    ids = [e for s in series for e in inv.episode_at.get((s, season, number), ())]
    return inv.present("episode", ids)


def title_year_step(meta: PlexMetadata, inv: Inventory) -> StepResult:
    """Movies with the same normalised title and year whose own ids do not contradict Plex's."""
    title = normalize_title(meta.title)
    ids = parse_guids([*meta.guids, meta.guid])
    found = []
    if title and meta.year is not None:
        found = inv.movie_title_year.get((title, meta.year), [])
    kept = [m for m in found if not _contradicts(inv.movie_ids.get(m, (None, None)), ids)]
    refs = inv.present("movie", kept)
    seen = {"title": meta.title, "year": meta.year, "candidates": _refs(refs)}
    if len(kept) < len(found):
        seen["other_ids"] = _refs(inv.present("movie", set(found) - set(kept)))
    return StepResult(tuple(refs), None, seen)


def _contradicts(movie: tuple[int | None, str | None], ids: PlexIds) -> bool:
    """The movie's tmdb or imdb id is known on both sides and differs: another film."""
    tmdb, imdb = movie
    return bool(
        (tmdb is not None and ids.tmdb and tmdb not in ids.tmdb)
        or (imdb and ids.imdb and imdb not in ids.imdb)
    )


# --- one rating key --------------------------------------------------------------------------


def episode_show_ids(meta: PlexMetadata, show: PlexMetadata | None = None) -> PlexIds:
    """The show's ids of an episode: its ``grandparent_guids``, the show's own, or a legacy guid."""
    guids = list(meta.grandparent_guids) + (list(show.guids) if show else [])
    legacy = re.match(r"com\.plexapp\.agents\.thetvdb://(\d+)/", meta.guid or "")
    if legacy:
        guids.append(f"tvdb://{legacy.group(1)}")
    return parse_guids(guids)


def resolve(
    meta: PlexMetadata,
    inv: Inventory,
    paths: Sequence[str],
    *,
    external: bool,
    show_ids: PlexIds | None = None,
) -> Resolution:
    """Map one Plex movie or episode: first unique winner of the strict order, or a conflict."""
    steps = {"path": path_step(meta, inv, paths), "external_ids": ids_step(meta, inv)}
    if meta.media_type == "episode":
        steps["tv_structure"] = structure_step(meta, inv, show_ids or PlexIds())
    if external:
        steps["path"].seen["external"] = True
    for name, result in steps.items():
        if result.conflict:
            return _resolution(meta, steps, AMBIGUOUS, result.found, name, result.conflict)
        if not result.found:
            continue
        chosen = result.found[0]
        others = [r.found for n, r in steps.items() if n != name and r.found]
        against = {ref for found in others if chosen not in found for ref in found}
        if against:
            items = tuple(sorted({chosen, *against}))
            return _resolution(meta, steps, AMBIGUOUS, items, name, "strong_signal_disagreement")
        status = EXTERNAL if external else STEP_STATUS[name]
        return _resolution(meta, steps, status, (chosen,), name)
    if meta.media_type == "movie":
        steps["title_year"] = title_year_step(meta, inv)
        found = steps["title_year"].found
        if len(found) == 1:
            status = EXTERNAL if external else PROVISIONAL
            return _resolution(meta, steps, status, found, "title_year")
    return _resolution(meta, steps, EXTERNAL if external else UNRESOLVED, (), None)


def _resolution(
    meta: PlexMetadata,
    steps: dict[str, StepResult],
    status: str,
    items: tuple[ItemRef, ...],
    step: str | None,
    reason: str | None = None,
) -> Resolution:
    """A resolution with its diagnostics: the winner or conflict, and what each step saw."""
    diagnostics: dict[str, Any] = {
        "rating_key": meta.rating_key,
        "plex_type": meta.media_type,
        "plex_guid": meta.guid,
        "plex_title": meta.title,
        "plex_year": meta.year,
        "step": None if reason else step,
        "reason": reason,
        "steps": {name: dict(result.seen) for name, result in steps.items()},
    }
    if reason:
        diagnostics["conflict_step"] = step
        diagnostics["candidates"] = _refs(items)
    if meta.media_type == "episode":
        diagnostics["plex_show"] = meta.grandparent_title
    return Resolution(
        meta.rating_key, meta.media_type, meta.guid, status, items, step, reason, diagnostics
    )


def resolve_show(meta: PlexMetadata, inv: Inventory) -> list[int]:
    """Series whose external ids a Plex show carries (used to record the show's rating key)."""
    return series_for_ids(inv, parse_guids([*meta.guids, meta.guid]))


def series_for_ids(inv: Inventory, ids: PlexIds) -> list[int]:
    """Series matching any of a show's tvdb, tmdb or imdb ids."""
    pairs = [("tvdb", v) for v in ids.tvdb] + [("tmdb", v) for v in ids.tmdb]
    pairs += [("imdb", v) for v in ids.imdb]
    return sorted({s for pair in pairs for s in inv.series_ids.get(pair, ())})
