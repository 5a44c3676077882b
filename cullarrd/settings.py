"""Typed, bounded runtime settings (``app_settings``, SPEC §8).

A read gives ``{value, source}`` per key with source ``db`` (stored), ``default`` or ``config``
(managed by config.yaml, visible but immutable). A stored ``false``/``0`` is a value, never
"unset". An update validates every key, reports all problems together, writes only the keys
that change in one transaction and audits ``{key: {old, new}}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cullarrd.audit import AuditRecorder
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.paths import normalize_path
from cullarrd.store.models import AppSetting
from cullarrd.timeutil import utcnow
from cullarrd.validation import (
    Invalid,
    absolute_path,
    as_list,
    boolean,
    bounds_of,
    integer,
    one_of,
    text,
)

Reader = Callable[[Any], Any]  # returns the cleaned value or raises Invalid (a ValueError)

_path_root = absolute_path()


def _absolute_paths(value: Any) -> list[str]:
    """Absolute paths, normalised, deduplicated, longest first; names every entry that is not."""
    cleaned: set[str] = set()
    bad: set[str] = set()
    for item in as_list(value):
        try:
            cleaned.add(_path_root(item))
        except Invalid:
            bad.add(normalize_path(item) if isinstance(item, str) else repr(item))
    if bad:
        raise Invalid(f"must be an absolute path (got {', '.join(sorted(bad))})")
    return sorted(cleaned, key=lambda p: (-len(p), p))


@dataclass(frozen=True)
class SettingSpec:
    key: str
    default: Any
    read: Reader
    help: str

    def field(self) -> dict[str, Any]:
        """How a form edits it: ``kind`` (bool/int/list/enum/text) and the reader's bounds."""
        bounds = bounds_of(self.read)
        if isinstance(self.default, bool):
            kind = "bool"
        elif isinstance(self.default, int):
            kind = "int"
        elif isinstance(self.default, list):
            kind = "list"
        else:
            kind = "enum" if bounds.get("choices") else "text"
        return {"kind": kind, **bounds}


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("sync_enabled", True, boolean, "run scheduled syncs"),
    SettingSpec("sync_interval_minutes", 30, integer(1, 1440), "minutes between scheduled syncs"),
    SettingSpec(
        "watched_mode", "play_count", one_of("play_count", "percent"), "what counts as watched"
    ),
    SettingSpec("watched_percent_threshold", 90, integer(1, 100), "percent that counts as watched"),
    SettingSpec(
        "in_progress_min_offset_ms", 60000, integer(1, 86_400_000), "offset that counts as started"
    ),
    SettingSpec("managed_path_roots", [], _absolute_paths, "roots whose files are managed"),
    SettingSpec(
        "culled_tag_name", "cullarr:culled", text(max_length=128), "tag added after deletion"
    ),
    SettingSpec(
        "compatibility_mode_default",
        "strict_latest",
        one_of("strict_latest", "warn_only_read_only"),
        "version policy for integrations that do not set one",
    ),
    SettingSpec(
        "unmonitor_parent_on_partial_version_delete",
        False,
        boolean,
        "unmonitor a movie even when only some of its versions are deleted",
    ),
    SettingSpec("retention_sync_runs_days", 180, integer(1, 3650), "days sync runs are kept"),
    SettingSpec(
        "retention_deletion_runs_days", 730, integer(1, 3650), "days deletion runs are kept"
    ),
    SettingSpec(
        "retention_audit_events_days",
        0,
        integer(0, 36500),
        "days audit events are kept (0 = forever)",
    ),
    SettingSpec(
        "sensitive_action_reauthentication_window_minutes",
        15,
        integer(1, 1440),
        "minutes a re-authentication (or unlock) stays valid",
    ),
    SettingSpec(
        "full_inventory_interval_hours",
        24,
        integer(1, 168),
        "hours between inventory passes that ignore unchanged-statistics shortcuts",
    ),
)
SPECS_BY_KEY = {spec.key: spec for spec in SPECS}
DEFAULTS = {spec.key: spec.default for spec in SPECS}
UNSAFE_RETENTION_KEY = "retention_audit_events_days"


class Settings:
    """Settings over the store; ``config_values`` gives the config-managed (read-only) keys."""

    def __init__(self, config_values: Callable[[], Mapping[str, Any]], audit: AuditRecorder):
        self._config_values = config_values
        self._audit = audit

    def read_all(self) -> dict[str, dict[str, Any]]:
        """Every setting as ``{value, source}``; db and default keys first, then config keys."""
        stored = {row.key: row.value_json for row in AppSetting.select()}
        result = {
            key: {"value": stored[key], "source": "db"}
            if key in stored
            else {"value": DEFAULTS[key], "source": "default"}
            for key in DEFAULTS
        }
        for key, value in self._config_values().items():
            result[key] = {"value": value, "source": "config"}
        return result

    def values(self) -> dict[str, Any]:
        """Effective values only (what the engines read)."""
        return {key: entry["value"] for key, entry in self.read_all().items()}

    def update(
        self,
        changes: Mapping[str, Any],
        *,
        unsafe_confirmed: bool = False,
        operator_id: int | None = None,
        correlation_id: str | None = None,
        actor: Mapping[str, Any] | None = None,
    ) -> list[str]:
        """Validate all keys, write the changed ones, audit them; returns the changed keys.

        Must run inside one store write transaction. ``unsafe_confirmed`` says the caller has
        re-authenticated the operator and the operator explicitly confirmed an unsafe change.
        """
        cleaned = self.validate(changes)
        current = self.values()
        changed = {k: v for k, v in cleaned.items() if current[k] != v}
        if (
            UNSAFE_RETENTION_KEY in changed
            and changed[UNSAFE_RETENTION_KEY] == 0
            and current[UNSAFE_RETENTION_KEY] != 0
            and not unsafe_confirmed
        ):
            raise CullarrError(
                "setting retention_audit_events_days to 0 needs re-authentication and an "
                "explicit confirmation",
                code="retention_setting_unsafe",
                details={"fields": {UNSAFE_RETENTION_KEY: ["needs re-auth and confirmation"]}},
            )
        now = utcnow()
        for key, value in changed.items():
            updated = (
                AppSetting.update(value_json=value, updated_at=now)
                .where(AppSetting.key == key)
                .execute()
            )
            if not updated:
                AppSetting.create(key=key, value_json=value, created_at=now, updated_at=now)
        if changed:
            payload = {k: {"old": current[k], "new": v} for k, v in changed.items()}
            self._audit.record(
                "settings.updated",
                {"changes": payload, **({"actor": dict(actor)} if actor else {})},
                operator_id=operator_id,
                correlation_id=correlation_id,
            )
        return sorted(changed)

    def validate(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Clean every value or raise one error naming every bad key."""
        if not isinstance(changes, Mapping) or not changes:
            raise ValidationFailed({"values": ["must be a non-empty object of settings"]})
        immutable = sorted(k for k in changes if k in self._config_values())
        if immutable:
            raise CullarrError(
                f"managed by the configuration file, not changeable here: {', '.join(immutable)}",
                code="settings_immutable",
                details={"fields": {k: ["managed by config.yaml"] for k in immutable}},
            )
        errors: dict[str, list[str]] = {}
        cleaned: dict[str, Any] = {}
        for key, value in changes.items():
            spec = SPECS_BY_KEY.get(key)
            if spec is None:
                errors[key] = ["unknown setting"]
                continue
            try:
                cleaned[key] = spec.read(value)
            except ValueError as exc:
                errors[key] = [str(exc)]
        if errors:
            raise ValidationFailed(errors)
        return cleaned
