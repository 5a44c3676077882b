"""``/metrics`` as a scraper sees it, on every backend: runs, deletion actions and health from the
store, upstream requests by outcome, candidate query latency by scope, and nothing of the
library (titles, paths), an upstream URL or an API key anywhere on the page."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cullarrd.errors import IntegrationError, ValidationFailed
from cullarrd.http import IntegrationHttp
from cullarrd.metrics import exposition
from cullarrd.store.models import (
    DeletionAction,
    DeletionRun,
    Episode,
    Integration,
    MediaFile,
    Movie,
    Operator,
    Series,
    SyncRun,
)
from tests.candidates.scenario import scenario
from tests.conftest import integration_config

T0 = dt.datetime(2030, 1, 1, 12, 0, 0)
SECRET_URL = "http://sonarr.private-host.lan:8989"
TITLE, FILE = "Zyzzyva of the Unseen Valley", "/movies/Zyzzyva (2001)/zyzzyva.mkv"


class Page:
    """One scrape: the text, and its samples by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float | None:
        return self.samples.get((name, frozenset(labels.items())))

    def by(self, name: str, label: str, *values: str) -> dict[str, float | None]:
        """``{value: sample}`` of ``name`` for each value of its one ``label``."""
        return {v: self.value(name, **{label: v}) for v in values}

    def label_values(self, label: str) -> set[str]:
        return {v for _, labels in self.samples for k, v in labels if k == label}


async def scrape(store) -> Page:
    return Page((await exposition(store)).decode())


def sync_run(status: str, seconds: int | None, *, started: bool = True, **fields: Any) -> None:
    """A sync run started at T0 (unless not ``started``) that took ``seconds`` (None: running)."""
    end = T0 + dt.timedelta(seconds=seconds) if seconds is not None else None
    fields.setdefault("phase_counts_json", {})
    SyncRun.create(
        status=status, trigger="manual", started_at=T0 if started else None, finished_at=end,
        **fields,
    )  # fmt: skip


def seed() -> None:
    """Integrations in each health state, sync runs with known durations, deletion actions."""
    sonarr = Integration.create(
        kind="sonarr", name="sonarr-main", base_url=SECRET_URL, status="healthy"
    )
    Integration.create(kind="radarr", name="radarr-4k", base_url="http://r", status="error")
    Integration.create(kind="tautulli", name="tautulli", base_url="http://t", status="warning")
    Integration.create(kind="sonarr", name="old-sonarr", base_url="http://o", status="removed")
    movie = Movie.create(integration=sonarr, radarr_movie_id=1, title=TITLE, path=FILE)
    sync_run("success", 120)
    sync_run("success", 600)
    sync_run("failed", 30)
    phases = {
        "sonarr_inventory": {"state": "done", "duration_s": 1.5, "rows_written": 42},
        "radarr_inventory": {"state": "failed", "duration_s": 0.25, "rows_written": 7},
        "cleanup": {"state": "pending", "duration_s": None, "rows_written": 0},
        "not_a_phase": {"state": "done", "duration_s": 9, "rows_written": 5},
    }
    sync_run("partial_failure", 90, phase_counts_json={"phases": phases, "percent": 50})
    sync_run("canceled", 0, started=False)  # canceled while queued: finished, never timed
    sync_run("running", None)
    operator = Operator.create(email="op@example.com", password_digest="x")
    done = DeletionRun.create(operator=operator, scope="movie", status="success")
    partial = DeletionRun.create(operator=operator, scope="movie", status="partial_failure")
    for n, status in enumerate(("confirmed", "failed", "skipped")):
        media_file = MediaFile.create(
            integration=sonarr, attachable_type="movie", attachable_id=movie.id, arr_file_id=n,
            path=f"{FILE}.{n}", path_canonical=f"{FILE}.{n}",
        )  # fmt: skip
        DeletionAction.create(
            deletion_run=done if status == "confirmed" else partial, media_file=media_file,
            integration=sonarr, status=status, idempotency_key=f"k{n}",
        )  # fmt: skip


