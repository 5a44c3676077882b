"""The answers every built-in plugin gives its two hooks alike: its kind, and its adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Adapter = TypeVar("Adapter")


def provided_kind(kind: str, role: str) -> list[dict[str, str]]:
    """``cullarrd_integration_kinds``: the one ``kind`` a plugin provides, in ``role``."""
    return [{"kind": kind, "role": role}]


def adapter_if_kind(
    kind: str,
    factory: Callable[[Any, Any, Any], Adapter],
    integration: Any,
    http: Any,
    settings: Any,
) -> Adapter | None:
    """``cullarrd_make_adapter``: the adapter for a ``kind`` integration; None for any other."""
    if integration.kind != kind:
        return None
    return factory(integration, http, settings)
