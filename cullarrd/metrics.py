"""Prometheus metrics for ``GET /metrics`` (SPEC §11), on a registry of their own.

Runs, deletion actions and integration health are read from the store at scrape time by a
custom collector (a few GROUP BY queries over small tables) instead of being counted in
process: the store is the one shared truth (ARCHITECTURE rule 5), so the page agrees with the
status page and the CLI across restarts, and no writer has to remember to bump a counter. Those
figures describe the rows the store keeps, and retention prunes finished runs, so they are
gauges (a gauge histogram for run durations): as counters, every prune would read as a reset.
Only what the store never sees is kept in process: upstream requests (``cullarrd.http``) and
the latency of candidate queries.

Label values are only integration names from the config, kinds, statuses, phases, error codes
and scopes: never a title, a path, a URL or a key. Removed integrations are left off the page,
so a name dropped from the config stops being reported instead of reading "down" forever.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from peewee import fn
from prometheus_client import (
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeHistogramMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from cullarrd.candidates.params import SCOPES
from cullarrd.candidates.sql import DIALECT
from cullarrd.http import REQUEST_COUNTS
from cullarrd.store.db import Store, dialect
from cullarrd.store.models import (
    DeletionAction,
    DeletionRun,
    Integration,
    SyncRun,
    database_proxy,
)
from cullarrd.sync.context import PHASES

CONTENT_TYPE = CONTENT_TYPE_LATEST
# Every value the CHECK constraints admit (migration 0001), so a status without rows reads 0
# rather than vanishing from the page (alerts on ``failed > 0`` need the series to exist).
RUN_STATUSES = ("queued", "running", "success", "partial_failure", "failed", "canceled")
FINISHED = ("success", "partial_failure", "failed", "canceled")
ACTION_STATUSES = (
    "queued", "running", "deleted", "unmonitored", "tagged", "confirmed", "failed", "skipped",
)  # fmt: skip
HEALTH_STATUSES = ("unknown", "healthy", "warning", "unsupported", "error")
USABLE = ("healthy", "warning")  # a ``warning`` integration still syncs (read-only)
DURATION_BUCKETS = (60, 300, 900, 1800, 3600, 7200, 14400)

# ``*_created`` series only double the page in the text format, and Prometheus ignores them there.
disable_created_metrics()
REGISTRY = CollectorRegistry()
CANDIDATE_QUERY_SECONDS = Histogram(
    "cullarrd_candidate_query_seconds",
    "Time to answer one candidates.query, by scope (refused requests are not observed).",
    ["scope"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
for _scope in SCOPES:  # every scope on the page from the start, at zero
    CANDIDATE_QUERY_SECONDS.labels(scope=_scope)


async def exposition(store: Store) -> bytes:
    """The metrics page, rendered off the event loop (the store's read thread)."""
    return await store.read(lambda: generate_latest(REGISTRY))


class StoreCollector(Collector):
    """Runs, deletion actions and integration health as the store has them now."""

    def collect(self) -> Iterator[Metric]:
        yield from sync_run_families()
        yield from last_sync_families()
        yield status_family(
            "cullarrd_deletion_runs", "Deletion runs kept in the store, by status.",
            DeletionRun, RUN_STATUSES,
        )  # fmt: skip
        yield status_family(
            "cullarrd_deletion_actions", "Deletion actions kept in the store, by status.",
            DeletionAction, ACTION_STATUSES,
        )  # fmt: skip
        yield from integration_families()


class UpstreamCollector(Collector):
    """Requests sent to each integration since start, by outcome (``ok`` or an error code)."""

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "cullarrd_upstream_requests",
            "HTTP requests sent to integrations since start, by integration and outcome "
            "('ok' or the error code); every attempt counts, retries included.",
            labels=["integration", "code"],
        )
        # The loop thread adds keys while this runs in a reader thread: copy in one C call
        # (atomic under the GIL) instead of iterating the live dict.
        for (name, code), count in sorted(dict(REQUEST_COUNTS).items()):
            family.add_metric([name, code], count)
        yield family


def status_family(name: str, doc: str, model: type, statuses: tuple[str, ...]) -> Metric:
    """A gauge of ``model`` rows per status, every known status present."""
    rows = model.select(model.status, fn.COUNT(model.id)).group_by(model.status).tuples()
    counts = dict.fromkeys(statuses, 0) | dict(rows)
    family = GaugeMetricFamily(name, doc, labels=["status"])
    for status, count in counts.items():
        family.add_metric([status], count)
    return family


