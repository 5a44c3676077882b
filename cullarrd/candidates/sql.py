"""The candidate query as set-based SQL, one statement per page (SPEC §6, ARCHITECTURE rule 6).

One statement computes, for every item of the scope that has a present file (rows of the
candidate index, ``index.py``), its reclaimable bytes, how many selected users watched it,
one 0/1 column per blocker (``f_<flag>``) and risk (``r_<flag>``), and its sort key; it then
returns the diagnostics over all of them joined with one page (keyset-paged after the cursor).
Seasons and shows aggregate their episodes in SQL: a user counts for a season only with every
episode that has a file watched, a multi-episode file counts once, and any episode that is
blocked or not eligible under the match mode makes the roll-up ``rollup_not_strictly_eligible``.
Blocker lookups run only for rows that match the mode, and a roll-up looks at the episodes of
the seasons or shows that match only.

With ``target_ids`` (deletion planning) the index rows are computed inline from the inventory
by the same row definitions, for the named items only: nothing rests on a stale index row.

Text is written with ``:name`` parameters (``:name*`` expands a list) and bound per dialect by
``bind``; the few functions SQLite and PostgreSQL spell differently come from ``DIALECT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cullarrd.candidates import index
from cullarrd.candidates.blockers import BLOCKER_NAMES, RISK_NAMES
from cullarrd.candidates.index import AMBIGUOUS_RANK, EPISODE_FROM, PRESENT_EPISODE, PRESENT_FILE
from cullarrd.candidates.params import CandidateQuery

DIALECT = {
    "sqlite": {
        "epoch": "CAST(strftime('%s', {0}) AS INTEGER)",
        "pad": "printf('%06d', {0})",
        "bytewise": "{0}",  # SQLite compares text byte by byte already
    },
    "postgresql": {
        "epoch": "CAST(EXTRACT(EPOCH FROM {0}) AS BIGINT)",
        "pad": "LPAD(CAST({0} AS TEXT), 6, '0')",
        "bytewise": '{0} COLLATE "C"',
    },
}
# Blockers an episode or movie has on its own (a roll-up adds ``rollup_not_strictly_eligible``).
ITEM_BLOCKERS = [name for name in BLOCKER_NAMES if name != "rollup_not_strictly_eligible"]

_PARAM = re.compile(r":([a-z_]+)(\*?)")


def bind(sql: str, values: Mapping[str, Any], param: str) -> tuple[str, list[Any]]:
    """Replace ``:name`` (and list-expanding ``:name*``) with ``param`` markers, in order."""
    bound: list[Any] = []

    def place(match: re.Match[str]) -> str:
        value = values[match.group(1)]
        if match.group(2):
            items = list(value) or [None]  # ``IN (NULL)`` matches nothing
            bound.extend(items)
            return ", ".join([param] * len(items))
        bound.append(value)
        return param

    return _PARAM.sub(place, sql), bound


@dataclass(frozen=True)
class Context:
    """What the statement needs besides the query: settings and the effective users."""

    dialect: str
    watched_mode: str
    user_ids: Sequence[int]  # effective selected users (store ids)
    tautulli_ids: Sequence[int]  # the same users' Tautulli ids (for unattributed history)

    def fn(self, name: str, *args: str) -> str:
        return DIALECT[self.dialect][name].format(*args)


def watched_expr(ctx: Context) -> str:
    """Whether one ``watch_stats`` row (``ws``) counts as watched under ``watched_mode``."""
    if ctx.watched_mode == "percent":
        return "ws.max_percent_complete >= :threshold"
    return "ws.play_count >= 1"


def match_expr(mode: str, column: str) -> str:
    """Whether a row with ``column`` watching users matches the mode (never with no users)."""
    return {
        "all": f":n > 0 AND {column} = :n",
        "any": f"{column} > 0",
        "none": f":n > 0 AND {column} = 0",
    }[mode]


def _sum_flags(prefix: str, names: Sequence[str]) -> str:
    return " + ".join(f"{prefix}{name}" for name in names)


def common_ctes(ctx: Context, watchable_type: str, *, live: bool = False) -> str:
    """Small sets every scope reads: the selected users' watch state per item, the files under
    an enabled exclusion or on an ambiguously owned path, the unavailable integrations.

    Each blocker is computed once as a set of ids and joined, never re-evaluated per row.
    ``sel CROSS JOIN watch_stats`` makes SQLite walk the (user, type, id) index user by user
    instead of every stats row of the type. ``live`` (deletion planning) reads ambiguous
    ownership from the files themselves rather than the ``ambiguous_paths`` the sync keeps.
    """
    watched = watched_expr(ctx)
    path = "f.path_canonical"
    ambiguous = """SELECT f.id FROM ambiguous_paths a CROSS JOIN media_files f
    WHERE f.path_canonical = a.path_canonical"""
    if live:
        ambiguous = f"""SELECT f.id FROM media_files f
    WHERE {PRESENT_FILE} AND EXISTS (SELECT 1 FROM media_files o
        WHERE o.path_canonical = f.path_canonical AND o.integration_id <> f.integration_id
        AND o.missing_since IS NULL AND o.culled_at IS NULL)"""
    return f"""
