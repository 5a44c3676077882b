"""Append-only audit trail: who did what, when, under which correlation id.

Payloads are scrubbed before they are stored: keys that name a secret are dropped and any
configured secret value is masked, so an audit row can never carry an API key or a password.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from cullarrd.store.models import AuditEvent
from cullarrd.timeutil import isoformat, utcnow

SENSITIVE_KEY = re.compile(r"pass(word)?|secret|token|api_?key|authorization", re.IGNORECASE)
REDACTED = "***"


class AuditRecorder:
    """Writes audit events; call ``record`` inside a store write (the writer thread)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str]) -> None:
        """Replace the secret values masked in payloads (called again on reload)."""
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def record(
        self,
        event_name: str,
        payload: dict[str, Any] | None = None,
        *,
        operator_id: int | None = None,
        correlation_id: str | None = None,
        occurred_at: dt.datetime | None = None,
    ) -> AuditEvent:
        """Append one event; never updates or deletes an existing one."""
        return AuditEvent.create(
            event_name=event_name,
            operator=operator_id,
            correlation_id=correlation_id,
            payload_json=self.scrub(payload or {}),
            occurred_at=occurred_at or utcnow(),
        )

    def scrub(self, value: Any) -> Any:
        """A copy of ``value`` with secret-named keys replaced and secret values masked."""
        if isinstance(value, dict):
            return {
                str(k): REDACTED if SENSITIVE_KEY.search(str(k)) else self.scrub(v)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        if isinstance(value, str):
            for secret in self._secrets:
                value = value.replace(secret, REDACTED)
            return value
        return value


def list_events(
    *,
    limit: int = 50,
    before_id: int | None = None,
    since: dt.datetime | None = None,
    event_name: str | None = None,
) -> list[dict[str, Any]]:
    """Newest events first, as plain dicts (read side)."""
    query = AuditEvent.select().order_by(AuditEvent.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if event_name is not None:
        query = query.where(AuditEvent.event_name == event_name)
    return [event_to_dict(e) for e in query]


def event_to_dict(event: AuditEvent) -> dict[str, Any]:
    """The public shape of one audit event."""
    return {
        "id": event.id,
        "event_name": event.event_name,
        "operator_id": event.operator_id,
        "correlation_id": event.correlation_id,
        "payload": event.payload_json,
        "occurred_at": isoformat(event.occurred_at),
    }
