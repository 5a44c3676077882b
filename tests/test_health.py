"""The version policy of SPEC §4.3 and how a check's outcome is stored and audited."""

from __future__ import annotations

import pytest

from cullarrd.audit import AuditRecorder
from cullarrd.errors import IntegrationError
from cullarrd.health import evaluate, failed, parse_version, record_outcome
from cullarrd.store.models import AuditEvent, Integration
from cullarrd.types import HealthRecord


def sonarr(version: str) -> HealthRecord:
    return HealthRecord("Sonarr", version, min_read_version="3.0", min_delete_version="4.0")


def tautulli(version: str) -> HealthRecord:
    return HealthRecord("Tautulli", version, min_read_version="2.12", min_delete_version=None)


def test_versions_parse_with_or_without_a_leading_v():
    assert parse_version("4.0.19.2979") == (4, 0, 19, 2979)
    assert parse_version("v2.17.2") == (2, 17, 2)
    assert parse_version("nightly") is None and parse_version(None) is None


@pytest.mark.parametrize(
    ("record", "mode", "expected"),
    [
        (sonarr("4.0.19.2979"), "strict_latest", ("healthy", True)),
        (sonarr("3.0.10.1567"), "strict_latest", ("unsupported", False)),
        (sonarr("3.0.10.1567"), "warn_only_read_only", ("warning", False)),
        (sonarr("2.0.0"), "warn_only_read_only", ("warning", False)),
        (tautulli("v2.17.2"), "strict_latest", ("healthy", False)),
        (tautulli("v2.12.0"), "strict_latest", ("healthy", False)),
        (tautulli("v2.11.9"), "strict_latest", ("unsupported", False)),
        (tautulli("2.11.9"), "warn_only_read_only", ("warning", False)),
        (sonarr("garbage"), "strict_latest", ("error", False)),
    ],
)
def test_version_policy(record, mode, expected):
    outcome = evaluate(record, mode)
    assert (outcome.status, outcome.supported_for_delete) == expected
    assert outcome.reported_version == record.version
    if expected[0] != "healthy":
        assert outcome.message


def test_only_status_transitions_are_audited(store):
    audit = AuditRecorder()
    row = Integration.create(kind="sonarr", name="tv", base_url="http://h")
    with store.db.atomic():
        record_outcome(row.id, evaluate(sonarr("4.0.1"), "strict_latest"), audit)
        record_outcome(row.id, evaluate(sonarr("4.0.2"), "strict_latest"), audit)
        down = IntegrationError(
            "tv: GET http://h/api cannot connect", code="integration_unreachable"
        )
        record_outcome(row.id, failed(down, "4.0.2"), audit)
    stored = Integration.get_by_id(row.id)
    assert (stored.status, stored.reported_version, stored.supported_for_delete) == (
        "error", "4.0.2", False,
    )  # fmt: skip
    assert stored.last_error.startswith("integration_unreachable: ")
    changes = [e.payload_json for e in AuditEvent.select().order_by(AuditEvent.id)]
    assert [(c["from"], c["to"]) for c in changes] == [("unknown", "healthy"), ("healthy", "error")]
