"""Retention prune (SPEC §8): old finished runs and, when configured, old audit events.

Queued and running runs are never touched, and nothing here deletes inventory or files.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from cullarrd.store.models import AuditEvent, DeletionAction, DeletionRun, SyncRun
from cullarrd.timeutil import utcnow

ACTIVE = ("queued", "running")


def prune(settings: Mapping[str, Any], now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is older than its retention; must run inside one store write."""
    now = now or utcnow()
    sync_cutoff = now - dt.timedelta(days=settings["retention_sync_runs_days"])
    deletion_cutoff = now - dt.timedelta(days=settings["retention_deletion_runs_days"])
    removed = {
        "sync_runs": SyncRun.delete()
        .where(SyncRun.status.not_in(ACTIVE), SyncRun.created_at < sync_cutoff)
        .execute()
    }
    old_runs = DeletionRun.select(DeletionRun.id).where(
        DeletionRun.status.not_in(ACTIVE), DeletionRun.created_at < deletion_cutoff
    )
    removed["deletion_actions"] = (
        DeletionAction.delete().where(DeletionAction.deletion_run.in_(old_runs)).execute()
    )
    removed["deletion_runs"] = DeletionRun.delete().where(DeletionRun.id.in_(old_runs)).execute()
    audit_days = settings["retention_audit_events_days"]
    removed["audit_events"] = (
        AuditEvent.delete()
        .where(AuditEvent.occurred_at < now - dt.timedelta(days=audit_days))
        .execute()
        if audit_days > 0
        else 0
    )
    return removed
