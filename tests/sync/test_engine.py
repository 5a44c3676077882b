"""The engine end to end over the fakes: run lifecycle, non-overlap, cancel, recovery, isolation."""

from __future__ import annotations

import asyncio

import pytest

from cullarrd.errors import CullarrError
from cullarrd.store.models import AuditEvent, Movie, Series, SyncRun, WatchHistory
from cullarrd.sync.context import PHASES
from cullarrd.sync.engine import SyncEngine
from cullarrd.timeutil import utcnow
from cullarrd_plugins.fakelib.faults import Fault
from tests.sync.helpers import make_runtime


@pytest.fixture
def engine(store, fakes, tmp_path):
    runtime = make_runtime(store, fakes.integrations(), tmp_path)
    runtime.sync = SyncEngine(runtime)
    return runtime.sync


async def wait_idle(engine: SyncEngine, timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while engine._task is not None and not engine._task.done():
            await asyncio.sleep(0.05)


async def runs(store) -> list[SyncRun]:
    return await store.read(lambda: list(SyncRun.select().order_by(SyncRun.id)))


async def test_a_first_sync_runs_every_phase_and_records_progress(engine, store):
    answer = await engine.trigger("manual")
    assert answer["code"] == "sync_started" and answer["run"]["status"] == "queued"
    await wait_idle(engine)
    (run,) = await runs(store)
    assert run.status == "success", run.phase_counts_json
    assert run.started_at and run.finished_at and run.error_code is None
    progress = run.phase_counts_json
    assert progress["percent"] == 100.0
    assert [progress["phases"][p]["state"] for p in PHASES] == ["done"] * len(PHASES)
    assert {i["state"] for i in progress["integrations"].values()} == {"ok"}
    assert await store.read(lambda: Series.select().count()) == 3
    assert await store.read(lambda: Movie.select().count()) == 6
    assert await store.read(lambda: WatchHistory.select().count()) > 0
    events = await store.read(
        lambda: [e.event_name for e in AuditEvent.select().order_by(AuditEvent.id)]
    )
    assert events.count("sync.phase_completed") == len(PHASES)
    assert events.index("sync.queued") < events.index("sync.started") < events.index("sync.success")


async def test_racing_triggers_start_one_queue_one_refuse_the_rest(engine, store, fakes):
    fakes.faults["sonarr"].add(Fault("latency", "GET /api/v3/series", seconds=0.5, times=1))
    outcomes = await asyncio.gather(
        *(engine.trigger("manual") for _ in range(4)), return_exceptions=True
    )
    codes = sorted(o["code"] if isinstance(o, dict) else o.code for o in outcomes)
    assert codes == [
        "sync_already_running", "sync_already_running", "sync_queued_next", "sync_started",
    ]  # fmt: skip
    refused = next(o for o in outcomes if isinstance(o, CullarrError))
    assert refused.http_status == 409
    await wait_idle(engine)
    finished = await runs(store)
    assert [r.status for r in finished] == ["success", "success"]  # exactly one follow-up run
    assert finished[0].finished_at <= finished[1].started_at
    assert not any(r.queued_next for r in finished)


async def test_cancel_stops_at_the_next_safe_point(engine, store, fakes):
    fakes.faults["sonarr"].add(Fault("latency", "GET /api/v3/episode", seconds=0.3))
    await engine.trigger("manual")
    async with asyncio.timeout(20):
        while True:
            run = (await runs(store))[0]
            if run.phase == "sonarr_inventory":
                break
            await asyncio.sleep(0.05)
    await engine.cancel()
    await wait_idle(engine, timeout=20)
    (run,) = await runs(store)
    assert run.status == "canceled" and run.cancel_requested
    assert run.phase_counts_json["phases"]["cleanup"]["state"] == "pending"
    with pytest.raises(CullarrError) as nothing:
        await engine.cancel()
    assert nothing.value.code == "not_found"


async def test_a_failing_integration_is_isolated_and_the_run_is_a_partial_failure(
    engine, store, fakes
):
    fakes.faults["radarr"].add(Fault("status", "GET /api/v3/movie", status=500))
    await engine.trigger("manual")
    await wait_idle(engine)
    (run,) = await runs(store)
    assert run.status == "partial_failure" and run.error_code == "integration_failed"
    radarr = run.phase_counts_json["integrations"]["radarr"]
    assert radarr["state"] == "failed" and radarr["failed_phase"] == "radarr_inventory"
    assert radarr["error"]["code"] == "integration_contract_mismatch"
    assert run.phase_counts_json["integrations"]["sonarr"]["state"] == "ok"
    assert await store.read(lambda: Series.select().count()) == 3
    assert await store.read(lambda: Movie.select().count()) == 0


async def test_an_unreachable_integration_is_skipped_after_its_health_check(store, fakes, tmp_path):
    entries = fakes.integrations(tautulli={"base_url": "http://127.0.0.1:9"})
    runtime = make_runtime(store, entries, tmp_path)
    runtime.sync = engine = SyncEngine(runtime)
    await engine.trigger("manual")
    await wait_idle(engine)
    (run,) = await runs(store)
    tautulli = run.phase_counts_json["integrations"]["tautulli"]
    assert run.status == "partial_failure"
    assert (tautulli["failed_phase"], tautulli["error"]["code"]) == (
        "health", "integration_unreachable",
    )  # fmt: skip
    assert await store.read(lambda: WatchHistory.select().count()) == 0


async def test_startup_recovery_fails_the_lost_run_and_runs_one_replacement(engine, store):
    def crashed() -> None:
        SyncRun.create(status="running", trigger="scheduler", phase="radarr_inventory",
                       phase_counts_json={}, started_at=utcnow())  # fmt: skip

    await store.write(crashed)
    await engine.recover()
    await wait_idle(engine)
    lost, replacement = await runs(store)
    assert (lost.status, lost.error_code) == ("failed", "worker_lost")
    assert (replacement.trigger, replacement.status) == ("startup_recovery", "success")
    await engine.recover()  # nothing left to recover: no third run
    assert len(await runs(store)) == 2


async def test_due_check_honours_enabled_and_interval_without_restart(engine, store):
    await store.write(lambda: engine.rt.settings.update({"sync_enabled": False}))
    assert await engine.due_check() is False
    await store.write(lambda: engine.rt.settings.update({"sync_enabled": True}))
    assert await engine.due_check() is True
    await wait_idle(engine)
    assert await engine.due_check() is False  # the last run ended less than 30 minutes ago
    await store.write(lambda: engine.rt.settings.update({"sync_interval_minutes": 1}))
    await store.write(lambda: SyncRun.update(finished_at=utcnow().replace(year=2020)).execute())
    assert await engine.due_check() is True
    await wait_idle(engine)
    assert [r.trigger for r in await runs(store)] == ["scheduler", "scheduler"]
