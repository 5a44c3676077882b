"""Built-in plugin: Sonarr (TV series inventory, file deletion)."""

from __future__ import annotations

from typing import Any

from cullarrd.hookspecs import hookimpl
from cullarrd_plugins.plugin_hooks import adapter_if_kind, provided_kind
from cullarrd_plugins.sonarr.adapter import SonarrAdapter

KIND = "sonarr"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``sonarr`` kind in the ``inventory`` role."""
    return provided_kind(KIND, "inventory")


@hookimpl
def cullarrd_make_adapter(integration: Any, http: Any, settings: Any) -> SonarrAdapter | None:
    """A ``SonarrAdapter`` for a ``sonarr`` integration; None for any other kind."""
    return adapter_if_kind(KIND, SonarrAdapter, integration, http, settings)
