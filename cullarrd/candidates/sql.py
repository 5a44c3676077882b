"""The candidate query as set-based SQL, one statement per page (SPEC §6, ARCHITECTURE rule 6).

One statement computes, for every item of the scope that has a present file, its reclaimable
bytes, how many selected users watched it, one 0/1 column per blocker (``f_<flag>``) and risk
(``r_<flag>``), and its sort key; it then returns the diagnostics over all of them joined with
one page (keyset-paged after the cursor). Seasons and shows aggregate their episodes in SQL:
a user counts for a season only with every episode that has a file watched, a multi-episode
file counts once, and any episode that is blocked or not eligible under the match mode makes
the roll-up ``rollup_not_strictly_eligible``.

Text is written with ``:name`` parameters (``:name*`` expands a list) and bound per dialect by
``bind``; the few functions SQLite and PostgreSQL spell differently come from ``DIALECT``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cullarrd.candidates.blockers import BLOCKER_NAMES, MAPPING_ORDER, RISK_NAMES
from cullarrd.candidates.params import CandidateQuery

DIALECT = {
    "sqlite": {
        "epoch": "CAST(strftime('%s', {0}) AS INTEGER)",
        "pad": "printf('%04d', {0})",
        "bytewise": "{0}",  # SQLite compares text byte by byte already
    },
    "postgresql": {
        "epoch": "CAST(EXTRACT(EPOCH FROM {0}) AS BIGINT)",
        "pad": "LPAD(CAST({0} AS TEXT), 4, '0')",
        "bytewise": '{0} COLLATE "C"',
    },
}
PRESENT_FILE = "f.missing_since IS NULL AND f.culled_at IS NULL"
# An episode counts when it, its season, its series and its file are all present.
EPISODE_FROM = """episodes e
    JOIN media_files f ON f.id = e.media_file_id
    JOIN seasons se ON se.id = e.season_id
    JOIN series sr ON sr.id = se.series_id"""
PRESENT_EPISODE = (
    "e.missing_since IS NULL AND se.missing_since IS NULL AND sr.missing_since IS NULL"
    f" AND {PRESENT_FILE}"
)
# Movie/episode row attributes (the 1/0 flags) the episode-level CTE and the movie rows share.
EPISODE_BLOCKERS = [name for name in BLOCKER_NAMES if name != "rollup_not_strictly_eligible"]
MAPPING_RANK = (
    "CASE {0} "
    + " ".join(f"WHEN '{code}' THEN {rank}" for rank, code in enumerate(MAPPING_ORDER))
    + f" ELSE {MAPPING_ORDER.index('unresolved')} END"
)
VERIFIED_RANKS = 3  # ranks below this are verified mappings

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


def common_ctes(ctx: Context, watchable_type: str) -> str:
    """Small sets every scope reads: the selected users' watch state per item, the files under
    an enabled exclusion or on an ambiguously owned path, the unavailable integrations.

    Each blocker is computed once as a set of ids and joined, never re-evaluated per row.
    ``sel CROSS JOIN watch_stats`` makes SQLite walk the (user, type, id) index user by user
    instead of every stats row of the type.
    """
    watched = watched_expr(ctx)
    path = "f.path_canonical"
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
    SELECT f.id FROM ambiguous_paths a CROSS JOIN media_files f
    WHERE f.path_canonical = a.path_canonical
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
    WHERE status = 'removed' OR supported_for_delete = FALSE OR last_sync_outcome = 'failed'
)"""


# A path is under a prefix when it equals it or continues with "/": the range ("p/", "p0")
# holds exactly the latter in byte order ("/" is 0x2F, "0" the next byte), so each exclusion is
# one range scan of the path index.
def lazy(condition: str, match: str) -> str:
    """A 0/1 flag evaluated only for rows that match the mode (the others cannot be shown,
    counted as blocked or make a roll-up eligible), so most rows skip every lookup."""
    return f"CASE WHEN {match} THEN (CASE WHEN {condition} THEN 1 ELSE 0 END) ELSE 0 END"


