"""Commands of deletion: unlocking delete mode, planning, creating, following and canceling runs.

Planning needs no unlock and writes nothing; creating a run needs delete mode, the secret and a
single-use unlock token (SPEC §7). Every refusal to unlock or to create is audited with its code.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cullarrd import operators
from cullarrd.deletion import gate
from cullarrd.deletion.plan import build_plan, parse_request
from cullarrd.deletion.runs import ACTIVE, create_run, parse_reviewed, run_to_dict
from cullarrd.errors import CullarrError
from cullarrd.service import Args, Caller, Service, command
from cullarrd.store.models import DeletionRun
from cullarrd.timeutil import isoformat, utcnow

FOLLOW_INTERVAL_S = 0.5
HEARTBEAT_S = 15.0


@command("delete.unlock", mutating=True)
async def delete_unlock(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """A single-use unlock token for the operator, after the operator's password."""
    reader = Args(args, {"password"})
    password = reader.text("password", required=True)
    reader.done()
    try:
        secret = gate.delete_secret(svc.rt.config)
        operator_id = await svc.verify_operator_password(password)
        if operator_id is None:
            raise CullarrError("the operator password is wrong", code="forbidden")
    except CullarrError as exc:
        await svc.audit(caller, "delete.unlock_denied", {"reason": exc.code})
        raise
    settings = await svc.rt.store.read(svc.rt.settings.values)
    ttl = int(settings["sensitive_action_reauthentication_window_minutes"])

    def grant() -> tuple[str, Any]:
        token, expires_at = gate.issue(secret, operator_id, ttl, utcnow())
        svc.rt.audit.record(
            "delete.unlock_granted",
            {"expires_at": isoformat(expires_at), "actor": caller.actor()},
            operator_id=operator_id,
            correlation_id=caller.correlation_id,
        )
        return token, expires_at

    token, expires_at = await svc.rt.store.write(grant)
    return {"token": token, "expires_at": isoformat(expires_at)}


@command("deletion.plan")
async def deletion_plan(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """What a run would delete, re-evaluated now; needs no unlock and writes nothing."""
    return await svc.rt.store.read(
        lambda: build_plan(parse_request(args), svc.rt.settings.values())
    )


@command("deletion.create", mutating=True)
async def deletion_create(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Spend an unlock token on a reviewed plan: the run starts; ``wait`` follows it."""
    reader = Args(args, {"plan", "token", "wait"})
    reviewed = reader.mapping("plan")
    wait = reader.flag("wait")
    token = args.get("token")
    reader.done()
    try:
        secret = gate.delete_secret(svc.rt.config)
        operator_id = caller.operator_id or await svc.rt.store.read(_operator_id)

        def create() -> dict[str, Any]:  # one transaction: the plan sees what the run stores
            settings = svc.rt.settings.values()
            request = parse_request(parse_reviewed(reviewed)["request"])
            run = create_run(request, reviewed, token=token, secret=secret,
                             operator_id=operator_id, settings=settings, now=utcnow())  # fmt: skip
            plan = run.summary_json["plan"]
            svc.rt.audit.record(
                "deletion.created",
                {
                    "run_id": run.id,
                    "scope": run.scope,
                    "files": len(plan["files"]),
                    "total_bytes": plan["total_bytes"],
                    "fingerprint": plan["fingerprint"],
                    "actor": caller.actor(),
                },
                operator_id=operator_id,
                correlation_id=caller.correlation_id,
            )
            return run_to_dict(run)

        run = await svc.rt.store.write(create)
    except CullarrError as exc:
        await svc.audit(caller, "deletion.create_denied", {"reason": exc.code})
        raise
    svc.rt.deletion.start()
    if wait:
        run = await follow(svc, caller, run["id"])
    return {"run": run}


def _operator_id() -> int:
    operator = operators.current_operator()
    if operator is None:
        raise CullarrError(
            "no operator exists yet (cullarrctl operator set-password)", code="forbidden"
        )
    return operator.id


async def follow(svc: Service, caller: Caller, run_id: int) -> dict[str, Any]:
    """Emit the run's progress while it is active (a change, or every ``HEARTBEAT_S`` so a
    client waiting on a slow retry knows the run is alive); return it once it has ended."""
    last, sent_at = None, 0.0
    while True:
        run = await svc.rt.store.read(lambda: run_to_dict(DeletionRun.get_by_id(run_id)))
        if run["status"] not in ACTIVE:
            return run
        event = {"run_id": run_id, "status": run["status"], "actions": run["action_counts"]}
        now = time.monotonic()
        if caller.emit is not None and (event != last or now - sent_at >= HEARTBEAT_S):
            await caller.emit(event)
            last, sent_at = event, now
        await asyncio.sleep(FOLLOW_INTERVAL_S)


@command("deletion.cancel", mutating=True)
async def deletion_cancel(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Stop a run before its next action (finished actions stay as they are)."""
    run_id = _run_id(args)
    return {"run": await svc.rt.deletion.cancel(run_id, correlation_id=caller.correlation_id)}


@command("deletion.list")
async def deletion_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Newest deletion runs first."""
    return {"runs": await svc.newest(args, DeletionRun, run_to_dict)}


@command("deletion.get")
async def deletion_get(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """One deletion run with every action, its stages and errors."""
    run_id = _run_id(args)

    def read() -> dict[str, Any]:
        run = DeletionRun.get_or_none(DeletionRun.id == run_id)
        if run is None:
            raise CullarrError(f"no deletion run {run_id}", code="not_found")
        return run_to_dict(run, actions=True)

    return {"run": await svc.rt.store.read(read)}


def _run_id(args: dict[str, Any]) -> int:
    reader = Args(args, {"id"})
    run_id = reader.required_id()
    reader.done()
    return run_id
