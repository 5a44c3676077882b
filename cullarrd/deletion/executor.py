"""Executing deletion runs, action by action, stage by stage, crash-safe (SPEC §7.3).

Runs execute one after another, oldest first; inside a run each integration works through its
actions one at a time (integrations in parallel). An action passes ``precheck`` → ``delete_file``
→ ``unmonitor`` → ``tag`` → ``confirm``; each stage's start and end are committed, and a stage
starts only after the previous one ended, so the store always says where an action stands.

The one stage with an effect that cannot be taken back is ``delete_file``; its start is
committed *before* the DELETE is sent. A stage found started but not finished (after a crash,
or a retry) re-reads the file live first: gone → done, still the planned file → send again
(Sonarr/Radarr answer 404 for a file already gone), anything else → ``deletion_target_changed``.
So a delete is never sent for a file other than the one planned.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from cullarrd.adapters import open_adapter
from cullarrd.candidates.query import evaluate_targets
from cullarrd.deletion import gate
from cullarrd.deletion.plan import PlanRequest, _unavailable_causes, refusal_code
from cullarrd.deletion.runs import ACTIVE, FINAL_ACTIONS, STAGES, run_to_dict
from cullarrd.errors import CullarrError
from cullarrd.health import evaluate
from cullarrd.store.models import ArrTag, DeletionAction, DeletionRun, Integration, MediaFile
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


@dataclass(frozen=True)
class Timing:
    """How hard the executor tries (tests shorten the waits)."""

    attempts: int = 4  # per stage, for retryable codes
    retry_base_s: float = 2.0
    retry_cap_s: float = 60.0
    confirm_polls: int = 8
    confirm_base_s: float = 0.5
    confirm_cap_s: float = 10.0


def backoff(attempt: int, base: float, cap: float) -> float:
    """Exponential wait with jitter: ``base * 2^attempt`` capped, times 0.5 to 1."""
    return min(cap, base * 2**attempt) * (0.5 + random.random() / 2)


@dataclass
class ActionContext:
    """One action being executed, with what its stages share."""

    run: DeletionRun
    action: DeletionAction
    adapter: Any
    request: PlanRequest
    upstream: dict[str, Any]  # shared by the integration's actions in this run (health, mode)
    plan: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.plan = self.action.plan_json or {}

    @property
    def file_id(self) -> int:
        return int(self.plan["arr_file_id"])


class Stop(Exception):
    """The daemon is stopping: leave the run as it stands, it resumes on the next start."""


class DeletionEngine:
    """Starts, resumes and cancels deletion runs for the daemon."""

    def __init__(
        self, runtime: Any, *, transport_factory: Callable[[], Any] | None = None,
        timing: Timing | None = None,
    ) -> None:  # fmt: skip
        self.rt = runtime
        self.transport_factory = transport_factory
        self.timing = timing or Timing()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # --- commands ----------------------------------------------------------------------------
    def start(self) -> None:
        """Make sure the queue of runs is being worked through."""
        if self._stopping or (self._task is not None and not self._task.done()):
            return
        self._task = asyncio.create_task(self._chain())

    async def recover(self) -> None:
        """On start: runs left queued or running (a crash, a stop) resume where they stood."""

        def find() -> list[int]:
            runs = DeletionRun.select().where(DeletionRun.status == "running")
            ids = [run.id for run in runs]
            for run_id in ids:
                self._audit("deletion.resumed", run_id)
            return ids

        resumed = await self.rt.store.write(find)
        if resumed:
            log.info("deletion.resuming", run_ids=resumed)
        self.start()

    async def cancel(self, run_id: int, *, correlation_id: str | None = None) -> dict[str, Any]:
        """Stop a run before its next action; a queued run ends at once."""

        def mark() -> dict[str, Any]:
            run = DeletionRun.get_or_none(DeletionRun.id == run_id)
            if run is None:
                raise CullarrError(f"no deletion run {run_id}", code="not_found")
            if run.status not in ACTIVE:
                raise CullarrError(
                    f"deletion run {run_id} is already {run.status}", code="conflict"
                )
            run.cancel_requested = True
            run.save()
            self._audit("deletion.cancel_requested", run_id, correlation_id)
            if run.status == "queued":
                self._skip_unstarted(run_id)
                return self._end(run, "canceled"), True
            return run_to_dict(DeletionRun.get_by_id(run_id)), False

        answer, ended = await self.rt.store.write(mark)
        if ended:
            self._notify(answer)
        return {k: v for k, v in answer.items() if k not in ("actions", "side_effects", "blocked")}

    async def stop(self) -> None:
        """Shutdown: the running action is interrupted between stages, bounded."""
        self._stopping = True
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 3)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    # --- runs --------------------------------------------------------------------------------
    async def _chain(self) -> None:
        while not self._stopping:
            run_id = await self.rt.store.read(_next_run)
            if run_id is None:
                return
            try:
                await self._execute(run_id)
            except Stop:
                return
            except Exception:  # a bug must not leave the queue dead
                log.exception("deletion.engine_error", run_id=run_id)
                self._notify(await self.rt.store.write(lambda r=run_id: self._crashed(r)))

    async def _execute(self, run_id: int) -> None:
        run = await self.rt.store.write(lambda: self._begin(run_id))
        if run is None:
            return
        request = PlanRequest(**_request_fields(run))
        open_actions = await self.rt.store.read(
            lambda: list(run.actions.where(DeletionAction.status.not_in(FINAL_ACTIONS))
                         .order_by(DeletionAction.id))
        )  # fmt: skip
        by_integration: dict[int, list[DeletionAction]] = {}
        for action in open_actions:
            by_integration.setdefault(action.integration_id, []).append(action)
        log.info("deletion.started", run_id=run_id, actions=len(open_actions))
        await asyncio.gather(
            *(self._integration(run, request, iid, items) for iid, items in by_integration.items())
        )
        if self._stopping:
            raise Stop
        self._notify(await self.rt.store.write(lambda: self._finish(run_id)))

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
        self, run: DeletionRun, request: PlanRequest, integration_id: int, actions: list
    ) -> None:
        """One integration's actions, one at a time, checking for cancel before each."""
        row = await self.rt.store.read(lambda: Integration.get_by_id(integration_id))
        cfg = next((c for c in self.rt.config.integrations if c.name == row.name), None)
        upstream: dict[str, Any] = {}
        try:
            async with self._adapter(cfg, upstream) as adapter:
                for action in actions:
                    if self._stopping:
                        return
                    started = bool(action.stage_timestamps_json)
                    if not started and await self.rt.store.read(lambda: _canceled(run.id)):
                        await self.rt.store.write(lambda a=action: self._skip(a, "run canceled"))
                        continue
                    ctx = ActionContext(run, action, adapter, request, upstream)
                    if adapter is None:
                        gone = f"{row.name} is no longer configured"
                        error = CullarrError(gone, code="unsupported_integration_version")
                        await self._fail(ctx, error)
                        continue
                    await self._action(ctx)
        except CullarrError as exc:  # the adapter could not be built (e.g. URL not allowed)
            for action in actions:
                await self._fail(ActionContext(run, action, None, request, upstream), exc)

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

    def _finish(self, run_id: int) -> dict[str, Any]:
        run = DeletionRun.get_by_id(run_id)
        statuses = [a.status for a in run.actions]
        confirmed = statuses.count("confirmed")
        if run.cancel_requested and "skipped" in statuses:
            status = "canceled"
        elif confirmed == len(statuses):
            status = "success"
        elif confirmed == 0:
            status = "failed"
        else:
            status = "partial_failure"
        if status in ("failed", "partial_failure"):
            codes = sorted({a.error_code for a in run.actions if a.error_code})
            run.error_code = codes[0] if len(codes) == 1 else "deletion_actions_failed"
            run.error_message = f"{len(statuses) - confirmed} of {len(statuses)} files not deleted"
        if confirmed:
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
        stages = ctx.action.stage_timestamps_json or {}
        sent = (stages.get("delete_file") or {}).get("attempted")
        for stage in STAGES:
            # Until a delete was attempted, precheck runs again on resume: time has passed.
            if (stages.get(stage) or {}).get("finished_at") and (stage != "precheck" or sent):
                continue
            if self._stopping:  # the run stays running; it resumes here on the next start
                return
            if not await self._stage(ctx, stage):
                return

    async def _stage(self, ctx: ActionContext, stage: str) -> bool:
        """Run one stage with retries; False when the action failed."""
        attempt = 0
        while True:
            await self.rt.store.write(lambda: self._mark(ctx, stage, "started_at"))
            try:
                outcome = await getattr(self, f"_{stage}")(ctx)
            except CullarrError as exc:
                if stage == "tag":  # the culled tag is a courtesy: warn, go on
                    await self.rt.store.write(lambda e=exc: self._warn(ctx, stage, e))
                    return True
                if exc.code in RETRYABLE and attempt + 1 < self.timing.attempts:
                    await self.rt.store.write(lambda e=exc: self._retrying(ctx, stage, e))
                    await asyncio.sleep(
                        backoff(attempt, self.timing.retry_base_s, self.timing.retry_cap_s)
                    )
                    attempt += 1
                    continue
                await self._fail(ctx, exc, stage)
                return False
            except Exception as exc:
                log.exception("deletion.stage_error", action_id=ctx.action.id, stage=stage)
                error = CullarrError(f"{type(exc).__name__}: {exc}", code="internal_error")
                await self._fail(ctx, error, stage)
                return False
            await self.rt.store.write(lambda o=outcome: self._done(ctx, stage, o))
            return True

    def _mark(self, ctx: ActionContext, stage: str, key: str, **extra: Any) -> None:
        action = DeletionAction.get_by_id(ctx.action.id)
        stages = dict(action.stage_timestamps_json or {})
        entry = dict(stages.get(stage) or {})
        entry.setdefault(key, isoformat(utcnow()))
        entry.update(extra)
        stages[stage] = entry
        action.stage_timestamps_json = stages
        if action.status == "queued":
            action.status = "running"
        action.save()
        ctx.action = action

    def _done(self, ctx: ActionContext, stage: str, outcome: str) -> None:
        self._mark(ctx, stage, "finished_at", outcome=outcome)
        action = ctx.action
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
            self._audit("deletion.action_failed", action.deletion_run_id, action_id=action.id,
                        stage=stage, code=exc.code)  # fmt: skip

        log.warning("deletion.action_failed", action_id=ctx.action.id, stage=stage, code=exc.code)
        await self.rt.store.write(work)

    # --- stages ------------------------------------------------------------------------------
    async def _precheck(self, ctx: ActionContext) -> str:
        """Delete mode on, the integration can delete, every guardrail, the file unchanged."""
        gate.delete_secret(self.rt.config)
        if "health" not in ctx.upstream:  # asked once per integration and run
            ctx.upstream["health"] = evaluate(
                await ctx.adapter.check_health(), ctx.upstream["mode"]
            )
        health = ctx.upstream["health"]
        if not health.supported_for_delete:
            raise CullarrError(
                f"{ctx.plan['integration']} cannot delete: {health.message or health.status}",
                code="unsupported_integration_version",
            )
        await self.rt.store.read(lambda: self._guardrails(ctx))
        await self._same_file_upstream(ctx, required=True)
        return "passed"

    def _guardrails(self, ctx: ActionContext) -> None:
        """The target re-evaluated on the current store, exactly as a plan would."""
        settings = self.rt.settings.values()
        target = int(ctx.plan["candidate_id"].partition(":")[2])
        rows = evaluate_targets(ctx.request.query(), [target], settings)
        if not rows:
            raise _changed(f"{ctx.plan['candidate_id']} is no longer present")
        row = rows[0]
        if not row["eligible"]:
            flags = ", ".join(row["blocker_flags"]) or "not watched as the match mode requires"
            raise CullarrError(
                f"{ctx.plan['candidate_id']} ({row['title']}) is blocked now: {flags}",
                code=refusal_code(row, _unavailable_causes()),
                details={"blocker_flags": row["blocker_flags"]},
            )
        stored = MediaFile.get_or_none(MediaFile.id == ctx.action.media_file_id)
        if stored is None or stored.id not in row["media_file_ids"]:
            raise _changed(f"media file {ctx.action.media_file_id} no longer belongs to it")
        if (stored.arr_file_id, stored.path, int(stored.size_bytes)) != (
            ctx.file_id,
            ctx.plan["path"],
            ctx.plan["size_bytes"],
        ):
            raise _changed(f"{ctx.plan['path']} changed in the store since the plan")

    async def _same_file_upstream(self, ctx: ActionContext, *, required: bool) -> bool:
        """Whether the planned file is still upstream; a different file there is refused."""
        found = [
            f for f in await ctx.adapter.get_files([ctx.file_id]) if f.arr_file_id == ctx.file_id
        ]
        if not found:
            if required:
                raise _changed(f"{ctx.plan['integration']} no longer has file {ctx.file_id}")
            return False
        live = found[0]
        planned = (ctx.plan["path"], ctx.plan["size_bytes"], ctx.plan["parent"]["arr_id"])
        if (live.path, live.size_bytes, live.owner_arr_id) != planned:
            raise _changed(
                f"{ctx.plan['integration']} file {ctx.file_id} is now {live.path}"
                f" ({live.size_bytes} bytes), planned {ctx.plan['path']}"
                f" ({ctx.plan['size_bytes']} bytes)"
            )
        return True

    async def _delete_file(self, ctx: ActionContext) -> str:
        entry = ctx.action.stage_timestamps_json.get("delete_file") or {}
        # A DELETE may have been sent already: look before sending it again.
        if entry.get("attempted") and not await self._same_file_upstream(ctx, required=False):
            return "already_gone"
        await self.rt.store.write(lambda: self._mark(ctx, "delete_file", "sent_at", attempted=True))
        deleted = await ctx.adapter.delete_file(ctx.file_id)
        return "deleted" if deleted else "already_gone"

    async def _unmonitor(self, ctx: ActionContext) -> str:
        done = []
        episodes = ctx.plan.get("unmonitor_episodes") or []
        if episodes:
            await ctx.adapter.unmonitor("episode", episodes)
            done.append(f"episodes {episodes}")
        item = (ctx.plan.get("group") or {}).get("unmonitor")
        if item and await self._group_deleted(ctx):
            await ctx.adapter.unmonitor(item["type"], [item["arr_id"]])
            done.append(f"{item['type']} {item['arr_id']}")
        return "unmonitored " + ", ".join(done) if done else "nothing_to_unmonitor"

    async def _tag(self, ctx: ActionContext) -> str:
        item = (ctx.plan.get("group") or {}).get("tag")
        if not item or not await self._group_deleted(ctx):
            return "nothing_to_tag"
        tag = await ctx.adapter.add_tag(item["type"], [item["arr_id"]], item["tag"])
        await self.rt.store.write(lambda: _remember_tag(ctx.action.integration_id, tag))
        return f"tagged {item['type']} {item['arr_id']} with {tag.label}"

    async def _group_deleted(self, ctx: ActionContext) -> bool:
        """Whether every file of the whole item (movie, show) is deleted by now: only then is
        the item unmonitored and tagged, by the action that deletes its last file."""
        files = ctx.plan["group"]["files"]

        def check() -> bool:
            siblings = DeletionAction.select().where(
                DeletionAction.deletion_run == ctx.run.id, DeletionAction.media_file.in_(files)
            )
            return all(
                (s.stage_timestamps_json.get("delete_file") or {}).get("finished_at")
                for s in siblings
            ) and len(list(siblings)) == len(files)

        return await self.rt.store.read(check)

    async def _confirm(self, ctx: ActionContext) -> str:
        """Polled until the file is no longer listed, bounded."""
        timing = self.timing
        for poll in range(timing.confirm_polls):
            listed = await ctx.adapter.list_files(ctx.plan["parent"]["arr_id"])
            if ctx.file_id not in {f.arr_file_id for f in listed}:
                return "gone"
            if poll + 1 < timing.confirm_polls:
                await asyncio.sleep(backoff(poll, timing.confirm_base_s, timing.confirm_cap_s))
        raise CullarrError(
            f"{ctx.plan['integration']} still lists file {ctx.file_id} ({ctx.plan['path']})",
            code="deletion_confirmation_timeout",
        )

    def _audit(self, event: str, run_id: int, correlation_id: str | None = None, **extra) -> None:
        self.rt.audit.record(event, {"run_id": run_id, **extra}, correlation_id=correlation_id)