sel AS (SELECT id AS uid FROM plex_users WHERE id IN (:users*)),
uw AS (
    SELECT ws.watchable_id AS wid, ws.plex_user_id AS uid,
        CASE WHEN {watched} THEN 1 ELSE 0 END AS watched,
        CASE WHEN NOT ({watched}) AND ws.max_view_offset_ms >= :min_offset THEN 1 ELSE 0 END
            AS progressing,
        ws.last_watched_at AS last_at
    FROM sel CROSS JOIN watch_stats ws
    WHERE ws.plex_user_id = sel.uid AND ws.watchable_type = '{watchable_type}'
),
w AS (
    SELECT wid, SUM(watched) AS watched_users, MAX(progressing) AS progressing,
        MAX(last_at) AS last_at
    FROM uw GROUP BY wid
),
amb_files AS (
    {ambiguous}
),
excl_files AS (
    SELECT f.id FROM path_exclusions x CROSS JOIN media_files f
    WHERE x.enabled = TRUE AND f.path_canonical = x.path_prefix
    UNION
    SELECT f.id FROM path_exclusions x CROSS JOIN media_files f
    WHERE x.enabled = TRUE AND x.path_prefix <> '/'
        AND {ctx.fn("bytewise", path)} > {ctx.fn("bytewise", "x.path_prefix || '/'")}
        AND {ctx.fn("bytewise", path)} < {ctx.fn("bytewise", "x.path_prefix || '0'")}
    UNION
    SELECT f.id FROM path_exclusions x CROSS JOIN media_files f
    WHERE x.enabled = TRUE AND x.path_prefix = '/'
),
unavailable AS (
    SELECT id FROM integrations
    WHERE status = 'removed' OR supported_for_delete = FALSE
        OR COALESCE(last_sync_outcome, 'never') <> 'ok'
)"""


# A path is under a prefix when it equals it or continues with "/": the range ("p/", "p0")
# holds exactly the latter in byte order ("/" is 0x2F, "0" the next byte), so each exclusion is
# one range scan of the path index.
def lazy(condition: str, match: str) -> str:
    """A 0/1 flag evaluated only for rows that match the mode (the others cannot be shown,
    counted as blocked or make a roll-up eligible), so most rows skip every lookup."""
    return f"CASE WHEN {match} THEN (CASE WHEN {condition} THEN 1 ELSE 0 END) ELSE 0 END"


def flag_gate(query: CandidateQuery, watched_users: str) -> str:
    """When ``lazy`` flags are looked up: for matching rows of a list, for every named target
    (a deletion plan reports all blockers of a target, watched or not)."""
    if query.target_ids is not None:
        return "1 = 1"
    return match_expr(query.watched_match_mode, watched_users)


def watch_join(query: CandidateQuery, watched_users: str) -> tuple[str, str]:
    """How rows meet the watch counts ``w``: ``(join, filter)``.

    Only rows that match the mode are produced (their count is all the diagnostics need
    besides the size of the index): with ``all``/``any`` a match needs a watching user, so an
    inner join lets the database start from the few watched items instead of every row.
    Named targets (deletion planning) are all produced, matching or not.
    """
    if query.target_ids is not None:
        return "LEFT JOIN", ""
    match = f"AND {match_expr(query.watched_match_mode, watched_users)}"
    return ("LEFT JOIN" if query.watched_match_mode == "none" else "JOIN"), match


def sources(ctx: Context, query: CandidateQuery) -> dict[str, str]:
    """Where the index rows come from: the index tables, or (for named targets) the same row
    definitions evaluated inline over the inventory."""
    if query.target_ids is None:
        return {name: f"candidate_{name}" for name in ("episodes", "movies", "seasons", "shows")}
    where = {
        "tv_episode": "AND e.id IN (:targets*)",
        "tv_season": "AND e.season_id IN (:targets*)",
        "tv_show": "AND se.series_id IN (:targets*)",
    }.get(query.scope, "AND FALSE")
    episodes = f"({index.episode_rows(ctx.dialect, where)})"
    return {
        "episodes": episodes,
        "movies": f"({index.movie_rows(ctx.dialect, 'AND m.id IN (:targets*)')})",
        "seasons": f"({index.group_rows(ctx.dialect, 'season', episodes)})",
        "shows": f"({index.group_rows(ctx.dialect, 'show', episodes)})",
    }


def episode_flags(ctx: Context, query: CandidateQuery, source: str, where: str = "") -> str:
    """``ep``: index episodes with watch counts and flags (looked up for matching rows only)."""
    match = flag_gate(query, "COALESCE(w.watched_users, 0)")
    join, only = watch_join(query, "COALESCE(w.watched_users, 0)")
    return f"""
