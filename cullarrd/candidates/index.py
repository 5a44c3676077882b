"""The candidate index: a narrow read model of the inventory the candidate query scans (SPEC §6).

One row per present episode with a present file (``candidate_episodes``), per movie with a
present file (``candidate_movies``) and per season and show with such episodes
(``candidate_seasons``, ``candidate_shows``), holding only what the sync changes: sizes (a
multi-episode file counted once per season and show), dates, mapping rank, title keys. A query
then scans one small table instead of joining five wide ones.

What people change between syncs (keep markers, exclusions), watch state and integration health
are never stored here: the query reads them live. Each row definition below is the single
statement of the rules: ``refresh`` materialises it, and deletion planning evaluates the same
text inline for the items it names, so a decision never rests on a stale row.

``refresh`` runs inside a store write in the sync's risk detection phase (after inventory and
mapping) and again after cleanup when it marked rows missing, and writes only rows that differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from cullarrd.candidates.blockers import MAPPING_ORDER
from cullarrd.store.db import dialect
from cullarrd.store.models import database_proxy

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
AMBIGUOUS_RANK = MAPPING_ORDER.index("ambiguous_conflict")
VERIFIED_RANKS = 3  # ranks below this are verified mappings
PAD = {"sqlite": "printf('%06d', {0})", "postgresql": "LPAD(CAST({0} AS TEXT), 6, '0')"}
DISTINCT = {"sqlite": "IS NOT", "postgresql": "IS DISTINCT FROM"}


def mapping_rank(column: str) -> str:
    """The position of a mapping status in ``MAPPING_ORDER`` (worse is higher)."""
    cases = " ".join(f"WHEN '{code}' THEN {rank}" for rank, code in enumerate(MAPPING_ORDER))
    return f"CASE {column} {cases} ELSE {MAPPING_ORDER.index('unresolved')} END"


def episode_rows(backend: str, where: str = "") -> str:
    """``candidate_episodes`` rows: present episodes with a present file."""
    return f"""SELECT e.id AS episode_id, e.season_id, se.series_id, e.media_file_id,
    e.integration_id, f.size_bytes, f.added_at,
    {mapping_rank("e.mapping_status_code")} AS mapping_rank,
    CASE WHEN e.plex_rating_key IS NULL THEN 1 ELSE 0 END AS unmapped,
    CASE WHEN e.mapping_status_code = 'provisional_title_year' THEN 1 ELSE 0 END AS provisional,
    se.season_number, e.episode_number,
    LOWER(COALESCE(sr.sort_title, sr.title)) AS series_key,
    LOWER(sr.title) || '|' || e.season_number || '|' || e.episode_number AS history_key
FROM {EPISODE_FROM}
WHERE {PRESENT_EPISODE} {where}"""


def movie_rows(backend: str, where: str = "") -> str:
    """``candidate_movies`` rows: present movies with a present file, versions added up."""
    return f"""SELECT m.id AS movie_id, m.integration_id, SUM(f.size_bytes) AS size_bytes,
    COUNT(*) AS versions, COALESCE(MAX(f.added_at), m.added_at) AS added_at,
    {mapping_rank("m.mapping_status_code")} AS mapping_rank,
    CASE WHEN m.plex_rating_key IS NULL THEN 1 ELSE 0 END AS unmapped,
    CASE WHEN m.mapping_status_code = 'provisional_title_year' THEN 1 ELSE 0 END AS provisional,
    LOWER(COALESCE(m.sort_title, m.title)) AS title_key, LOWER(m.title) AS title_lower, m.year
FROM movies m
JOIN media_files f ON f.attachable_type = 'movie' AND f.attachable_id = m.id AND {PRESENT_FILE}
WHERE m.missing_since IS NULL {where}
GROUP BY m.id"""


def group_rows(backend: str, group: str, episodes: str) -> str:
    """``candidate_seasons`` (``group = season``) or ``candidate_shows`` rows, aggregated
    from the episode rows in ``episodes`` (a table name or a parenthesised select)."""
    column = "season_id" if group == "season" else "series_id"
    title_key = "MAX(ce.series_key)"
    series = ""
    if group == "season":
        title_key += f" || ' ' || {PAD[backend].format('MAX(ce.season_number)')}"
        series = "g.series_id, "
    return f"""SELECT g.gid AS {column}, {series}g.episode_count, b.size_bytes, g.added_at,
    g.mapping_rank, g.unverified_count, g.unmapped, g.provisional, g.title_key
