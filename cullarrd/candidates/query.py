"""Run a candidate query and shape its rows (SPEC §6.3), inside ``store.read``: it writes nothing.

One statement (``sql.statement``) gives the page and the diagnostics; a few small follow-up
selects, bounded by the page size, add what only the page needs: titles and ids, the names of
the users who watched, the files and versions, mapping diagnostics, episodes sharing a file.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cullarrd.candidates import sql
from cullarrd.candidates.blockers import (
    BLOCKER_NAMES,
    EXPLAIN,
    MAPPING_ORDER,
    RISK_NAMES,
    mapping_status,
    rollup_mapping_status,
)
from cullarrd.candidates.params import CandidateQuery, encode_cursor
from cullarrd.errors import ValidationFailed
from cullarrd.store.db import dialect
from cullarrd.store.models import (
    Episode,
    Integration,
    Movie,
    PlexUser,
    Season,
    Series,
    database_proxy,
)
from cullarrd.timeutil import isoformat, parse_iso, utcnow

ID_PREFIX = {"movie": "movie", "tv_episode": "episode", "tv_season": "season", "tv_show": "show"}
MATCH_REASON = {
    "all": "watched_by_all_selected_users",
    "any": "watched_by_a_selected_user",
    "none": "unwatched_by_selected_users",
}
GB = 1_000_000_000


@dataclass(frozen=True)
class User:
    id: int
    tautulli_user_id: int
    username: str | None
    friendly_name: str | None
    hidden: bool

    @property
    def name(self) -> str:
        return self.friendly_name or self.username or str(self.tautulli_user_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tautulli_user_id": self.tautulli_user_id,
            "username": self.username,
            "friendly_name": self.friendly_name,
            "hidden": self.hidden,
        }


def list_users() -> list[User]:
    """Every known Plex user, by name."""
    rows = PlexUser.select().order_by(PlexUser.id)
    users = [
        User(r.id, r.tautulli_user_id, r.username, r.friendly_name, bool(r.is_hidden)) for r in rows
    ]
    return sorted(users, key=lambda u: (u.name.casefold(), u.id))


def resolve_users(tokens: Iterable[Any]) -> tuple[tuple[int, ...], list[str]]:
    """Store ids of users named by username, friendly name or Tautulli id; and the problems."""
    users = list_users()
    ids: set[int] = set()
    problems: list[str] = []
    for token in tokens:
        text = str(token).strip()
        found = [
            u
            for u in users
            if text == str(u.tautulli_user_id)
            or text.casefold() in {n.casefold() for n in (u.username, u.friendly_name) if n}
        ]
        if not text or not found:
            problems.append(f"no Plex user is called {text!r}")
        elif len({u.id for u in found}) > 1:
            problems.append(f"{text!r} names more than one user; use the Tautulli user id")
        else:
            ids.add(found[0].id)
    return tuple(sorted(ids)), problems


def effective_users(selected: Sequence[int]) -> list[User]:
    """The selected users, or every non-hidden one when none is selected."""
    users = list_users()
    if not selected:
        return [u for u in users if not u.hidden]
    known = {u.id: u for u in users}
    unknown = [str(i) for i in selected if i not in known]
    if unknown:
        raise ValidationFailed({"plex_user_ids": [f"unknown user ids: {', '.join(unknown)}"]})
    return [known[i] for i in selected]


def run_query(query: CandidateQuery, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The response of SPEC §6.3 for ``query`` under the current ``settings``."""
    started = time.perf_counter()
    db = database_proxy.obj
    users = effective_users(query.plex_user_ids)
    ctx = sql.Context(
        dialect=dialect(db),
        watched_mode=settings["watched_mode"],
        user_ids=[u.id for u in users],
        tautulli_ids=[u.tautulli_user_id for u in users],
    )
    text, params = sql.bind(
        sql.statement(ctx, query), sql.parameters(ctx, query, settings), db.param
    )
    records = _fetch(db, text, params)
    head = records[0] if records else {}
    blocked = int(head.get("d_blocked") or 0)
    scanned = int(head.get("d_scanned") or 0)
    page = [r for r in records if r.get("row_id") is not None]
    more = len(page) > query.limit
    page = page[: query.limit]
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor(query, _plain(last["sort_key"]), int(last["row_id"]))
    items = shape_rows(query, ctx, page, users, settings)
    return {
        "scope": query.scope,
        "filters": query.filters(),
        "items": items,
        "page": {"next_cursor": next_cursor, "limit": query.limit},
        "diagnostics": {
            "rows_scanned": scanned,
            "rows_filtered_unwatched": scanned - int(head.get("d_matched") or 0),
            "rows_filtered_blocked": 0 if query.include_blocked else blocked,
            "rows_blocked": blocked,
            "rows_matching": int(head.get("d_matching") or 0),
            "rows_returned": len(items),
            "selected_user_count": len(query.plex_user_ids),
            "effective_user_count": len(users),
            "total_reclaimable_bytes": int(head.get("d_bytes") or 0),
            "watched_mode": settings["watched_mode"],
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        },
    }


