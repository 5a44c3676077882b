"""One sync run at a time, its phases in order, each integration isolated (SPEC §5.1, §5.2).

The store is the truth about runs: a trigger while a run is active sets ``queued_next`` on it
(``sync_queued_next``), a trigger while one is active *and* queued next is refused
(``sync_already_running``), and when a run with ``queued_next`` ends exactly one new run starts.
Decisions go through the store's single writer, so racing triggers are serialised. A run left
``running`` by a crash is marked ``failed``/``worker_lost`` on start and one replacement is queued.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
from typing import Any

import structlog

from cullarrd import health
from cullarrd.errors import CullarrError
from cullarrd.store.models import Integration, SyncRun
from cullarrd.sync.cleanup import refresh_read_models
from cullarrd.sync.context import (
    PHASES,
    CancelToken,
    IntegrationOutcome,
    PhaseContext,
    Progress,
    SyncCanceled,
)
from cullarrd.timeutil import isoformat, utcnow

log = structlog.get_logger(__name__)
ACTIVE = ("queued", "running")
PHASE_FUNCTIONS = {
    "sonarr_inventory": "cullarrd.sync.inventory:sonarr_inventory",
    "radarr_inventory": "cullarrd.sync.inventory:radarr_inventory",
    "tautulli_users": "cullarrd.sync.history:tautulli_users",
    "tautulli_history": "cullarrd.sync.history:tautulli_history",
    "library_mapping": "cullarrd.sync.mapping:library_mapping",
    "watch_stats": "cullarrd.sync.watch_stats:watch_stats",
    "risk_detection": "cullarrd.sync.cleanup:risk_detection",
    "cleanup": "cullarrd.sync.cleanup:cleanup",
}
HEALTH_FAILURES = {"unsupported": "unsupported_integration_version"}


def phase_function(name: str):
    module, _, attr = PHASE_FUNCTIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def run_to_dict(run: SyncRun) -> dict[str, Any]:
    """The public shape of a sync run."""
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "phase": run.phase,
        "progress": run.phase_counts_json,
        "error_code": run.error_code,
        "error_message": run.error_message,
        "queued_next": bool(run.queued_next),
        "cancel_requested": bool(run.cancel_requested),
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
        "created_at": isoformat(run.created_at),
    }


def active_run() -> SyncRun | None:
    return SyncRun.select().where(SyncRun.status.in_(ACTIVE)).order_by(SyncRun.id).first()


def next_due_at(settings: dict[str, Any]) -> dt.datetime | None:
    """When the scheduler's next tick will start a sync (inside a read): ``None`` while syncs
    are off or one is active; the interval counts from the end of the newest run."""
    if not settings["sync_enabled"] or active_run() is not None:
        return None
    last = SyncRun.select().order_by(SyncRun.id.desc()).first()
    if last is None:
        return utcnow()
    ended = last.finished_at or last.created_at
    return ended + dt.timedelta(minutes=int(settings["sync_interval_minutes"]))


class SyncEngine:
    """Starts, follows, cancels and recovers sync runs for the daemon."""

    def __init__(self, runtime: Any, *, transport_factory: Any = None) -> None:
        self.rt = runtime
        self.transport_factory = transport_factory
        self._task: asyncio.Task | None = None
        self._token: CancelToken | None = None

    # --- commands -------------------------------------------------------------------------
    async def trigger(self, trigger: str, *, correlation_id: str | None = None) -> dict[str, Any]:
        """Start a run, or queue one next to the active run; refuses a third."""

        def decide() -> tuple[str, SyncRun]:
            active = active_run()
            if active is None:
                run = SyncRun.create(status="queued", trigger=trigger, phase_counts_json={})
                self._audit("sync.queued", run, correlation_id, trigger=trigger)
                return "sync_started", run
            if not active.queued_next:
                SyncRun.update(queued_next=True, updated_at=utcnow()).where(
                    SyncRun.id == active.id
                ).execute()
                self._audit("sync.queued_next", active, correlation_id, trigger=trigger)
                return "sync_queued_next", SyncRun.get_by_id(active.id)
            raise CullarrError(
                f"sync run {active.id} is {active.status} and another is already queued next",
                code="sync_already_running",
                details={"run_id": active.id},
            )

        code, run = await self.rt.store.write(decide)
        if code == "sync_started":
            self._start(run.id)
        return {"code": code, "run": run_to_dict(run)}

    async def cancel(
        self, *, run_id: int | None = None, correlation_id: str | None = None
    ) -> dict[str, Any]:
        """Ask the active run to stop at its next safe point (a queued one is canceled now).

        ``run_id`` names the run the caller means; another run being active is a ``conflict``.
        """

        def mark() -> SyncRun:
            run = active_run()
            if run is None:
                raise CullarrError("no sync run is active", code="not_found")
            if run_id is not None and run.id != run_id:
                if SyncRun.get_or_none(SyncRun.id == run_id) is None:
                    raise CullarrError(f"no sync run {run_id}", code="not_found")
                raise CullarrError(
                    f"sync run {run_id} is not the active run ({run.id})",
                    code="conflict",
                    details={"active_run_id": run.id},
                )
            if run.status == "queued" and not self._running_here(run.id):
                run.status, run.finished_at = "canceled", utcnow()
            run.cancel_requested = True
            run.queued_next = False
            run.save()
            self._audit("sync.cancel_requested", run, correlation_id)
            return run

        run = await self.rt.store.write(mark)
        if self._token is not None:
            self._token.request()
        return {"run": run_to_dict(run)}

    async def recover(self) -> None:
        """On start: runs left running by a crash fail as worker_lost; one replacement runs."""

        def work() -> int | None:
            lost = list(SyncRun.select().where(SyncRun.status == "running"))
            for run in lost:
                run.status, run.finished_at = "failed", utcnow()
                run.error_code = "worker_lost"
                run.error_message = "the daemon stopped while this run was running"
                run.queued_next = False
                run.save()
                self._audit("sync.recovered", run, None, replaced=True)
            queued = SyncRun.select().where(SyncRun.status == "queued").order_by(SyncRun.id).first()
            if queued is not None:
                return queued.id
            if lost:
                run = SyncRun.create(
                    status="queued", trigger="startup_recovery", phase_counts_json={}
                )
                self._audit("sync.queued", run, None, trigger="startup_recovery")
                return run.id
            return None

        run_id = await self.rt.store.write(work)
        if run_id is not None:
            self._start(run_id)

    async def due_check(self) -> bool:
        """The scheduler's minute tick: start a run when one is due (SPEC §5.1)."""
        settings = await self.rt.store.read(self.rt.settings.values)
        if not settings["sync_enabled"]:
            return False

        def due() -> bool:
            due_at = next_due_at(settings)
            return due_at is not None and due_at <= utcnow()

        if not await self.rt.store.read(due):
            return False
        try:
            await self.trigger("scheduler")
        except CullarrError:  # a manual trigger won the race: nothing to do
            return False
        return True

    async def stop(self) -> None:
        """Shutdown: stop the running run at its next safe point, bounded."""
        if self._token is not None:
            self._token.request()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 3)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    # --- execution ------------------------------------------------------------------------
    def _running_here(self, run_id: int) -> bool:
        return self._task is not None and not self._task.done() and self._current == run_id

    def _start(self, run_id: int) -> None:
        if self._task is not None and not self._task.done():
            return  # the running chain picks queued runs up when it ends
        self._current = run_id
        self._task = asyncio.create_task(self._chain(run_id))

    async def _chain(self, run_id: int | None) -> None:
        while run_id is not None:
            self._current = run_id
            try:
                run_id = await self._execute(run_id)
            except Exception:  # never leave the chain dead with a run stuck running
                log.exception("sync.engine_error", run_id=run_id)
                run_id = None

    async def _execute(self, run_id: int) -> int | None:
        token = self._token = CancelToken()
        run = await self.rt.store.write(lambda: self._begin(run_id))
        if run is None:
            return None
        log.info("sync.started", run_id=run_id, trigger=run.trigger)
        ctx = await self._context(run_id, token)
        status, error = "success", None
        try:
            await self._check_health(ctx)
            for phase in PHASES:
                token.check()
                await self._phase(ctx, phase)
        except SyncCanceled:
            status = "canceled"
        except CullarrError as exc:
            status, error = "failed", (exc.code, exc.message)
        except Exception as exc:
            log.exception("sync.failed", run_id=run_id)
            status, error = "failed", ("internal_error", f"{type(exc).__name__}: {exc}")
        if status == "success":
            status = self._integration_verdict(ctx)
        elif ctx.progress.current is not None:  # some phase ran: it may have written
            await self._catch_up_read_models(run_id)
        return await self._finish(run_id, ctx, status, error)

    async def _catch_up_read_models(self, run_id: int) -> None:
        """A run that stopped early may have written inventory or mappings after the last
        refresh of the candidate index and ambiguous paths: bring them up to date now."""
        try:
            await self.rt.store.write(refresh_read_models)
        except Exception:  # the run's outcome is recorded regardless; the next run retries
            log.exception("sync.read_models_failed", run_id=run_id)

    def _begin(self, run_id: int) -> SyncRun | None:
        run = SyncRun.get_or_none(SyncRun.id == run_id)
        if run is None or run.status != "queued":
            return None
        run.status, run.started_at = "running", utcnow()
        run.save()
        self._audit("sync.started", run, None)
        return run

    async def _context(self, run_id: int, token: CancelToken) -> PhaseContext:
        settings = await self.rt.store.read(self.rt.settings.values)
        configured = self.rt.config.integrations
        ctx = PhaseContext(
            run_id=run_id,
            runtime=self.rt,
            settings=settings,
            progress=Progress(lambda snap, phase: self._persist(run_id, ctx, snap, phase)),
            cancel=token,
            outcomes={cfg.name: IntegrationOutcome(cfg.name, cfg.kind) for cfg in configured},
            transport_factory=self.transport_factory,
        )
        ctx.full_inventory = await self.rt.store.read(lambda: self._full_passes(settings))
        return ctx

    def _full_passes(self, settings: dict[str, Any]) -> dict[str, bool]:
        from cullarrd.sync.inventory import is_full_pass_due

        rows = {row.name: row for row in Integration.select()}
        hours = settings["full_inventory_interval_hours"]
        return {
            name: is_full_pass_due(row.sync_state_json or {}, hours, utcnow())
            for name, row in rows.items()
        }

    async def _check_health(self, ctx: PhaseContext) -> None:
        """Ask every configured integration first; unusable ones are skipped for the run."""
        for cfg in self.rt.config.integrations:
            ctx.cancel.check()
            row = await health.check(self.rt, cfg)
            if row["status"] in ("error", "unsupported"):
                message = row["last_error"] or row["status"]
                code = HEALTH_FAILURES.get(row["status"]) or message.split(":", 1)[0]
                outcome = ctx.outcomes[cfg.name]
                outcome.failed_phase = "health"
                outcome.error = {"code": code, "message": message}
                log.warning("sync.integration_skipped", integration=cfg.name, code=code)

    async def _phase(self, ctx: PhaseContext, phase: str) -> None:
        ctx.progress.begin(phase)
        await ctx.progress.flush(force=True)
        await phase_function(phase)(ctx)
        ctx.progress.finish(phase)
        await ctx.progress.flush(force=True)
        entry = ctx.progress.phases[phase].to_dict()
        await self.rt.store.write(
            lambda: self.rt.audit.record(
                "sync.phase_completed", {"run_id": ctx.run_id, "phase": phase, **entry}
            )
        )
        log.info("sync.phase_completed", run_id=ctx.run_id, phase=phase, **entry)

    @staticmethod
    def _integration_verdict(ctx: PhaseContext) -> str:
        failed = [o for o in ctx.outcomes.values() if o.failed_phase]
        if not failed:
            return "success"
        return "failed" if len(failed) == len(ctx.outcomes) else "partial_failure"

    def _snapshot(self, ctx: PhaseContext, progress: dict[str, Any]) -> dict[str, Any]:
        integrations = {
            o.name: {
                "kind": o.kind,
                "state": "failed" if o.failed_phase else "ok",
                "failed_phase": o.failed_phase,
                "error": o.error,
            }
            for o in ctx.outcomes.values()
        }
        return {**progress, "integrations": integrations}

    async def _persist(self, run_id: int, ctx: PhaseContext, snap: dict, phase: str | None):
        counts = self._snapshot(ctx, snap)
        await self.rt.store.write(
            lambda: (
                SyncRun.update(phase=phase, phase_counts_json=counts, updated_at=utcnow())
                .where(SyncRun.id == run_id)
                .execute()
            )
        )

    async def _finish(
        self, run_id: int, ctx: PhaseContext, status: str, error: tuple[str, str] | None
    ) -> int | None:
        counts = self._snapshot(ctx, ctx.progress.snapshot())

        def work() -> tuple[SyncRun, int | None]:
            run = SyncRun.get_by_id(run_id)
            run.status, run.finished_at, run.phase_counts_json = status, utcnow(), counts
            if error:
                run.error_code, run.error_message = error
            elif status == "partial_failure":
                run.error_code = "integration_failed"
                run.error_message = "; ".join(
                    f"{o.name}: {o.error['code']}" for o in ctx.outcomes.values() if o.error
                )
            next_id = None
            if run.queued_next and status != "canceled":
                nxt = SyncRun.create(status="queued", trigger=run.trigger, phase_counts_json={})
                self._audit("sync.queued", nxt, None, trigger=run.trigger, after=run_id)
                next_id = nxt.id
            run.queued_next = False
            run.save()
            if status != "canceled":
                record_integration_outcomes(ctx, crashed=error is not None, now=run.finished_at)
            self._audit(f"sync.{status}", run, None, error_code=run.error_code)
            return run, next_id

        run, next_id = await self.rt.store.write(work)
        log.info("sync.finished", run_id=run_id, status=status, error_code=run.error_code)
        self.rt.plugins.call_safely("cullarrd_sync_finished", run=run_to_dict(run))
        return next_id

    def _audit(self, event: str, run: SyncRun, correlation_id: str | None, **extra: Any) -> None:
        payload = {"run_id": run.id, "status": run.status, **extra}
        self.rt.audit.record(event, payload, correlation_id=correlation_id)


def record_integration_outcomes(ctx: PhaseContext, *, crashed: bool, now: dt.datetime) -> None:
    """Stamp each integration with how it fared (``ok``/``failed``); a failed one blocks its items.

    A crashed run (an internal error) proves nothing about any integration: all count as failed.
    A canceled run is not recorded at all: the previous outcome still describes the data.
    """
    for outcome in ctx.outcomes.values():
        failed = crashed or outcome.failed_phase is not None
        Integration.update(
            last_sync_outcome="failed" if failed else "ok", last_sync_at=now, updated_at=now
        ).where(Integration.name == outcome.name).execute()
