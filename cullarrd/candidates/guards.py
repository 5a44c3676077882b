"""Keep markers, path exclusions and saved views (SPEC §6.4): validation, changes, audit.

Mutations run inside ``store.write`` and record one audit event each; lists and ``get_view`` run
inside ``store.read`` and write nothing. Validation reports every bad field at once; a duplicate
(one marker per target, one exclusion per prefix, one view per name) is a ``conflict``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from peewee import Expression, Model

from cullarrd.audit import AuditRecorder
from cullarrd.candidates.params import VIEW_FILTER_KEYS, Fields, validate_view
from cullarrd.errors import Conflict, NotFound, ValidationFailed
from cullarrd.store.models import (
    Episode,
    KeepMarker,
    Movie,
    PathExclusion,
    PlexUser,
    SavedView,
    Season,
    Series,
)
from cullarrd.timeutil import isoformat, utcnow
from cullarrd.validation import Invalid, absolute_path, boolean, text

# What a keep marker may target, as callers name it -> as the store names it.
TARGET_TYPES = {"movie": "movie", "episode": "episode", "season": "season", "series": "series",
                "show": "series"}  # fmt: skip
TARGET_MODELS: dict[str, type[Model]] = {
    "movie": Movie, "episode": Episode, "season": Season, "series": Series,
}  # fmt: skip
# The candidate id prefix of each keepable type (SPEC §6.3 calls a series a show).
CANDIDATE_PREFIX = {"movie": "movie", "episode": "episode", "season": "season", "series": "show"}
NOTE_MAX_LENGTH = 500
NAME_MAX_LENGTH = 200
MAX_ID = 2**63 - 1

_name = text(max_length=NAME_MAX_LENGTH)
_path_prefix = absolute_path()


@dataclass(frozen=True)
class AuditContext:
    """The recorder and who is acting, so each change is audited with its caller."""

    recorder: AuditRecorder
    operator_id: int | None = None
    correlation_id: str | None = None
    actor: Mapping[str, Any] | None = None

    def record(self, event_name: str, payload: dict[str, Any]) -> None:
        if self.actor:
            payload = {**payload, "actor": dict(self.actor)}
        self.recorder.record(
            event_name, payload, operator_id=self.operator_id, correlation_id=self.correlation_id
        )


def _problems(errors: Mapping[str, list[str]] | None) -> Fields:
    fields = Fields()
    for key, messages in (errors or {}).items():
        for message in messages:
            fields.fail(key, message)
    return fields


def _read(fields: Fields, key: str, reader: Callable[[Any], Any], value: Any) -> Any:
    """``reader(value)``, or None with the problem recorded under ``key``."""
    if value is None:
        fields.fail(key, "is required")
        return None
    try:
        return reader(value)
    except Invalid as exc:
        fields.fail(key, str(exc))
        return None


def _raise_if_any(fields: Fields) -> None:
    if fields.errors:
        raise ValidationFailed(fields.errors)


def _conflict(field: str, message: str, existing_id: int) -> Conflict:
    return Conflict(message, details={"fields": {field: [message]}, "existing_id": existing_id})


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


# --- keep markers -------------------------------------------------------------------------------


def _note(value: Any) -> str | None:
    if not isinstance(value, str):
        raise Invalid("must be a string")
    value = value.strip()
    if len(value) > NOTE_MAX_LENGTH:
        raise Invalid(f"must be at most {NOTE_MAX_LENGTH} characters long")
    return value or None


def _movie_title(title: str, year: int | None) -> str:
    return f"{title} ({year})" if year else title


def _episode_title(show: str, season: int, episode: int, title: str | None) -> str:
    code = f"{show} S{season:02d}E{episode:02d}"
    return f"{code} {title}" if title else code


def _marker_titles(where: Expression | None = None) -> dict[int, str]:
    """Marker id -> the human title of its target, one joined query per target type."""
    km = KeepMarker

    def of(kind: str, *columns: Any) -> Any:
        model = TARGET_MODELS[kind]
        query = km.select(km.id, *columns).join(model, on=(km.keepable_id == model.id))
        if kind in ("episode", "season"):
            if kind == "episode":
                query = query.join(Season, on=(Episode.season == Season.id))
            query = query.join(Series, on=(Season.series == Series.id))
        condition = km.keepable_type == kind
        return query.where(condition if where is None else condition & where).tuples()

    titles = {mid: _movie_title(t, y) for mid, t, y in of("movie", Movie.title, Movie.year)}
    titles.update(of("series", Series.title))
    seasons = of("season", Series.title, Season.season_number)
    titles.update((mid, f"{show} - Season {n}") for mid, show, n in seasons)
    episodes = of("episode", Series.title, Episode.season_number, Episode.episode_number,
                  Episode.title)  # fmt: skip
    titles.update((mid, _episode_title(*rest)) for mid, *rest in episodes)
    return titles


def _marker_dict(marker: KeepMarker, title: str | None) -> dict[str, Any]:
    kind = marker.keepable_type
    return {
        "id": marker.id,
        "target_type": kind,
        "target_id": marker.keepable_id,
        "candidate_id": f"{CANDIDATE_PREFIX[kind]}:{marker.keepable_id}",
        "title": title,
        "note": marker.note,
        "created_at": isoformat(marker.created_at),
    }


def add_keep_marker(
    audit: AuditContext,
    target_type: Any,
    target_id: Any,
    note: Any = None,
    *,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Keep one present movie, episode, season or series from deletion (one marker per target)."""
    fields = _problems(errors)
    kind = TARGET_TYPES.get(target_type) if isinstance(target_type, str) else None
    if target_type is None:
        fields.fail("target_type", "is required")
    elif kind is None:
        fields.fail("target_type", "must be one of: movie, episode, season, series (or show)")
    if target_id is None:
        fields.fail("target_id", "is required")
    elif not _is_id(target_id):
        fields.fail("target_id", "must be a positive integer")
    elif kind is not None:
        target = TARGET_MODELS[kind].get_or_none(id=target_id)
        if target is None:
            fields.fail("target_id", f"no {kind} has id {target_id}")
        elif target.missing_since is not None:
            fields.fail("target_id", f"{kind} {target_id} is missing upstream")
    note = _read(fields, "note", _note, note) if note is not None else None
    _raise_if_any(fields)
    existing = KeepMarker.get_or_none(keepable_type=kind, keepable_id=target_id)
    if existing is not None:
        message = f"{kind} {target_id} already has keep marker {existing.id}"
        raise _conflict("target_id", message, existing.id)
    marker = KeepMarker.create(keepable_type=kind, keepable_id=target_id, note=note)
    item = _marker_dict(marker, _marker_titles(KeepMarker.id == marker.id).get(marker.id))
    audit.record("keep_marker.added", {k: v for k, v in item.items() if k != "created_at"})
    return item