async def test_store_figures_are_read_at_scrape_time(store):
    await store.write(seed)
    page = await scrape(store)

    statuses = ("success", "failed", "partial_failure", "canceled", "running", "queued")
    assert page.by("cullarrd_sync_runs", "status", *statuses) == {
        "success": 2, "failed": 1, "partial_failure": 1, "canceled": 1, "running": 1, "queued": 0,
    }  # fmt: skip
    duration = "cullarrd_sync_run_duration_seconds"
    assert page.value(f"{duration}_gsum", status="success") == 720
    assert page.value(f"{duration}_gcount", status="success") == 2
    assert page.value(f"{duration}_bucket", status="success", le="60.0") == 0
    assert page.value(f"{duration}_bucket", status="success", le="300.0") == 1
    assert page.value(f"{duration}_bucket", status="success", le="900.0") == 2
    assert page.value(f"{duration}_gsum", status="failed") == 30
    assert page.value(f"{duration}_gcount", status="canceled") == 0  # never started
    assert page.value(f"{duration}_gcount", status="running") is None  # not finished

    # The latest run that started and finished, not the later one canceled while queued.
    last = (T0 + dt.timedelta(seconds=90)).replace(tzinfo=dt.UTC).timestamp()
    assert page.value("cullarrd_sync_last_run_finished_timestamp_seconds") == last
    phases = ("sonarr_inventory", "radarr_inventory", "cleanup")
    assert page.by("cullarrd_sync_last_run_phase_rows", "phase", *phases) == {
        "sonarr_inventory": 42, "radarr_inventory": 7, "cleanup": 0,
    }  # fmt: skip
    assert page.by("cullarrd_sync_last_run_phase_seconds", "phase", *phases) == {
        "sonarr_inventory": 1.5, "radarr_inventory": 0.25, "cleanup": None,
    }  # fmt: skip
    assert "not_a_phase" not in page.text

    assert page.by("cullarrd_deletion_runs", "status", "success", "partial_failure", "running") == {
        "success": 1, "partial_failure": 1, "running": 0,
    }  # fmt: skip
    actions = ("confirmed", "failed", "skipped", "queued")
    assert page.by("cullarrd_deletion_actions", "status", *actions) == {
        "confirmed": 1, "failed": 1, "skipped": 1, "queued": 0,
    }  # fmt: skip

    up = "cullarrd_integration_up"
    assert page.value(up, integration="sonarr-main", kind="sonarr") == 1
    assert page.value(up, integration="radarr-4k", kind="radarr") == 0
    assert page.value(up, integration="tautulli", kind="tautulli") == 1  # warning: still syncs
    health = "cullarrd_integration_status"
    assert page.value(health, integration="tautulli", kind="tautulli", status="warning") == 1
    assert page.value(health, integration="tautulli", kind="tautulli", status="healthy") == 0
    assert "old-sonarr" not in page.label_values("integration")  # removed: off the page

    for secret in (TITLE, FILE, SECRET_URL, "op@example.com"):
        assert secret not in page.text


async def test_an_empty_store_reads_zero_not_absent(store):
    page = await scrape(store)
    assert page.value("cullarrd_sync_runs", status="failed") == 0
    assert page.value("cullarrd_deletion_actions", status="failed") == 0
    assert page.value("cullarrd_sync_run_duration_seconds_gcount", status="success") == 0
    assert page.value("cullarrd_sync_last_run_finished_timestamp_seconds") is None


async def test_upstream_requests_are_counted_by_integration_and_outcome(store):
    def upstream(request: httpx.Request) -> httpx.Response:
        return (
            httpx.Response(200, json={})
            if request.url.path.endswith("/ok")
            else httpx.Response(401)
        )

    name = "sonarr-metrics"
    before = await scrape(store)
    cfg = integration_config("sonarr", SECRET_URL, "key-9f3a77c1", name=name)
    async with IntegrationHttp(cfg, transport=httpx.MockTransport(upstream)) as http:
        await http.get_json("api/v3/ok")
        await http.get_json("api/v3/ok")
        with pytest.raises(IntegrationError):
            await http.get_json("api/v3/refused")
    after = await scrape(store)

    def delta(code: str) -> float:
        labels = {"integration": name, "code": code}
        total = "cullarrd_upstream_requests_total"
        return (after.value(total, **labels) or 0) - (before.value(total, **labels) or 0)

    assert delta("ok") == 2
    assert delta("integration_auth_failed") == 1  # not retried
    assert "key-9f3a77c1" not in after.text and SECRET_URL not in after.text


async def test_candidate_queries_are_timed_per_scope_and_the_library_stays_off_the_page(
    store, tmp_path
):
    count = "cullarrd_candidate_query_seconds_count"
    with scenario(store, tmp_path) as sc:
        await sc.sync()
        before = await scrape(store)
        await sc.query("movie")
        await sc.query("movie", watched_match_mode="any")
        await sc.query("tv_show")
        with pytest.raises(ValidationFailed):
            await sc.query("bogus_scope")
        page = await scrape(store)

        def library() -> list[str]:
            titles = [m.title for m in Movie.select()] + [s.title for s in Series.select()]
            titles += [e.title for e in Episode.select() if e.title]
            paths = [f.path for f in MediaFile.select()] + [s.path for s in Series.select()]
            return titles + paths

        seeded = await store.read(library)

    assert page.value(count, scope="movie") - before.value(count, scope="movie") == 2
    assert page.value(count, scope="tv_show") - before.value(count, scope="tv_show") == 1
    assert page.value(count, scope="tv_season") == before.value(count, scope="tv_season")
    assert page.label_values("scope") == {"movie", "tv_episode", "tv_season", "tv_show"}
    # A real sync through the engine: its phases and upstream calls are on the page too.
    assert page.value("cullarrd_sync_runs", status="success") == 1
    assert page.value("cullarrd_sync_last_run_phase_rows", phase="sonarr_inventory") > 0
    assert page.value("cullarrd_upstream_requests_total", integration="radarr", code="ok") > 0
    assert page.value("cullarrd_integration_up", integration="tautulli", kind="tautulli") == 1
    assert seeded and not [text for text in seeded if text in page.text]
