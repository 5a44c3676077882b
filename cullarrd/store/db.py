"""Open the store (SQLite file or PostgreSQL URL) and give it one writer and many readers.

Peewee is synchronous; the daemon's loop must not block on it. Reads run in a thread pool,
writes go through a single writer thread in explicit transactions (SQLite: ``BEGIN IMMEDIATE``),
so no write transaction is ever held across an HTTP call or interleaved with another writer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import peewee

from cullarrd.errors import CullarrError
from cullarrd.store.models import ALL_MODELS, database_proxy

T = TypeVar("T")

MIN_SQLITE = (3, 35)
SQLITE_PRAGMAS = (
    ("journal_mode", "wal"),
    ("foreign_keys", 1),
    ("busy_timeout", 10000),
    ("synchronous", "normal"),
    # Candidate queries materialise and sort thousands of rows: keep those temporary b-trees
    # in memory rather than in temporary files (measured ~10 % on the benchmark library).
    ("temp_store", "memory"),
)


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///rel.db`` is relative, ``sqlite:////abs.db`` absolute (SQLAlchemy convention)."""
    return url[len("sqlite:///") :]


def open_database(url: str, *, options: str | None = None) -> peewee.Database:
    """Build (not yet connect) a Peewee database for a ``sqlite:///`` or ``postgresql://`` URL."""
    if url.startswith("sqlite:///"):
        if sqlite3.sqlite_version_info < MIN_SQLITE:
            raise CullarrError(
                f"SQLite {sqlite3.sqlite_version} is too old: cullarrd needs "
                f"{'.'.join(map(str, MIN_SQLITE))} or newer (MATERIALIZED CTE hints)",
                code="store_unsupported",
            )
        path = sqlite_path_from_url(url)
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        return peewee.SqliteDatabase(
            path, pragmas=SQLITE_PRAGMAS, lock_type="IMMEDIATE", timeout=10, autoconnect=True
        )
    parts = urlsplit(url)
    if parts.scheme in ("postgresql", "postgres"):
        kwargs: dict[str, object] = {
            "user": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None,
            "host": parts.hostname,
            "port": parts.port,
            "connect_timeout": 10,
        }
        if options:
            kwargs["options"] = options
        return peewee.PostgresqlDatabase(
            parts.path.lstrip("/"),
            autoconnect=True,
            **{k: v for k, v in kwargs.items() if v is not None},
        )
    raise CullarrError(f"unsupported database URL scheme {parts.scheme!r}", code="config_invalid")


def dialect(db: peewee.Database) -> str:
    """``sqlite`` or ``postgresql``: the two backends the schema is written for."""
    return "postgresql" if isinstance(db, peewee.PostgresqlDatabase) else "sqlite"


def redact_url(url: str) -> str:
    """The URL without its password, for logs and status output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


class Store:
    """The store as the daemon uses it: one writer thread, a small pool of readers."""

    def __init__(self, db: peewee.Database, *, readers: int = 4) -> None:
        self.db = db
        database_proxy.initialize(db)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store-writer")
        self._readers = ThreadPoolExecutor(max_workers=readers, thread_name_prefix="store-reader")

    @property
    def dialect(self) -> str:
        return dialect(self.db)

    async def read(self, fn: Callable[[], T]) -> T:
        """Run a read-only callable off the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn)

    async def write(self, fn: Callable[[], T]) -> T:
        """Run a callable in one write transaction on the single writer thread."""

        def in_transaction() -> T:
            with self.db.atomic():
                return fn()

        return await asyncio.get_running_loop().run_in_executor(self._writer, in_transaction)

    def ping(self) -> bool:
        """True when a trivial query succeeds (used by health checks)."""
        try:
            self.db.execute_sql("SELECT 1").fetchone()
            return True
        except peewee.PeeweeException:
            return False

    def close(self) -> None:
        """Stop the worker threads and close this thread's connection."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        if not self.db.is_closed():
            self.db.close()


__all__ = ["ALL_MODELS", "Store", "dialect", "open_database", "redact_url"]
