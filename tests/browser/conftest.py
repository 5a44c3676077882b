"""Browser tests: the real pages in headless Chromium (Debian's ``chromium``) driven by Playwright.

The app is served over loopback in the test's own loop in front of a deletion scenario (fakes,
sync and deletion engines), so a test can drive the page and then ask the fakes what happened.
Without ``/usr/bin/chromium`` these tests skip, unless ``CULLARR_REQUIRE_BROWSER=1`` (CI), where
they fail. Screenshots go to ``$CULLARR_ARTIFACTS`` (default ``test-artifacts/``).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from cullarrd.store.db import Store, open_database
from cullarrd.store.migrate import migrate
from tests.deletion.helpers import PASSWORD, deletion_scenario
from tests.web.helpers import EMAIL, served

CHROMIUM = os.environ.get("CULLARR_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("CULLARR_REQUIRE_BROWSER") == "1"
ARTIFACTS = Path(os.environ.get("CULLARR_ARTIFACTS", "test-artifacts")) / "screenshots"
# Chromium as root in a container, with nothing that phones home (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def store(tmp_path):
    """The browser is what is under test here: one backend (SQLite) is enough."""
    db = open_database(f"sqlite:///{tmp_path}/cullarr.db")
    migrate(db)
    st = Store(db)
    yield st
    st.close()


@pytest.fixture
async def browser():
    if not shutil.which(CHROMIUM):
        if REQUIRED:
            pytest.fail(f"CULLARR_REQUIRE_BROWSER=1 but {CHROMIUM} is not installed")
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


class Page:
    """A browser page on the served app that records every script error and CSP violation."""

    def __init__(self, page: Any, base_url: str, name: str) -> None:
        self.page, self.base_url, self.name = page, base_url, name
        self.problems: list[str] = []
        page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        # A 4xx the page asked for on purpose (e.g. a refused action) is logged by Chromium as
        # "Failed to load resource"; the page shows those itself, so only scripts' own errors
        # and policy violations count here.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.problems.append(f"console: {message.text}")

    async def goto(self, path: str) -> None:
        await self.page.goto(self.base_url + path)

    async def sign_in(self, email: str = EMAIL, password: str = PASSWORD) -> None:
        await self.goto("/login")
        await self.page.fill("input[name=email]", email)
        await self.page.fill("input[name=password]", password)
        await self.page.click("button[type=submit]")
        await self.page.wait_for_url(re.compile(r".*/$"))

    async def screenshot(self, what: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(ARTIFACTS / f"{self.name}-{what}.png"), full_page=True)

    def assert_clean(self) -> None:
        assert not self.problems, self.problems


@pytest.fixture
def site(store, tmp_path, browser, request):
    """``async with site() as (scenario, page)``: a signed-out page on a fresh scenario."""

    @contextlib.asynccontextmanager
    async def open_site(
        viewport: dict[str, int] | None = None, **scenario_args: Any
    ) -> AsyncIterator[tuple[Any, Page]]:
        with deletion_scenario(store, tmp_path, **scenario_args) as sc:
            await sc.sync()
            async with served(sc.service) as base_url:
                context = await browser.new_context(
                    viewport=viewport or {"width": 1280, "height": 900}
                )
                try:
                    page = Page(await context.new_page(), base_url, request.node.name)
                    page.page.set_default_timeout(15_000)
                    yield sc, page
                    page.assert_clean()
                finally:
                    await context.close()

    return open_site
