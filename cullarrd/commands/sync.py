"""Commands about sync runs: trigger (optionally following progress), cancel, list, get, and
rebuilding one Tautulli integration's history."""

from __future__ import annotations

import asyncio
from typing import Any

from cullarrd.commands.system import integration_name
from cullarrd.errors import CullarrError
from cullarrd.service import MAX_ID, Args, Caller, Service, command
from cullarrd.store.models import Integration, SyncRun
from cullarrd.sync.engine import ACTIVE, run_to_dict
from cullarrd.sync.history_rebuild import REBUILD_KEY

FOLLOW_INTERVAL_S = 0.5


@command("sync.trigger", mutating=True)
async def sync_trigger(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Start a sync (or queue one next); with ``wait`` stream progress until it ends."""
    reader = Args(args, {"wait"})
    wait = reader.flag("wait")
    reader.done()
    answer = await svc.rt.sync.trigger("manual", correlation_id=caller.correlation_id)
    if not wait:
        return answer
    run = await follow(svc, caller, answer["run"]["id"])
    return {**answer, "run": run}


async def follow(svc: Service, caller: Caller, run_id: int) -> dict[str, Any]:
    """Emit the run's progress while it is active; return it once it has ended."""
    last = None
    while True:
        run = await svc.rt.store.read(lambda: run_to_dict(SyncRun.get_by_id(run_id)))
        if run["status"] not in ACTIVE:
            return run
        progress = run["progress"] or {}
        event = {"run_id": run_id, "status": run["status"], "phase": run["phase"],
                 "percent": progress.get("percent", 0.0)}  # fmt: skip
        if caller.emit is not None and event != last:
            await caller.emit(event)
            last = event
        await asyncio.sleep(FOLLOW_INTERVAL_S)


@command("sync.cancel", mutating=True)
async def sync_cancel(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Stop the active run at its next safe point (``id``, when given, must be that run)."""
    reader = Args(args, {"id"})
    run_id = reader.integer("id", None, 1, MAX_ID)
    reader.done()
    return await svc.rt.sync.cancel(run_id=run_id, correlation_id=caller.correlation_id)


@command("runs.list")
async def runs_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Newest sync runs first."""
    return {"runs": await svc.newest(args, SyncRun, run_to_dict)}


@command("runs.get")
async def runs_get(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """One sync run with its per-phase progress and per-integration outcome."""
    reader = Args(args, {"id"})
    run_id = reader.required_id()
    reader.done()
    run = await svc.rt.store.read(lambda: SyncRun.get_or_none(SyncRun.id == run_id))
    if run is None:
        raise CullarrError(f"no sync run {run_id}", code="not_found")
    return {"run": run_to_dict(run)}


@command("integrations.reset_history", mutating=True)
async def reset_history(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Rebuild one Tautulli integration's history from scratch with the next sync.

    Nothing is dropped first: the next history phase refetches everything, and only after that
    full fetch succeeded are rows Tautulli no longer has removed and the stats recomputed, so
    watch state never looks emptier than it is in between.
    """
    name = await integration_name(svc, Args(args, {"name", "id"}), required=True)
    cfg = next((i for i in svc.rt.config.integrations if i.name == name), None)
    if cfg is None:
        raise CullarrError(f"no configured integration is named {name!r}", code="not_found")
    if cfg.kind != "tautulli":
        raise CullarrError(f"{name} is a {cfg.kind} integration, not tautulli", code="conflict")

    def mark() -> None:
        row = Integration.get(Integration.name == name)
        row.sync_state_json = {**(row.sync_state_json or {}), REBUILD_KEY: True}
        row.save()
        svc.rt.audit.record(
            "integration.history_reset", {"name": name, "actor": caller.actor()},
            correlation_id=caller.correlation_id,
        )  # fmt: skip

    await svc.rt.store.write(mark)
    try:
        answer = await svc.rt.sync.trigger("manual", correlation_id=caller.correlation_id)
    except CullarrError as exc:
        if exc.code != "sync_already_running":
            raise
        answer = {"code": "sync_already_running", "run": None}
    return {"integration": name, "rebuild": "requested", "sync": answer}
