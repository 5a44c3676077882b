"""Built-in plugin: Sonarr (TV series inventory, file deletion)."""

from __future__ import annotations

from cullarrd.hookspecs import hookimpl

KIND = "sonarr"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``sonarr`` kind in the ``inventory`` role."""
    return [{"kind": KIND, "role": "inventory"}]
