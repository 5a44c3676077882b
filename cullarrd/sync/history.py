"""Tautulli users and watch history into the store, incrementally and idempotently (SPEC §5.4).

History rows are stored by ``(integration_id, history_id)`` with conflicts ignored, so a replayed
row changes nothing. Tautulli writes a row when a session *stops* (ids grow in stop order) but
sorts pages by ``date`` = start, so a long session that stops late gets a high id yet sorts deep.
Each sync therefore re-reads an overlap window: ``since_id`` is the highest stored id whose session
had stopped before ``cutoff`` = (newest stored start - ``OVERLAP``). Every row written before that
one stopped (so started) before the cutoff; every row that started inside the window has a higher
id and sorts before the page where the adapter stops. The state that places the window
(``history_high_water_mark`` and ``history_newest_started_at`` in ``integrations.sync_state_json``)
moves only after a complete fetch, so a failed or canceled fetch is repeated from the same point.

An upstream history reset (ids reused for other plays) is detected and fails the integration with
``integration_history_reset``; nothing is overwritten until the operator runs ``reset-history``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cullarrd.errors import IntegrationError
from cullarrd.store.models import Integration, PlexUser, WatchHistory, database_proxy
from cullarrd.sync.history_rebuild import REBUILD_KEY, drop_unseen, replace_changed
from cullarrd.timeutil import isoformat, parse_iso, utcnow
from cullarrd.types import HistoryRecord, PlexUserRecord

OVERLAP = dt.timedelta(hours=24)
MARK_KEY = "history_high_water_mark"
NEWEST_KEY = "history_newest_started_at"
INSERT_BATCH = 400  # rows per INSERT: ~10,000 parameters, within SQLite's limit (32,766)
LISTED_BY = "listed_by_integration_ids"


def integration_id_of(name: str) -> int:
    """The store id of the configured integration ``name`` (rows are reconciled at start)."""
    return Integration.get(Integration.name == name).id


# --- users ---------------------------------------------------------------------------------


async def tautulli_users(ctx: Any) -> None:
    """Phase ``tautulli_users``: upsert every Tautulli integration's Plex users."""
    await ctx.each("tautulli", lambda cfg: _sync_users(ctx, cfg))


async def _sync_users(ctx: Any, cfg: Any) -> None:
    async with ctx.adapter(cfg) as adapter:
        users = [user async for user in adapter.iter_users()]
    integration_id = await ctx.store.read(lambda: integration_id_of(cfg.name))
    written = await ctx.store.write(lambda: upsert_users(integration_id, users))
    ctx.progress.add_total(len(users))
    ctx.progress.advance(len(users), rows_written=written)
    ctx.progress.count("users_listed", len(users))


def upsert_users(integration_id: int, users: Iterable[PlexUserRecord]) -> int:
    """Upsert listed users, hide the ones this integration no longer lists; rows written."""
    listed = {user.user_id: user for user in users}
    existing = {row.tautulli_user_id: row for row in PlexUser.select()}
    now, written, new_rows = utcnow(), 0, []
    for user_id, user in listed.items():
        row = existing.get(user_id)
        meta = dict(row.metadata_json or {}) if row else {}
        meta.pop("seen_only_in_history", None)
        meta.update(email=user.email, is_admin=user.is_admin)
        meta[LISTED_BY] = sorted({*meta.get(LISTED_BY, []), integration_id})
        fields = {
            "username": user.username,
            "friendly_name": user.friendly_name,
            "is_hidden": not user.is_active,
            "metadata_json": meta,
        }
        if row is None:
            new_rows.append({"tautulli_user_id": user_id, **fields, "created_at": now})
        elif any(getattr(row, key) != value for key, value in fields.items()):
            written += _update_user(row.id, fields, now)
    for user_id, row in existing.items():
        meta = dict(row.metadata_json or {})
        ids = meta.get(LISTED_BY)
        if user_id in listed or (ids is not None and integration_id not in ids):
            continue
        # Tautulli leaves deleted users out: hide them, never delete (their history stays).
        meta[LISTED_BY] = [i for i in ids or [] if i != integration_id]
        fields = {"is_hidden": row.is_hidden or not meta[LISTED_BY], "metadata_json": meta}
        if any(getattr(row, key) != value for key, value in fields.items()):
            written += _update_user(row.id, fields, now)
    for batch in _batches(new_rows):
        PlexUser.insert_many([{**r, "updated_at": now} for r in batch]).execute()
    return written + len(new_rows)


