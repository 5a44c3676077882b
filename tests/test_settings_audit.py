"""Settings (typed, bounded, sourced, audited) and the append-only audit recorder."""

from __future__ import annotations

import pytest

from cullarrd.audit import AuditRecorder, list_events
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.settings import DEFAULTS, SPECS, Settings
from cullarrd.store.models import AppSetting, AuditEvent

CONFIG_KEYS = {"delete_mode_enabled": False, "allowed_integration_hosts": ["*.lan"]}


@pytest.fixture
def settings(store):
    audit = AuditRecorder(["sup3r-secret-key"])
    return Settings(lambda: CONFIG_KEYS, audit)


def update(store, settings, changes, **kwargs):
    with store.db.atomic():
        return settings.update(changes, correlation_id="cid-1", **kwargs)


def test_reads_give_value_and_source(store, settings):
    everything = settings.read_all()
    assert everything["sync_interval_minutes"] == {"value": 30, "source": "default"}
    assert everything["delete_mode_enabled"] == {"value": False, "source": "config"}
    assert set(DEFAULTS) | set(CONFIG_KEYS) == set(everything)
    update(store, settings, {"sync_interval_minutes": 45})
    assert settings.read_all()["sync_interval_minutes"] == {"value": 45, "source": "db"}


def test_stored_false_and_zero_are_values_not_unset(store, settings):
    update(store, settings, {"sync_enabled": False, "retention_sync_runs_days": 1})
    update(store, settings, {"sync_enabled": False})  # unchanged: no new write
    values = settings.read_all()
    assert values["sync_enabled"] == {"value": False, "source": "db"}
    assert values["retention_sync_runs_days"] == {"value": 1, "source": "db"}


def test_every_bad_key_is_reported_at_once_and_nothing_is_written(store, settings):
    with pytest.raises(ValidationFailed) as caught:
        update(
            store,
            settings,
            {
                "sync_interval_minutes": 0,
                "watched_mode": "vibes",
                "sync_enabled": "yes",
                "managed_path_roots": ["relative/path"],
                "culled_tag_name": "",
                "no_such_setting": 1,
                "watched_percent_threshold": 50,  # valid, but must not be written either
            },
        )
    fields = caught.value.details["fields"]
    assert fields == {
        "sync_interval_minutes": ["must be between 1 and 1440"],
        "watched_mode": ["must be one of: play_count, percent"],
        "sync_enabled": ["must be true or false"],
        "managed_path_roots": ["must be an absolute path (got relative/path)"],
        "culled_tag_name": ["must not be empty"],
        "no_such_setting": ["unknown setting"],
    }
    assert AppSetting.select().count() == 0
    assert AuditEvent.select().count() == 0


def test_only_changed_keys_are_written_and_audited_with_old_and_new(store, settings):
    assert update(store, settings, {"sync_interval_minutes": 30}) == []  # equals the default
    assert AppSetting.select().count() == 0
    changed = update(store, settings, {"sync_interval_minutes": 60, "watched_mode": "percent"})
    assert changed == ["sync_interval_minutes", "watched_mode"]
    event = AuditEvent.get(AuditEvent.event_name == "settings.updated")
    assert event.correlation_id == "cid-1"
    assert event.payload_json["changes"] == {
        "sync_interval_minutes": {"old": 30, "new": 60},
        "watched_mode": {"old": "play_count", "new": "percent"},
    }


def test_managed_path_roots_are_normalised_deduplicated_longest_first(store, settings):
    update(store, settings, {"managed_path_roots": ["/data/", "/data//tv", "/data", "\\srv\\x"]})
    assert settings.values()["managed_path_roots"] == ["/data/tv", "/srv/x", "/data"]


def test_config_managed_keys_are_immutable(store, settings):
    with pytest.raises(CullarrError) as caught:
        update(store, settings, {"delete_mode_enabled": True, "sync_enabled": False})
    assert caught.value.code == "settings_immutable"
    assert "delete_mode_enabled" in caught.value.details["fields"]
    assert AppSetting.select().count() == 0


def test_audit_retention_to_zero_needs_confirmation(store, settings):
    update(store, settings, {"retention_audit_events_days": 90})
    with pytest.raises(CullarrError) as caught:
        update(store, settings, {"retention_audit_events_days": 0})
    assert caught.value.code == "retention_setting_unsafe"
    assert settings.values()["retention_audit_events_days"] == 90
    update(store, settings, {"retention_audit_events_days": 0}, unsafe_confirmed=True)
    assert settings.values()["retention_audit_events_days"] == 0


def test_every_setting_has_a_default_that_passes_its_own_validation(settings):
    for spec in SPECS:
        assert spec.read(spec.default) == spec.default, spec.key


def test_audit_payloads_never_keep_secrets(store):
    audit = AuditRecorder(["sup3r-secret-key"])
    with store.db.atomic():
        audit.record(
            "test.event",
            {
                "password": "hunter2-hunter2",
                "nested": {"api_key": "abc", "note": "url?apikey=sup3r-secret-key"},
                "items": ["sup3r-secret-key", 3],
            },
            correlation_id="c-9",
        )
    (event,) = list_events(limit=5)
    assert event["correlation_id"] == "c-9"
    assert event["occurred_at"].endswith("Z")
    text = repr(event)
    assert "hunter2" not in text and "sup3r-secret-key" not in text and "abc" not in text
    assert event["payload"]["items"] == ["***", 3]


def test_audit_list_is_newest_first_with_filters(store):
    audit = AuditRecorder()
    with store.db.atomic():
        for i in range(5):
            audit.record("a" if i % 2 else "b", {"i": i})
    events = list_events(limit=3)
    assert [e["payload"]["i"] for e in events] == [4, 3, 2]
    assert [e["payload"]["i"] for e in list_events(limit=10, event_name="a")] == [3, 1]
    assert [e["payload"]["i"] for e in list_events(limit=10, before_id=events[-1]["id"])] == [1, 0]
