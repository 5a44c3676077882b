"""The fake Tautulli's Plex side: sections, ``get_metadata``, libraries and media info.

Plex-backed answers carry numbers as strings, as a real Tautulli relays them from Plex XML;
DB-backed ones (``get_library_names``, ``get_libraries_table``) carry ints.
``get_library_media_info`` reads a per-section cache that is filled the first time Plex is
asked, like Tautulli's ``media_info_<section_id>.json``: with Plex down, a cached section still
answers and an uncached one gives Tautulli's empty default (``draw: 0``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cullarrd_plugins.fakelib.model import Library, PlexItem, PlexSection
from cullarrd_plugins.tautulli.fake_history import Aggregate, HistoryIndex
from cullarrd_plugins.tautulli.fake_metadata import metadata, sort_title, text
from cullarrd_plugins.tautulli.fake_rows import int_key, last_play_fields, sortable

SERVER_ID = "fakepmsidentifier0000000000000000000000"
AGENTS = {"movie": "tv.plex.agents.movie", "show": "tv.plex.agents.series"}
TOP_LEVEL = {"movie": "movie", "show": "show"}
CAST_TO_INT = ("file_size", "bitrate", "added_at", "last_played", "play_count")
EMPTY_MEDIA_INFO = {
    "recordsFiltered": 0,
    "recordsTotal": 0,
    "draw": 0,
    "data": [],
    "filtered_file_size": 0,
    "total_file_size": 0,
    "last_refreshed": None,
}


def cast_to_int(value: Any) -> int:
    """Tautulli's ``helpers.cast_to_int``: 0 for anything that is not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@dataclass
class CachedSection:
    """One media-info cache file: when it was written and its rows (without play counts)."""

    written_at: int
    rows: list[dict[str, Any]]
    sorted_rows: dict[tuple[str, bool, bool], list[dict[str, Any]]] = field(default_factory=dict)


