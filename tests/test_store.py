"""The store: migrations, constraints, backend settings, transactional writes."""

from __future__ import annotations

import asyncio

import peewee
import pytest

from cullarrd.errors import StoreTooNew
from cullarrd.store.db import Store, open_database, redact_url
from cullarrd.store.migrate import code_version, current_version, migrate
from cullarrd.store.models import (
    ALL_MODELS,
    Integration,
    MediaFile,
    PathMapping,
    SavedView,
    Series,
    SyncRun,
)

SEED_TABLES = {
    "operators", "delete_mode_unlocks", "audit_events", "app_settings", "integrations",
    "path_mappings", "path_exclusions", "saved_views", "series", "seasons", "episodes", "movies",
    "media_files", "arr_tags", "plex_users", "watch_stats", "keep_markers", "sync_runs",
    "deletion_runs", "deletion_actions",
}  # fmt: skip


def _integration(name: str = "sonarr-main") -> Integration:
    return Integration.create(kind="sonarr", name=name, base_url="http://127.0.0.1:8989")


def test_empty_store_migrates_to_current_version(store):
    db = store.db
    assert current_version(db) == code_version() >= 2
    tables = set(db.get_tables())
    assert SEED_TABLES | {"watch_history", "schema_version"} <= tables
    for model in ALL_MODELS:
        columns = {c.name for c in db.get_columns(model._meta.table_name)}
        fields = {f.column_name for f in model._meta.sorted_fields}
        assert fields == columns, model.__name__
    assert migrate(db) == []  # idempotent: nothing left to apply


def test_older_store_is_upgraded_and_keeps_its_rows(database_url):
    db = open_database(database_url)
    assert migrate(db, target=1) == [1]
    assert current_version(db) == 1
    st = Store(db)
    integration = _integration()
    Series.create(integration=integration, sonarr_series_id=7, title="Show")
    assert "missing_since" not in {c.name for c in db.get_columns("series")}
    assert migrate(db) == list(range(2, code_version() + 1))
    series = Series.get(Series.sonarr_series_id == 7)
    assert series.title == "Show" and series.missing_since is None
    assert db.table_exists("watch_history")
    st.close()


def test_store_newer_than_code_refuses_with_clear_message(store):
    p = store.db.param
    store.db.execute_sql(
        f"INSERT INTO schema_version (version, name, applied_at) VALUES ({p}, {p}, {p})",
        (code_version() + 5, "from_the_future", "2030-01-01 00:00:00"),
    )
    with pytest.raises(StoreTooNew) as caught:
        migrate(store.db)
    assert f"schema version {code_version() + 5}" in caught.value.message
    assert "newer cullarrd" in caught.value.message


def test_unique_check_and_foreign_key_constraints(store):
    integration = _integration()
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        _integration()
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        Integration.create(kind="x", name="other", base_url="http://h", status="bogus")
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        SavedView.create(name="v", scope="music", filters_json={})
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        PathMapping.create(integration=999_999, from_prefix="/a", to_prefix="/b")
    MediaFile.create(
        integration=integration, attachable_type="movie", attachable_id=1, arr_file_id=5,
        path="/m/a.mkv", path_canonical="/m/a.mkv",
    )  # fmt: skip
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        MediaFile.create(
            integration=integration, attachable_type="movie", attachable_id=2, arr_file_id=5,
            path="/m/b.mkv", path_canonical="/m/b.mkv",
        )  # fmt: skip
    with pytest.raises(peewee.IntegrityError), store.db.atomic():
        SyncRun.create(status="running", trigger="cron", phase_counts_json={})


def test_sqlite_runs_wal_with_foreign_keys_and_immediate_writes(tmp_path):
    db = open_database(f"sqlite:///{tmp_path}/s.db")
    migrate(db)
    pragma = {name: db.execute_sql(f"PRAGMA {name}").fetchone()[0] for name in
              ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")}  # fmt: skip
    assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000,
                      "synchronous": 1}  # fmt: skip
    assert db._lock_type == "IMMEDIATE"


async def test_a_failed_write_leaves_nothing_half_written(store):
    def half_then_fail():
        _integration("first")
        _integration("first")  # violates the unique name: the whole transaction rolls back

    with pytest.raises(peewee.IntegrityError):
        await store.write(half_then_fail)
    assert await store.read(lambda: Integration.select().count()) == 0


async def test_writes_are_serialised_through_one_writer(store):
    async def add(i: int) -> None:
        await store.write(lambda: _integration(f"i{i}"))

    await asyncio.gather(*(add(i) for i in range(20)))
    assert await store.read(lambda: Integration.select().count()) == 20


def test_redact_url_hides_the_database_password():
    assert redact_url("postgresql://u:s3cr3t@db:5432/c") == "postgresql://u:***@db:5432/c"
    assert redact_url("sqlite:////var/lib/cullarr/cullarr.db") == (
        "sqlite:////var/lib/cullarr/cullarr.db"
    )
