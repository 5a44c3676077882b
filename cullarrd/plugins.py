"""Load plugins through the entry-point group ``cullarrd.plugins``, each one guarded.

A plugin that fails to import, or declares a kind another plugin already provides, is logged,
reported (``status``, ``/api/v1/health``) and skipped: one bad plugin never takes the daemon down.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy
import structlog

from cullarrd import hookspecs

ENTRY_POINT_GROUP = "cullarrd.plugins"
log = structlog.get_logger(__name__)


@dataclass
class PluginStatus:
    name: str
    ok: bool
    kinds: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "kinds": self.kinds, "error": self.error}


@dataclass
class Plugins:
    """The plugin manager plus what loading it found."""

    manager: pluggy.PluginManager
    statuses: list[PluginStatus]
    kinds: dict[str, str]  # kind -> role

    @property
    def failed(self) -> list[PluginStatus]:
        return [s for s in self.statuses if not s.ok]

    def call_safely(self, hook_name: str, **kwargs: Any) -> None:
        """Call a notification hook; a failing implementation is logged, never raised."""
        hook = getattr(self.manager.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:  # a notifier must not break the daemon
                log.warning(
                    "plugin.hook_failed", plugin=impl.plugin_name, hook=hook_name, error=str(exc)
                )


def load_plugins(eps: Iterable[EntryPoint] | None = None) -> Plugins:
    """Register every plugin of the entry-point group (or ``eps``), then ``check_pending``."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    statuses: list[PluginStatus] = []
    kinds: dict[str, str] = {}
    found = entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps
    # Built-in plugins first, so a third-party plugin can never take over a built-in kind.
    for ep in sorted(found, key=lambda e: (not e.value.startswith("cullarrd_plugins"), e.name)):
        statuses.append(_register(manager, ep, kinds))
    manager.check_pending()
    return Plugins(manager, statuses, kinds)


def _register(manager: pluggy.PluginManager, ep: EntryPoint, kinds: dict[str, str]) -> PluginStatus:
    try:
        plugin = ep.load()
        manager.register(plugin, name=ep.name)
    except Exception as exc:
        log.error("plugin.load_failed", plugin=ep.name, error=f"{type(exc).__name__}: {exc}")
        return PluginStatus(ep.name, False, error=f"failed to load: {type(exc).__name__}: {exc}")
    try:
        declared = _declared_kinds(manager, plugin)
        duplicates = sorted(k for k in declared if k in kinds)
        if duplicates:
            raise ValueError(f"kind {', '.join(duplicates)} is already provided by another plugin")
        manager.check_pending()
    except Exception as exc:
        manager.unregister(plugin)
        log.error("plugin.rejected", plugin=ep.name, error=str(exc))
        return PluginStatus(ep.name, False, error=str(exc))
    kinds.update(declared)
    return PluginStatus(ep.name, True, kinds=sorted(declared))


def _declared_kinds(manager: pluggy.PluginManager, plugin: object) -> dict[str, str]:
    caller = manager.subset_hook_caller("cullarrd_integration_kinds", remove_plugins=[])
    declared: dict[str, str] = {}
    for impl in caller.get_hookimpls():
        if impl.plugin is not plugin:
            continue
        for entry in impl.function() or []:
            if not isinstance(entry, dict) or entry.get("role") not in ("inventory", "watch"):
                raise ValueError(f"bad integration kind declaration {entry!r}")
            declared[str(entry["kind"])] = entry["role"]
    return declared