FROM (
    SELECT ce.{column} AS gid, MAX(ce.series_id) AS series_id, COUNT(*) AS episode_count,
        MAX(ce.added_at) AS added_at, MAX(ce.mapping_rank) AS mapping_rank,
        SUM(CASE WHEN ce.mapping_rank >= {VERIFIED_RANKS} THEN 1 ELSE 0 END) AS unverified_count,
        MAX(ce.unmapped) AS unmapped, MAX(ce.provisional) AS provisional,
        {title_key} AS title_key
    FROM {episodes} ce GROUP BY ce.{column}
) g
JOIN (
    SELECT d.gid, SUM(d.size_bytes) AS size_bytes
    FROM (SELECT DISTINCT x.{column} AS gid, x.media_file_id, x.size_bytes FROM {episodes} x) d
    GROUP BY d.gid
) b ON b.gid = g.gid"""


@dataclass(frozen=True)
class Table:
    name: str
    key: str
    columns: tuple[str, ...]

    def rows(self, backend: str) -> str:
        if self.name == "candidate_episodes":
            return episode_rows(backend)
        if self.name == "candidate_movies":
            return movie_rows(backend)
        group = "season" if self.name == "candidate_seasons" else "show"
        return group_rows(backend, group, "candidate_episodes")


_GROUP = ("episode_count", "size_bytes", "added_at", "mapping_rank", "unverified_count",
          "unmapped", "provisional", "title_key")  # fmt: skip
# In refresh order: seasons and shows aggregate the episode rows written just before.
TABLES = (
    Table(
        "candidate_episodes", "episode_id",
        ("season_id", "series_id", "media_file_id", "integration_id", "size_bytes", "added_at",
         "mapping_rank", "unmapped", "provisional", "season_number", "episode_number",
         "series_key", "history_key"),
    ),
    Table(
        "candidate_movies", "movie_id",
        ("integration_id", "size_bytes", "versions", "added_at", "mapping_rank", "unmapped",
         "provisional", "title_key", "title_lower", "year"),
    ),
    Table("candidate_seasons", "season_id", ("series_id", *_GROUP)),
    Table("candidate_shows", "series_id", _GROUP),
)  # fmt: skip


def refresh() -> int:
    """Bring every candidate table in line with the inventory (inside a write); rows written.

    Each table's rows are computed once into a temporary table, then only the differences are
    written: rows gone are deleted, new or changed ones upserted.
    """
    db = database_proxy.obj
    backend = dialect(db)
    differs = DISTINCT[backend]
    written = 0
    for table in TABLES:
        db.execute_sql("DROP TABLE IF EXISTS fresh_candidate_rows")
        db.execute_sql(f"CREATE TEMPORARY TABLE fresh_candidate_rows AS {table.rows(backend)}")
        names = ", ".join((table.key, *table.columns))
        updates = ", ".join(f"{c} = excluded.{c}" for c in table.columns)
        changed = " OR ".join(f"{table.name}.{c} {differs} excluded.{c}" for c in table.columns)
        gone = db.execute_sql(
            f"DELETE FROM {table.name} WHERE {table.key} NOT IN "
            f"(SELECT {table.key} FROM fresh_candidate_rows)"
        )
        upserted = db.execute_sql(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM fresh_candidate_rows"
            f" WHERE TRUE ON CONFLICT ({table.key}) DO UPDATE SET {updates} WHERE {changed}"
        )
        written += max(gone.rowcount, 0) + max(upserted.rowcount, 0)
        db.execute_sql("DROP TABLE fresh_candidate_rows")
    return written
