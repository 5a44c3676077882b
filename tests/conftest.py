"""Shared fixtures: a real store on every backend the machine offers.

SQLite always; PostgreSQL when ``CULLARR_TEST_POSTGRES_URL`` names a server (each test gets a
fresh database). With ``CULLARR_REQUIRE_POSTGRES=1`` (CI) a missing server fails instead of
skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from cullarrd.store.db import Store, open_database
from cullarrd.store.migrate import migrate

PG_URL = os.environ.get("CULLARR_TEST_POSTGRES_URL", "")
REQUIRE_PG = os.environ.get("CULLARR_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin():
    import psycopg2

    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    return conn


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A URL to an empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/cullarr.db"
        return
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("CULLARR_REQUIRE_POSTGRES=1 but CULLARR_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set CULLARR_TEST_POSTGRES_URL)")
    name = f"cullarr_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_URL)
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def store(database_url) -> Iterator[Store]:
    """A migrated store on the current backend, bound to the models."""
    db = open_database(database_url)
    migrate(db)
    st = Store(db)
    yield st
    st.close()


@pytest.fixture
def short_tmp() -> Iterator[str]:
    """A short directory for Unix socket paths (AF_UNIX allows ~107 bytes)."""
    path = tempfile.mkdtemp(prefix="cu-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    """A TCP port on loopback nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
