"""Built-in plugin: Tautulli (Plex users and watch history)."""

from __future__ import annotations

from cullarrd.hookspecs import hookimpl

KIND = "tautulli"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``tautulli`` kind in the ``watch`` role."""
    return [{"kind": KIND, "role": "watch"}]
