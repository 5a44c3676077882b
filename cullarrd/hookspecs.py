"""The plugin contract of cullarrd (pluggy project name ``cullarrd``).

Every hook is declared here with its whole contract. Plugins are modules or objects registered
through the entry-point group ``cullarrd.plugins`` (the built-in Sonarr, Radarr and Tautulli
plugins use that group too). Hooks are always called with keyword arguments.

Adapters returned by ``cullarrd_make_adapter`` produce plain records (``cullarrd/types.py``) and
raise the typed errors of ``cullarrd/errors.py``; they never touch the store. The engines talk
to upstream services only through adapters, so nothing outside ``plugins/`` knows an upstream
URL path.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT_NAME = "cullarrd"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def cullarrd_integration_kinds() -> list[dict[str, str]]:
    """Declare the integration kinds this plugin provides.

    When: once, while the daemon loads plugins (before the config's integrations are checked).
    Where: on the event loop thread; must not block or do I/O.
    Returns: a list of ``{"kind": "sonarr", "role": "inventory" | "watch"}``. Not firstresult:
    the daemon collects every plugin's list; a kind declared by two plugins is a load error for
    the second plugin, which is then unregistered and reported by ``status``.
    ``None`` (or no implementation) means the plugin provides no integration kind (e.g. a
    notifier plugin).
    """


@hookspec(firstresult=True)
def cullarrd_make_adapter(integration: Any, http: Any, settings: Any) -> Any:
    """Build the adapter object for one configured integration of a kind this plugin provides.

    When: when an engine needs to talk to the integration (each sync run, each check, each
    deletion action); adapters are cheap and must not cache state across runs.
    Where: on the event loop thread; must not do I/O (the adapter's async methods do).
    Arguments: ``integration`` is the frozen ``IntegrationConfig`` (kind, name, base URL,
    timeouts; its API key is a ``Secret``); ``http`` is the shared HTTP client for that
    integration (``cullarrd/http.py``); ``settings`` the effective settings values.
    Returns: the adapter (inventory role: ``check_health``, ``iter_series``/``iter_episodes``/
    ``iter_episode_files`` or ``iter_movies``/``iter_movie_files``, ``delete_file``,
    ``unmonitor``, ``add_tag``, ``list_files``; watch role: ``check_health``, ``iter_users``,
    ``iter_history``, ``get_metadata``, ``iter_libraries``, ``iter_library_items``).
    firstresult: the first non-``None`` answer wins. ``None`` means "not my kind".
    """


@hookspec
def cullarrd_startup(app: Any) -> None:
    """Called once after the daemon has started its store, plugins, scheduler, socket and web.

    Where: on the event loop thread; must return quickly (start tasks instead of awaiting).
    Arguments: ``app``, the daemon's running state (config, store, service layer).
    Returns: nothing; an exception is logged and does not stop the daemon.
    """


@hookspec
def cullarrd_sync_finished(run: dict[str, Any]) -> None:
    """Called after every sync run ends (any final status), for notifier plugins.

    Where: on the event loop thread; must return quickly.
    Arguments: ``run``, the run's public dict (id, status, trigger, phases, errors).
    Returns: nothing; an exception is logged and ignored.
    """


@hookspec
def cullarrd_deletion_finished(run: dict[str, Any]) -> None:
    """Called after every deletion run ends (any final status), for notifier plugins.

    Where: on the event loop thread; must return quickly.
    Arguments: ``run``, the run's public dict (id, status, actions with their outcome); it
    never contains secrets.
    Returns: nothing; an exception is logged and ignored.
    """
