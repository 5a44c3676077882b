"""Executing deletion runs, action by action, stage by stage, crash-safe (SPEC §7.3).

Runs execute one after another, oldest first; inside a run each integration works through its
actions one at a time (integrations in parallel, in one task group: if one fails unexpectedly,
the others stop with it). An action passes the stages of ``stages.py`` in order; each stage's
start and end are committed, and a stage starts only after the previous one ended, so the store
always says where an action stands and a restart resumes from there. Until a delete was
attempted, precheck runs again on resume (time has passed). A file whose delete went through
is confirmed and culled even when unmonitoring it failed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog

from cullarrd.adapters import open_adapter
from cullarrd.deletion.plan import PlanRequest
from cullarrd.deletion.runs import ACTIVE, FINAL_ACTIONS, run_to_dict
from cullarrd.deletion.stages import ORDER, ActionContext, Stages, Timing, backoff
from cullarrd.errors import CullarrError
from cullarrd.store.models import DeletionAction, DeletionRun, Integration, MediaFile
from cullarrd.sync.cleanup import refresh_read_models
from cullarrd.timeutil import isoformat, utcnow

log = structlog.get_logger(__name__)
STATUS_AFTER = {
    "precheck": "running",
    "delete_file": "deleted",
    "unmonitor": "unmonitored",
    "tag": "tagged",
    "confirm": "confirmed",
}
RETRYABLE = ("rate_limited", "integration_unreachable", "deletion_confirmation_timeout")
__all__ = ["DeletionEngine", "Timing"]


class DeletionEngine:
    """Starts, resumes and cancels deletion runs for the daemon."""

    def __init__(
        self, runtime: Any, *, transport_factory: Callable[[], Any] | None = None,
        timing: Timing | None = None,
    ) -> None:  # fmt: skip
        self.rt = runtime
        self.transport_factory = transport_factory
        self.timing = timing or Timing()
        self.stages = Stages(runtime, self.timing, self._mark_sent)
        self._task: asyncio.Task | None = None
        self._stopping = False
        self._woken = False

    # --- commands ----------------------------------------------------------------------------
    def start(self) -> None:
        """Make sure the queue of runs is being worked through."""
        self._woken = True  # a chain about to find the queue empty looks once more
        if self._stopping or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._chain())

    async def recover(self) -> None:
        """On start: runs left running (a crash, a stop) resume where they stood."""

        def find() -> list[int]:
            ids = [r.id for r in DeletionRun.select().where(DeletionRun.status == "running")]
            for run_id in ids:
                self._audit("deletion.resumed", run_id)
            return ids

        resumed = await self.rt.store.write(find)
        if resumed:
            log.info("deletion.resuming", run_ids=resumed)
        self.start()

    async def cancel(self, run_id: int, *, correlation_id: str | None = None) -> dict[str, Any]:
        """Stop a run before its next action; a queued run ends at once."""

        def mark() -> tuple[dict[str, Any], bool]:
            run = DeletionRun.get_or_none(DeletionRun.id == run_id)
            if run is None:
                raise CullarrError(f"no deletion run {run_id}", code="not_found")
            if run.status not in ACTIVE:
                raise CullarrError(f"deletion run {run_id} is already {run.status}",
                                   code="conflict")  # fmt: skip
            run.cancel_requested = True
            run.save()
            self._audit("deletion.cancel_requested", run_id, correlation_id)
            if run.status == "queued":
                self._skip_unstarted(run_id)
                return self._end(run, "canceled"), True
            return run_to_dict(run), False

        answer, ended = await self.rt.store.write(mark)
        if ended:
            self._notify(answer)
        return {k: v for k, v in answer.items() if k not in ("actions", "side_effects", "blocked")}

    async def stop(self) -> None:
        """Shutdown: the running action is left between stages (bounded); it resumes on start."""
        self._stopping = True
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 3)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    # --- runs --------------------------------------------------------------------------------
    async def _chain(self) -> None:
        while not self._stopping:
            self._woken = False
            run_id = await self.rt.store.read(_next_run)
            if run_id is None:
                if self._woken:  # a run was created while we looked
                    continue
                return
            try:
                if not await self._execute(run_id):  # interrupted: resumed on the next start
                    log.warning("deletion.run_interrupted", run_id=run_id)
                    return
            except Exception:  # a bug must not leave the queue dead
                log.exception("deletion.engine_error", run_id=run_id)
                self._notify(await self.rt.store.write(lambda r=run_id: self._crashed(r)))

    async def _execute(self, run_id: int) -> bool:
        """Run what is open of a run; False when it was interrupted before every action ended."""
        run = await self.rt.store.write(lambda: self._begin(run_id))
        if run is None:
            return True
        request = PlanRequest.from_dict(run.summary_json["plan"]["request"])
        actions = await self.rt.store.read(lambda: _open_actions(run_id))
        by_integration: dict[int, list[DeletionAction]] = {}
        for action in actions:
            by_integration.setdefault(action.integration_id, []).append(action)
        log.info("deletion.started", run_id=run_id, actions=len(actions))
        async with asyncio.TaskGroup() as group:
            for integration_id, items in by_integration.items():
                group.create_task(self._integration(run_id, request, integration_id, items))
        if self._stopping:
            return False
        finished = await self.rt.store.write(lambda: self._finish(run_id))
        self._notify(finished)
        return finished is not None

    def _begin(self, run_id: int) -> DeletionRun | None:
        run = DeletionRun.get_by_id(run_id)
        if run.status not in ACTIVE:  # canceled while queued, between the pick and now
            return None
        if run.status == "queued":
            run.status, run.started_at = "running", utcnow()
            run.save()
            self._audit("deletion.started", run_id)
        return run

    async def _integration(
        self, run_id: int, request: PlanRequest, integration_id: int, actions: list
    ) -> None:
        """One integration's actions, one at a time, checking for cancel before each."""
        row = await self.rt.store.read(lambda: Integration.get_by_id(integration_id))
        cfg = next((c for c in self.rt.config.integrations if c.name == row.name), None)
        upstream: dict[str, Any] = {}
        async with contextlib.AsyncExitStack() as stack:
            try:
                adapter = await stack.enter_async_context(self._adapter(cfg, upstream))
            except CullarrError as exc:  # the adapter cannot be built (e.g. a URL not allowed)
                for action in actions:
                    await self._fail(ActionContext(run_id, action, None, request, upstream), exc)
                return
            for action in actions:
                if self._stopping:
                    return
                ctx = ActionContext(run_id, action, adapter, request, upstream)
                await self._next_action(ctx, row.name)

    async def _next_action(self, ctx: ActionContext, integration: str) -> None:
        action, canceled = await self.rt.store.read(lambda: _fresh(ctx.action.id, ctx.run_id))
        if action.status in FINAL_ACTIONS:
            return
        ctx.action = action
        if canceled and not action.stage_timestamps_json:
            await self.rt.store.write(lambda: self._skip(action, "run canceled"))
        elif ctx.adapter is None:
            gone = f"{integration} is no longer configured"
            await self._fail(ctx, CullarrError(gone, code="unsupported_integration_version"))
        else:
            await self._action(ctx)

    @contextlib.asynccontextmanager
    async def _adapter(self, cfg: Any, upstream: dict[str, Any]) -> AsyncIterator[Any]:
        if cfg is None:
            yield None
            return
        settings = await self.rt.store.read(self.rt.settings.values)
        transport = self.transport_factory() if self.transport_factory else None
        async with open_adapter(
            self.rt.plugins, cfg, settings, security=self.rt.config.security, transport=transport
        ) as adapter:
            upstream["mode"] = cfg.compatibility_mode or settings["compatibility_mode_default"]
            yield adapter

    def _finish(self, run_id: int) -> dict[str, Any] | None:
        run = DeletionRun.get_by_id(run_id)
        statuses = [a.status for a in run.actions]
        if any(s not in FINAL_ACTIONS for s in statuses):
            return None  # an action was interrupted: the run stays running, resumed on start
        confirmed = statuses.count("confirmed")
        if run.cancel_requested and "skipped" in statuses:
            status = "canceled"
        elif confirmed == len(statuses):
            status = "success"
        else:
            status = "failed" if confirmed == 0 else "partial_failure"
            codes = sorted({a.error_code for a in run.actions if a.error_code})
            run.error_code = codes[0] if len(codes) == 1 else "deletion_actions_failed"
            run.error_message = f"{len(statuses) - confirmed} of {len(statuses)} files not deleted"
        culled = MediaFile.select().where(
            MediaFile.id.in_([a.media_file_id for a in run.actions]),
            MediaFile.culled_at.is_null(False),
        )
        if culled.exists():
            refresh_read_models()  # culled files leave the candidate list now, not next sync
        return self._end(run, status)

    def _end(self, run: DeletionRun, status: str) -> dict[str, Any]:
        """Record the outcome (inside a write); the run as the finished hook gets it."""
        run.status, run.finished_at = status, utcnow()
        run.save()
        self._audit(f"deletion.{status}", run.id, error_code=run.error_code)
        log.info("deletion.finished", run_id=run.id, status=status, error_code=run.error_code)
        return run_to_dict(run, actions=True)

    def _notify(self, run: dict[str, Any] | None) -> None:
        if run is not None:
            self.rt.plugins.call_safely("cullarrd_deletion_finished", run=run)

    def _crashed(self, run_id: int) -> dict[str, Any] | None:
        """An executor bug: fail what is open (never retried blindly), end the run."""
        run = DeletionRun.get_by_id(run_id)
        if run.status not in ACTIVE:
            return None
        run.error_code, run.error_message = "internal_error", "the executor failed"
        for action in run.actions.where(DeletionAction.status.not_in(FINAL_ACTIONS)):
            action.status, action.error_code = "failed", "internal_error"
            action.save()
        return self._end(run, "failed")

    def _skip_unstarted(self, run_id: int) -> None:
        for action in DeletionAction.select().where(
            DeletionAction.deletion_run == run_id, DeletionAction.status == "queued"
        ):
            if not action.stage_timestamps_json:
                self._skip(action, "run canceled")

    def _skip(self, action: DeletionAction, why: str) -> None:
        action.status, action.error_message = "skipped", why
        action.save()
        self._audit("deletion.action_skipped", action.deletion_run_id, action_id=action.id)

    # --- actions -----------------------------------------------------------------------------
    async def _action(self, ctx: ActionContext) -> None:
        sent = ctx.stage("delete_file").get("attempted")
        for stage in ORDER:
            if ctx.stage(stage).get("finished_at") and (stage != "precheck" or sent):
                continue
            if self._stopping:  # the run stays running; it resumes here on the next start
                return
            if await self._stage(ctx, stage):
                continue
            if ctx.stage("delete_file").get("finished_at") and stage != "confirm":
                await self._stage(ctx, "confirm")  # the file went: record that, failed or not
            return

    async def _stage(self, ctx: ActionContext, stage: str) -> bool:
        """Run one stage with retries; False when the action failed."""
        attempt = 0
        while True:
            await self.rt.store.write(lambda: self._mark(ctx, stage, "started_at"))
            try:
                outcome = await getattr(self.stages, stage)(ctx)
            except Exception as exc:
                error = exc if isinstance(exc, CullarrError) else _internal(ctx, stage, exc)
                if error.code in RETRYABLE and attempt + 1 < self.timing.attempts:
                    await self.rt.store.write(lambda e=error: self._retrying(ctx, stage, e))
                    await asyncio.sleep(
                        backoff(attempt, self.timing.retry_base_s, self.timing.retry_cap_s)
                    )
                    attempt += 1
                    continue
                if stage == "tag":  # the culled tag is a courtesy: warn, go on
                    await self.rt.store.write(lambda e=error: self._warn(ctx, stage, e))
                    return True
                await self._fail(ctx, error, stage)
                return False
            await self.rt.store.write(lambda o=outcome: self._done(ctx, stage, o))
            return True

    def _mark(self, ctx: ActionContext, stage: str, key: str, **extra: Any) -> None:
        """Stamp ``key`` on the stage; a (re)start clears an earlier end of it."""
        action = DeletionAction.get_by_id(ctx.action.id)
        stages = dict(action.stage_timestamps_json or {})
        entry = dict(stages.get(stage) or {})
        if key == "started_at":
            entry.pop("finished_at", None)
            entry.pop("outcome", None)
        entry[key] = isoformat(utcnow())
        entry.update(extra)
        stages[stage] = entry
        action.stage_timestamps_json = stages
        if action.status == "queued":
            action.status = "running"
        action.save()
        ctx.action = action

    async def _mark_sent(self, ctx: ActionContext) -> None:
        """Committed before a DELETE goes out: a restart then looks before sending again."""
        await self.rt.store.write(lambda: self._mark(ctx, "delete_file", "sent_at", attempted=True))

    def _done(self, ctx: ActionContext, stage: str, outcome: str) -> None:
        self._mark(ctx, stage, "finished_at", outcome=outcome)
        action = ctx.action
        if action.status not in FINAL_ACTIONS:  # a failed action is confirmed, not revived
            action.status = STATUS_AFTER[stage]
            action.save()
        if stage == "confirm":
            MediaFile.update(culled_at=utcnow(), updated_at=utcnow()).where(
                MediaFile.id == action.media_file_id
            ).execute()
        self._audit("deletion.action_stage", action.deletion_run_id, action_id=action.id,
                    stage=stage, status=action.status, outcome=outcome)  # fmt: skip

    def _warn(self, ctx: ActionContext, stage: str, exc: CullarrError) -> None:
        warning = {"stage": stage, "code": exc.code, "message": exc.message}
        ctx.action.warnings_json = [*(ctx.action.warnings_json or []), warning]
        ctx.action.save()
        self._mark(ctx, stage, "finished_at", outcome="warning")
        self._audit("deletion.action_warning", ctx.action.deletion_run_id,
                    action_id=ctx.action.id, **warning)  # fmt: skip

    def _retrying(self, ctx: ActionContext, stage: str, exc: CullarrError) -> None:
        action = DeletionAction.get_by_id(ctx.action.id)
        action.retry_count += 1
        action.save()
        ctx.action = action
        self._audit("deletion.action_retry", action.deletion_run_id, action_id=action.id,
                    stage=stage, code=exc.code, retry_count=action.retry_count)  # fmt: skip

    async def _fail(self, ctx: ActionContext, exc: CullarrError, stage: str = "precheck") -> None:
        def work() -> None:
            action = DeletionAction.get_by_id(ctx.action.id)
            if action.status in FINAL_ACTIONS:
                return
            action.status, action.error_code, action.error_message = "failed", exc.code, exc.message
            action.save()
            ctx.action = action
            self._audit("deletion.action_failed", action.deletion_run_id, action_id=action.id,
                        stage=stage, code=exc.code)  # fmt: skip

        log.warning("deletion.action_failed", action_id=ctx.action.id, stage=stage, code=exc.code)
        await self.rt.store.write(work)

    def _audit(self, event: str, run_id: int, correlation_id: str | None = None, **extra) -> None:
        self.rt.audit.record(event, {"run_id": run_id, **extra}, correlation_id=correlation_id)


def _internal(ctx: ActionContext, stage: str, exc: Exception) -> CullarrError:
    log.exception("deletion.stage_error", action_id=ctx.action.id, stage=stage)
    return CullarrError(f"{type(exc).__name__}: {exc}", code="internal_error")


def _next_run() -> int | None:
    run = DeletionRun.select().where(DeletionRun.status.in_(ACTIVE)).order_by(DeletionRun.id)
    first = run.first()
    return None if first is None else first.id


def _open_actions(run_id: int) -> list[DeletionAction]:
    return list(
        DeletionAction.select()
        .where(DeletionAction.deletion_run == run_id, DeletionAction.status.not_in(FINAL_ACTIONS))
        .order_by(DeletionAction.id)
    )


def _fresh(action_id: int, run_id: int) -> tuple[DeletionAction, bool]:
    """The action as stored now, and whether its run was asked to cancel."""
    run = DeletionRun.get_by_id(run_id)
    return DeletionAction.get_by_id(action_id), bool(run.cancel_requested)
