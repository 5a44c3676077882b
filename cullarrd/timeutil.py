"""Time in one representation: naive UTC inside the store, ISO-8601 with ``Z`` at the edges."""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """Now as a naive UTC datetime (second precision), the store's time representation."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def isoformat(value: dt.datetime | str | None) -> str | None:
    """A naive-UTC store datetime as ISO-8601 with ``Z`` (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):  # SQLite may hand back text for computed columns
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0).isoformat() + "Z"


def parse_iso(value: str) -> dt.datetime:
    """ISO-8601 (with ``Z`` or an offset, or naive meaning UTC) to naive UTC."""
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed
