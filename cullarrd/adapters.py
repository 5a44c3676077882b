"""Build an integration's adapter through the plugin hook, around one HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from cullarrd.errors import CullarrError
from cullarrd.http import IntegrationHttp


@contextlib.asynccontextmanager
async def open_adapter(
    plugins: Any,
    integration: Any,
    settings: Mapping[str, Any],
    *,
    security: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[Any]:
    """Yield the adapter for ``integration`` (an ``IntegrationConfig``); closes its client after.

    The base URL is checked against the allow-lists before anything is sent.
    """
    http = IntegrationHttp(integration, security=security, transport=transport)
    try:
        http.check_url()
        adapter = plugins.manager.hook.cullarrd_make_adapter(
            integration=integration, http=http, settings=settings
        )
        if adapter is None:
            raise CullarrError(
                f"{integration.name}: no loaded plugin provides the kind {integration.kind!r}",
                code="integration_kind_unknown",
            )
        yield adapter
    finally:
        await http.aclose()
