"""The fake Tautulli's users and per-item statistics (all DB-backed: ints, work without Plex)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from cullarrd_plugins.fakelib.model import Library, PlexUser
from cullarrd_plugins.tautulli.fake_history import HistoryIndex
from cullarrd_plugins.tautulli.fake_rows import (
    USER_THUMB,
    last_play_fields,
    sortable,
    split_values,
    transcode_decision,
)

LOCAL = PlexUser(0, "Local", "Local", "", is_active=True, is_admin=False)
DEFAULT_QUERY_DAYS = "1,7,30,0"


class UserDirectory:
    """Tautulli's ``users`` table: "Local" first (row 1), then the Plex users."""

    def __init__(self, library: Library, history: HistoryIndex) -> None:
        self.library = library
        self.history = history
        users = dict(library.plex_users)
        local = users.pop(0, LOCAL)
        self.users: list[PlexUser] = [local, *users.values()]
        self.row_ids = {user.user_id: row for row, user in enumerate(self.users, start=1)}

    def shared_libraries(self, user: PlexUser) -> list[str]:
        if user.user_id == 0:
            return []
        return [str(s) for s in sorted(self.library.plex_sections)]

    def get_users(self) -> list[dict[str, Any]]:
        """``get_users``: every user not marked deleted."""
        return [self._user_row(u) for u in self.users if not u.deleted]

    def _user_row(self, user: PlexUser) -> dict[str, Any]:
        local = user.user_id == 0
        return {
            "row_id": self.row_ids[user.user_id],
            "user_id": user.user_id,
            "username": user.username,
            "friendly_name": user.friendly_name,
            "thumb": None,
            "email": user.email or None,
            "is_active": int(user.is_active),
            "is_admin": int(user.is_admin),
            "is_home_user": None if local else int(user.is_admin),
            "is_allow_sync": None if local else 1,
            "is_restricted": None if local else 0,
            "do_notify": 1,
            "keep_history": 1,
            "allow_guest": 0,
            "shared_libraries": self.shared_libraries(user),
            "filter_all": None,
            "filter_movies": None,
            "filter_tv": None,
            "filter_music": None,
            "filter_photos": None,
        }

    def user_names(self) -> list[dict[str, Any]]:
        """``get_user_names``."""
        return [
            {"user_id": u.user_id, "friendly_name": u.friendly_name}
            for u in self.users
            if not u.deleted
        ]

    def get_user(self, user_id: str | None, include_last_seen: bool) -> dict[str, Any]:
        """``get_user``: an unknown id gives Tautulli's default "Local" record (row_id 0)."""
        wanted = int(user_id) if user_id and user_id.lstrip("-").isdigit() else None
        user = next((u for u in self.users if u.user_id == wanted), None)
        if user is None:
            user, row_id, stats = LOCAL, 0, None
        else:
            row_id = self.row_ids[user.user_id]
            stats = self.history.aggregate("user_id", user.user_id)
        return {
            "row_id": row_id,
            "user_id": user.user_id,
            "username": user.username,
            "friendly_name": user.friendly_name,
            "user_thumb": USER_THUMB,
            "email": user.email,
            "is_active": int(user.is_active),
            "is_admin": int(user.is_admin),
            "is_home_user": int(user.is_admin),
            "is_allow_sync": 1,
            "is_restricted": 0,
            "do_notify": 1,
            "keep_history": 1,
            "deleted_user": int(user.deleted),
            "allow_guest": 0,
            "shared_libraries": self.shared_libraries(user),
            "last_seen": stats.last.started if include_last_seen and stats and stats.last else None,
        }

    def users_table(self, params: Mapping[str, str]) -> dict[str, Any]:
        """``get_users_table``: paged users with their play stats (deleted ones left out)."""
        rows = [self._table_row(u) for u in self.users if not u.deleted]
        search = (params.get("search") or "").lower()
        if search:
            rows = [r for r in rows if search in r["friendly_name"].lower()]
        column = params.get("order_column") or "friendly_name"
        if not rows or column not in rows[0]:
            column = "friendly_name"
        descending = (params.get("order_dir") or "desc") != "asc"
        rows.sort(key=lambda r: sortable(r[column]), reverse=descending)
        start, length = int(params.get("start") or 0), int(params.get("length") or 25)
        return {
            "recordsFiltered": len(rows),
            "recordsTotal": len(self.users),
            "data": rows[start : start + length],
            "draw": 1,
        }

    def _table_row(self, user: PlexUser) -> dict[str, Any]:
        stats = self.history.aggregate("user_id", user.user_id)
        last = stats.last if stats else None
        played = last_play_fields(last, self.library)
        return {
            "row_id": self.row_ids[user.user_id],
            "user_id": user.user_id,
            "username": user.username,
            "friendly_name": user.friendly_name,
            "title": None,
            "email": user.email or None,
            "user_thumb": USER_THUMB,
            "plays": stats.plays if stats else 0,
            "duration": stats.seconds if stats else 0,
            "last_seen": last.started if last else None,
            "last_played": played.pop("last_played"),
            "history_row_id": last.row_id if last else None,
            "ip_address": last.ip_address if last else None,
            "platform": last.platform if last else None,
            "player": last.player if last else None,
            **played,
            "transcode_decision": transcode_decision(last) if last else None,
            "do_notify": 1,
            "keep_history": 1,
            "allow_guest": 0,
            "is_active": int(user.is_active),
        }

    # --- per-item statistics -----------------------------------------------------------------

    def watch_time_stats(self, params: Mapping[str, str]) -> list[dict[str, Any]] | None:
        """``get_item_watch_time_stats``; None (an error answer) without ``rating_key``."""
        rating_key = params.get("rating_key")
        if not rating_key:
            return None
        rows = [self.history.rows[p] for p in self.history.item_positions(rating_key)]
        now = int(time.time())
        found = []
        for days in split_values(params.get("query_days") or DEFAULT_QUERY_DAYS):
            window = int(days)
            since = now - window * 86_400 if window > 0 else None
            matched = [r for r in rows if since is None or r.started >= since]
            found.append(
                {
                    "query_days": window,
                    "total_time": sum(r.play_duration for r in matched),
                    "total_plays": len(matched),
                }
            )
        return found

    def user_stats(self, params: Mapping[str, str]) -> list[dict[str, Any]] | None:
        """``get_item_user_stats``: plays and seconds per user, most plays first."""
        rating_key = params.get("rating_key")
        if not rating_key:
            return None
        totals: dict[int, list[int]] = {}
        for position in self.history.item_positions(rating_key):
            row = self.history.rows[position]
            plays_time = totals.setdefault(row.user_id, [0, 0])
            plays_time[0] += 1
            plays_time[1] += row.play_duration
        by_id = {u.user_id: u for u in self.users}
        found = []
        for user_id, (plays, seconds) in totals.items():
            user = by_id.get(user_id, LOCAL)
            found.append(
                {
                    "friendly_name": user.friendly_name,
                    "user_id": user_id,
                    "user_thumb": USER_THUMB,
                    "username": user.username,
                    "total_plays": plays,
                    "total_time": seconds,
                }
            )
        found.sort(key=lambda r: (r["total_plays"], r["total_time"]), reverse=True)
        return found
