"""Creating a deletion run from a reviewed plan, and the public shape of runs (SPEC §7.3).

``create_run`` runs inside one store write: the unlock token is spent, the plan is rebuilt from
its request on the current store and must be the one the operator reviewed (same fingerprint),
no file may be culled already or in flight in another active run, and then the run and one
action per file are stored. Any refusal rolls the whole write back, the token included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cullarrd.deletion import gate
from cullarrd.deletion.plan import PlanRequest, build_plan
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.store.models import DeletionAction, DeletionRun, MediaFile
from cullarrd.timeutil import isoformat

ACTIVE = ("queued", "running")
FINAL_ACTIONS = ("confirmed", "failed", "skipped")
STAGES = ("precheck", "delete_file", "unmonitor", "tag", "confirm")


def create_run(
    request: PlanRequest,
    reviewed: Mapping[str, Any],
    *,
    token: Any,
    secret: str,
    operator_id: int,
    settings: Mapping[str, Any],
    now: dt.datetime,
) -> DeletionRun:
    """Spend the token and store the run with its actions (inside a write)."""
    gate.consume(secret, token, operator_id, now)
    plan = build_plan(request, settings)
    _check_reviewed(plan, reviewed)
    _check_conflicts(plan)
    run = DeletionRun.create(
        operator=operator_id,
        status="queued",
        scope=request.scope,
        selected_plex_user_ids_json=list(request.plex_user_ids),
        summary_json={"plan": plan},
    )
    for entry in plan["files"]:
        DeletionAction.create(
            deletion_run=run.id,
            media_file=entry["media_file_id"],
            integration=entry["integration_id"],
            status="queued",
            idempotency_key=f"{run.id}:{entry['integration_id']}:{entry['arr_file_id']}",
            stage_timestamps_json={},
            plan_json=entry,
            warnings_json=[],
        )
    return run


def _check_reviewed(plan: Mapping[str, Any], reviewed: Mapping[str, Any]) -> None:
    """The rebuilt plan must be the reviewed one; say what changed when it is not."""
    if not plan["files"] and plan["blocked"]:
        first = plan["blocked"][0]
        raise CullarrError(
            f"nothing in the plan can be deleted: {first['candidate_id']} is blocked"
            f" ({', '.join(first['blocker_flags']) or 'not watched as required'})",
            code=first["error_code"],
            details={"blocked": plan["blocked"]},
        )
    if plan["fingerprint"] == reviewed.get("fingerprint"):
        return
    was_eligible = {
        f.get("candidate_id") for f in reviewed.get("files") or [] if isinstance(f, dict)
    }
    now_blocked = [b for b in plan["blocked"] if b["candidate_id"] in was_eligible]
    if now_blocked:
        first = now_blocked[0]
        raise CullarrError(
            f"{first['candidate_id']} ({first['title']}) is blocked now:"
            f" {', '.join(first['blocker_flags']) or 'not watched as required'}; plan again",
            code=first["error_code"],
            details={"blocked": now_blocked},
        )
    raise CullarrError(
        "the library changed since this plan was made; plan again and review it",
        code="deletion_target_changed",
        details={"changes": _changes(reviewed.get("files"), plan["files"])},
    )


def _changes(before: Any, after: list[dict[str, Any]]) -> dict[str, list[Any]]:
    keys = ("arr_file_id", "path", "size_bytes")
    old = {
        f.get("media_file_id"): f for f in before if isinstance(f, dict)
    } if isinstance(before, list) else {}  # fmt: skip
    new = {f["media_file_id"]: f for f in after}
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(i for i in set(old) - set(new) if isinstance(i, int)),
        "changed": sorted(
            i for i in set(old) & set(new) if any(old[i].get(k) != new[i][k] for k in keys)
        ),
    }


def _check_conflicts(plan: Mapping[str, Any]) -> None:
    """No file deleted twice: not culled already, not in flight in another active run."""
    ids = [f["media_file_id"] for f in plan["files"]]
    culled = [m.id for m in MediaFile.select(MediaFile.id).where(
        MediaFile.id.in_(ids), MediaFile.culled_at.is_null(False))]  # fmt: skip
    busy = (
        DeletionAction.select(DeletionAction.media_file, DeletionAction.deletion_run)
        .join(DeletionRun)
        .where(
            DeletionAction.media_file.in_(ids),
            DeletionRun.status.in_(ACTIVE),
            DeletionAction.status.not_in(("failed", "skipped")),
        )
        .tuples()
    )
    in_flight = {file_id: run_id for file_id, run_id in busy}
    if culled or in_flight:
        raise CullarrError(
            "some files are already deleted or being deleted by another run",
            code="conflict",
            details={
                "culled_media_file_ids": sorted(culled),
                "in_flight": [
                    {"media_file_id": f, "deletion_run_id": r} for f, r in sorted(in_flight.items())
                ],
            },
        )


def parse_reviewed(value: Any) -> dict[str, Any]:
    """The plan a ``deletion.create`` was given: its request and fingerprint are what count."""
    if not isinstance(value, dict) or not isinstance(value.get("request"), dict):
        raise ValidationFailed({"plan": ["must be a plan as deletion.plan returned it"]})
    if not isinstance(value.get("fingerprint"), str):
        raise ValidationFailed({"plan.fingerprint": ["is missing; plan again"]})
    return value


# --- public shapes -----------------------------------------------------------------------------


def run_to_dict(run: DeletionRun, *, actions: bool = False) -> dict[str, Any]:
    """A deletion run; with ``actions`` every action with its stages."""
    plan = (run.summary_json or {}).get("plan") or {}
    rows = list(run.actions.order_by(DeletionAction.id))
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    answer = {
        "id": run.id,
        "status": run.status,
        "scope": run.scope,
        "operator_id": run.operator_id,
        "selected_plex_user_ids": run.selected_plex_user_ids_json,
        "request": plan.get("request"),
        "fingerprint": plan.get("fingerprint"),
        "total_bytes": plan.get("total_bytes", 0),
        "deleted_bytes": sum(  # confirmed gone, even when a later stage failed
            (r.plan_json or {}).get("size_bytes", 0)
            for r in rows
            if ((r.stage_timestamps_json or {}).get("confirm") or {}).get("finished_at")
        ),
        "action_counts": counts,
        "error_code": run.error_code,
        "error_message": run.error_message,
        "cancel_requested": bool(run.cancel_requested),
        "created_at": isoformat(run.created_at),
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
    }
    if actions:
        answer["actions"] = [action_to_dict(row) for row in rows]
        answer["side_effects"] = plan.get("side_effects")
        answer["blocked"] = plan.get("blocked", [])
    return answer


def action_to_dict(row: DeletionAction) -> dict[str, Any]:
    plan = row.plan_json or {}
    stages = row.stage_timestamps_json or {}
    return {
        "id": row.id,
        "media_file_id": row.media_file_id,
        "candidate_id": plan.get("candidate_id"),
        "integration": plan.get("integration"),
        "arr_file_id": plan.get("arr_file_id"),
        "path": plan.get("path"),
        "size_bytes": plan.get("size_bytes"),
        "status": row.status,
        "stage": next((s for s in reversed(STAGES) if s in stages), None),
        "stages": {s: stages[s] for s in STAGES if s in stages},  # in order (JSONB sorts keys)
        "error_code": row.error_code,
        "error_message": row.error_message,
        "retry_count": row.retry_count,
        "warnings": row.warnings_json or [],
    }
