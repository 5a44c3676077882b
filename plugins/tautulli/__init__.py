"""Built-in plugin: Tautulli (Plex users and watch history)."""

from __future__ import annotations

from typing import Any

from cullarrd.hookspecs import hookimpl
from cullarrd_plugins.plugin_hooks import adapter_if_kind, provided_kind
from cullarrd_plugins.tautulli.adapter import TautulliAdapter

KIND = "tautulli"


@hookimpl
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """This plugin provides the ``tautulli`` kind in the ``watch`` role."""
    return provided_kind(KIND, "watch")


@hookimpl
def cullarrd_make_adapter(integration: Any, http: Any, settings: Any) -> Any:
    """A ``TautulliAdapter`` for a ``tautulli`` integration; None for any other kind."""
    return adapter_if_kind(KIND, TautulliAdapter, integration, http, settings)