def episode_base(ctx: Context, query: CandidateQuery, target: str = "") -> str:
    """``ep``: one row per present episode with a present file, its flags and watch counts.

    Blocker flags are looked up only for episodes that match the mode on their own: in a
    season or show that matches, every episode that can be eligible does.
    """
    match = match_expr(query.watched_match_mode, "COALESCE(w.watched_users, 0)")
    episode_key = "LOWER(sr.title) || '|' || e.season_number || '|' || e.episode_number"
    return f"""
ua AS (
    SELECT DISTINCT LOWER(grandparent_title) || '|' || season_number || '|' || episode_number
        AS episode_key
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
ep AS MATERIALIZED (
    SELECT e.id AS episode_id, e.season_id, se.series_id, se.season_number, e.episode_number,
        e.media_file_id, f.size_bytes, f.added_at,
        {MAPPING_RANK.format("e.mapping_status_code")} AS mapping_rank,
        COALESCE(w.watched_users, 0) AS watched_users, w.last_at,
        {lazy("f.id IN (SELECT id FROM excl_files)", match)} AS f_path_excluded,
        {lazy("e.id IN (SELECT eid FROM kept)", match)} AS f_keep_marked,
        COALESCE(w.progressing, 0) AS f_in_progress_any,
        CASE WHEN e.mapping_status_code = 'ambiguous_conflict' THEN 1 ELSE 0 END
            AS f_ambiguous_mapping,
        {lazy("f.id IN (SELECT id FROM amb_files)", match)} AS f_ambiguous_ownership,
        {lazy("e.integration_id IN (SELECT id FROM unavailable)", match)}
            AS f_integration_unavailable,
        {lazy(f"{episode_key} IN (SELECT episode_key FROM ua)", match)}
            AS f_unattributed_watch_history,
        0 AS r_multiple_versions,
        CASE WHEN e.plex_rating_key IS NULL THEN 1 ELSE 0 END AS r_no_plex_mapping,
        CASE WHEN e.mapping_status_code = 'provisional_title_year' THEN 1 ELSE 0 END
            AS r_provisional_mapping,
        0 AS r_shared_file,
        LOWER(COALESCE(sr.sort_title, sr.title)) AS series_key
    FROM {EPISODE_FROM}
    LEFT JOIN w ON w.wid = e.id
    WHERE {PRESENT_EPISODE} {target}
)"""


def episode_rows(ctx: Context, query: CandidateQuery) -> str:
    target = "AND e.id IN (:targets*)" if query.target_ids is not None else ""
    title_key = (
        f"ep.series_key || ' ' || {ctx.fn('pad', 'ep.season_number')} || "
        f"{ctx.fn('pad', 'ep.episode_number')}"
    )
    flags = ", ".join(f"ep.f_{name}" for name in EPISODE_BLOCKERS)
    risks = ", ".join(f"ep.r_{name}" for name in RISK_NAMES)
    return f"""{episode_base(ctx, query, target)},
cand AS (
    SELECT ep.episode_id AS row_id, ep.size_bytes AS bytes, ep.watched_users, ep.last_at,
        ep.added_at, {flags}, 0 AS f_rollup_not_strictly_eligible, {risks},
        ep.mapping_rank, 1 AS episode_count, 0 AS eligible_count,
        CASE WHEN ep.mapping_rank >= {VERIFIED_RANKS} THEN 1 ELSE 0 END AS unverified_count,
        {title_key} AS title_key
    FROM ep
)"""


