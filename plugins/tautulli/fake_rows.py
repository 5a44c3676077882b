"""How the fake Tautulli renders history rows and the columns built from them.

A real Tautulli keeps what it learned about an item when it was played (titles, year, guid), so
a row still has them after Plex dropped the item; ``played`` makes them up for such rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cullarrd_plugins.fakelib.model import HistoryRow, Library, PlexItem

USER_THUMB = "interfaces/default/images/gravatar-default-80x80.png"
TRANSCODE_DECISIONS = ("direct play", "copy", "transcode")


def human_duration(seconds: int) -> str:
    """Tautulli's human duration string ("5 hrs 35 mins", "0")."""
    if seconds <= 0:
        return "0"
    days, rest = divmod(int(seconds), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    parts = []
    for value, unit in ((days, "day"), (hours, "hr"), (minutes, "min")):
        if value or (unit == "min" and not parts):
            parts.append(f"{value} {unit}{'' if value == 1 else 's'}")
    return " ".join(parts)


def int_key(rating_key: str | None) -> int | str | None:
    """A rating key as Tautulli's database hands it out (an int)."""
    if rating_key is None:
        return None
    return int(rating_key) if rating_key.isdigit() else rating_key


def sortable(value: Any) -> tuple[int, Any]:
    """A sort key that puts nulls first and compares text case-insensitively."""
    if value is None:
        return (0, 0)
    return (1, value.lower()) if isinstance(value, str) else (1, value)


def full_title(item: PlexItem | None) -> str:
    """Tautulli's ``full_title``: "Show - Episode" for episodes, the title otherwise."""
    if item is None:
        return ""
    if item.media_type == "episode":
        return f"{item.grandparent_title} - {item.title}"
    return item.title


def split_values(value: str | None) -> list[str]:
    """A comma-separated parameter as a list of its non-empty values."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def transcode_decision(row: HistoryRow) -> str:
    """A stable stream decision per row (the model does not carry one)."""
    return TRANSCODE_DECISIONS[row.row_id % len(TRANSCODE_DECISIONS)]


@dataclass(frozen=True)
class Played:
    """What Tautulli stored about the item of a play (it outlives the item in Plex)."""

    title: str
    parent_title: str
    grandparent_title: str
    year: int
    media_index: int | None
    parent_media_index: int | None
    parent_rating_key: int | str | None
    grandparent_rating_key: int | str | None
    thumb: str
    guid: str

    @property
    def full_title(self) -> str:
        return f"{self.grandparent_title} - {self.title}" if self.grandparent_title else self.title

    @property
    def originally_available_at(self) -> str:
        return f"{self.year}-01-01"


def played(row: HistoryRow, library: Library) -> Played:
    """The stored metadata of a row's item; made up for items Plex no longer has."""
    item = library.plex_items.get(row.rating_key)
    if item is None:
        number = int(row.rating_key) if row.rating_key.isdigit() else row.row_id
        return Played(
            title=f"Removed {row.media_type} {row.rating_key}",
            parent_title="",
            grandparent_title="Removed show" if row.media_type == "episode" else "",
            year=2000 + number % 25,
            media_index=None,
            parent_media_index=None,
            parent_rating_key=None,
            grandparent_rating_key=None,
            thumb=f"/library/metadata/{row.rating_key}/thumb/1",
            guid=f"plex://{row.media_type}/{number:024x}",
        )
    episode = item.media_type == "episode"
    show = library.plex_items.get(item.grandparent_rating_key or "")
    thumb_key = item.parent_rating_key if episode else item.rating_key
    return Played(
        title=item.title,
        parent_title=item.parent_title if episode else "",
        grandparent_title=item.grandparent_title if episode else "",
        year=item.year or (show.year if show else None) or 2000,
        media_index=item.media_index if episode else None,
        parent_media_index=item.parent_media_index if episode else None,
        parent_rating_key=int_key(item.parent_rating_key) if episode else None,
        grandparent_rating_key=int_key(item.grandparent_rating_key) if episode else None,
        thumb=f"/library/metadata/{thumb_key}/thumb/1",
        guid=item.guid,
    )


def last_play_fields(row: HistoryRow | None, library: Library) -> dict[str, Any]:
    """The "last played" columns of the users and libraries tables (all null without plays)."""
    if row is None:
        keys = ("last_played", "rating_key", "media_type", "thumb", "parent_title", "year")
        keys += ("media_index", "parent_media_index", "live", "originally_available_at", "guid")
        return dict.fromkeys(keys)
    item = played(row, library)
    return {
        "last_played": item.full_title,
        "rating_key": int_key(row.rating_key),
        "media_type": row.media_type,
        "thumb": item.thumb,
        "parent_title": item.parent_title,
        "year": item.year,
        "media_index": item.media_index,
        "parent_media_index": item.parent_media_index,
        "live": 0,
        "originally_available_at": item.originally_available_at,
        "guid": item.guid,
    }


def render_row(row: HistoryRow, library: Library) -> dict[str, Any]:
    """One ``get_history`` row with the full key set a real Tautulli v2.17.2 answers."""
    item = played(row, library)
    user = library.plex_users.get(row.user_id)
    return {
        "reference_id": row.row_id,
        "row_id": row.row_id,
        "id": row.row_id,
        "date": row.started,
        "started": row.started,
        "stopped": row.stopped,
        "duration": row.play_duration,
        "play_duration": row.play_duration,
        "paused_counter": row.paused_counter,
        "user_id": row.user_id,
        "user": user.username if user else "",
        "friendly_name": user.friendly_name if user else "",
        "user_thumb": USER_THUMB,
        "platform": row.platform,
        "product": row.product,
        "player": row.player,
        "ip_address": row.ip_address,
        "live": 0,
        "machine_id": f"machine-{row.user_id}-{row.player.lower().replace(' ', '-')}",
        "location": "lan" if row.ip_address.startswith(("192.168.", "127.", "10.")) else "wan",
        "secure": 1,
        "relayed": 0,
        "media_type": row.media_type,
        "rating_key": int_key(row.rating_key),
        "parent_rating_key": item.parent_rating_key,
        "grandparent_rating_key": item.grandparent_rating_key,
        "full_title": item.full_title,
        "title": item.title,
        "parent_title": item.parent_title,
        "grandparent_title": item.grandparent_title,
        "original_title": "",
        "year": item.year,
        "media_index": item.media_index,
        "parent_media_index": item.parent_media_index,
        "thumb": item.thumb,
        "originally_available_at": item.originally_available_at,
        "guid": item.guid,
        "transcode_decision": transcode_decision(row),
        "percent_complete": row.percent_complete,
        "watched_status": json_number(row.watched_status),
        "group_count": 1,
        "group_ids": str(row.row_id),
        "state": None,
        "session_key": None,
    }


def json_number(value: float) -> int | float:
    """Whole numbers as JSON ints (Tautulli answers ``1``/``0``, and ``0.25`` as a float)."""
    return int(value) if float(value).is_integer() else float(value)
