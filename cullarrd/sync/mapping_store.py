"""The library mapping's store side: what to map, the inventory snapshot, and the writes.

Everything here is synchronous Peewee, run through ``ctx.store.read`` / ``ctx.store.write``.
History attribution is set-based SQL: rows whose item no longer holds their rating key (or is no
longer attributable) are detached, and unattributed rows whose rating key belongs to exactly one
attributable item of their media type are attached; both report the watchables they touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cullarrd.store.models import Episode, Integration, Movie, Series
from cullarrd.sync.mapping_decide import Change, ItemState
from cullarrd.sync.mapping_rules import ATTRIBUTABLE, ItemRef
from cullarrd.timeutil import utcnow

T = TypeVar("T")
CHUNK = 500  # ids per IN (...) list: well under both backends' parameter limits
TABLES = {"movie": Movie, "episode": Episode}
_STATUSES = ", ".join(f"'{code}'" for code in ATTRIBUTABLE)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most ``size``."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Plan:
    """What one Tautulli integration's mapping starts from (read before any HTTP call)."""

    integration_id: int
    sync_state: dict[str, Any]
    history_keys: list[str]
    held_movie_keys: set[str]
    held_series_keys: set[str]
    probe_keys: list[str] = field(default_factory=list)


def load_plan(name: str) -> Plan:
    """The integration's row, its unattributed history keys (newest first) and the held keys."""
    row = Integration.get(Integration.name == name)
    db = Integration._meta.database
    p = db.param
    sql = f"""
        SELECT wh.rating_key, MAX(wh.started_at) FROM watch_history wh
        WHERE wh.integration_id = {p} AND wh.watchable_type IS NULL AND wh.rating_key IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM movies m WHERE wh.media_type = 'movie'
              AND m.plex_rating_key = wh.rating_key AND m.mapping_status_code IN ({_STATUSES}))
          AND NOT EXISTS (SELECT 1 FROM episodes e WHERE wh.media_type = 'episode'
              AND e.plex_rating_key = wh.rating_key AND e.mapping_status_code IN ({_STATUSES}))
        GROUP BY wh.rating_key
        ORDER BY MAX(wh.started_at) IS NULL, MAX(wh.started_at) DESC, wh.rating_key"""
    rows = db.execute_sql(sql, (row.id,)).fetchall()
    held_movies = Movie.select(Movie.plex_rating_key).where(
        Movie.plex_rating_key.is_null(False) & Movie.mapping_status_code.in_(ATTRIBUTABLE)
    )
    held_series = Series.select(Series.plex_rating_key).where(Series.plex_rating_key.is_null(False))
    probe = held_movies.order_by(Movie.updated_at.desc()).limit(3)
    return Plan(
        integration_id=row.id,
        sync_state=dict(row.sync_state_json or {}),
        history_keys=[str(r[0]) for r in rows],
        held_movie_keys={k for (k,) in held_movies.tuples()},
        held_series_keys={k for (k,) in held_series.tuples()},
        probe_keys=[k for (k,) in probe.tuples()],
    )


# Aggregates over what resolution reads: any realistic inventory change moves one of them, even
# one made in the same second as the last write (``updated_at`` has second precision).
_PRESENT = "SUM(CASE WHEN missing_since IS NULL THEN id ELSE 0 END)"
_STAMP_SQL = {
    "movies": f"{_PRESENT}, SUM(COALESCE(tmdb_id, 0)), SUM(LENGTH(COALESCE(imdb_id, ''))), "
    "SUM(LENGTH(title)), SUM(COALESCE(year, 0))",
    "episodes": f"{_PRESENT}, SUM(COALESCE(media_file_id, 0)), SUM(COALESCE(tvdb_id, 0)), "
    "SUM(season_number * 1000 + episode_number), SUM(season_id)",
    "series": f"{_PRESENT}, SUM(COALESCE(tvdb_id, 0)), SUM(COALESCE(tmdb_id, 0)), "
    "SUM(LENGTH(COALESCE(imdb_id, ''))), SUM(LENGTH(COALESCE(plex_rating_key, '')))",
    "media_files": "SUM(CASE WHEN missing_since IS NULL AND culled_at IS NULL THEN id ELSE 0 END), "
    "SUM(LENGTH(path_canonical)), SUM(attachable_id)",
}


