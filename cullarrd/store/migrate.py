"""Numbered, forward-only migrations recorded in ``schema_version``.

Each ``migrations/mNNNN_name.py`` module holds ``STATEMENTS`` (DDL with type tokens) and may hold
extra ``TOKENS``. Every migration runs in its own transaction and records its number; a store whose
recorded version is higher than the code knows refuses to start rather than guess.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from types import ModuleType

import peewee

from cullarrd.errors import StoreTooNew
from cullarrd.store import migrations as migrations_pkg
from cullarrd.store.db import dialect
from cullarrd.timeutil import utcnow

_TYPE_TOKENS = {
    "sqlite": {
        "pk": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "fk": "INTEGER",
        "bigint": "BIGINT",
        "ts": "DATETIME",
        "json": "TEXT",
        "bool": "INTEGER",
        "true": "1",
        "false": "0",
    },
    "postgresql": {
        "pk": "BIGSERIAL PRIMARY KEY",
        "fk": "BIGINT",
        "bigint": "BIGINT",
        "ts": "TIMESTAMP",
        "json": "JSONB",
        "bool": "BOOLEAN",
        "true": "TRUE",
        "false": "FALSE",
    },
}

SCHEMA_VERSION_DDL = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at {ts} NOT NULL)"
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    module: ModuleType


def available() -> list[Migration]:
    """All migrations shipped with the code, in order."""
    found = []
    for info in pkgutil.iter_modules(migrations_pkg.__path__):
        match = re.fullmatch(r"m(\d{4})_(\w+)", info.name)
        if match:
            module = importlib.import_module(f"{migrations_pkg.__name__}.{info.name}")
            found.append(Migration(int(match.group(1)), match.group(2), module))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError("migration numbers must be 1..N without gaps")
    return found


def code_version() -> int:
    """The schema version this code creates and understands."""
    return available()[-1].version


def render(statement: str, backend: str, extra: dict[str, str] | None = None) -> str:
    """Fill the type tokens of one DDL statement for ``backend``."""
    tokens = dict(_TYPE_TOKENS[backend])
    tokens["stamps"] = "created_at {ts} NOT NULL, updated_at {ts} NOT NULL".format(**tokens)
    tokens.update(extra or {})
    return statement.format(**tokens)


def current_version(db: peewee.Database) -> int:
    """The highest applied migration number, 0 for an empty store."""
    if not db.table_exists("schema_version"):
        return 0
    row = db.execute_sql("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(db: peewee.Database, target: int | None = None) -> list[int]:
    """Apply pending migrations up to ``target`` (default: all); return the versions applied."""
    backend = dialect(db)
    known = available()
    newest = known[-1].version
    with db.atomic():
        db.execute_sql(render(SCHEMA_VERSION_DDL, backend))
    have = current_version(db)
    if have > newest:
        raise StoreTooNew(
            f"the store is at schema version {have} but this cullarrd only knows up to "
            f"{newest}; it was used by a newer cullarrd. Upgrade cullarrd (or restore a backup) "
            "instead of running an older version against it."
        )
    applied = []
    for migration in known:
        if migration.version <= have or (target is not None and migration.version > target):
            continue
        extra = getattr(migration.module, "TOKENS", None)
        with db.atomic():
            for statement in migration.module.STATEMENTS:
                db.execute_sql(render(statement, backend, extra))
            p = db.param
            db.execute_sql(
                f"INSERT INTO schema_version (version, name, applied_at) VALUES ({p}, {p}, {p})",
                (migration.version, migration.name, utcnow()),
            )
        applied.append(migration.version)
    return applied
