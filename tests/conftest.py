"""Shared fixtures: a real store on every backend the machine offers, plugin fakes and adapters.

SQLite always; PostgreSQL when ``CULLARR_TEST_POSTGRES_URL`` names a server (each test gets a
fresh database). With ``CULLARR_REQUIRE_POSTGRES=1`` (CI) a missing server fails instead of
skipping. ``served_fake`` serves a plugin's fake on loopback; ``adapter_for`` builds an adapter
the way the engines do.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from cullarrd.adapters import open_adapter
from cullarrd.config import IntegrationConfig, Secret
from cullarrd.plugins import load_plugins
from cullarrd.settings import DEFAULTS
from cullarrd.store.db import Store, open_database
from cullarrd.store.migrate import migrate
from cullarrd_plugins.fakelib.faults import Faults, WriteLog
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.fakelib.runner import load_fake
from tests.serving import serve

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


# --- plugin fakes and adapters -------------------------------------------------------------


def integration_config(
    kind: str, base_url: str, api_key: str, **overrides: Any
) -> IntegrationConfig:
    """A valid integration config pointing at ``base_url`` (a fake on loopback)."""
    fields: dict[str, Any] = {
        "kind": kind,
        "name": f"{kind}-test",
        "base_url": base_url,
        "api_key": Secret(api_key),
        "request_timeout_seconds": 5,
        "retry_max_attempts": 3,
    }
    fields.update(overrides)
    return IntegrationConfig(**fields)


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


@pytest.fixture
def adapter_for(plugins):
    """``async with adapter_for(kind, base_url, api_key, transport=..., **cfg) as adapter``."""

    @contextlib.asynccontextmanager
    async def build(
        kind: str, base_url: str, api_key: str, *, transport: Any = None, **overrides: Any
    ) -> AsyncIterator[Any]:
        cfg = integration_config(kind, base_url, api_key, **overrides)
        async with open_adapter(plugins, cfg, dict(DEFAULTS), transport=transport) as adapter:
            yield adapter

    return build


@dataclass
class ServedFake:
    """A plugin fake on loopback: its base URL (mount prefix included), app and library."""

    url: str
    app: Any
    library: Library

    @property
    def state(self) -> Any:
        """The fake behind the app, to steer and observe it."""
        return self.app.state.fake


@contextlib.contextmanager
def served_fake(
    kind: str,
    *,
    api_key: str,
    library: Library | None = None,
    prefix: str = "",
    wrap: Callable[[Any], Any] | None = None,
    **options: Any,
) -> Iterator[ServedFake]:
    """Serve ``kind``'s fake (a generated tiny library unless given), mounted under ``prefix``."""
    library = library if library is not None else generate("tiny")
    app = load_fake(kind).create_app(library, api_key=api_key, **options)
    outer = Starlette(routes=[Mount(prefix, app=app)]) if prefix else app
    with serve(wrap(outer) if wrap else outer) as url:
        yield ServedFake(url + prefix, app, library)


@pytest.fixture
def library() -> Library:
    """A freshly generated tiny library (the fakes change it as they are written to)."""
    return generate("tiny")


@pytest.fixture
def faults() -> Faults:
    return Faults()


@pytest.fixture
def writes() -> WriteLog:
    return WriteLog()


@pytest.fixture
def services():
    """The three fakes as ``cullarrd fake`` subprocesses (tiny library), ready to answer."""
    from tests.harness import FakeService

    started = {kind: FakeService(kind, free_port()) for kind in ("sonarr", "radarr", "tautulli")}
    try:
        yield {kind: fake.wait_ready() for kind, fake in started.items()}
    finally:
        for fake in started.values():
            fake.stop()
