"""Reconcile the configured integrations into the ``integrations`` table by name (SPEC §2).

New names are created, changed ones updated without touching their sync state or inventory,
names no longer configured are marked ``removed`` (kept, skipped, never deletable). Path
mappings of each integration mirror the config exactly. API keys never reach the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cullarrd.audit import AuditRecorder
from cullarrd.store.models import Integration, PathMapping
from cullarrd.timeutil import isoformat, utcnow


def stored_settings(cfg: Any) -> dict[str, Any]:
    """The non-secret connection settings kept on the row (never the API key)."""
    return {
        "verify_ssl": cfg.verify_ssl,
        "compatibility_mode": cfg.compatibility_mode,
        "request_timeout_seconds": cfg.request_timeout_seconds,
        "retry_max_attempts": cfg.retry_max_attempts,
        "fetch_workers": cfg.fetch_workers,
        "page_size": cfg.page_size,
    }


def reconcile(
    configured: Iterable[Any], audit: AuditRecorder, *, correlation_id: str | None = None
) -> dict[str, list[str]]:
    """Bring the table in line with the config; must run inside one store write."""
    summary: dict[str, list[str]] = {"created": [], "updated": [], "removed": []}
    wanted = {cfg.name: cfg for cfg in configured}
    existing = {row.name: row for row in Integration.select()}
    for name, cfg in wanted.items():
        row = existing.get(name)
        fields = {"kind": cfg.kind, "base_url": cfg.base_url, "settings_json": stored_settings(cfg)}
        if row is None:
            row = Integration.create(name=name, status="unknown", sync_state_json={}, **fields)
            summary["created"].append(name)
        else:
            changes = {k: v for k, v in fields.items() if getattr(row, k) != v}
            if row.status == "removed":
                changes["status"] = "unknown"
            if changes:
                Integration.update(updated_at=utcnow(), **changes).where(
                    Integration.id == row.id
                ).execute()
                summary["updated"].append(name)
        _sync_path_mappings(row.id, cfg.path_mappings)
    for name, row in existing.items():
        if name not in wanted and row.status != "removed":
            Integration.update(status="removed", updated_at=utcnow()).where(
                Integration.id == row.id
            ).execute()
            summary["removed"].append(name)
    for action, names in summary.items():
        for name in names:
            audit.record(f"integration.{action}", {"name": name}, correlation_id=correlation_id)
    return summary


def _sync_path_mappings(integration_id: int, mappings: Iterable[Any]) -> None:
    wanted = {(m.from_prefix, m.to_prefix): m.enabled for m in mappings}
    rows = PathMapping.select().where(PathMapping.integration == integration_id)
    have = {(r.from_prefix, r.to_prefix): r for r in rows}
    for key, row in have.items():
        if key not in wanted:
            row.delete_instance()
        elif row.enabled != wanted[key]:
            row.enabled = wanted[key]
            row.save()
    for (from_prefix, to_prefix), enabled in wanted.items():
        if (from_prefix, to_prefix) not in have:
            PathMapping.create(
                integration=integration_id,
                from_prefix=from_prefix,
                to_prefix=to_prefix,
                enabled=enabled,
            )


def list_integrations() -> list[dict[str, Any]]:
    """Every integration row in its public shape (read side)."""
    return [integration_to_dict(row) for row in Integration.select().order_by(Integration.name)]


def integration_to_dict(row: Integration) -> dict[str, Any]:
    """Public shape of an integration: status and health, never a secret."""
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "base_url": row.base_url,
        "status": row.status,
        "reported_version": row.reported_version,
        "supported_for_delete": bool(row.supported_for_delete),
        "last_checked_at": isoformat(row.last_checked_at),
        "last_error": row.last_error,
        "settings": row.settings_json,
    }