def inventory_stamp(extra: str) -> str:
    """Changes whenever the inventory (or ``extra``: mappings, roots) changes."""
    db = Integration._meta.database
    parts = [extra]
    for table, aggregates in _STAMP_SQL.items():
        sql = f"SELECT COUNT(*), MAX(updated_at), {aggregates} FROM {table}"
        parts.append(repr([str(v) for v in db.execute_sql(sql).fetchone()]))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def load_states(refs: Iterable[ItemRef], keys: Iterable[str]) -> dict[ItemRef, ItemState]:
    """The mapping columns of ``refs`` and of every item holding one of ``keys``."""
    wanted: dict[str, list[int]] = {"movie": [], "episode": []}
    for kind, item_id in refs:
        wanted[kind].append(item_id)
    key_list = sorted(set(keys))
    states: dict[ItemRef, ItemState] = {}
    for kind, model in TABLES.items():
        columns = (
            model.id, model.plex_rating_key, model.plex_guid, model.mapping_status_code,
            model.mapping_diagnostics_json,
        )  # fmt: skip
        conditions = [model.id.in_(part) for part in chunks(sorted(set(wanted[kind])))]
        conditions += [model.plex_rating_key.in_(part) for part in chunks(key_list)]
        for condition in conditions:
            for item_id, key, guid, status, diag in (
                model.select(*columns).where(condition).tuples()
            ):
                states[(kind, item_id)] = ItemState((kind, item_id), key, guid, status, diag)
    return states


def apply_changes(changes: Sequence[Change]) -> int:
    """Write new mapping columns (one UPDATE per changed item); rows written."""
    now, written = utcnow(), 0
    for change in changes:
        model = TABLES[change.ref[0]]
        written += (
            model.update(
                plex_rating_key=change.rating_key,
                plex_guid=change.guid,
                mapping_status_code=change.status,
                mapping_diagnostics_json=change.diagnostics,
                updated_at=now,
            )
            .where(model.id == change.ref[1])
            .execute()
        )
    return written


def apply_series_keys(updates: dict[int, tuple[str, str | None]]) -> int:
    """Record Plex show rating keys on series that have none yet; rows written."""
    now, written = utcnow(), 0
    for series_id, (key, guid) in sorted(updates.items()):
        fields: dict[str, Any] = {"plex_rating_key": key, "updated_at": now}
        if guid:
            fields["plex_guid"] = guid
        written += (
            Series.update(**fields)
            .where((Series.id == series_id) & Series.plex_rating_key.is_null())
            .execute()
        )
    return written


