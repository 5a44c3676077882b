"""Built-in plugin: Radarr (movie inventory, file deletion)."""

from __future__ import annotations

from cullarrd.hookspecs import hookimpl

KIND = "radarr"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``radarr`` kind in the ``inventory`` role."""
    return [{"kind": KIND, "role": "inventory"}]
