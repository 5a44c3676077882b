"""What a sync phase gets from the engine: the store, settings, adapters, progress and cancel.

A phase is ``async def run(ctx: PhaseContext) -> None``. It works per integration of its kind
(``ctx.integrations(kind)``), fetches through adapters (``ctx.adapter(integration)``), writes in
batches through ``ctx.store.write`` (never holding a write transaction across an HTTP call),
reports progress, calls ``ctx.cancel.check()`` between pages and batches, and records a failing
integration with ``ctx.fail(integration, error)`` instead of raising, so the other integrations
go on and the failed one's data is left exactly as it was.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from cullarrd.adapters import open_adapter
from cullarrd.errors import CullarrError

PHASES = (
    "sonarr_inventory",
    "radarr_inventory",
    "tautulli_users",
    "tautulli_history",
    "library_mapping",
    "watch_stats",
    "risk_detection",
    "cleanup",
)
PROGRESS_INTERVAL_S = 1.0
log = structlog.get_logger(__name__)


class SyncCanceled(Exception):
    """Raised at a safe point after ``sync.cancel``; the engine ends the run ``canceled``."""


class CancelToken:
    """Set by ``sync.cancel`` or shutdown; checked by phases between pages and batches."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True

    def check(self) -> None:
        if self.requested:
            raise SyncCanceled()


@dataclass
class PhaseProgress:
    state: str = "pending"  # pending | running | done | skipped | failed
    total_units: int = 0
    processed_units: int = 0
    rows_written: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: float | None = None  # time.monotonic() at begin
    duration_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "duration_s": self.duration_s,
            "total_units": self.total_units,
            "processed_units": self.processed_units,
            "rows_written": self.rows_written,
            **({"counts": self.counts} if self.counts else {}),
        }


class Progress:
    """Per-phase progress; ``flush`` persists it at most once a second (and at phase changes)."""

    def __init__(self, persist: Callable[[dict[str, Any], str | None], Any]) -> None:
        self.phases = {name: PhaseProgress() for name in PHASES}
        self.current: str | None = None
        self._persist = persist  # async callable(snapshot, phase)
        self._last_flush = 0.0

    def begin(self, phase: str, total_units: int = 0) -> None:
        self.current = phase
        self.phases[phase].state = "running"
        self.phases[phase].total_units = total_units
        self.phases[phase].started = time.monotonic()

    def add_total(self, units: int) -> None:
        self.phases[self.current].total_units += units

    def advance(self, units: int = 1, rows_written: int = 0) -> None:
        entry = self.phases[self.current]
        entry.processed_units += units
        entry.rows_written += rows_written

    def count(self, key: str, n: int = 1) -> None:
        counts = self.phases[self.current].counts
        counts[key] = counts.get(key, 0) + n

    def finish(self, phase: str, state: str = "done") -> None:
        entry = self.phases[phase]
        entry.state = state
        if entry.started is not None:
            entry.duration_s = round(time.monotonic() - entry.started, 3)
        if state == "done":
            entry.total_units = max(entry.total_units, entry.processed_units)

    def percent(self) -> float:
        done = 0.0
        for entry in self.phases.values():
            if entry.state in ("done", "skipped", "failed"):
                done += 1
            elif entry.state == "running" and entry.total_units:
                done += min(1.0, entry.processed_units / entry.total_units)
        return round(100 * done / len(self.phases), 1)

    def snapshot(self) -> dict[str, Any]:
        return {
            "percent": self.percent(),
            "phases": {name: entry.to_dict() for name, entry in self.phases.items()},
        }

    async def flush(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_flush >= PROGRESS_INTERVAL_S:
            self._last_flush = now
            await self._persist(self.snapshot(), self.current)


@dataclass
class IntegrationOutcome:
    """What happened to one integration in this run."""

    name: str
    kind: str
    failed_phase: str | None = None
    error: dict[str, Any] | None = None
    completed_phases: list[str] = field(default_factory=list)


@dataclass
class PhaseContext:
    run_id: int
    runtime: Any  # the daemon's Runtime: config, store, settings, audit, plugins
    settings: dict[str, Any]  # effective settings, read once at the start of the run
    progress: Progress
    cancel: CancelToken
    outcomes: dict[str, IntegrationOutcome]
    full_inventory: dict[str, bool] = field(default_factory=dict)  # per inventory integration
    # Filled by phases for later phases:
    seen: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # cleanup: name → kind → ids
    # (watchable_type, watchable_id) whose history changed: new rows attributed to them, or rows
    # re-attributed away from or to them. watch_stats recomputes exactly these.
    touched_watchables: set[tuple[str, int]] = field(default_factory=set)
    transport_factory: Callable[[], Any] | None = None  # tests: one recording transport each

    @property
    def store(self):
        return self.runtime.store

    @property
    def audit(self):
        return self.runtime.audit

    def integrations(self, kind: str) -> list[Any]:
        """Configured integrations of ``kind`` that have not failed earlier in this run."""
        return [
            cfg
            for cfg in self.runtime.config.integrations
            if cfg.kind == kind
            and cfg.name in self.outcomes
            and self.outcomes[cfg.name].failed_phase is None
        ]

    def fail(self, integration: Any, error: CullarrError) -> None:
        """Record that ``integration`` failed in the current phase; its data stays untouched."""
        outcome = self.outcomes[integration.name]
        outcome.failed_phase = self.progress.current
        outcome.error = {"code": error.code, "message": error.message}

    def completed(self, integration: Any) -> None:
        """Record that ``integration`` completed the current phase fully."""
        self.outcomes[integration.name].completed_phases.append(self.progress.current)

    def completed_fully(self, integration: Any, phase: str) -> bool:
        outcome = self.outcomes[integration.name]
        return outcome.failed_phase is None and phase in outcome.completed_phases

    async def each(self, kind: str, work: Callable[[Any], Awaitable[None]]) -> None:
        """Run ``work(cfg)`` for every usable integration of ``kind``, each isolated: a
        failure is recorded (and logged) and the next integration goes on."""
        for cfg in self.integrations(kind):
            self.cancel.check()
            try:
                await work(cfg)
            except CullarrError as exc:
                self.fail(cfg, exc)
                log.warning(
                    "sync.integration_failed",
                    phase=self.progress.current,
                    integration=cfg.name,
                    code=exc.code,
                    error=exc.message,
                )
            else:
                self.completed(cfg)
            await self.progress.flush()

    @contextlib.asynccontextmanager
    async def adapter(self, integration: Any) -> AsyncIterator[Any]:
        """The integration's adapter for the duration of a block."""
        async with open_adapter(
            self.runtime.plugins,
            integration,
            self.settings,
            security=self.runtime.config.security,
            transport=self.transport_factory() if self.transport_factory else None,
        ) as adapter:
            yield adapter
