"""The fake Tautulli's watch history: indexes built once, answers like ``get_history``.

Rows are kept sorted by ``started`` once (the generator already writes them in that order), with
position lists per user, rating key, parent, grandparent, media type and section, so a page of a
400,000-row history costs a slice, not a sort. Filters intersect those lists; date windows are
bisections. Other sort columns are sorted on demand and cached for the unfiltered case.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cullarrd_plugins.fakelib.model import HistoryRow, Library, PlexItem
from cullarrd_plugins.tautulli.fake_rows import (
    full_title,
    human_duration,
    render_row,
    split_values,
    transcode_decision,
)

HISTORY_ORDER_COLUMNS = {
    "date": lambda r: (r.started, r.row_id),
    "started": lambda r: (r.started, r.row_id),
    "stopped": lambda r: (r.stopped, r.row_id),
    "duration": lambda r: (r.play_duration, r.row_id),
    "paused_counter": lambda r: (r.paused_counter, r.row_id),
    "platform": lambda r: (r.platform.lower(), r.row_id),
    "product": lambda r: (r.product.lower(), r.row_id),
    "player": lambda r: (r.player.lower(), r.row_id),
    "ip_address": lambda r: (r.ip_address, r.row_id),
}


@dataclass(frozen=True)
class Aggregate:
    """Plays, seconds watched and the latest row of one user, section or item."""

    plays: int
    seconds: int
    last: HistoryRow


class HistoryIndex:
    """Sorted history rows plus position indexes; ``rebuild`` after rows are deleted."""

    def __init__(self, library: Library) -> None:
        self.library = library
        self.rebuild()

    def rebuild(self) -> None:
        """(Re)build every index from ``library.history``."""
        rows = sorted(self.library.history, key=lambda r: (r.started, r.row_id))
        self.rows: list[HistoryRow] = rows
        self.starts = [r.started for r in rows]
        self.prefix = list(itertools.accumulate((r.play_duration for r in rows), initial=0))
        self.index: dict[str, dict[str, list[int]]] = {
            "user_id": {},
            "rating_key": {},
            "parent_rating_key": {},
            "grandparent_rating_key": {},
            "media_type": {},
            "section_id": {},
        }
        for position, row in enumerate(rows):
            for field, value in self._indexed_values(row).items():
                if value is not None:
                    self.index[field].setdefault(value, []).append(position)
        self._sorted: dict[str, list[int]] = {}
        self._aggregates: dict[tuple[str, str], Aggregate | None] = {}

    def _indexed_values(self, row: HistoryRow) -> dict[str, str | None]:
        item = self.library.plex_items.get(row.rating_key)
        return {
            "user_id": str(row.user_id),
            "rating_key": row.rating_key,
            "parent_rating_key": item.parent_rating_key if item else None,
            "grandparent_rating_key": item.grandparent_rating_key if item else None,
            "media_type": row.media_type,
            "section_id": str(self.section_of(row, item)),
        }

    def section_of(self, row: HistoryRow, item: PlexItem | None = None) -> int | None:
        """The library section a row belongs to (Tautulli stores it with the row)."""
        item = item or self.library.plex_items.get(row.rating_key)
        if item is not None:
            return item.section_id
        wanted = "movie" if row.media_type == "movie" else "show"
        sections = sorted(self.library.plex_sections.values(), key=lambda s: s.section_id)
        return next((s.section_id for s in sections if s.section_type == wanted), None)

    def delete(self, row_ids: Iterable[int]) -> int:
        """Remove rows by id (``delete_history``); returns how many went."""
        gone = set(row_ids)
        before = len(self.library.history)
        self.library.history[:] = [r for r in self.library.history if r.row_id not in gone]
        removed = before - len(self.library.history)
        if removed:
            self.rebuild()
        return removed

    # --- get_history -------------------------------------------------------------------------

    def candidates(self, params: Mapping[str, str]) -> Sequence[int]:
        """Positions (ascending by date) matching the filters of ``get_history``."""
        found: Sequence[int] = range(len(self.rows))
        keys = {"user_id": params.get("user_id"), "media_type": params.get("media_type")}
        for field in ("rating_key", "parent_rating_key", "grandparent_rating_key", "section_id"):
            keys[field] = params.get(field)
        if not keys["user_id"] and params.get("user"):
            names = set(split_values(params["user"]))
            ids = [str(u.user_id) for u in self.library.plex_users.values() if u.username in names]
            keys["user_id"] = ",".join(ids) or "-1"
        for field, value in keys.items():
            values = split_values(value)
            if field == "media_type" and "all" in values:
                continue
            if values:
                found = _intersect(found, self._union(field, values))
        found = self._date_window(found, params)
        return self._predicates(found, params)

    def _union(self, field: str, values: list[str]) -> list[int]:
        lists = [self.index[field].get(v, []) for v in values]
        return lists[0] if len(lists) == 1 else sorted(set().union(*lists))

    def _date_window(self, found: Sequence[int], params: Mapping[str, str]) -> Sequence[int]:
        lo, hi = 0, len(self.rows)
        if params.get("after"):
            lo = bisect.bisect_left(self.starts, _day_start(params["after"]))
        if params.get("before"):
            hi = bisect.bisect_left(self.starts, _day_start(params["before"]) + 86_400)
        if lo == 0 and hi == len(self.rows):
            return found
        if isinstance(found, range):
            return range(max(lo, found.start), min(hi, found.stop))
        return found[bisect.bisect_left(found, lo) : bisect.bisect_left(found, hi)]

    def _predicates(self, found: Sequence[int], params: Mapping[str, str]) -> Sequence[int]:
        checks: list[Callable[[HistoryRow], bool]] = []
        if params.get("start_date"):
            days = {_day_start(d) for d in split_values(params["start_date"])}
            checks.append(lambda r: r.started - r.started % 86_400 in days)
        if params.get("guid"):
            prefix = params["guid"].split("?")[0]
            items = self.library.plex_items
            checks.append(
                lambda r: r.rating_key in items and items[r.rating_key].guid.startswith(prefix)
            )
        if params.get("reference_id"):
            refs = {int(v) for v in split_values(params["reference_id"])}
            checks.append(lambda r: r.row_id in refs)
        if params.get("transcode_decision"):
            decision = params["transcode_decision"]
            checks.append(lambda r: transcode_decision(r) == decision)
        if params.get("search"):
            checks.append(self._search(params["search"].lower()))
        if not checks:
            return found
        return [p for p in found if all(check(self.rows[p]) for check in checks)]

    def _search(self, text: str) -> Callable[[HistoryRow], bool]:
        """Tautulli's search columns: user, address, platform, product, player, full title."""
        users, items = self.library.plex_users, self.library.plex_items

        def matches(row: HistoryRow) -> bool:
            user = users.get(row.user_id)
            fields = (
                user.friendly_name if user else "",
                row.ip_address,
                row.platform,
                row.product,
                row.player,
                full_title(items.get(row.rating_key)),
            )
            return any(text in value.lower() for value in fields)

        return matches

    def ordered(self, found: Sequence[int], column: str) -> Sequence[int]:
        """``found`` ascending by ``column`` (date order needs no sort)."""
        if column in ("date", "started") or column not in HISTORY_ORDER_COLUMNS:
            return found
        key = HISTORY_ORDER_COLUMNS[column]
        full = isinstance(found, range) and len(found) == len(self.rows)
        if full and column in self._sorted:
            return self._sorted[column]
        result = sorted(found, key=lambda p: key(self.rows[p]))
        if full:
            self._sorted[column] = result
        return result

    def seconds(self, found: Sequence[int]) -> int:
        """Sum of play durations over ``found`` (prefix sums for a contiguous window)."""
        if isinstance(found, range):
            return self.prefix[found.stop] - self.prefix[found.start] if len(found) else 0
        return sum(self.rows[p].play_duration for p in found)

    # --- aggregates for the table commands ---------------------------------------------------

    def aggregate(self, field: str, value: Any) -> Aggregate | None:
        """Plays of one indexed value (``user_id``, ``section_id``, ``rating_key``, ...)."""
        key = (field, str(value))
        if key not in self._aggregates:
            positions = self.index[field].get(str(value))
            found = None
            if positions:
                seconds = sum(self.rows[p].play_duration for p in positions)
                found = Aggregate(len(positions), seconds, self.rows[positions[-1]])
            self._aggregates[key] = found
        return self._aggregates[key]

    def item_positions(self, rating_key: str) -> list[int]:
        """Rows of an item or of any of its children (a season or a show)."""
        lists = [
            self.index[field].get(rating_key, [])
            for field in ("rating_key", "parent_rating_key", "grandparent_rating_key")
        ]
        return sorted(set().union(*lists))


