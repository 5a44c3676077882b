"""Commands about the daemon itself: health, status, settings, reload, audit, operator."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from peewee import fn

from cullarrd import __version__, operators
from cullarrd import health as integration_health
from cullarrd.audit import list_events
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.http import REQUEST_COUNTS
from cullarrd.integrations import list_integrations
from cullarrd.service import MAX_ID, Args, Caller, Service, command
from cullarrd.store.db import redact_url
from cullarrd.store.migrate import current_version
from cullarrd.store.models import Episode, Integration, MediaFile, Movie, Series, SyncRun
from cullarrd.sync.engine import next_due_at
from cullarrd.timeutil import isoformat, utcnow


def _latest_sync_runs() -> dict[str, Any]:
    active = (
        SyncRun.select()
        .where(SyncRun.status.in_(("queued", "running")))
        .order_by(SyncRun.id.desc())
        .first()
    )
    last = (
        SyncRun.select()
        .where(SyncRun.status.not_in(("queued", "running")))
        .order_by(SyncRun.id.desc())
        .first()
    )
    return {"active_sync_run": sync_run_brief(active), "last_sync_run": sync_run_brief(last)}


def sync_run_brief(run: SyncRun | None) -> dict[str, Any] | None:
    """The short public shape of a sync run."""
    if run is None:
        return None
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "phase": run.phase,
        "started_at": isoformat(run.started_at),
        "finished_at": isoformat(run.finished_at),
        "error_code": run.error_code,
    }


def library_totals() -> dict[str, int]:
    """What the store knows is on disk now (missing and culled rows left out)."""
    present = MediaFile.missing_since.is_null() & MediaFile.culled_at.is_null()
    files, size = (
        MediaFile.select(fn.COUNT(MediaFile.id), fn.COALESCE(fn.SUM(MediaFile.size_bytes), 0))
        .where(present)
        .scalar(as_tuple=True)
    )
    return {
        "movies": Movie.select().where(Movie.missing_since.is_null()).count(),
        "series": Series.select().where(Series.missing_since.is_null()).count(),
        "episodes": Episode.select().where(Episode.missing_since.is_null()).count(),
        "files": int(files),
        "bytes": int(size),
    }


def next_sync(settings: dict[str, Any]) -> dict[str, Any]:
    """When the scheduler will start the next sync (it checks once a minute); inside a read."""
    due = next_due_at(settings)
    return {
        "enabled": bool(settings["sync_enabled"]),
        "interval_minutes": int(settings["sync_interval_minutes"]),
        "due_at": isoformat(max(due, utcnow())) if due is not None else None,
    }


@command("health")
async def liveness(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Liveness: is the daemon up and its store answering."""
    Args(args, set()).done()
    db_ok = await svc.rt.store.read(svc.rt.store.ping)
    runs = await svc.rt.store.read(_latest_sync_runs) if db_ok else {}
    failed = [s.to_dict() for s in svc.rt.plugins.failed]
    return {
        "status": "ok" if db_ok and not failed else "degraded",
        "version": __version__,
        "db": db_ok,
        "uptime_s": svc.uptime_s(),
        "last_sync": runs.get("last_sync_run"),
        "plugins_failed": failed,
    }


