"""What an operator does on the page, in a real browser: sign in, sync, filter, keep, delete,
fix a setting; every page without script errors or policy violations, on a desktop and a phone."""

from __future__ import annotations

import asyncio
import re

from tests.deletion.helpers import PASSWORD, planned

PHONE = {"width": 390, "height": 844}


async def test_sign_in_then_every_page_renders_without_errors(site):
    async with site() as (_, page):
        await page.goto("/candidates")
        assert "/login" in page.page.url  # signed out: sent to sign in, then back
        await page.screenshot("login")
        await page.page.fill("input[name=email]", "op@example.com")
        await page.page.fill("input[name=password]", "wrong password!!")
        await page.page.click("button[type=submit]")
        assert "wrong email or password" in await page.page.inner_text("#login-error")
        await page.sign_in()
        for path, name in [("/", "status"), ("/candidates", "candidates"), ("/runs", "runs"),
                           ("/runs/sync/1", "sync-run"), ("/settings", "settings")]:  # fmt: skip
            await page.goto(path)
            await page.page.wait_for_load_state("networkidle")
            await page.screenshot(name)
        await page.page.click("text=Sign out")
        await page.page.wait_for_url(re.compile(r".*/login$"))
        answer = await page.page.evaluate("fetch('/api/v1/status').then(r => r.status)")
        assert answer == 401


async def test_pages_fit_a_phone_screen(site):
    async with site(viewport=PHONE) as (_, page):
        await page.sign_in()
        for path, name in [
            ("/", "status"),
            ("/candidates", "candidates"),
            ("/settings", "settings"),
        ]:
            await page.goto(path)
            await page.page.wait_for_load_state("networkidle")
            # Wide tables scroll inside their own box; the page itself never scrolls sideways.
            overflow = await page.page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 1, (path, overflow)
            await page.screenshot(f"phone-{name}")


async def test_trigger_a_sync_and_watch_it_reach_100_percent(site):
    async with site() as (sc, page):
        await page.sign_in()
        runs_before = len(await sc.runtime.store.read(lambda: list(_sync_runs())))
        await page.page.click("#sync-trigger")
        await page.page.wait_for_selector("#sync-progress:not([hidden])")
        # (wait_for_function would need 'unsafe-eval', which the page's CSP rightly refuses)
        await page.page.wait_for_selector(
            "#sync-progress[data-status='success']", state="attached", timeout=30_000
        )
        assert await page.page.eval_on_selector("#sync-progress-bar", "bar => bar.value") == 100
        assert await page.page.inner_text("#sync-progress-percent") == "100%"
        assert "success" in await page.page.inner_text("#sync-progress-label")
        runs = await sc.runtime.store.read(lambda: list(_sync_runs()))
        assert len(runs) == runs_before + 1 and runs[-1].status == "success"
        await page.screenshot("sync-finished")


def _sync_runs():
    from cullarrd.store.models import SyncRun

    return SyncRun.select().order_by(SyncRun.id)


async def test_a_settings_error_is_shown_next_to_its_field(site):
    async with site() as (sc, page):
        await page.sign_in()
        await page.goto("/settings")
        await page.page.fill("#settings-form [name=sync_interval_minutes]", "0")
        await page.page.click("#settings-save")
        error = page.page.locator("#error-sync_interval_minutes")
        await error.wait_for()
        assert "1" in await error.inner_text() and "1440" in await error.inner_text()
        field = page.page.locator("#settings-form [name=sync_interval_minutes]")
        assert await field.get_attribute("aria-invalid") == "true"
        settings = await sc.call("settings.get", key="sync_interval_minutes")
        assert settings["settings"]["sync_interval_minutes"]["value"] == 30  # nothing written
        await page.screenshot("settings-error")


async def test_a_post_without_the_csrf_token_is_refused(site):
    async with site() as (sc, page):
        await page.sign_in()
        answer = await page.page.evaluate(
            """fetch('/api/v1/keep-markers', {method: 'POST', credentials: 'same-origin',
                 headers: {'Content-Type': 'application/json'},
                 body: JSON.stringify({target_type: 'movie', target_id: 4})})
               .then(async r => ({status: r.status, body: await r.json()}))"""
        )
        assert answer["status"] == 403 and answer["body"]["error"]["code"] == "csrf_invalid"
        assert (await sc.call("keep.list"))["items"] == []


async def test_filter_candidates_by_users_match_mode_and_blocked(site):
    async with site() as (sc, page):
        await page.sign_in()
        await page.goto("/candidates")
        form = page.page.locator("#candidate-filters")
        await form.locator("[name=scope]").select_option("movie")
        await form.locator("[name=users][value='will']").check()
        await form.locator("[name=watched_match_mode]").select_option("all")
        await page.page.click("#apply-filters")
        await page.page.wait_for_load_state("networkidle")
        expected = await sc.ids("movie", users=["Will"], watched_match_mode="all")
        assert await _rows(page) == expected
        assert "movie:6" in expected and "movie:4" in expected  # Will watched both

        await form.locator("[name=users][value='zoe']").check()
        await form.locator("[name=watched_match_mode]").select_option("none")
        await form.locator("[name=include_blocked]").check()
        await page.page.click("#apply-filters")
        await page.page.wait_for_load_state("networkidle")
        expected = await sc.ids(
            "movie", users=["Will", "Zoe"], watched_match_mode="none", include_blocked=True
        )
        assert await _rows(page) == expected and "movie:3" in expected
        # Zoe, a selected user, is 40 % into movie 3: shown, blocked, and the chip says why.
        row = page.page.locator("tr[data-candidate-id='movie:3']")
        assert await row.get_attribute("data-blocked") == "true"
        chip = row.locator(".chip.blocker[data-flag='in_progress_any']")
        await chip.focus()
        assert await chip.locator(".tip").is_visible()
        await page.screenshot("candidates-filtered")