class PlexSide:
    """Indexes of the Plex items and the answers built from them."""

    def __init__(self, library: Library, history: HistoryIndex) -> None:
        self.library = library
        self.history = history
        self.children: dict[str, list[PlexItem]] = {}
        self.top_level: dict[int, list[PlexItem]] = {}
        for item in sorted(library.plex_items.values(), key=lambda i: int_key(i.rating_key) or 0):
            if item.parent_rating_key is not None:
                self.children.setdefault(item.parent_rating_key, []).append(item)
            section = library.plex_sections.get(item.section_id)
            if section is not None and TOP_LEVEL.get(section.section_type) == item.media_type:
                self.top_level.setdefault(item.section_id, []).append(item)
        self.cache: dict[tuple[int, str | None], CachedSection] = {}

    def sections(self) -> list[PlexSection]:
        return sorted(self.library.plex_sections.values(), key=lambda s: s.section_id)

    def counts(self, section: PlexSection) -> tuple[int, int | None, int | None]:
        """(count, parent_count, child_count) of a section, as Tautulli stores them."""
        items = self.top_level.get(section.section_id, [])
        if section.section_type != "show":
            return len(items), None, None
        seasons = [s for show in items for s in self.children.get(show.rating_key, [])]
        episodes = sum(len(self.children.get(s.rating_key, [])) for s in seasons)
        return len(items), len(seasons), episodes

    def size(self, item: PlexItem) -> int:
        """Bytes of an item's files, or of all its descendants' files."""
        own = sum(size for _, size in item.files)
        return own + sum(self.size(child) for child in self.children.get(item.rating_key, []))

    def metadata(self, rating_key: str | None) -> dict[str, Any]:
        """``get_metadata``: ``{}`` for an unknown key (the caller handles Plex being down)."""
        return metadata(self.library, self.children, rating_key)

    # --- libraries ---------------------------------------------------------------------------

    def libraries(self) -> list[dict[str, Any]]:
        """``get_libraries`` with Plex up (strings for numbers, as Plex sends them)."""
        found = []
        for section in self.sections():
            count, parents, children = self.counts(section)
            row = {
                "section_id": text(section.section_id),
                "section_name": section.name,
                "section_type": section.section_type,
                "agent": AGENTS.get(section.section_type, ""),
                "thumb": f"/:/resources/{section.section_type}.png",
                "art": f"/:/resources/{section.section_type}-fanart.jpg",
                "count": text(count),
                "is_active": 1,
            }
            if section.section_type == "show":
                row.update(parent_count=text(parents), child_count=text(children))
            found.append(row)
        return found

    def library_names(self) -> list[dict[str, Any]]:
        """``get_library_names`` from Tautulli's database (works without Plex)."""
        return [
            {
                "section_id": s.section_id,
                "section_name": s.name,
                "section_type": s.section_type,
                "agent": AGENTS.get(s.section_type, ""),
            }
            for s in sorted(self.sections(), key=lambda s: s.name.lower())
        ]

    def library_row(self, section_id: str | None) -> dict[str, Any]:
        """``get_library``: one section's database row (``{}`` when unknown)."""
        section = self.library.plex_sections.get(cast_to_int(section_id))
        if section is None:
            return {}
        row = self._section_row(section)
        keys = ("row_id", "server_id", "section_id", "section_name", "section_type")
        head = {k: row[k] for k in keys}
        head.update(library_thumb=row["library_thumb"], library_art=row["library_art"])
        head.update({k: row[k] for k in ("count", "parent_count", "child_count", "is_active")})
        head.update(do_notify=1, do_notify_created=1, keep_history=1, deleted_section=0)
        head["last_accessed"] = None  # a column live sessions fill; observed null
        return head

    def libraries_table(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``get_libraries_table``: DataTables paging over the sections with play stats."""
        rows = [self._section_row(s) for s in self.sections()]
        search = (params.get("search") or "").lower()
        found = [r for r in rows if search in r["section_name"].lower()] if search else rows
        column = params.get("order_column") or "section_name"
        if not rows or column not in rows[0]:
            column = "section_name"
        descending = (params.get("order_dir") or "desc") != "asc"
        found = sorted(found, key=lambda r: sortable(r.get(column)), reverse=descending)
        start, length = int(params.get("start") or 0), int(params.get("length") or 25)
        return {
            "recordsFiltered": len(found),
            "recordsTotal": len(rows),
            "data": found[start : start + length],
            "draw": 1,
        }

    def _section_row(self, section: PlexSection) -> dict[str, Any]:
        count, parents, children = self.counts(section)
        stats = self.history.aggregate("section_id", section.section_id)
        last = stats.last if stats else None
        played = last_play_fields(last, self.library)
        return {
            "row_id": section.section_id,
            "server_id": SERVER_ID,
            "section_id": section.section_id,
            "section_name": section.name,
            "section_type": section.section_type,
            "count": count,
            "parent_count": parents,
            "child_count": children,
            "library_thumb": f"/:/resources/{section.section_type}.png",
            "library_art": f"/:/resources/{section.section_type}-fanart.jpg",
            "plays": stats.plays if stats else 0,
            "duration": stats.seconds if stats else 0,
            "last_accessed": last.started if last else None,
            "history_row_id": last.row_id if last else None,
            **{k: played[k] for k in list(played)[:8]},
            "content_rating": None
            if last is None
            else "TV-14"
            if section.section_type == "show"
            else "R",
            "labels": [],
            **{k: played[k] for k in list(played)[8:]},
            "do_notify": 1,
            "do_notify_created": 1,
            "keep_history": 1,
            "is_active": 1,
        }

    # --- get_library_media_info --------------------------------------------------------------

    def media_info(self, params: Mapping[str, str], plex_down: bool) -> dict[str, Any]:
        """``get_library_media_info`` from the cache, asking "Plex" when there is none."""
        section_id, rating_key = params.get("section_id"), params.get("rating_key") or None
        section = self.library.plex_sections.get(cast_to_int(section_id))
        if section is None or (rating_key is not None and not rating_key.isdigit()):
            return dict(EMPTY_MEDIA_INFO)
        scope = (section.section_id, rating_key)
        cached = self.cache.get(scope)
        refresh = (params.get("refresh") or "").lower() == "true"
        last_refreshed = cached.written_at if cached else None
        if cached is None or refresh:
            if plex_down:
                return (
                    dict(EMPTY_MEDIA_INFO)
                    if cached is None
                    else self._page(cached, section, params, rating_key, last_refreshed)
                )
            items = (
                self.children.get(rating_key, [])
                if rating_key
                else self.top_level.get(section.section_id, [])
            )
            if not items:
                return dict(EMPTY_MEDIA_INFO)
            cached = CachedSection(int(time.time()), [self._media_row(i, section) for i in items])
            self.cache[scope] = cached
        return self._page(cached, section, params, rating_key, last_refreshed)

    def drop_cache(self, section_id: str | None) -> bool:
        """``delete_media_info_cache``: forget a section's cache files."""
        wanted = cast_to_int(section_id)
        for scope in [s for s in self.cache if s[0] == wanted]:
            del self.cache[scope]
        return wanted in self.library.plex_sections

    def _media_row(self, item: PlexItem, section: PlexSection) -> dict[str, Any]:
        added = text(int(item.added_at.timestamp()))
        has_media = bool(item.files)
        size = self.size(item)
        return {
            "section_id": section.section_id,
            "section_type": section.section_type,
            "added_at": added,
            "media_type": item.media_type,
            "rating_key": item.rating_key,
            "parent_rating_key": text(item.parent_rating_key),
            "grandparent_rating_key": text(item.grandparent_rating_key),
            "title": item.title,
            "sort_title": sort_title(item.title),
            "year": text(item.year),
            "media_index": text(item.media_index),
            "parent_media_index": text(item.parent_media_index),
            "thumb": f"/library/metadata/{item.rating_key}/thumb/{added}",
            "container": "mkv" if has_media else "",
            "bitrate": "10000" if has_media else "",
            "video_codec": "h264" if has_media else "",
            "video_resolution": "1080" if has_media else "",
            "video_framerate": "24p" if has_media else "",
            "audio_codec": "aac" if has_media else "",
            "audio_channels": "6" if has_media else "",
            "file_size": size if size else "",
        }

    def _page(
        self,
        cached: CachedSection,
        section: PlexSection,
        params: Mapping[str, str],
        rating_key: str | None,
        last_refreshed: int | None,
    ) -> dict[str, Any]:
        kind = params.get("section_type") or section.section_type
        group = {"show": "grandparent_rating_key", "season": "parent_rating_key"}.get(
            kind.replace("artist", "show").replace("album", "season"), "rating_key"
        )

        def stats(rating_key: str) -> Aggregate | None:
            return self.history.aggregate(group, rating_key)

        column = params.get("order_column") or "sort_title"
        column = "sort_title" if column == "title" else column
        order = (column, (params.get("order_dir") or "desc") != "asc", rating_key is not None)
        search = (params.get("search") or "").lower()
        rows = cached.rows
        if search:
            rows = [r for r in rows if search in r["title"].lower()]
        if column in ("last_played", "play_count"):
            rows = _sorted_media([_with_plays(r, stats) for r in rows], *order)
        elif search:
            rows = _sorted_media(rows, *order)
        else:  # the unfiltered order only changes when the cache does
            rows = cached.sorted_rows.get(order)
            if rows is None:
                rows = cached.sorted_rows[order] = _sorted_media(cached.rows, *order)
        start, length = int(params.get("start") or 0), int(params.get("length") or 25)
        page = [_with_plays(r, stats) for r in rows[start : start + length]]
        return {
            "recordsFiltered": len(rows),
            "recordsTotal": len(cached.rows),
            "data": page,
            "draw": 1,
            "filtered_file_size": sum(cast_to_int(r["file_size"]) for r in page),
            "total_file_size": sum(cast_to_int(r["file_size"]) for r in rows),
            "last_refreshed": last_refreshed,
        }


def _with_plays(row: dict[str, Any], stats: Callable[[str], Any]) -> dict[str, Any]:
    found = stats(row["rating_key"])
    last = found.last if found else None
    return {
        **row,
        "last_played": last.started if last else None,
        "play_count": found.plays if found else None,
    }


def _sorted_media(rows: list[dict], column: str, descending: bool, by_index: bool) -> list[dict]:
    """Tautulli's media-info sort: by sort title first, then by the requested column."""
    rows = sorted(rows, key=lambda r: r["sort_title"].lower())
    if column not in (rows[0] if rows else {}):
        return rows
    if by_index and column == "sort_title":
        key: Any = lambda r: cast_to_int(r["media_index"])  # noqa: E731
    elif column in CAST_TO_INT:
        key = lambda r: cast_to_int(r[column])  # noqa: E731
    elif column == "video_resolution":
        key = lambda r: cast_to_int(r[column].replace("4k", "2160p").rstrip("p"))  # noqa: E731
    else:
        key = lambda r: str(r[column]).lower()  # noqa: E731
    return sorted(rows, key=key, reverse=descending)


def _content_rating(section: PlexSection) -> str:
    return "TV-14" if section.section_type == "show" else "R"