def _update_user(row_id: int, fields: dict[str, Any], now: dt.datetime) -> int:
    return PlexUser.update(**fields, updated_at=now).where(PlexUser.id == row_id).execute()


# --- history -------------------------------------------------------------------------------


@dataclass
class HistoryState:
    """Where one integration's history stands: the window to re-read and what the fetch saw."""

    integration_id: int
    mark: int | None  # highest history_id of the last complete fetch; None: never completed
    newest: dt.datetime | None  # newest started_at of the last complete fetch
    since_id: int | None  # handed to the adapter; None = fetch everything
    seen_max_id: int | None = None
    seen_newest: dt.datetime | None = None
    rebuild: bool = False  # a full refetch requested by reset-history (history_rebuild.py)
    seen_ids: set[int] = field(default_factory=set)
    touched: set[tuple[str, int]] = field(default_factory=set)

    def saw(self, records: list[HistoryRecord]) -> None:
        """Remember the highest id and the newest start of a fetched page."""
        for record in records:
            if self.seen_max_id is None or record.history_id > self.seen_max_id:
                self.seen_max_id = record.history_id
            started = _naive(record.started_at)
            if started is not None and (self.seen_newest is None or started > self.seen_newest):
                self.seen_newest = started


def load_history_state(name: str) -> HistoryState:
    """The stored state of integration ``name`` and the ``since_id`` of its next fetch."""
    row = Integration.get(Integration.name == name)
    state = row.sync_state_json or {}
    if state.get(REBUILD_KEY):
        return HistoryState(row.id, None, None, None, rebuild=True)
    mark = state.get(MARK_KEY)
    if mark is None:  # never completed a fetch: stored rows may be a partial first page
        return HistoryState(row.id, None, None, None)
    newest = parse_iso(state[NEWEST_KEY]) if state.get(NEWEST_KEY) else None
    if newest is None:
        newest = _newest_started(row.id, mark)
    return HistoryState(row.id, mark, newest, _since_id(row.id, mark, newest))


def _newest_started(integration_id: int, mark: int) -> dt.datetime | None:
    query = WatchHistory.select(WatchHistory.started_at).where(
        (WatchHistory.integration == integration_id) & (WatchHistory.history_id <= mark)
    )
    return query.order_by(WatchHistory.started_at.desc(nulls="LAST")).limit(1).scalar()


def _since_id(integration_id: int, mark: int, newest: dt.datetime | None) -> int | None:
    """Highest stored id that had stopped before the window; rows after it are re-read."""
    if newest is None:  # nothing stored (e.g. only music upstream): ids above the mark are new
        return mark
    cutoff = newest - OVERLAP
    ended = WatchHistory.stopped_at.is_null(False) & (WatchHistory.stopped_at < cutoff)
    unended = WatchHistory.stopped_at.is_null() & (WatchHistory.started_at < cutoff)
    query = (
        WatchHistory.select(WatchHistory.history_id)
        .where(
            (WatchHistory.integration == integration_id)
            & (WatchHistory.history_id <= mark)
            & (ended | unended)
        )
        .order_by(WatchHistory.history_id.desc())
        .limit(1)
    )
    return query.scalar()  # None: all stored history is inside the window → fetch it all


async def tautulli_history(ctx: Any) -> None:
    """Phase ``tautulli_history``: fetch every Tautulli integration's new history rows."""
    await ctx.each("tautulli", lambda cfg: _fetch_history(ctx, cfg))


async def _fetch_history(ctx: Any, cfg: Any) -> None:
    """Page newest first down to the window, store each page, then move the mark."""
    state = await ctx.store.read(lambda: load_history_state(cfg.name))
    writer = PageWriter(ctx, state)
    async with ctx.adapter(cfg) as adapter:
        pages = adapter.iter_history(state.since_id, page_size=cfg.page_size)
        async with contextlib.aclosing(pages):
            try:
                async for records in pages:
                    await writer.submit(records)
                    ctx.cancel.check()
            except BaseException:
                await writer.settle()
                raise
            await writer.drain()
    await ctx.store.write(lambda: save_history_state(state))
    ctx.touched_watchables |= state.touched