def evaluate_targets(
    query: CandidateQuery, target_ids: Sequence[int], settings: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Every named row of the scope with its flags, watched or not (for deletion planning)."""
    db = database_proxy.obj
    users = effective_users(query.plex_user_ids)
    targeted = replace(query, target_ids=tuple(target_ids), cursor=None)
    ctx = sql.Context(
        dialect(db), settings["watched_mode"], [u.id for u in users],
        [u.tautulli_user_id for u in users],
    )  # fmt: skip
    text, params = sql.bind(
        sql.statement(ctx, targeted),
        sql.parameters(ctx, targeted, settings),
        db.param,
    )
    page = [r for r in _fetch(db, text, params) if r.get("row_id") is not None]
    return shape_rows(targeted, ctx, page, users, settings)


def _fetch(db: Any, text: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute_sql(text, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _plain(value: Any) -> Any:
    """A sort key as JSON keeps it (PostgreSQL hands sums back as Decimal)."""
    return value if isinstance(value, str) else int(value)


def _when(value: Any) -> dt.datetime | None:
    """A timestamp from a raw select (SQLite gives text, PostgreSQL a datetime)."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return parse_iso(str(value))


def _days_ago(value: dt.datetime | None, now: dt.datetime) -> int | None:
    return None if value is None else max(0, (now - value).days)


# --- shaping the page --------------------------------------------------------------------------


def shape_rows(
    query: CandidateQuery,
    ctx: sql.Context,
    page: list[dict[str, Any]],
    users: list[User],
    settings: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """The public rows of one page, in page order."""
    if not page:
        return []
    ids = [int(r["row_id"]) for r in page]
    db = database_proxy.obj
    details = DETAILS[query.scope](ids)
    integration_names = {i.id: i.name for i in Integration.select(Integration.id, Integration.name)}
    files: dict[int, list[dict[str, Any]]] = {}
    text, params = sql.bind(sql.files(query.scope), {"targets": ids}, db.param)
    for row in _fetch(db, text, params):
        files.setdefault(int(row["gid"]), []).append(row)
    watched_counts: dict[int, dict[int, int]] = {}
    threshold = settings["watched_percent_threshold"]
    values = {"targets": ids, "users": ctx.user_ids, "threshold": threshold}
    text, params = sql.bind(sql.watchers(ctx, query.scope), values, db.param)
    for row in _fetch(db, text, params):
        watched_counts.setdefault(int(row["gid"]), {})[int(row["uid"])] = int(row["watched"])
    owners = _file_owners(files) if query.scope != "movie" else {}
    now = utcnow()
    by_id = {u.id: u for u in users}
    items = []
    for record in page:
        row_id = int(record["row_id"])
        detail = details[row_id]
        row_files = files.get(row_id, [])
        episode_count = int(record["episode_count"] or 0)
        needed = 1 if query.scope in ("movie", "tv_episode") else episode_count
        watchers = [
            by_id[uid].name
            for uid, count in sorted(watched_counts.get(row_id, {}).items())
            if count >= needed and uid in by_id
        ]
        blockers = [name for name in BLOCKER_NAMES if record[f"f_{name}"]]
        sharing = _sharing(query.scope, row_id, row_files, owners)
        risks = [
            name
            for name in RISK_NAMES
            if record[f"r_{name}"] or (name == "shared_file" and sharing)
        ]
        last_at, added_at = _when(record["last_at"]), _when(record["added_at"])
        item = {
            "candidate_id": f"{ID_PREFIX[query.scope]}:{row_id}",
            "scope": query.scope,
            **detail["public"],
            "integrations": sorted({integration_names[f["integration_id"]] for f in row_files}),
            "reclaimable_bytes": int(record["bytes"] or 0),
            "media_file_ids": [int(f["id"]) for f in row_files],
            "versions": _versions(row_files) if query.scope == "movie" else [],
            "added_at": isoformat(added_at),
            "watched_summary": {
                "selected_user_count": len(users),
                "watched_user_count": int(record["watched_users"] or 0),
                "watched_users": watchers,
                "last_watched_at": isoformat(last_at),
            },
            "mapping_status": _mapping(query.scope, record, detail),
            "blocker_flags": blockers,
            "risk_flags": risks,
            "flag_details": {name: EXPLAIN[name] for name in (*blockers, *risks)},
            "watched_rule_met": bool(record["matches"]),
            "eligible": bool(record["matches"]) and not blockers,
            "reasons": _reasons(query, record, last_at, added_at, now),
        }
        if query.scope in ("tv_season", "tv_show"):
            item["episode_count"] = episode_count
            item["eligible_episode_count"] = int(record["eligible_count"] or 0)
        if query.scope != "movie":
            item["shared_with_episode_ids"] = sharing
        items.append(item)
    return items


def _versions(row_files: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(row_files) < 2:
        return []
    return [
        {
            "media_file_id": int(f["id"]),
            "size_bytes": int(f["size_bytes"]),
            "quality": f["quality"],
            "path": f["path"],
        }
        for f in row_files
    ]


def _mapping(scope: str, record: Mapping[str, Any], detail: Mapping[str, Any]) -> dict[str, Any]:
    if scope in ("movie", "tv_episode"):
        return mapping_status(detail["mapping_code"], detail["mapping_diagnostics"])
    code = MAPPING_ORDER[int(record["mapping_rank"])]
    return rollup_mapping_status(
        code, int(record["unverified_count"] or 0), int(record["episode_count"] or 0)
    )


def _reasons(
    query: CandidateQuery,
    record: Mapping[str, Any],
    last_at: dt.datetime | None,
    added_at: dt.datetime | None,
    now: dt.datetime,
) -> list[str]:
    reasons = []
    if record["matches"]:
        reasons.append(MATCH_REASON[query.watched_match_mode])
    if query.scope in ("tv_season", "tv_show"):
        reasons.append(f"eligible_episodes:{record['eligible_count']}/{record['episode_count']}")
    if last_at is not None:
        reasons.append(f"last_watched_days_ago:{_days_ago(last_at, now)}")
    if added_at is not None:
        reasons.append(f"added_days_ago:{_days_ago(added_at, now)}")
    reasons.append(f"reclaims_gb:{int(record['bytes'] or 0) / GB:.2f}")
    return reasons


def _file_owners(files: Mapping[int, list[dict[str, Any]]]) -> dict[int, list[tuple[int, ...]]]:
    """For each file on the page: ``(episode, season, series)`` of every present episode on it."""
    file_ids = {int(f["id"]) for row in files.values() for f in row}
    owners: dict[int, list[tuple[int, ...]]] = {}
    if not file_ids:
        return owners
    rows = (
        Episode.select(Episode.id, Episode.media_file, Episode.season, Season.series)
        .join(Season)
        .where(Episode.media_file.in_(list(file_ids)), Episode.missing_since.is_null())
        .order_by(Episode.id)
        .tuples()
    )
    for episode_id, file_id, season_id, series_id in rows:
        owners.setdefault(int(file_id), []).append((episode_id, season_id, series_id))
    return owners


# Which owner column names the row itself, per scope (``shared_file``: a file of the row also
# holds an episode outside it).
OWNER_KEY = {"tv_episode": 0, "tv_season": 1, "tv_show": 2}


def _sharing(
    scope: str, row_id: int, row_files: list[dict[str, Any]], owners: Mapping[int, list]
) -> list[int]:
    """Episodes outside the row that share one of its files."""
    if scope not in OWNER_KEY:
        return []
    key = OWNER_KEY[scope]
    others = {
        owner[0]
        for f in row_files
        for owner in owners.get(int(f["id"]), [])
        if owner[key] != row_id
    }
    return sorted(others)


# --- titles and ids, per scope -----------------------------------------------------------------


def _movie_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = Movie.select(
        Movie.id, Movie.radarr_movie_id, Movie.title, Movie.year, Movie.mapping_status_code,
        Movie.mapping_diagnostics_json,
    ).where(Movie.id.in_(ids))  # fmt: skip
    return {
        m["id"]: {
            "public": {
                "ids": {"movie_id": m["id"], "radarr_movie_id": m["radarr_movie_id"]},
                "title": m["title"],
                "year": m["year"],
            },
            "mapping_code": m["mapping_status_code"],
            "mapping_diagnostics": m["mapping_diagnostics_json"],
        }
        for m in rows.dicts()
    }


def _episode_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = (
        Episode.select(
            Episode.id,
            Episode.season,
            Episode.sonarr_episode_id,
            Episode.season_number,
            Episode.episode_number,
            Episode.title,
            Episode.mapping_status_code,
            Episode.mapping_diagnostics_json,
            Season.series.alias("series_id"),
            Series.title.alias("series_title"),
            Series.sonarr_series_id,
        )
        .join(Season)
        .join(Series)
        .where(Episode.id.in_(ids))
    )
    found = {}
    for e in rows.dicts():
        code = f"S{e['season_number']:02d}E{e['episode_number']:02d}"
        found[e["id"]] = {
            "public": {
                "ids": {
                    "episode_id": e["id"],
                    "season_id": e["season"],
                    "series_id": e["series_id"],
                    "sonarr_episode_id": e["sonarr_episode_id"],
                    "sonarr_series_id": e["sonarr_series_id"],
                },
                "title": " ".join(p for p in (e["series_title"], code, e["title"]) if p),
                "series_title": e["series_title"],
                "season_number": e["season_number"],
                "episode_number": e["episode_number"],
            },
            "mapping_code": e["mapping_status_code"],
            "mapping_diagnostics": e["mapping_diagnostics_json"],
        }
    return found


def _season_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = (
        Season.select(
            Season.id,
            Season.season_number,
            Series.id.alias("series_id"),
            Series.title.alias("series_title"),
            Series.sonarr_series_id,
        )
        .join(Series)
        .where(Season.id.in_(ids))
    )
    return {
        s["id"]: {
            "public": {
                "ids": {
                    "season_id": s["id"],
                    "series_id": s["series_id"],
                    "sonarr_series_id": s["sonarr_series_id"],
                },
                "title": f"{s['series_title']} - Season {s['season_number']}",
                "series_title": s["series_title"],
                "season_number": s["season_number"],
            }
        }
        for s in rows.dicts()
    }


def _show_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = Series.select(Series.id, Series.sonarr_series_id, Series.title, Series.year)
    return {
        s["id"]: {
            "public": {
                "ids": {"series_id": s["id"], "sonarr_series_id": s["sonarr_series_id"]},
                "title": s["title"],
                "year": s["year"],
            }
        }
        for s in rows.where(Series.id.in_(ids)).dicts()
    }


DETAILS = {
    "movie": _movie_details,
    "tv_episode": _episode_details,
    "tv_season": _season_details,
    "tv_show": _show_details,
}