ua AS (
    SELECT DISTINCT LOWER(grandparent_title) AS show_title, season_number AS s,
        episode_number AS n
    FROM watch_history
    WHERE watchable_id IS NULL AND media_type = 'episode' AND tautulli_user_id IN (:tautulli*)
        AND season_number IS NOT NULL AND episode_number IS NOT NULL
),
kept AS (
    SELECT keepable_id AS eid FROM keep_markers WHERE keepable_type = 'episode'
    UNION
    SELECT e.id FROM keep_markers k CROSS JOIN episodes e
    WHERE k.keepable_type = 'season' AND e.season_id = k.keepable_id
    UNION
    SELECT e.id FROM keep_markers k CROSS JOIN seasons s CROSS JOIN episodes e
    WHERE k.keepable_type = 'series' AND s.series_id = k.keepable_id AND e.season_id = s.id
),
-- A file holding two episodes is deleted for both: what blocks one blocks the other (a kept,
-- mid-watch, ambiguously mapped or uncertain partner), read from the live inventory.
kept_files AS (
    SELECT e.media_file_id AS fid FROM kept CROSS JOIN episodes e
    WHERE e.id = kept.eid AND e.media_file_id IS NOT NULL
),
progress_files AS (
    SELECT e.media_file_id AS fid FROM w CROSS JOIN episodes e
    WHERE w.progressing = 1 AND e.id = w.wid AND e.media_file_id IS NOT NULL
),
ambiguous_files AS (
    SELECT media_file_id AS fid FROM episodes
    WHERE mapping_status_code = 'ambiguous_conflict' AND media_file_id IS NOT NULL
),
unattributed_files AS (
    SELECT e.media_file_id AS fid
    FROM ua CROSS JOIN series sr CROSS JOIN seasons s CROSS JOIN episodes e
    WHERE LOWER(sr.title) = ua.show_title AND s.series_id = sr.id AND s.season_number = ua.s
        AND e.season_id = s.id AND e.episode_number = ua.n AND e.media_file_id IS NOT NULL
),
ep AS NOT MATERIALIZED (
    SELECT ce.episode_id, ce.season_id, ce.series_id, ce.season_number, ce.episode_number,
        ce.media_file_id, ce.size_bytes, ce.added_at, ce.mapping_rank, ce.series_key,
        COALESCE(w.watched_users, 0) AS watched_users, w.last_at,
        {lazy("ce.media_file_id IN (SELECT id FROM excl_files)", match)} AS f_path_excluded,
        {lazy("ce.media_file_id IN (SELECT fid FROM kept_files)", match)} AS f_keep_marked,
        CASE WHEN COALESCE(w.progressing, 0) = 1 THEN 1
            ELSE {lazy("ce.media_file_id IN (SELECT fid FROM progress_files)", match)} END
            AS f_in_progress_any,
        CASE WHEN ce.mapping_rank = {AMBIGUOUS_RANK} THEN 1
            ELSE {lazy("ce.media_file_id IN (SELECT fid FROM ambiguous_files)", match)} END
            AS f_ambiguous_mapping,
        {lazy("ce.media_file_id IN (SELECT id FROM amb_files)", match)} AS f_ambiguous_ownership,
        {lazy("ce.integration_id IN (SELECT id FROM unavailable)", match)}
            AS f_integration_unavailable,
        {lazy("ce.media_file_id IN (SELECT fid FROM unattributed_files)", match)}
            AS f_unattributed_watch_history,
        0 AS r_multiple_versions, ce.unmapped AS r_no_plex_mapping,
        ce.provisional AS r_provisional_mapping, 0 AS r_shared_file
    FROM {source} ce
    {join} w ON w.wid = ce.episode_id
    WHERE TRUE {only} {where}
)"""


def episode_rows(ctx: Context, query: CandidateQuery) -> str:
    title_key = (
        f"ep.series_key || ' ' || {ctx.fn('pad', 'ep.season_number')} || "
        f"{ctx.fn('pad', 'ep.episode_number')}"
    )
    flags = ", ".join(f"ep.f_{name}" for name in ITEM_BLOCKERS)
    risks = ", ".join(f"ep.r_{name}" for name in RISK_NAMES)
    return f"""{episode_flags(ctx, query, sources(ctx, query)["episodes"])},