class PageWriter:
    """Stores page N while page N + 1 is fetched; one write in flight, in page order."""

    def __init__(self, ctx: Any, state: HistoryState) -> None:
        self.ctx, self.state = ctx, state
        self.pending: tuple[asyncio.Future, list[HistoryRecord]] | None = None

    async def submit(self, records: list[HistoryRecord]) -> None:
        """Wait for the previous page's write (raising its error), then start this one."""
        await self.drain()
        write = self.ctx.store.write(lambda: store_history_page(self.state, records))
        self.pending = (asyncio.ensure_future(write), records)

    async def drain(self) -> None:
        """Finish the write in flight and account for it."""
        if self.pending is None:
            return
        (write, records), self.pending = self.pending, None
        inserted, new_users = await write
        progress = self.ctx.progress
        self.state.saw(records)
        progress.add_total(len(records))
        progress.advance(len(records), rows_written=inserted + new_users)
        progress.count("history_pages")
        progress.count("history_rows_fetched", len(records))
        progress.count("history_rows_inserted", inserted)
        await progress.flush()

    async def settle(self) -> None:
        """On the way out after an error: let a write in flight end (it is harmless either way)."""
        if self.pending is not None:
            with contextlib.suppress(Exception):
                await self.drain()


def store_history_page(state: HistoryState, records: list[HistoryRecord]) -> tuple[int, int]:
    """Insert a page's new rows (replays ignored) and placeholder users; (rows, users) added."""
    if not records:
        return 0, 0
    if state.rebuild:
        state.seen_ids.update(r.history_id for r in records)
        stored = _stored_identities(state.integration_id, [r.history_id for r in records])
        replace_changed(state, records, stored)
    else:
        _check_not_reset(state, records)
    now = utcnow()
    rows = [_history_row(state.integration_id, record, now) for record in records]
    return _insert_ignoring_replays(rows), _add_unknown_users({r.user_id for r in records}, now)


def _insert_ignoring_replays(rows: list[dict[str, Any]]) -> int:
    """Multi-row INSERT ... ON CONFLICT DO NOTHING (same SQL on SQLite and PostgreSQL).

    Written by hand: building it through Peewee cost ten times the database's own time.
    """
    db = database_proxy.obj
    columns = [WatchHistory._meta.fields[name].column_name for name in rows[0]] if rows else []
    tuple_sql = "(" + ", ".join([db.param] * len(columns)) + ")"
    inserted = 0
    for batch in _batches(rows):
        sql = (
            f"INSERT INTO watch_history ({', '.join(columns)}) VALUES "
            + ", ".join([tuple_sql] * len(batch))
            + " ON CONFLICT (integration_id, history_id) DO NOTHING"
        )
        params = [value for row in batch for value in row.values()]
        inserted += db.execute_sql(sql, params).rowcount
    return inserted


def _check_not_reset(state: HistoryState, records: list[HistoryRecord]) -> None:
    """Fail when a fetched id names another play than the stored one (history reset upstream)."""
    stored = _stored_identities(state.integration_id, [r.history_id for r in records])
    for record in records:
        seen = stored.get(record.history_id)
        started = _naive(record.started_at)
        differs = seen is not None and seen != (record.user_id, started)
        # An id at or below the mark that started after everything the last fetch saw
        # cannot exist in an append-only history: it would have been on that fetch's first page.
        impossible = (
            seen is None
            and state.mark is not None
            and record.history_id <= state.mark
            and state.newest is not None
            and started is not None
            and started > state.newest
        )
        if differs or impossible:
            raise IntegrationError(
                f"Tautulli history id {record.history_id} now names a different play than the "
                "stored one: its history was reset or restored. Stored history is kept; run "
                "`integrations reset-history` to rebuild it from Tautulli.",
                code="integration_history_reset",
                details={"history_id": record.history_id, "high_water_mark": state.mark},
            )


