"""Canonical paths (SPEC §5.5): one integration's path mappings, and managed/external roots.

Every upstream path is normalised first (``cullarrd.paths.normalize_path``). The canonical path
applies the integration's *longest* enabled mapping whose ``from`` prefix covers the path on a
segment boundary (``/tv`` maps ``/tv/x``, never ``/tvx``); a path no mapping covers stays as it
is, normalised. Two mappings with the same ``from`` cannot both win: the first in config order
does, so the result never depends on set ordering.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from cullarrd.paths import is_under, normalize_path

PathClass = Literal["managed", "external"]


class PathMapper:
    """Maps one integration's upstream paths to canonical paths (longest prefix wins)."""

    def __init__(self, mappings: Iterable[tuple[str, str]] = ()) -> None:
        pairs = [(normalize_path(src), normalize_path(dst)) for src, dst in mappings]
        # Of two prefixes that both cover a path the longer text is the deeper one; the sort is
        # stable, so among equal lengths the config order decides.
        self.mappings: tuple[tuple[str, str], ...] = tuple(
            sorted(pairs, key=lambda pair: -len(pair[0]))
        )

    @classmethod
    def from_config(cls, integration: Any) -> PathMapper:
        """The mapper of an ``IntegrationConfig`` (only its enabled ``path_mappings``)."""
        return cls(
            (m.from_prefix, m.to_prefix)
            for m in getattr(integration, "path_mappings", ())
            if m.enabled
        )

    def canonical(self, path: str) -> str:
        """``path`` normalised, with the longest matching mapping applied."""
        normal = normalize_path(path)
        for src, dst in self.mappings:
            if is_under(normal, src):
                rest = normal[len(src) :].lstrip("/")
                return normalize_path(f"{dst}/{rest}") if rest else dst
        return normal

    def __repr__(self) -> str:
        return f"PathMapper({list(self.mappings)!r})"


def classify(path_canonical: str, managed_roots: Iterable[str]) -> PathClass:
    """``managed`` when the canonical path lies under a managed root, else ``external``.

    With no roots configured nothing is *known* to be outside what the daemon manages, so every
    path is ``managed``: "external" is a positive claim that would let a caller stop looking
    (fail closed).
    """
    roots = [normalize_path(root) for root in managed_roots]
    if not roots:
        return "managed"
    normal = normalize_path(path_canonical)
    return "managed" if any(is_under(normal, root) for root in roots) else "external"
