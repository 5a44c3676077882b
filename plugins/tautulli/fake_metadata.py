"""The fake Tautulli's ``get_metadata``: one Plex item as Tautulli relays it (numbers as text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cullarrd_plugins.fakelib.model import Library, PlexItem


def text(value: Any) -> str:
    """Plex XML's way of sending a value: a string, "" for nothing."""
    return "" if value is None else str(value)


def sort_title(title: str) -> str:
    """Plex's sort title: the title without a leading article."""
    for article in ("The ", "A ", "An "):
        if title.startswith(article) and len(title) > len(article):
            return title[len(article) :]
    return title


def metadata(
    library: Library, children: Mapping[str, list[PlexItem]], rating_key: str | None
) -> dict[str, Any]:
    """``get_metadata``: ``{}`` for an unknown key (the caller handles Plex being down)."""
    item = library.plex_items.get(rating_key or "")
    if item is None:
        return {}
    parent = library.plex_items.get(item.parent_rating_key or "")
    grandparent = library.plex_items.get(item.grandparent_rating_key or "")
    section = library.plex_sections.get(item.section_id)
    added = text(int(item.added_at.timestamp()))
    return {
        "media_type": item.media_type,
        "section_id": text(item.section_id),
        "library_name": section.name if section else "",
        "rating_key": item.rating_key,
        "parent_rating_key": text(item.parent_rating_key),
        "grandparent_rating_key": text(item.grandparent_rating_key),
        "title": item.title,
        "parent_title": item.parent_title,
        "grandparent_title": item.grandparent_title,
        "original_title": "",
        "sort_title": sort_title(item.title),
        "media_index": text(item.media_index),
        "parent_media_index": text(item.parent_media_index),
        "year": text(item.year),
        "duration": text(item.duration_ms),
        "thumb": f"/library/metadata/{item.rating_key}/thumb/{added}",
        "originally_available_at": f"{item.year}-01-01" if item.year else "",
        "added_at": added,
        "updated_at": added,
        "last_viewed_at": "",
        "guid": item.guid,
        "parent_guid": parent.guid if parent else "",
        "grandparent_guid": grandparent.guid if grandparent else "",
        "guids": list(item.guids),
        "parent_guids": list(parent.guids) if parent else [],
        "grandparent_guids": list(grandparent.guids) if grandparent else [],
        "full_title": _full_title(item),
        "children_count": text(len(children.get(item.rating_key, []))),
        "labels": [],
        "collections": [],
        "genres": [],
        "live": 0,
        "media_info": [_media(item, n, path, size) for n, (path, size) in enumerate(item.files)],
    }


def _full_title(item: PlexItem) -> str:
    if item.media_type == "episode":
        return f"{item.grandparent_title} - {item.title}"
    if item.media_type == "season":
        return f"{item.parent_title} - {item.title}"
    return item.title


def _media(item: PlexItem, number: int, path: str, size: int) -> dict[str, Any]:
    media_id = text(int(item.rating_key) * 10 + number if item.rating_key.isdigit() else number)
    return {
        "id": media_id,
        "container": path.rsplit(".", 1)[-1] if "." in path else "mkv",
        "bitrate": "10000",
        "height": "1080",
        "width": "1920",
        "video_codec": "h264",
        "video_resolution": "1080",
        "video_full_resolution": "1080p",
        "video_framerate": "24p",
        "audio_codec": "aac",
        "audio_channels": "6",
        "optimized_version": 0,
        "parts": [
            {"id": media_id, "file": path, "file_size": text(size), "indexes": 0, "selected": 0}
        ],
    }