async def _rows(page) -> list[str]:
    return await page.page.eval_on_selector_all(
        "#candidates tbody tr[data-candidate-id]", "rows => rows.map(r => r.dataset.candidateId)"
    )


async def test_keep_marker_blocks_the_row_and_removing_it_frees_it(site):
    async with site() as (sc, page):
        await page.sign_in()
        await page.goto("/candidates?scope=movie&include_blocked=true")
        row = page.page.locator("tr[data-candidate-id='movie:4']")
        assert await row.get_attribute("data-blocked") == "false"
        await row.locator("button.keep-toggle").click()
        await page.page.wait_for_selector(
            "tr[data-candidate-id='movie:4'][data-blocked='true']"
            " .chip.blocker[data-flag='keep_marked']"
        )
        assert len((await sc.call("keep.list"))["items"]) == 1
        await page.screenshot("candidates-kept")
        await row.locator("button.keep-toggle[data-kept='true']").click()
        await page.page.wait_for_selector("tr[data-candidate-id='movie:4'][data-blocked='false']")
        assert (await sc.call("keep.list"))["items"] == []


async def test_plan_unlock_and_run_a_deletion_the_fake_loses_exactly_those_files(site):
    async with site() as (sc, page):
        expected = planned(await sc.plan("movie", ["movie:4"]))
        assert expected
        await page.sign_in()
        await page.goto("/candidates?scope=movie")
        await page.page.locator("tr[data-candidate-id='movie:4'] input.select-row").check()
        await page.page.click("#plan-button")
        await page.page.wait_for_selector("#plan-files tr[data-path]")
        assert await page.page.locator("#plan-files tr[data-path]").count() == len(expected)
        await page.screenshot("plan")
        await page.page.fill("#unlock-password", "operator-pass-2")
        await page.page.click("#delete-button")
        await page.page.wait_for_selector(
            "#deletion-progress[data-status='success']", timeout=30_000
        )
        await page.screenshot("deletion-finished")
        assert sc.deleted() == expected
        run = (await sc.call("deletion.list"))["runs"][0]
        await page.goto(f"/runs/deletion/{run['id']}")
        assert await page.page.locator("tr.action[data-status='confirmed']").count() == len(
            expected
        )
        await page.screenshot("deletion-run")


async def test_a_refused_unlock_locks_the_plan_meanwhile_then_gives_it_back(site):
    async with site() as (sc, page):
        expected = planned(await sc.plan("movie", ["movie:4"]))
        await page.sign_in()
        await page.goto("/candidates?scope=movie")
        await page.page.locator("tr[data-candidate-id='movie:4'] input.select-row").check()
        await page.page.click("#plan-button")
        await page.page.wait_for_selector("#plan-files tr[data-path]")

        # Hold the unlock request: while it is pending nothing may change the plan being run.
        held, release = asyncio.Event(), asyncio.Event()

        async def hold(route):
            held.set()
            await release.wait()
            await route.continue_()

        await page.page.route("**/api/v1/delete-mode/unlock", hold)
        await page.page.fill("#unlock-password", "not the password!!")
        await page.page.click("#delete-button")
        await asyncio.wait_for(held.wait(), 10)
        locked = ["#replan-button", "#plan-close", "#delete-button", "#plan-button", "#select-all",
                  "tr[data-candidate-id='movie:4'] input.select-row"]  # fmt: skip
        for selector in locked:
            assert await page.page.locator(selector).is_disabled(), selector
        release.set()

        # Refused: the error is shown, everything is given back, and no run exists.
        await page.page.locator("#plan-error", has_text=re.compile(r"\w")).wait_for()
        await page.page.unroute("**/api/v1/delete-mode/unlock")
        for selector in locked:
            assert await page.page.locator(selector).is_enabled(), selector
        assert await page.page.locator("#plan-files tr[data-path]").count() == len(expected)
        assert (await sc.call("deletion.list"))["runs"] == []
        await page.screenshot("unlock-refused")

        # The right password, clicked twice: exactly one run, and it deletes the plan's files.
        await page.page.fill("#unlock-password", PASSWORD)
        await page.page.dblclick("#delete-button")
        await page.page.wait_for_selector(
            "#deletion-progress[data-status='success']", timeout=30_000
        )
        assert len((await sc.call("deletion.list"))["runs"]) == 1
        assert sc.deleted() == expected
        assert await page.page.inner_text("#plan-error") == ""
        # The run has ended: the panel can be closed and rows selected again.
        assert await page.page.locator("#plan-close").is_visible()
        assert await page.page.locator("#plan-close").is_enabled()
        assert await page.page.locator("#select-all").is_enabled()