def rollup_rows(ctx: Context, query: CandidateQuery, group: str) -> str:
    """Seasons (``group = season_id``) or shows (``series_id``) aggregated from ``ep``."""
    target = f"AND {group_column(group)} IN (:targets*)" if query.target_ids is not None else ""
    episode_match = match_expr(query.watched_match_mode, "ep.watched_users")
    episode_blocked = _sum_flags("ep.f_", EPISODE_BLOCKERS)
    flags = ", ".join(f"MAX(ok.f_{name}) AS f_{name}" for name in EPISODE_BLOCKERS)
    title_key = "MAX(ok.series_key)"
    if group == "season_id":
        title_key += f" || ' ' || {ctx.fn('pad', 'MAX(ok.season_number)')}"
    return f"""{episode_base(ctx, query, target)},
ok AS (
    SELECT ep.*, CASE WHEN {episode_match} AND {episode_blocked} = 0 THEN 1 ELSE 0 END AS eligible
    FROM ep
),
grp AS (
    SELECT ok.{group} AS gid, COUNT(*) AS episode_count, SUM(ok.eligible) AS eligible_count,
        MAX(ok.last_at) AS last_at, MAX(ok.added_at) AS added_at, {flags},
        0 AS r_multiple_versions, MAX(ok.r_no_plex_mapping) AS r_no_plex_mapping,
        MAX(ok.r_provisional_mapping) AS r_provisional_mapping, 0 AS r_shared_file,
        MAX(ok.mapping_rank) AS mapping_rank,
        SUM(CASE WHEN ok.mapping_rank >= {VERIFIED_RANKS} THEN 1 ELSE 0 END) AS unverified_count,
        {title_key} AS title_key
    FROM ok GROUP BY ok.{group}
),
gbytes AS (
    SELECT d.gid, SUM(d.size_bytes) AS bytes
    FROM (SELECT DISTINCT {group} AS gid, media_file_id, size_bytes FROM ep) d
    GROUP BY d.gid
),
gusers AS (
    SELECT per_user.gid, SUM(CASE WHEN per_user.c = grp.episode_count THEN 1 ELSE 0 END)
        AS watched_users
    FROM (
        SELECT ep.{group} AS gid, uw.uid, SUM(uw.watched) AS c
        FROM uw JOIN ep ON ep.episode_id = uw.wid
        GROUP BY ep.{group}, uw.uid
    ) per_user
    JOIN grp ON grp.gid = per_user.gid
    GROUP BY per_user.gid
),
cand AS (
    SELECT grp.gid AS row_id, gbytes.bytes, COALESCE(gusers.watched_users, 0) AS watched_users,
        grp.last_at, grp.added_at,
        {", ".join(f"grp.f_{name}" for name in EPISODE_BLOCKERS)},
        CASE WHEN grp.eligible_count < grp.episode_count THEN 1 ELSE 0 END
            AS f_rollup_not_strictly_eligible,
        {", ".join(f"grp.r_{name}" for name in RISK_NAMES)},
        grp.mapping_rank, grp.episode_count, grp.eligible_count, grp.unverified_count,
        grp.title_key
    FROM grp
    JOIN gbytes ON gbytes.gid = grp.gid
    LEFT JOIN gusers ON gusers.gid = grp.gid
)"""


def movie_rows(ctx: Context, query: CandidateQuery) -> str:
    target = "AND m.id IN (:targets*)" if query.target_ids is not None else ""
    file_target = "AND f.attachable_id IN (:targets*)" if query.target_ids is not None else ""
    match = match_expr(query.watched_match_mode, "COALESCE(w.watched_users, 0)")

    def files_in(ids: str) -> str:
        return (
            f"m.id IN (SELECT f.attachable_id FROM media_files f WHERE f.id IN ({ids})"
            " AND f.attachable_type = 'movie')"
        )

    return f"""
uam AS (
    SELECT DISTINCT LOWER(title) AS title, year FROM watch_history
    WHERE watchable_id IS NULL AND media_type = 'movie' AND tautulli_user_id IN (:tautulli*)
),
mf AS (
    SELECT f.attachable_id AS movie_id, COUNT(*) AS versions, SUM(f.size_bytes) AS bytes,
        MAX(f.added_at) AS added_at
    FROM media_files f
    WHERE f.attachable_type = 'movie' AND {PRESENT_FILE} {file_target}
    GROUP BY f.attachable_id
),
cand AS (
    SELECT m.id AS row_id, mf.bytes, COALESCE(w.watched_users, 0) AS watched_users, w.last_at,
        COALESCE(mf.added_at, m.added_at) AS added_at,
        {lazy(files_in("SELECT id FROM excl_files"), match)} AS f_path_excluded,
        {
        lazy("m.id IN (SELECT keepable_id FROM keep_markers WHERE keepable_type = 'movie')", match)
    } AS f_keep_marked,
        COALESCE(w.progressing, 0) AS f_in_progress_any,
        CASE WHEN m.mapping_status_code = 'ambiguous_conflict' THEN 1 ELSE 0 END
            AS f_ambiguous_mapping,
        {lazy(files_in("SELECT id FROM amb_files"), match)} AS f_ambiguous_ownership,
        {lazy("m.integration_id IN (SELECT id FROM unavailable)", match)}
            AS f_integration_unavailable,
        {
        lazy(
            "EXISTS (SELECT 1 FROM uam WHERE uam.title = LOWER(m.title) AND (uam.year IS NULL"
            " OR m.year IS NULL OR uam.year = m.year))",
            match,
        )
    }
            AS f_unattributed_watch_history,
        0 AS f_rollup_not_strictly_eligible,
        CASE WHEN mf.versions > 1 THEN 1 ELSE 0 END AS r_multiple_versions,
        CASE WHEN m.plex_rating_key IS NULL THEN 1 ELSE 0 END AS r_no_plex_mapping,
        CASE WHEN m.mapping_status_code = 'provisional_title_year' THEN 1 ELSE 0 END
            AS r_provisional_mapping,
        0 AS r_shared_file,
        {MAPPING_RANK.format("m.mapping_status_code")} AS mapping_rank,
        1 AS episode_count, 0 AS eligible_count, 0 AS unverified_count,
        LOWER(COALESCE(m.sort_title, m.title)) AS title_key
    FROM movies m
    JOIN mf ON mf.movie_id = m.id
    LEFT JOIN w ON w.wid = m.id
    WHERE m.missing_since IS NULL {target}
)"""


