"""Tautulli's loose value types: numbers that may be strings, "" meaning "no value"."""

from __future__ import annotations

import math
from typing import Any


def parse_int(value: Any) -> int | None:
    """An int from a JSON number or a numeric string; None for null or ""; ValueError else."""
    if value is None or value == "":
        return None
    number = parse_float(value)
    if number is None or not number.is_integer():
        raise ValueError(value)
    if isinstance(value, int):
        return value  # keeps ints beyond float precision exact
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return int(number)


def parse_float(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; None for null or ""."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    number = float(value)  # ValueError for text that is not a number
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def rating_key_text(value: Any) -> str | None:
    """A rating key as a string (Tautulli sends ints from its DB, strings from Plex)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    return str(value)


def text_or_none(value: Any) -> str | None:
    """A text field; Tautulli's "" (no value) becomes None."""
    if value is None or value == "":
        return None
    return str(value)