def sync_run_families() -> Iterator[Metric]:
    """Sync runs per status, and the durations of the finished ones, in one query."""
    db = database_proxy.obj
    epoch = DIALECT[dialect(db)]["epoch"]
    le = ", ".join(f"SUM(CASE WHEN d <= {b} THEN 1 ELSE 0 END)" for b in DURATION_BUCKETS)
    cursor = db.execute_sql(
        f"SELECT status, COUNT(*), SUM(d), COUNT(d), {le} FROM (SELECT status, CASE WHEN "
        f"started_at IS NOT NULL AND finished_at IS NOT NULL THEN "
        f"{epoch.format('finished_at')} - {epoch.format('started_at')} END AS d "
        f"FROM {SyncRun._meta.table_name}) runs GROUP BY status"
    )
    rows = {row[0]: row[1:] for row in cursor.fetchall()}
    runs = GaugeMetricFamily(
        "cullarrd_sync_runs", "Sync runs kept in the store, by status.", labels=["status"]
    )
    durations = GaugeHistogramMetricFamily(
        "cullarrd_sync_run_duration_seconds",
        "Durations of the finished sync runs kept in the store (finished - started), by status.",
        labels=["status"],
    )
    none = (0, None, 0, *[0] * len(DURATION_BUCKETS))
    for status in dict.fromkeys(RUN_STATUSES) | rows:
        count, seconds, timed, *within = rows.get(status, none)
        runs.add_metric([status], count)
        if status in FINISHED:
            buckets = [
                (floatToGoString(b), float(n))
                for b, n in zip(DURATION_BUCKETS, within, strict=True)
            ]
            durations.add_metric([status], [*buckets, ("+Inf", float(timed))], float(seconds or 0))
    yield runs
    yield durations


def last_sync_families() -> Iterator[Metric]:
    """When the latest finished sync run ended, and what each of its phases did."""
    run = (
        SyncRun.select(SyncRun.finished_at, SyncRun.phase_counts_json)
        .where(SyncRun.status.in_(FINISHED), SyncRun.started_at.is_null(False))
        .order_by(SyncRun.id.desc())
        .first()
    )
    finished = GaugeMetricFamily(
        "cullarrd_sync_last_run_finished_timestamp_seconds",
        "Unix time the latest finished sync run ended (runs canceled before starting aside).",
    )
    rows = GaugeMetricFamily(
        "cullarrd_sync_last_run_phase_rows",
        "Rows written by each phase of the latest finished sync run.",
        labels=["phase"],
    )
    seconds = GaugeMetricFamily(
        "cullarrd_sync_last_run_phase_seconds",
        "Duration of each phase of the latest finished sync run (phases that never ran absent).",
        labels=["phase"],
    )
    if run is not None:
        finished.add_metric([], run.finished_at.replace(tzinfo=dt.UTC).timestamp())
        phases = (run.phase_counts_json or {}).get("phases", {})
        for phase in PHASES:  # the engine's own names, never whatever the JSON holds
            entry = phases.get(phase)
            if entry is None:
                continue
            rows.add_metric([phase], entry.get("rows_written") or 0)
            if entry.get("duration_s") is not None:
                seconds.add_metric([phase], entry["duration_s"])
    yield from (finished, rows, seconds)


def integration_families() -> Iterator[Metric]:
    """Health of every configured integration as its last check left it."""
    up = GaugeMetricFamily(
        "cullarrd_integration_up",
        "1 when the integration's last health check found it usable (healthy or warning).",
        labels=["integration", "kind"],
    )
    state = GaugeMetricFamily(
        "cullarrd_integration_status",
        "1 for the integration's current health status, 0 for the others.",
        labels=["integration", "kind", "status"],
    )
    rows = (
        Integration.select(Integration.name, Integration.kind, Integration.status)
        .where(Integration.status != "removed")
        .order_by(Integration.name)
        .tuples()
    )
    for name, kind, status in rows:
        up.add_metric([name, kind], 1 if status in USABLE else 0)
        for known in HEALTH_STATUSES:
            state.add_metric([name, kind, known], 1 if status == known else 0)
    yield from (up, state)


REGISTRY.register(StoreCollector())
REGISTRY.register(UpstreamCollector())