cand AS (
    SELECT ep.episode_id AS row_id, ep.size_bytes AS bytes, ep.watched_users, ep.last_at,
        ep.added_at, {flags}, 0 AS f_rollup_not_strictly_eligible, {risks},
        ep.mapping_rank, 1 AS episode_count, 0 AS eligible_count,
        CASE WHEN ep.mapping_rank >= {index.VERIFIED_RANKS} THEN 1 ELSE 0 END
            AS unverified_count,
        {title_key} AS title_key
    FROM ep
)"""


def rollup_rows(ctx: Context, query: CandidateQuery, group: str) -> str:
    """Seasons (``group = season_id``) or shows (``series_id``) from the index.

    Users first: per (group, selected user) how many of the group's episodes they watched,
    against its ``episode_count``; then only the episodes of groups that match are looked at
    for blockers and eligibility.
    """
    src = sources(ctx, query)
    groups = src["seasons" if group == "season_id" else "shows"]
    group_match = match_expr(query.watched_match_mode, "COALESCE(gu.watched_users, 0)")
    episode_match = match_expr(query.watched_match_mode, "ep.watched_users")
    episode_blocked = _sum_flags("ep.f_", ITEM_BLOCKERS)
    matched = (
        ""
        if query.target_ids is not None
        else (f"AND ce.{group} IN (SELECT gid FROM gm WHERE matches = 1)")
    )
    join, only = watch_join(query, "COALESCE(gu.watched_users, 0)")
    flags = ", ".join(f"MAX(ep.f_{name}) AS f_{name}" for name in ITEM_BLOCKERS)
    return f"""
gw AS (
    SELECT ce.{group} AS gid, uw.uid, SUM(uw.watched) AS c, MAX(uw.last_at) AS last_at
    FROM uw JOIN {src["episodes"]} ce ON ce.episode_id = uw.wid
    GROUP BY ce.{group}, uw.uid
),
gm AS (
    SELECT g.{group} AS gid, g.episode_count, g.size_bytes, g.added_at, g.mapping_rank,
        g.unverified_count, g.unmapped, g.provisional, g.title_key,
        COALESCE(gu.watched_users, 0) AS watched_users, gu.last_at,
        CASE WHEN {group_match} THEN 1 ELSE 0 END AS matches
    FROM {groups} g
    {join} (
        SELECT gw.gid, SUM(CASE WHEN gw.c = g2.episode_count THEN 1 ELSE 0 END) AS watched_users,
            MAX(gw.last_at) AS last_at
        FROM gw JOIN {groups} g2 ON g2.{group} = gw.gid
        GROUP BY gw.gid
    ) gu ON gu.gid = g.{group}
    WHERE TRUE {only}
),
{episode_flags(ctx, query, src["episodes"], matched)},
grp AS (
    SELECT ep.{group} AS gid, {flags},
        SUM(CASE WHEN {episode_match} AND {episode_blocked} = 0 THEN 1 ELSE 0 END)
            AS eligible_count
    FROM ep GROUP BY ep.{group}
),
cand AS (
    SELECT gm.gid AS row_id, gm.size_bytes AS bytes, gm.watched_users, gm.last_at,
        gm.added_at,
        {", ".join(f"COALESCE(grp.f_{name}, 0) AS f_{name}" for name in ITEM_BLOCKERS)},
        CASE WHEN COALESCE(grp.eligible_count, 0) < gm.episode_count THEN 1 ELSE 0 END
            AS f_rollup_not_strictly_eligible,
        0 AS r_multiple_versions, gm.unmapped AS r_no_plex_mapping,
        gm.provisional AS r_provisional_mapping, 0 AS r_shared_file,
        gm.mapping_rank, gm.episode_count, COALESCE(grp.eligible_count, 0) AS eligible_count,
        gm.unverified_count, gm.title_key
    FROM gm LEFT JOIN grp ON grp.gid = gm.gid
)"""


def movie_rows(ctx: Context, query: CandidateQuery) -> str:
    match = flag_gate(query, "COALESCE(w.watched_users, 0)")
    join, only = watch_join(query, "COALESCE(w.watched_users, 0)")

    def files_in(ids: str) -> str:
        return (
            f"cm.movie_id IN (SELECT f.attachable_id FROM media_files f WHERE f.id IN ({ids})"
            " AND f.attachable_type = 'movie')"
        )

    keep = "cm.movie_id IN (SELECT keepable_id FROM keep_markers WHERE keepable_type = 'movie')"
    # The index's mapping rank can lag a running sync's mapping phase: ask the movie itself.
    live_ambiguous = (
        "cm.movie_id IN (SELECT id FROM movies WHERE mapping_status_code = 'ambiguous_conflict')"
    )
    unattributed = (
        "EXISTS (SELECT 1 FROM uam WHERE uam.title = cm.title_lower"
        " AND (uam.year IS NULL OR cm.year IS NULL OR uam.year = cm.year))"
    )
    return f"""
