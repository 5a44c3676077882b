"""Commands for keep markers, path exclusions and saved views (SPEC §6.4).

Changes go through one write each and are audited by ``cullarrd.candidates.guards``; the lists
only read. Argument problems are passed on so every bad field is reported in one answer.
"""

from __future__ import annotations

from typing import Any

from cullarrd.candidates import guards
from cullarrd.service import Args, Caller, Service, command


def _audit(svc: Service, caller: Caller) -> guards.AuditContext:
    return guards.AuditContext(
        svc.rt.audit, caller.operator_id, caller.correlation_id, caller.actor()
    )


# --- keep markers -------------------------------------------------------------------------------


@command("keep.add", mutating=True)
async def keep_add(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Keep a movie, episode, season or series (``show``) from deletion, with an optional note."""
    reader = Args(args, {"target_type", "target_id", "note"})
    return await svc.rt.store.write(
        lambda: guards.add_keep_marker(
            _audit(svc, caller),
            args.get("target_type"),
            args.get("target_id"),
            args.get("note"),
            errors=reader.errors,
        )
    )


@command("keep.remove", mutating=True)
async def keep_remove(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Remove one keep marker by id."""
    return await _remove(svc, caller, args, guards.remove_keep_marker)


@command("keep.list")
async def keep_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Every keep marker with its target's candidate id and title."""
    Args(args, set()).done()
    return {"items": await svc.rt.store.read(guards.list_keep_markers)}


async def _remove(
    svc: Service, caller: Caller, args: dict[str, Any], remove: Any
) -> dict[str, Any]:
    """Remove one row by ``id`` with ``remove(audit, id)`` (a guards function)."""
    reader = Args(args, {"id"})
    row_id = reader.required_id()
    reader.done()
    return {"removed": await svc.rt.store.write(lambda: remove(_audit(svc, caller), row_id))}


# --- path exclusions ----------------------------------------------------------------------------


@command("exclusions.add", mutating=True)
async def exclusions_add(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Exclude every file under an absolute path prefix from deletion (enabled unless said)."""
    reader = Args(args, {"name", "path_prefix", "enabled"})
    return await svc.rt.store.write(
        lambda: guards.add_path_exclusion(
            _audit(svc, caller),
            args.get("name"),
            args.get("path_prefix"),
            args.get("enabled", True),
            errors=reader.errors,
        )
    )


async def _update_exclusion(
    svc: Service, caller: Caller, reader: Args, exclusion_id: int, values: dict[str, Any]
) -> dict[str, Any]:
    return await svc.rt.store.write(
        lambda: guards.update_path_exclusion(
            _audit(svc, caller), exclusion_id, errors=reader.errors, **values
        )
    )


@command("exclusions.update", mutating=True)
async def exclusions_update(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Rename, move or switch one path exclusion; fields not given stay as they are."""
    reader = Args(args, {"id", "name", "path_prefix", "enabled"})
    exclusion_id = reader.required_id()
    values = {key: args.get(key) for key in ("name", "path_prefix", "enabled")}
    return await _update_exclusion(svc, caller, reader, exclusion_id, values)


@command("exclusions.set_enabled", mutating=True)
async def exclusions_set_enabled(
    svc: Service, caller: Caller, args: dict[str, Any]
) -> dict[str, Any]:
    """Switch one path exclusion on or off."""
    reader = Args(args, {"id", "enabled"})
    exclusion_id = reader.required_id()
    if args.get("enabled") is None:
        reader.errors["enabled"] = ["is required"]
    return await _update_exclusion(
        svc, caller, reader, exclusion_id, {"enabled": args.get("enabled")}
    )


@command("exclusions.remove", mutating=True)
async def exclusions_remove(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Remove one path exclusion by id."""
    return await _remove(svc, caller, args, guards.remove_path_exclusion)


@command("exclusions.list")
async def exclusions_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Every path exclusion, by prefix."""
    Args(args, set()).done()
    return {"items": await svc.rt.store.read(guards.list_path_exclusions)}


# --- saved views --------------------------------------------------------------------------------


@command("views.add", mutating=True)
async def views_add(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Save a named candidate query: scope and filters (users, match mode, blocked, sort)."""
    reader = Args(args, {"name", "scope", "filters"})
    filters = args.get("filters")
    return await svc.rt.store.write(
        lambda: guards.add_saved_view(
            _audit(svc, caller),
            args.get("name"),
            args.get("scope"),
            {} if filters is None else filters,
            errors=reader.errors,
        )
    )


@command("views.update", mutating=True)
async def views_update(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Change a saved view; ``filters``, when given, replace the stored filters whole."""
    reader = Args(args, {"id", "name", "scope", "filters"})
    view_id = reader.required_id()
    return await svc.rt.store.write(
        lambda: guards.update_saved_view(
            _audit(svc, caller),
            view_id,
            name=args.get("name"),
            scope=args.get("scope"),
            filters=args.get("filters"),
            errors=reader.errors,
        )
    )


@command("views.remove", mutating=True)
async def views_remove(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Remove one saved view by id."""
    return await _remove(svc, caller, args, guards.remove_saved_view)


@command("views.list")
async def views_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Every saved view, by name."""
    Args(args, set()).done()
    return {"items": await svc.rt.store.read(guards.list_saved_views)}
