"""Fixtures and markers for the fake-library tests."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: long-running (benchmark-size); runs only with CULLARR_SLOW_TESTS=1"
    )
