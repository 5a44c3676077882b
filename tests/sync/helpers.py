"""Run sync phases against the three fakes on loopback and a real store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cullarrd.audit import AuditRecorder
from cullarrd.config import parse_config
from cullarrd.daemon import config_settings
from cullarrd.integrations import reconcile
from cullarrd.plugins import load_plugins
from cullarrd.service import Runtime
from cullarrd.settings import Settings
from cullarrd.store.db import Store
from cullarrd.sync.context import CancelToken, IntegrationOutcome, PhaseContext, Progress
from cullarrd_plugins.fakelib.faults import Faults, WriteLog
from cullarrd_plugins.fakelib.model import Library
from tests.harness import FAKE_KEYS
from tests.serving import serve

# How the fakes' mounts map onto one canonical disk layout (see the generator's roots).
PATH_MAPPINGS = {
    "sonarr": [{"from": "/tv", "to": "/mnt/media/tv"}],
    "radarr": [{"from": "/movies", "to": "/mnt/media/movies"}],
    "tautulli": [
        {"from": "/data/media/tv", "to": "/mnt/media/tv"},
        {"from": "/data/media/movies", "to": "/mnt/media/movies"},
    ],
}


@dataclass
class FakeSet:
    """The three fakes serving one library, with their fault switches and write logs."""

    library: Library
    urls: dict[str, str]
    faults: dict[str, Faults]
    writes: dict[str, WriteLog]
    apps: dict[str, Any]

    def integrations(self, **per_kind: dict[str, Any]) -> list[dict[str, Any]]:
        """Config entries for the three fakes (with path mappings), overridable per kind."""
        return [
            {
                "kind": kind,
                "name": kind,
                "base_url": url,
                "api_key": FAKE_KEYS[kind],
                "path_mappings": PATH_MAPPINGS[kind],
                "request_timeout_seconds": 5,
                "retry_max_attempts": 2,
                **per_kind.get(kind, {}),
            }
            for kind, url in self.urls.items()
        ]


@contextlib.contextmanager
def served_fakes(library: Library, *, plex_down: bool = False) -> Iterator[FakeSet]:
    """Serve fake Sonarr, Radarr and Tautulli over one library on loopback."""
    from cullarrd_plugins.radarr.fake import create_app as radarr_app
    from cullarrd_plugins.sonarr.fake import create_app as sonarr_app
    from cullarrd_plugins.tautulli.fake import create_app as tautulli_app

    faults = {kind: Faults() for kind in FAKE_KEYS}
    writes = {kind: WriteLog() for kind in FAKE_KEYS}
    apps = {
        "sonarr": sonarr_app(
            library, api_key=FAKE_KEYS["sonarr"], faults=faults["sonarr"], writes=writes["sonarr"]
        ),
        "radarr": radarr_app(
            library, api_key=FAKE_KEYS["radarr"], faults=faults["radarr"], writes=writes["radarr"]
        ),
        "tautulli": tautulli_app(
            library,
            api_key=FAKE_KEYS["tautulli"],
            faults=faults["tautulli"],
            writes=writes["tautulli"],
            plex_down=plex_down,
        ),
    }
    with serve(apps["sonarr"]) as s, serve(apps["radarr"]) as r, serve(apps["tautulli"]) as t:
        yield FakeSet(library, {"sonarr": s, "radarr": r, "tautulli": t}, faults, writes, apps)


def make_runtime(
    store: Store, integrations: list[dict[str, Any]], tmp_path, extra: dict | None = None
) -> Runtime:
    """A runtime over ``store`` whose config names ``integrations`` (plus ``extra`` config
    sections); rows reconciled."""
    config = parse_config(
        {
            "socket": {"path": str(tmp_path / "s.sock")},
            "integrations": integrations,
            **(extra or {}),
        },
        env={},
        base_dir=str(tmp_path),
    )
    audit = AuditRecorder(config.secret_values())
    with store.db.atomic():
        reconcile(config.integrations, audit)

    async def no_reload(caller):
        raise AssertionError("not used in sync tests")

    return Runtime(
        config=config,
        store=store,
        settings=Settings(lambda: config_settings(config), audit),
        audit=audit,
        plugins=load_plugins(),
        reload=no_reload,
    )


def make_context(runtime: Runtime, *, run_id: int = 1, **overrides: Any) -> PhaseContext:
    """A phase context like the engine builds, with progress kept in memory."""

    async def keep(snapshot, phase):
        ctx.persisted.append((phase, snapshot))

    settings = runtime.settings.values()
    ctx = PhaseContext(
        run_id=run_id,
        runtime=runtime,
        settings={**settings, **overrides.pop("settings", {})},
        progress=Progress(keep),
        cancel=CancelToken(),
        outcomes={
            cfg.name: IntegrationOutcome(cfg.name, cfg.kind) for cfg in runtime.config.integrations
        },
        **overrides,
    )
    ctx.persisted = []
    return ctx
