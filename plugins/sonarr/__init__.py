"""Built-in plugin: Sonarr (TV series inventory, file deletion)."""

from __future__ import annotations

from typing import Any

from cullarrd.hookspecs import hookimpl
from cullarrd_plugins.sonarr.adapter import SonarrAdapter

KIND = "sonarr"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``sonarr`` kind in the ``inventory`` role."""
    return [{"kind": KIND, "role": "inventory"}]


@hookimpl
def cullarrd_make_adapter(integration: Any, http: Any, settings: Any) -> SonarrAdapter | None:
    """A ``SonarrAdapter`` for a ``sonarr`` integration; None for any other kind."""
    if integration.kind != KIND:
        return None
    return SonarrAdapter(integration, http, settings)
