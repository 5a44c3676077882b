"""Fixtures for the sync tests."""

from __future__ import annotations

import pytest

from cullarrd_plugins.fakelib.generator import generate
from tests.sync.helpers import served_fakes


@pytest.fixture
def fakes():
    """The three fakes serving a tiny library on loopback, in threads of this process."""
    with served_fakes(generate("tiny")) as running:
        yield running
