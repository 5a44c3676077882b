"""Integration health: ask the service, apply the version policy (SPEC §4.3), persist the result.

Policy. ``strict_latest``: a version below the kind's newest minimum (the delete minimum for
Sonarr/Radarr) makes the integration unusable (``unsupported``). ``warn_only_read_only``: it still
syncs but can never delete (``warning``). A failed check is ``error`` with the classified message;
the last known version stays. Transitions are logged and audited, steady states are not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import structlog

from cullarrd.adapters import open_adapter
from cullarrd.audit import AuditRecorder
from cullarrd.errors import CullarrError, IntegrationError
from cullarrd.store.models import Integration
from cullarrd.timeutil import utcnow
from cullarrd.types import HealthRecord

log = structlog.get_logger(__name__)
VERSION = re.compile(r"^\s*v?(\d+(?:\.\d+)*)")


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """``"4.0.19.2979"`` → (4, 0, 19, 2979); a leading ``v`` is accepted; junk → None."""
    match = VERSION.match(text or "")
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


@dataclass(frozen=True)
class HealthOutcome:
    status: str  # healthy | warning | unsupported | error
    reported_version: str | None
    supported_for_delete: bool
    message: str | None


def evaluate(record: HealthRecord, mode: str) -> HealthOutcome:
    """Apply the version policy of ``mode`` to what the service reported."""
    version = parse_version(record.version)
    if version is None:
        return HealthOutcome(
            "error", record.version, False, f"unreadable version {record.version!r}"
        )
    minimums = [m for m in (record.min_read_version, record.min_delete_version) if m]
    newest = max(minimums, key=lambda m: parse_version(m) or ())
    can_delete = record.min_delete_version is not None and version >= parse_version(
        record.min_delete_version
    )
    if version >= parse_version(newest):
        return HealthOutcome("healthy", record.version, can_delete, None)
    below = f"{record.app_name} {record.version} is below the supported minimum {newest}"
    if mode == "warn_only_read_only":
        return HealthOutcome("warning", record.version, False, f"{below}: read-only")
    return HealthOutcome("unsupported", record.version, False, below)


def failed(error: CullarrError, previous_version: str | None) -> HealthOutcome:
    """The outcome of a check that could not complete."""
    return HealthOutcome("error", previous_version, False, f"{error.code}: {error.message}")


async def check(runtime: Any, integration: Any, *, correlation_id: str | None = None) -> dict:
    """Check one configured integration now and persist the outcome; returns its public row."""
    from cullarrd.integrations import integration_to_dict  # avoid an import cycle

    settings = await runtime.store.read(runtime.settings.values)
    mode = integration.compatibility_mode or settings["compatibility_mode_default"]
    row = await runtime.store.read(lambda: Integration.get(Integration.name == integration.name))
    try:
        async with open_adapter(
            runtime.plugins, integration, settings, security=runtime.config.security
        ) as adapter:
            outcome = evaluate(await adapter.check_health(), mode)
    except (IntegrationError, CullarrError) as exc:
        outcome = failed(exc, row.reported_version)

    def persist() -> Integration:
        return record_outcome(row.id, outcome, runtime.audit, correlation_id=correlation_id)

    return integration_to_dict(await runtime.store.write(persist))


def record_outcome(
    integration_id: int,
    outcome: HealthOutcome,
    audit: AuditRecorder,
    *,
    correlation_id: str | None = None,
) -> Integration:
    """Store a health outcome on the row; audit and log only a change of status."""
    row = Integration.get_by_id(integration_id)
    previous = row.status
    row.status = outcome.status
    row.reported_version = outcome.reported_version
    row.supported_for_delete = outcome.supported_for_delete
    row.last_error = outcome.message if outcome.status != "healthy" else None
    row.last_checked_at = utcnow()
    row.save()
    if previous != outcome.status:
        payload = {"name": row.name, "from": previous, "to": outcome.status}
        if outcome.message:
            payload["message"] = outcome.message
        audit.record("integration.health_changed", payload, correlation_id=correlation_id)
        log.info("integration.health_changed", integration=row.name, **payload)
    return row
