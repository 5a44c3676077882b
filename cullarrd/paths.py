"""Path normalisation and prefix matching on segment boundaries (SPEC §5.5)."""

from __future__ import annotations

import re


def normalize_path(path: str) -> str:
    """Trim, ``\\`` to ``/``, collapse ``//``, drop a trailing ``/`` (not the root); keep case."""
    cleaned = re.sub(r"/{2,}", "/", path.strip().replace("\\", "/"))
    if len(cleaned) > 1:
        cleaned = cleaned.rstrip("/")
    return cleaned


def is_under(path: str, prefix: str) -> bool:
    """True when ``path`` is ``prefix`` or below it (``/data/tv`` covers ``/data/tv/x``, not
    ``/data/tvx``); both must already be normalised."""
    if prefix == "/":
        return path.startswith("/")
    return path == prefix or path.startswith(prefix + "/")
