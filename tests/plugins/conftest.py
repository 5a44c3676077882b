"""Fixtures for adapter tests: an integration config and its adapter, built like the engines do."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cullarrd.adapters import open_adapter
from cullarrd.config import IntegrationConfig, Secret
from cullarrd.plugins import load_plugins
from cullarrd.settings import DEFAULTS


def integration_config(
    kind: str, base_url: str, api_key: str, **overrides: Any
) -> IntegrationConfig:
    """A valid integration config pointing at ``base_url`` (a fake on loopback)."""
    fields: dict[str, Any] = {
        "kind": kind,
        "name": f"{kind}-test",
        "base_url": base_url,
        "api_key": Secret(api_key),
        "request_timeout_seconds": 5,
        "retry_max_attempts": 3,
    }
    fields.update(overrides)
    return IntegrationConfig(**fields)


@pytest.fixture(scope="session")
def plugins():
    return load_plugins()


@pytest.fixture
def adapter_for(plugins):
    """``async with adapter_for(kind, base_url, api_key, transport=..., **cfg) as adapter``."""

    @contextlib.asynccontextmanager
    async def build(
        kind: str, base_url: str, api_key: str, *, transport: Any = None, **overrides: Any
    ) -> AsyncIterator[Any]:
        cfg = integration_config(kind, base_url, api_key, **overrides)
        async with open_adapter(plugins, cfg, dict(DEFAULTS), transport=transport) as adapter:
            yield adapter

    return build