def _intersect(found: Sequence[int], positions: list[int]) -> Sequence[int]:
    if isinstance(found, range) and len(found) == 0:
        return found
    if isinstance(found, range) and found.step == 1:
        lo = bisect.bisect_left(positions, found.start)
        hi = bisect.bisect_left(positions, found.stop)
        return positions[lo:hi]
    wanted = set(positions)
    return [p for p in found if p in wanted]


def _day_start(text: str) -> int:
    """Epoch seconds of a ``YYYY-MM-DD`` day (the fake's server runs on UTC)."""
    day = dt.date.fromisoformat(text.strip())
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


def history_answer(index: HistoryIndex, params: Mapping[str, str]) -> dict[str, Any]:
    """The ``data`` object of ``get_history``; ``start``/``length`` are Python-slice exact."""
    start = int(params.get("start") or 0)
    length = int(params.get("length") or 25)
    column = (params.get("order_column") or "date").split(",")[0]
    descending = (params.get("order_dir") or "desc").split(",")[0] != "asc"
    found = index.candidates(params)
    ordered = index.ordered(found, column)
    # Tautulli applies [start:start + length] to the ordered rows: length=-1 drops the last one.
    window = range(len(ordered))[start : start + length]
    last = len(ordered) - 1
    positions = [ordered[last - i] if descending else ordered[i] for i in window]
    page = [index.rows[p] for p in positions]
    return {
        "recordsFiltered": len(found),
        "recordsTotal": len(index.rows),
        "data": [render_row(row, index.library) for row in page],
        "draw": 1,
        "filter_duration": human_duration(sum(r.play_duration for r in page)),
        "total_duration": human_duration(index.seconds(found)),
    }