def _stored_identities(
    integration_id: int, ids: list[int]
) -> dict[int, tuple[int, dt.datetime | None]]:
    """``history_id → (tautulli_user_id, started_at)`` of the stored rows among ``ids``."""
    db = database_proxy.obj
    sql = (
        "SELECT history_id, tautulli_user_id, started_at FROM watch_history"
        f" WHERE integration_id = {db.param} AND history_id IN ({', '.join([db.param] * len(ids))})"
    )
    to_time = WatchHistory.started_at.python_value  # SQLite hands raw text back
    rows = db.execute_sql(sql, [integration_id, *ids]).fetchall()
    return {int(hid): (int(uid), to_time(started)) for hid, uid, started in rows}


def _history_row(integration_id: int, record: HistoryRecord, now: dt.datetime) -> dict[str, Any]:
    return {
        "integration": integration_id,
        "history_id": record.history_id,
        "tautulli_user_id": record.user_id,
        "media_type": record.media_type,
        "rating_key": record.rating_key,
        "parent_rating_key": record.parent_rating_key,
        "grandparent_rating_key": record.grandparent_rating_key,
        "season_number": record.season_number,
        "episode_number": record.episode_number,
        "title": record.title,
        "grandparent_title": record.grandparent_title,
        "year": record.year,
        "guid": record.guid,
        "started_at": _naive(record.started_at),
        "stopped_at": _naive(record.stopped_at),
        "play_duration_s": record.play_duration_s,
        "duration_ms": None,  # unknown here; the item's length comes from inventory or Plex
        "percent_complete": record.percent_complete,
        # 1 = watched by Tautulli's threshold; 0.25/0.5/0.75 detail is in percent_complete
        "watched_status": 1 if record.watched_status >= 1 else 0,
        "watchable_type": None,  # attributed by the library_mapping phase
        "watchable_id": None,
        "created_at": now,
        "updated_at": now,
    }


def _add_unknown_users(user_ids: set[int], now: dt.datetime) -> int:
    """Hidden placeholder rows for users seen in history but not (or no longer) listed."""
    known = {
        row.tautulli_user_id
        for row in PlexUser.select(PlexUser.tautulli_user_id).where(
            PlexUser.tautulli_user_id.in_(sorted(user_ids))
        )
    }
    rows = [
        {
            "tautulli_user_id": user_id,
            "username": None,
            "friendly_name": f"deleted user {user_id}",
            "is_hidden": True,
            "metadata_json": {"seen_only_in_history": True, LISTED_BY: []},
            "created_at": now,
            "updated_at": now,
        }
        for user_id in sorted(user_ids - known)
    ]
    if rows:
        PlexUser.insert_many(rows).on_conflict_ignore().execute()
    return len(rows)


def save_history_state(state: HistoryState) -> None:
    """After a complete fetch: move the mark and the newest start (never backwards)."""
    row = Integration.get_by_id(state.integration_id)
    if state.rebuild:
        drop_unseen(state)
    marks = [m for m in (state.mark, state.seen_max_id) if m is not None]
    newest = [n for n in (state.newest, state.seen_newest) if n is not None]
    sync_state = dict(row.sync_state_json or {})
    sync_state[MARK_KEY] = max(marks, default=0)
    sync_state[NEWEST_KEY] = isoformat(max(newest)) if newest else None
    sync_state.pop(REBUILD_KEY, None)
    Integration.update(sync_state_json=sync_state, updated_at=utcnow()).where(
        Integration.id == state.integration_id
    ).execute()


def clear_history(integration_id: int) -> set[tuple[str, int]]:
    """Delete an integration's history and mark (run in a write); the watchables it touched."""
    attributed = (
        WatchHistory.select(WatchHistory.watchable_type, WatchHistory.watchable_id)
        .where(
            (WatchHistory.integration == integration_id) & WatchHistory.watchable_id.is_null(False)
        )
        .distinct()
        .tuples()
    )
    touched = {(kind, int(watchable_id)) for kind, watchable_id in attributed}
    WatchHistory.delete().where(WatchHistory.integration == integration_id).execute()
    row = Integration.get_by_id(integration_id)
    sync_state = {
        key: value
        for key, value in (row.sync_state_json or {}).items()
        if key not in (MARK_KEY, NEWEST_KEY)
    }
    Integration.update(sync_state_json=sync_state, updated_at=utcnow()).where(
        Integration.id == integration_id
    ).execute()
    return touched


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    """An aware time as the store's naive UTC."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def _batches(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), INSERT_BATCH):
        yield rows[start : start + INSERT_BATCH]
