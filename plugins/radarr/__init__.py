"""Built-in plugin: Radarr (movie inventory, file deletion)."""

from __future__ import annotations

from typing import Any

from cullarrd.hookspecs import hookimpl
from cullarrd_plugins.plugin_hooks import adapter_if_kind, provided_kind
from cullarrd_plugins.radarr.adapter import RadarrAdapter

KIND = "radarr"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``radarr`` kind in the ``inventory`` role."""
    return provided_kind(KIND, "inventory")


@hookimpl
def cullarrd_make_adapter(integration: Any, http: Any, settings: Any) -> RadarrAdapter | None:
    """A ``RadarrAdapter`` for a ``radarr`` integration; ``None`` for any other kind."""
    return adapter_if_kind(KIND, RadarrAdapter, integration, http, settings)
