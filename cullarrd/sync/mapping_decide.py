"""Turn this run's resolutions into per-item mapping changes, failing closed (SPEC §5.6).

One item can be claimed by several rating keys (Plex holding two items for one movie, an item
already mapped to another key). The rules, in order:

- an item in a conflict leaves it only when every rating key the conflict involved was looked at
  again in this run (an unknown answer never upgrades anything);
- any conflicting claim makes the item ``ambiguous_conflict`` with that claim's reason;
- one claiming key maps the item; a mapped item whose key now points elsewhere is released;
- a second key for an item that already has one is a ``plex_rating_key_conflict``, unless the
  item's own key could not be checked (Plex did not answer for it) and the new evidence is a path
  match, which replaces a mapping that can no longer be confirmed;
- an item whose key could not be checked and that nothing new claims stays exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cullarrd.sync.mapping_rules import (
    AMBIGUOUS,
    ATTRIBUTABLE,
    REASONS,
    UNRESOLVED,
    ItemRef,
    Resolution,
    key_order,
    ref_text,
)

STRENGTH = ("path", "external_ids", "tv_structure", "title_year")  # strongest evidence first


@dataclass(frozen=True)
class ItemState:
    """The stored mapping columns of one movie or episode."""

    ref: ItemRef
    rating_key: str | None
    guid: str | None
    status: str
    diagnostics: dict[str, Any] | None

    def involved_keys(self) -> set[str]:
        """Its own rating key and, for a conflict, every key the conflict involved."""
        keys = {self.rating_key} if self.rating_key else set()
        if self.status == AMBIGUOUS and isinstance(self.diagnostics, dict):
            listed = self.diagnostics.get("rating_keys") or []
            keys |= {k for k in listed if isinstance(k, str) and k}
        return keys


@dataclass(frozen=True)
class Change:
    """New mapping columns for one item (only built when they differ from the stored ones)."""

    ref: ItemRef
    rating_key: str | None
    guid: str | None
    status: str
    diagnostics: dict[str, Any] | None


def decide(
    item: ItemState, claims: Iterable[Resolution], fresh: Mapping[str, Resolution | None]
) -> Change | None:
    """The item's new mapping given this run's claims on it; None when nothing changes."""
    claims = sorted(claims, key=lambda c: key_order(c.rating_key))
    unknown = {k for k in item.involved_keys() if fresh.get(k) is None}
    if item.status == AMBIGUOUS and unknown:
        return None
    sticky = item.rating_key if item.status in ATTRIBUTABLE and item.rating_key in unknown else None
    conflicts = [c for c in claims if c.status == AMBIGUOUS]
    valid = [c for c in claims if c.status != AMBIGUOUS]
    if conflicts:
        base = min(conflicts, key=lambda c: REASONS.index(c.reason or REASONS[-1]))
        change = _ambiguous(item, base.reason or REASONS[-1], base, claims, sticky)
    elif not valid:
        own = fresh.get(item.rating_key or "")
        change = _released(item, own) if own is not None else None
    elif sticky is None and len(valid) == 1:
        change = _mapped(item, valid[0])
    elif sticky is not None and len(valid) == 1 and valid[0].step == "path":
        change = _mapped(item, valid[0], replaced=sticky)
    else:
        strongest = min(valid, key=lambda c: STRENGTH.index(c.step or "title_year"))
        change = _ambiguous(item, "plex_rating_key_conflict", strongest, claims, sticky)
    return None if change is None or _same(item, change) else change


def _same(item: ItemState, change: Change) -> bool:
    """Whether the change would write exactly what is stored."""
    return (item.rating_key, item.guid, item.status, item.diagnostics) == (
        change.rating_key,
        change.guid,
        change.status,
        change.diagnostics,
    )


def _mapped(item: ItemState, claim: Resolution, *, replaced: str | None = None) -> Change:
    """The item mapped by one claim (recording a key it replaces)."""
    diagnostics = dict(claim.diagnostics)
    if replaced:
        diagnostics["replaced_rating_key"] = replaced
    return Change(item.ref, claim.rating_key, claim.guid, claim.status, diagnostics)


def _ambiguous(
    item: ItemState,
    reason: str,
    base: Resolution,
    claims: list[Resolution],
    sticky: str | None,
) -> Change:
    """A conflict: the item keeps its own key if involved, else the one key claiming it cleanly."""
    keys = {c.rating_key for c in claims} | ({sticky} if sticky else set())
    clean = [c for c in claims if c.status != AMBIGUOUS]
    chosen = clean[0] if len(clean) == 1 else base
    keep = item.rating_key if item.rating_key in keys else chosen.rating_key
    guid = item.guid if keep == item.rating_key else chosen.guid
    diagnostics = dict(base.diagnostics)
    diagnostics.update(step=None, reason=reason, rating_keys=sorted(keys, key=key_order))
    if len(keys) > 1:
        entries = [_claim_entry(c) for c in claims]
        if sticky:
            entries.append({"rating_key": sticky, "status": item.status, "unchecked": True})
        diagnostics["claims"] = entries
    return Change(item.ref, keep, guid, AMBIGUOUS, diagnostics)


def _claim_entry(claim: Resolution) -> dict[str, Any]:
    """One claim as the diagnostics list it."""
    return {
        "rating_key": claim.rating_key,
        "status": claim.status,
        "step": claim.step,
        "reason": claim.reason,
        "items": [ref_text(r) for r in claim.items],
    }


def _released(item: ItemState, own: Resolution) -> Change | None:
    """The item's key was looked at again and no longer points at it: it becomes unresolved."""
    if item.rating_key is None:
        return None
    diagnostics = {
        "rating_key": None,
        "step": None,
        "reason": None,
        "released_from": item.rating_key,
        "released_because": _claim_entry(own),
        "steps": own.diagnostics.get("steps", {}),
    }
    return Change(item.ref, None, None, UNRESOLVED, diagnostics)