def remove_keep_marker(audit: AuditContext, marker_id: int) -> int:
    """Delete one keep marker; its target becomes deletable again (if nothing else blocks it)."""
    marker = KeepMarker.get_or_none(KeepMarker.id == marker_id)
    if marker is None:
        raise NotFound(f"no keep marker has id {marker_id}")
    item = _marker_dict(marker, _marker_titles(KeepMarker.id == marker.id).get(marker.id))
    marker.delete_instance()
    audit.record("keep_marker.removed", {k: v for k, v in item.items() if k != "created_at"})
    return marker_id


def list_keep_markers() -> list[dict[str, Any]]:
    """Every keep marker with its target's candidate id and title, newest first."""
    titles = _marker_titles()
    markers = KeepMarker.select().order_by(KeepMarker.id.desc())
    return [_marker_dict(marker, titles.get(marker.id)) for marker in markers]


# --- path exclusions ----------------------------------------------------------------------------


def _exclusion_dict(row: PathExclusion) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "path_prefix": row.path_prefix,
        "enabled": row.enabled,
        "created_at": isoformat(row.created_at),
        "updated_at": isoformat(row.updated_at),
    }


def _exclusion_values(
    fields: Fields, given: Mapping[str, Any], *, exclude_id: int | None = None
) -> dict[str, Any]:
    """The clean values of the given fields; raises on any bad field or a taken prefix."""
    readers = {"name": _name, "path_prefix": _path_prefix, "enabled": boolean}
    values = {key: _read(fields, key, readers[key], value) for key, value in given.items()}
    _raise_if_any(fields)
    if "path_prefix" in values:
        taken = PathExclusion.select().where(PathExclusion.path_prefix == values["path_prefix"])
        if exclude_id is not None:
            taken = taken.where(PathExclusion.id != exclude_id)
        existing = taken.first()
        if existing is not None:
            message = f"path exclusion {existing.id} ({existing.name}) already has this prefix"
            raise _conflict("path_prefix", message, existing.id)
    return values