def _changed(message: str) -> CullarrError:
    return CullarrError(message, code="deletion_target_changed")


def _next_run() -> int | None:
    run = DeletionRun.select().where(DeletionRun.status.in_(ACTIVE)).order_by(DeletionRun.id)
    first = run.first()
    return None if first is None else first.id


def _canceled(run_id: int) -> bool:
    return bool(DeletionRun.get_by_id(run_id).cancel_requested)


def _request_fields(run: DeletionRun) -> dict[str, Any]:
    request = run.summary_json["plan"]["request"]
    ids = tuple(int(t.partition(":")[2]) for t in request["target_ids"])
    versions = tuple(
        (int(k.partition(":")[2]), tuple(v)) for k, v in sorted(request["versions"].items())
    )
    return {
        "scope": request["scope"],
        "target_ids": ids,
        "versions": versions,
        "plex_user_ids": tuple(request["plex_user_ids"]),
        "watched_match_mode": request["watched_match_mode"],
    }


def _remember_tag(integration_id: int, tag: Any) -> None:
    row = ArrTag.get_or_none(
        ArrTag.integration == integration_id, ArrTag.arr_tag_id == tag.arr_tag_id
    )
    if row is None:
        ArrTag.create(integration=integration_id, name=tag.label, arr_tag_id=tag.arr_tag_id)
    elif row.name != tag.label:
        row.name = tag.label
        row.save()
