"""Rebuilding one Tautulli integration's history (``integrations reset-history``), safely.

Nothing is dropped before the new history is in: the rebuild is a full fetch in which a stored
row whose id now names another play is replaced, and only once that fetch has completed are the
rows Tautulli no longer has removed. Every watchable that lost rows is recomputed in the same run,
so the watch state never looks emptier than upstream says it is.
"""

from __future__ import annotations

from typing import Any

from cullarrd.store.models import WatchHistory

REBUILD_KEY = "history_rebuild_requested"
DELETE_CHUNK = 500


def replace_changed(state: Any, records: list[Any], stored: dict[int, tuple]) -> None:
    """Delete stored rows whose id now names a different play (the fetched row replaces it)."""
    from cullarrd.sync.history import _naive

    changed = [
        r.history_id
        for r in records
        if r.history_id in stored and stored[r.history_id] != (r.user_id, _naive(r.started_at))
    ]
    _delete(state, changed)


def drop_unseen(state: Any) -> int:
    """After a complete rebuild fetch: remove the rows Tautulli no longer lists."""
    stored = WatchHistory.select(WatchHistory.history_id).where(
        WatchHistory.integration == state.integration_id
    )
    unseen = [hid for (hid,) in stored.tuples() if hid not in state.seen_ids]
    _delete(state, unseen)
    return len(unseen)


def _delete(state: Any, history_ids: list[int]) -> None:
    for start in range(0, len(history_ids), DELETE_CHUNK):
        chunk = history_ids[start : start + DELETE_CHUNK]
        rows = WatchHistory.select(WatchHistory.watchable_type, WatchHistory.watchable_id).where(
            (WatchHistory.integration == state.integration_id)
            & WatchHistory.history_id.in_(chunk)
            & WatchHistory.watchable_id.is_null(False)
        )
        state.touched.update((kind, int(wid)) for kind, wid in rows.tuples())
        WatchHistory.delete().where(
            (WatchHistory.integration == state.integration_id) & WatchHistory.history_id.in_(chunk)
        ).execute()