def add_path_exclusion(
    audit: AuditContext,
    name: Any,
    path_prefix: Any,
    enabled: Any = True,
    *,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Exclude every file under an absolute, normalised prefix from deletion."""
    given = {"name": name, "path_prefix": path_prefix, "enabled": enabled}
    values = _exclusion_values(_problems(errors), given)
    row = PathExclusion.create(**values)
    audit.record("path_exclusion.added", {"id": row.id, **values})
    return _exclusion_dict(row)


def update_path_exclusion(
    audit: AuditContext,
    exclusion_id: int,
    *,
    name: Any = None,
    path_prefix: Any = None,
    enabled: Any = None,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Change the given fields (None = unchanged); only real changes are written and audited."""
    row = PathExclusion.get_or_none(PathExclusion.id == exclusion_id)
    if row is None:
        raise NotFound(f"no path exclusion has id {exclusion_id}")
    given = {"name": name, "path_prefix": path_prefix, "enabled": enabled}
    given = {key: value for key, value in given.items() if value is not None}
    values = _exclusion_values(_problems(errors), given, exclude_id=row.id)
    changes = {k: {"old": getattr(row, k), "new": v} for k, v in values.items()
               if getattr(row, k) != v}  # fmt: skip
    if changes:
        now = utcnow()
        new = {key: change["new"] for key, change in changes.items()}
        PathExclusion.update(**new, updated_at=now).where(PathExclusion.id == row.id).execute()
        audit.record("path_exclusion.updated", {"id": row.id, "name": row.name, "changes": changes})
        row = PathExclusion.get_by_id(row.id)
    return _exclusion_dict(row)


def remove_path_exclusion(audit: AuditContext, exclusion_id: int) -> int:
    """Delete one path exclusion; files under its prefix are no longer blocked by it."""
    row = PathExclusion.get_or_none(PathExclusion.id == exclusion_id)
    if row is None:
        raise NotFound(f"no path exclusion has id {exclusion_id}")
    row.delete_instance()
    payload = {"id": row.id, "name": row.name, "path_prefix": row.path_prefix,
               "enabled": row.enabled}  # fmt: skip
    audit.record("path_exclusion.removed", payload)
    return exclusion_id


def list_path_exclusions() -> list[dict[str, Any]]:
    """Every path exclusion, by prefix."""
    rows = PathExclusion.select().order_by(PathExclusion.path_prefix, PathExclusion.id)
    return [_exclusion_dict(row) for row in rows]


# --- saved views --------------------------------------------------------------------------------


def _view_dict(row: SavedView, *, stamps: bool = True) -> dict[str, Any]:
    item = {"id": row.id, "name": row.name, "scope": row.scope, "filters": row.filters_json}
    if stamps:
        item["created_at"] = isoformat(row.created_at)
        item["updated_at"] = isoformat(row.updated_at)
    return item


def _view_values(
    fields: Fields, name: Any, scope: Any, filters: Any, *, exclude_id: int | None = None
) -> dict[str, Any]:
    """A view's clean name, scope and filters; raises on any bad field or a taken name."""
    clean_name = _read(fields, "name", _name, name)
    for key, messages in validate_view(scope, filters).items():
        for message in messages:
            fields.fail(key, message)
    users = filters.get("plex_user_ids") if isinstance(filters, dict) else None
    if users and "filters.plex_user_ids" not in fields.errors:
        storable = [user_id for user_id in users if _is_id(user_id)]
        known = {u.id for u in PlexUser.select(PlexUser.id).where(PlexUser.id.in_(storable))}
        unknown = sorted(set(users) - known)
        if unknown:
            fields.fail("filters.plex_user_ids", f"no plex user has id {_ids(unknown)}")
    _raise_if_any(fields)
    taken = SavedView.select().where(SavedView.name == clean_name)
    if exclude_id is not None:
        taken = taken.where(SavedView.id != exclude_id)
    existing = taken.first()
    if existing is not None:
        raise _conflict("name", f"saved view {existing.id} is already named {clean_name!r}",
                        existing.id)  # fmt: skip
    clean = {key: filters[key] for key in VIEW_FILTER_KEYS if filters.get(key) is not None}
    if "plex_user_ids" in clean:
        clean["plex_user_ids"] = sorted(set(clean["plex_user_ids"]))
    return {"name": clean_name, "scope": scope, "filters_json": clean}


def _ids(ids: list[int]) -> str:
    return ", ".join(map(str, ids))


def add_saved_view(
    audit: AuditContext,
    name: Any,
    scope: Any,
    filters: Any,
    *,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Store a named candidate query: scope plus users, match mode, include_blocked, sort."""
    values = _view_values(_problems(errors), name, scope, filters)
    row = SavedView.create(**values)
    audit.record("saved_view.added", _view_dict(row, stamps=False))
    return _view_dict(row)


def update_saved_view(
    audit: AuditContext,
    view_id: int,
    *,
    name: Any = None,
    scope: Any = None,
    filters: Any = None,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Change the given fields (None = unchanged; ``filters`` replaces the stored ones whole)."""
    row = SavedView.get_or_none(SavedView.id == view_id)
    if row is None:
        raise NotFound(f"no saved view has id {view_id}")
    values = _view_values(
        _problems(errors),
        row.name if name is None else name,
        row.scope if scope is None else scope,
        row.filters_json if filters is None else filters,
        exclude_id=row.id,
    )
    changes = {k.removesuffix("_json"): {"old": getattr(row, k), "new": v}
               for k, v in values.items() if getattr(row, k) != v}  # fmt: skip
    if changes:
        new = {k: v for k, v in values.items() if getattr(row, k) != v}
        SavedView.update(**new, updated_at=utcnow()).where(SavedView.id == row.id).execute()
        audit.record("saved_view.updated", {"id": row.id, "name": row.name, "changes": changes})
        row = SavedView.get_by_id(row.id)
    return _view_dict(row)


def remove_saved_view(audit: AuditContext, view_id: int) -> int:
    """Delete one saved view."""
    row = SavedView.get_or_none(SavedView.id == view_id)
    if row is None:
        raise NotFound(f"no saved view has id {view_id}")
    row.delete_instance()
    audit.record("saved_view.removed", _view_dict(row, stamps=False))
    return view_id


def list_saved_views() -> list[dict[str, Any]]:
    """Every saved view, by name."""
    return [_view_dict(row) for row in SavedView.select().order_by(SavedView.name, SavedView.id)]


def get_view(id_or_name: int | str) -> dict[str, Any]:
    """``{id, name, scope, filters}`` of the view with this id (int) or name (str)."""
    if isinstance(id_or_name, bool) or not isinstance(id_or_name, int | str):
        raise NotFound(f"no saved view {id_or_name!r}")
    if isinstance(id_or_name, int):
        row = SavedView.get_or_none(SavedView.id == id_or_name)
    else:
        row = SavedView.get_or_none(SavedView.name == id_or_name.strip())
    if row is None:
        raise NotFound(f"no saved view {id_or_name!r}")
    return _view_dict(row, stamps=False)