def sort_key(ctx: Context, sort: str) -> str:
    """A non-null sort key of one type per sort (times as epoch seconds, none = -1)."""
    if sort == "reclaimable_bytes":
        return "cand.bytes"
    if sort == "title":
        return "cand.title_key"
    column = "cand.last_at" if sort == "last_watched_at" else "cand.added_at"
    return f"COALESCE({ctx.fn('epoch', column)}, -1)"


def statement(ctx: Context, query: CandidateQuery, *, everything: bool = False) -> str:
    """The page statement: diagnostics over every scoped row, joined with one page.

    ``everything`` returns every row (watched or not, blocked or not) without paging, for
    deletion planning to see why a named target is or is not eligible.
    """
    scope_rows = {
        "movie": lambda: movie_rows(ctx, query),
        "tv_episode": lambda: episode_rows(ctx, query),
        "tv_season": lambda: rollup_rows(ctx, query, "season_id"),
        "tv_show": lambda: rollup_rows(ctx, query, "series_id"),
    }[query.scope]()
    watchable = "movie" if query.scope == "movie" else "episode"
    blocked = _sum_flags("cand.f_", BLOCKER_NAMES)
    direction = "DESC" if query.order == "desc" else "ASC"
    visible = "matches = 1 AND (blocked = 0 OR :include_blocked = 1)"
    keyset = ""
    if query.cursor is not None:
        op = "<" if direction == "DESC" else ">"
        keyset = (
            f"AND (sort_key {op} :after_key OR (sort_key = :after_key AND row_id {op} :after_id))"
        )
    order = f"ORDER BY sort_key {direction}, row_id {direction}"
    page = f"WHERE {visible} {keyset} {order} LIMIT :limit"
    if everything:
        page = "ORDER BY row_id"
    return f"""WITH {common_ctes(ctx, watchable)},{scope_rows},
scoped AS (
    SELECT cand.*, CASE WHEN {match_expr(query.watched_match_mode, "cand.watched_users")}
            THEN 1 ELSE 0 END AS matches,
        CASE WHEN {blocked} > 0 THEN 1 ELSE 0 END AS blocked,
        {sort_key(ctx, query.sort)} AS sort_key
    FROM cand
),
diag AS (
    SELECT COUNT(*) AS d_scanned, COALESCE(SUM(1 - matches), 0) AS d_unwatched,
        COALESCE(SUM(matches * blocked), 0) AS d_blocked,
        COALESCE(SUM(CASE WHEN {visible} THEN 1 ELSE 0 END), 0) AS d_matching,
        COALESCE(SUM(CASE WHEN {visible} THEN bytes ELSE 0 END), 0) AS d_bytes
    FROM scoped
),
page AS (SELECT * FROM scoped {page})
SELECT * FROM diag LEFT JOIN page ON 1 = 1
ORDER BY page.sort_key {direction}, page.row_id {direction}"""


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


def group_column(group: str) -> str:
    """The column naming an episode's season (``season_id``) or show (``series_id``)."""
    return "e.season_id" if group == "season_id" else "se.series_id"


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
    column = group_column("season_id" if scope == "tv_season" else "series_id")
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