uam AS (
    SELECT DISTINCT LOWER(title) AS title, year FROM watch_history
    WHERE watchable_id IS NULL AND media_type = 'movie' AND tautulli_user_id IN (:tautulli*)
),
cand AS (
    SELECT cm.movie_id AS row_id, cm.size_bytes AS bytes,
        COALESCE(w.watched_users, 0) AS watched_users, w.last_at, cm.added_at,
        {lazy(files_in("SELECT id FROM excl_files"), match)} AS f_path_excluded,
        {lazy(keep, match)} AS f_keep_marked,
        COALESCE(w.progressing, 0) AS f_in_progress_any,
        CASE WHEN cm.mapping_rank = {AMBIGUOUS_RANK} THEN 1 ELSE {lazy(live_ambiguous, match)} END
            AS f_ambiguous_mapping,
        {lazy(files_in("SELECT id FROM amb_files"), match)} AS f_ambiguous_ownership,
        {lazy("cm.integration_id IN (SELECT id FROM unavailable)", match)}
            AS f_integration_unavailable,
        {lazy(unattributed, match)} AS f_unattributed_watch_history,
        0 AS f_rollup_not_strictly_eligible,
        CASE WHEN cm.versions > 1 THEN 1 ELSE 0 END AS r_multiple_versions,
        cm.unmapped AS r_no_plex_mapping, cm.provisional AS r_provisional_mapping,
        0 AS r_shared_file, cm.mapping_rank,
        1 AS episode_count, 0 AS eligible_count, 0 AS unverified_count, cm.title_key
    FROM {sources(ctx, query)["movies"]} cm
    {join} w ON w.wid = cm.movie_id
    WHERE TRUE {only}
)"""


def sort_key(ctx: Context, sort: str) -> str:
    """A non-null sort key of one type per sort (times as epoch seconds, none = -1)."""
    if sort == "reclaimable_bytes":
        return "cand.bytes"
    if sort == "title":
        return "cand.title_key"
    column = "cand.last_at" if sort == "last_watched_at" else "cand.added_at"
    return f"COALESCE({ctx.fn('epoch', column)}, -1)"


SCANNED = {"movie": "movies", "tv_episode": "episodes", "tv_season": "seasons", "tv_show": "shows"}


def statement(ctx: Context, query: CandidateQuery) -> str:
    """The page statement: diagnostics over every row of the scope, joined with one page.

    ``ep`` and ``scoped`` are ``NOT MATERIALIZED``: computing the rows twice (once for the
    diagnostics, once for the page) measured ~20 % faster than writing them to a temporary
    table and reading that twice.

    ``cand`` holds the rows that match the mode; the diagnostics count the rest from the size
    of the index. With ``target_ids`` (deletion planning) every named row is returned, watched
    or not, blocked or not, without paging, so a plan can say why a target is not eligible.
    """
    scope_rows = {
        "movie": lambda: movie_rows(ctx, query),
        "tv_episode": lambda: episode_rows(ctx, query),
        "tv_season": lambda: rollup_rows(ctx, query, "season_id"),
        "tv_show": lambda: rollup_rows(ctx, query, "series_id"),
    }[query.scope]()
    watchable = "movie" if query.scope == "movie" else "episode"
    scanned = sources(ctx, query)[SCANNED[query.scope]]
    blocked = _sum_flags("cand.f_", BLOCKER_NAMES)
    direction = "DESC" if query.order == "desc" else "ASC"
    visible = "matches = 1 AND (blocked = 0 OR :include_blocked = 1)"
    keyset = ""
    if query.cursor is not None:
        op = "<" if direction == "DESC" else ">"
        keyset = (
            f"AND (sort_key {op} :after_key OR (sort_key = :after_key AND row_id {op} :after_id))"
        )
    order = f"sort_key {direction}, row_id {direction}"
    page = f"WHERE {visible} {keyset} ORDER BY {order} LIMIT :limit"
    if query.target_ids is not None:
        page, order = "", "row_id"
    live = query.target_ids is not None
    return f"""WITH {common_ctes(ctx, watchable, live=live)},{scope_rows},
