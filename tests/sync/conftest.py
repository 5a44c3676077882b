"""Fixtures for the sync tests: a tiny library, the three fakes serving it, a runtime."""

from __future__ import annotations

import pytest

from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library
from tests.sync.helpers import make_runtime, served_fakes


@pytest.fixture
def library() -> Library:
    """A freshly generated tiny library (tests may mutate it: the fakes serve it live)."""
    return generate("tiny")


@pytest.fixture
def fakes(library):
    """The three fakes serving ``library`` on loopback, in threads of this process."""
    with served_fakes(library) as running:
        yield running


@pytest.fixture
def runtime(store, fakes, tmp_path):
    """A runtime whose config names the three fakes, over the test's store."""
    return make_runtime(store, fakes.integrations(), tmp_path)