def held_keys(keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` an attributable movie or episode, or a series, now holds."""
    key_list, held = sorted(set(keys)), set()
    for part in chunks(key_list):
        for model in (Movie, Episode):
            query = model.select(model.plex_rating_key).where(
                model.plex_rating_key.in_(part) & model.mapping_status_code.in_(ATTRIBUTABLE)
            )
            held |= {k for (k,) in query.tuples()}
        query = Series.select(Series.plex_rating_key).where(Series.plex_rating_key.in_(part))
        held |= {k for (k,) in query.tuples()}
    return held


def save_sync_state(integration_id: int, updates: dict[str, Any]) -> bool:
    """Merge ``updates`` into the integration's ``sync_state_json`` (other phases' keys kept)."""
    row = Integration.get_by_id(integration_id)
    state = dict(row.sync_state_json or {})
    if all(state.get(key) == value for key, value in updates.items()):
        return False
    state.update(updates)
    Integration.update(sync_state_json=state, updated_at=utcnow()).where(
        Integration.id == integration_id
    ).execute()
    return True


# --- history attribution ---------------------------------------------------------------------


def _unique(table: str, alias: str) -> str:
    """SQL: the attributable ``alias`` row is the only attributable holder of its rating key."""
    return (
        f"{alias}.mapping_status_code IN ({_STATUSES}) AND NOT EXISTS (SELECT 1 FROM {table} o "
        f"WHERE o.plex_rating_key = {alias}.plex_rating_key AND o.id <> {alias}.id "
        f"AND o.mapping_status_code IN ({_STATUSES}))"
    )


def attribute_history(
    integration_id: int, changed: Iterable[ItemRef]
) -> tuple[set[tuple[str, int]], int, int]:
    """Re-point the integration's history at its items; (touched, attached, detached).

    Only items whose mapping changed can lose rows (nothing else writes mapping columns), so
    detaching looks at their rows alone; attaching looks at every unattributed row.
    """
    db, now = Integration._meta.database, utcnow()
    touched: set[tuple[str, int]] = set()
    attached = detached = 0
    for kind, table in (("movie", "movies"), ("episode", "episodes")):
        ids = sorted({item_id for k, item_id in changed if k == kind})
        for part in chunks(ids):
            found, rows = _detach(db, kind, table, integration_id, part, now)
            touched |= found
            detached += rows
        a, t = _attach(db, kind, table, integration_id, now)
        attached += a
        touched |= t
    return touched, attached, detached


def _detach(
    db: Any, kind: str, table: str, integration_id: int, ids: Sequence[int], now: Any
) -> tuple[set[tuple[str, int]], int]:
    """Unattribute rows of ``ids`` whose item no longer holds their key attributably."""
    p = db.param
    stale = (
        f"watch_history.integration_id = {p} AND watch_history.watchable_type = '{kind}' "
        f"AND watch_history.watchable_id IN ({', '.join(p for _ in ids)}) "
        f"AND NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = watch_history.watchable_id "
        f"AND t.plex_rating_key = watch_history.rating_key "
        f"AND watch_history.media_type = '{kind}' AND {_unique(table, 't')})"
    )
    found = db.execute_sql(
        f"SELECT DISTINCT watchable_id FROM watch_history WHERE {stale}", (integration_id, *ids)
    ).fetchall()
    if not found:
        return set(), 0
    cursor = db.execute_sql(
        "UPDATE watch_history SET watchable_type = NULL, watchable_id = NULL, "
        f"updated_at = {p} WHERE {stale}",
        (now, integration_id, *ids),
    )
    return {(kind, int(i)) for (i,) in found}, cursor.rowcount


def _attach(db: Any, kind: str, table: str, integration_id: int, now: Any) -> tuple[int, set]:
    """Attribute open rows whose key exactly one attributable item of ``kind`` holds."""
    p = db.param
    open_rows = (
        f"watch_history.integration_id = {p} AND watch_history.watchable_type IS NULL "
        f"AND watch_history.media_type = '{kind}'"
    )
    targets = db.execute_sql(
        f"SELECT DISTINCT t.id FROM watch_history JOIN {table} t "
        f"ON t.plex_rating_key = watch_history.rating_key WHERE {open_rows} "
        f"AND {_unique(table, 't')}",
        (integration_id,),
    ).fetchall()
    if not targets:
        return 0, set()
    cursor = db.execute_sql(
        f"UPDATE watch_history SET watchable_type = '{kind}', watchable_id = ("
        f"SELECT t.id FROM {table} t WHERE t.plex_rating_key = watch_history.rating_key "
        f"AND t.mapping_status_code IN ({_STATUSES})), updated_at = {p} "
        f"WHERE {open_rows} AND watch_history.rating_key IN ("
        f"SELECT t.plex_rating_key FROM {table} t WHERE t.plex_rating_key IS NOT NULL "
        f"AND t.mapping_status_code IN ({_STATUSES}) "
        f"GROUP BY t.plex_rating_key HAVING COUNT(*) = 1)",
        (now, integration_id),
    )
    return cursor.rowcount, {(kind, int(i)) for (i,) in targets}