scoped AS NOT MATERIALIZED (
    SELECT cand.*, CASE WHEN {match_expr(query.watched_match_mode, "cand.watched_users")}
            THEN 1 ELSE 0 END AS matches,
        CASE WHEN {blocked} > 0 THEN 1 ELSE 0 END AS blocked,
        {sort_key(ctx, query.sort)} AS sort_key
    FROM cand
),
diag AS (
    SELECT (SELECT COUNT(*) FROM {scanned} counted) AS d_scanned,
        COALESCE(SUM(matches), 0) AS d_matched,
        COALESCE(SUM(matches * blocked), 0) AS d_blocked,
        COALESCE(SUM(CASE WHEN {visible} THEN 1 ELSE 0 END), 0) AS d_matching,
        COALESCE(SUM(CASE WHEN {visible} THEN bytes ELSE 0 END), 0) AS d_bytes
    FROM scoped
),
page AS (SELECT * FROM scoped {page})
SELECT * FROM diag LEFT JOIN page ON 1 = 1
ORDER BY {", ".join(f"page.{part}" for part in order.split(", "))}"""


def parameters(ctx: Context, query: CandidateQuery, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The values of every ``:name`` the statement may use."""
    after_key, after_id = query.cursor if query.cursor is not None else (None, None)
    return {
        "users": list(ctx.user_ids),
        "tautulli": list(ctx.tautulli_ids),
        "n": len(ctx.user_ids),
        "threshold": int(settings["watched_percent_threshold"]),
        "min_offset": int(settings["in_progress_min_offset_ms"]),
        "include_blocked": 1 if query.include_blocked else 0,
        "limit": query.limit + 1,  # one more tells whether there is a next page
        "after_key": after_key,
        "after_id": after_id,
        "targets": list(query.target_ids or ()),
    }


def watchers(ctx: Context, scope: str) -> str:
    """For the page's rows: which selected users watched them (``gid, uid, watched``).

    For seasons and shows ``watched`` counts the user's watched episodes with a file; the user
    watched the roll-up when it equals the row's ``episode_count``.
    """
    watched = watched_expr(ctx)
    if scope in ("movie", "tv_episode"):
        kind = "movie" if scope == "movie" else "episode"
        return f"""SELECT ws.watchable_id AS gid, ws.plex_user_id AS uid, 1 AS watched
FROM watch_stats ws
WHERE ws.watchable_type = '{kind}' AND ws.watchable_id IN (:targets*)
    AND ws.plex_user_id IN (:users*) AND {watched}"""
    column = "e.season_id" if scope == "tv_season" else "se.series_id"
    return f"""SELECT {column} AS gid, ws.plex_user_id AS uid, COUNT(*) AS watched
FROM {EPISODE_FROM}
JOIN watch_stats ws ON ws.watchable_type = 'episode' AND ws.watchable_id = e.id
WHERE {PRESENT_EPISODE} AND {column} IN (:targets*) AND ws.plex_user_id IN (:users*)
    AND {watched}
GROUP BY {column}, ws.plex_user_id"""


def files(scope: str) -> str:
    """The present files of the page's rows (``gid`` and the file's columns)."""
    columns = "f.id, f.size_bytes, f.quality, f.path, f.arr_file_id, f.integration_id"
    if scope == "movie":
        return f"""SELECT f.attachable_id AS gid, {columns} FROM media_files f
WHERE f.attachable_type = 'movie' AND f.attachable_id IN (:targets*) AND {PRESENT_FILE}
ORDER BY f.id"""
    column = {"tv_episode": "e.id", "tv_season": "e.season_id", "tv_show": "se.series_id"}[scope]
    return f"""SELECT DISTINCT {column} AS gid, {columns} FROM {EPISODE_FROM}
WHERE {PRESENT_EPISODE} AND {column} IN (:targets*)
ORDER BY f.id"""