@command("status")
async def status(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """The daemon at a glance: version, store, integrations, plugins, runs, delete mode."""
    Args(args, set()).done()
    rt, cfg = svc.rt, svc.rt.config

    def gather() -> dict[str, Any]:
        runs = _latest_sync_runs()
        return {
            "schema_version": current_version(rt.store.db),
            "integrations": list_integrations(),
            "library": library_totals(),
            "next_sync": next_sync(rt.settings.values()),
            **runs,
        }

    data = await rt.store.read(gather)
    return {
        "version": __version__,
        "pid": os.getpid(),
        "uptime_s": svc.uptime_s(),
        "config_path": cfg.source_path,
        "db": {
            "ok": True,
            "backend": rt.store.dialect,
            "url": redact_url(cfg.database.url),
            "schema_version": data.pop("schema_version"),
        },
        "web": {"enabled": cfg.web.enabled, "listen": cfg.web.listen},
        "socket": {"path": cfg.socket.path},
        "delete_mode": {
            "enabled": cfg.delete_mode.enabled,
            "secret_present": cfg.delete_mode.secret is not None,
        },
        "plugins": [s.to_dict() for s in rt.plugins.statuses],
        "upstream_requests": upstream_requests(),
        **data,
    }


def upstream_requests() -> dict[str, dict[str, int]]:
    """Requests sent to each integration since start, by outcome code."""
    counts: dict[str, dict[str, int]] = {}
    for (name, code), n in sorted(REQUEST_COUNTS.items()):
        counts.setdefault(name, {})[code] = n
    return counts


@command("settings.get")
async def settings_get(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """All settings, or one, as ``{value, source}``."""
    reader = Args(args, {"key"})
    key = reader.text("key")
    reader.done()
    everything = await svc.rt.store.read(svc.rt.settings.read_all)
    if key is not None:
        if key not in everything:
            raise ValidationFailed({"key": [f"unknown setting {key!r}"]})
        everything = {key: everything[key]}
    return {"settings": everything}


@command("settings.set", mutating=True)
async def settings_set(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Validate and store settings; unsafe changes need confirmation plus re-authentication."""
    reader = Args(args, {"values", "confirm", "password"})
    values = reader.mapping("values")
    confirm = reader.flag("confirm")
    password = reader.text("password")
    reader.done()
    reauthenticated = caller.reauthenticated or (
        await svc.verify_operator_password(password) is not None
    )
    changed = await svc.rt.store.write(
        lambda: svc.rt.settings.update(
            values,
            unsafe_confirmed=confirm and reauthenticated,
            operator_id=caller.operator_id,
            correlation_id=caller.correlation_id,
            actor=caller.actor(),
        )
    )
    settings = await svc.rt.store.read(svc.rt.settings.read_all)
    return {"changed": changed, "settings": settings}


@command("reload", mutating=True)
async def reload(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Re-read the config file; an invalid one is refused and the running one kept."""
    Args(args, set()).done()
    return await svc.rt.reload(caller)


@command("audit.list")
async def audit_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Newest audit events first, optionally since a time or of one event name."""
    reader = Args(args, {"limit", "before_id", "since", "event_name"})
    limit = reader.integer("limit", 50, 1, 1000)
    before_id = reader.integer("before_id", None, 1, MAX_ID)
    since = reader.timestamp("since")
    event_name = reader.text("event_name")
    reader.done()
    events = await svc.rt.store.read(
        lambda: list_events(
            limit=limit or 50, before_id=before_id, since=since, event_name=event_name
        )
    )
    return {"events": events}


@command("operator.set_password", mutating=True)
async def operator_set_password(
    svc: Service, caller: Caller, args: dict[str, Any]
) -> dict[str, Any]:
    """Create the operator or reset its email and password (socket only: trusted peers)."""
    reader = Args(args, {"email", "password"})
    reader.done()
    if caller.channel != "socket":
        raise CullarrError(
            "the operator password can only be set through cullarrctl", code="forbidden"
        )
    email, password = operators.validate_credentials(args.get("email"), args.get("password"))
    digest = await asyncio.to_thread(operators.hash_password, password)
    operator = await svc.rt.store.write(
        lambda: operators.set_password(
            email,
            digest,
            svc.rt.audit,
            correlation_id=caller.correlation_id,
            actor=caller.actor(),
        )
    )
    svc.credentials_epoch += 1
    return {"operator": {"id": operator.id, "email": operator.email}}


@command("integrations.list")
async def integrations_list(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Every integration with its health (never its key)."""
    Args(args, set()).done()
    return {"integrations": await svc.rt.store.read(list_integrations)}


async def integration_name(svc: Service, reader: Args, *, required: bool) -> str | None:
    """The integration named by ``name`` or by its store ``id`` (the web's form)."""
    name = reader.text("name")
    integration_id = reader.integer("id", None, 1, MAX_ID)
    if name is not None and integration_id is not None:
        reader.errors["id"] = ["give either a name or an id"]
    elif required and name is None and integration_id is None:
        reader.errors["name"] = ["is required (or an id)"]
    reader.done()
    if integration_id is None:
        return name
    row = await svc.rt.store.read(lambda: Integration.get_or_none(Integration.id == integration_id))
    if row is None:
        raise CullarrError(f"no integration {integration_id}", code="not_found")
    return row.name


@command("integrations.check", mutating=True)
async def integrations_check(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Check one configured integration (or all) now; the outcome is stored on its row."""
    name = await integration_name(svc, Args(args, {"name", "id"}), required=False)
    targets = [i for i in svc.rt.config.integrations if name is None or i.name == name]
    if name is not None and not targets:
        raise CullarrError(f"no configured integration is named {name!r}", code="not_found")
    checked = await asyncio.gather(
        *(
            integration_health.check(svc.rt, i, correlation_id=caller.correlation_id)
            for i in targets
        )
    )
    return {"integrations": sorted(checked, key=lambda row: row["name"])}
