"""Deletion runs (SPEC §7.3) through the fakes over loopback: exactly the planned files are
deleted, side effects per scope, every refusal (gate, blockers between plan and run, a file
changed upstream), retries and failures in each stage, cancel, duplicate protection."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time

import pytest

from cullarrd.config import parse_config
from cullarrd.deletion.executor import DeletionEngine
from cullarrd.errors import ConfigError
from cullarrd.store.models import ArrTag, AuditEvent, DeleteModeUnlock, Integration, MediaFile
from cullarrd_plugins.fakelib.faults import Fault
from tests.candidates.scenario import SERIES_FOREST, ZOE
from tests.deletion.helpers import FAST, deletion_scenario, planned, refused, store_id

pytestmark = pytest.mark.asyncio


async def events(store, prefix: str) -> list[tuple[str, dict]]:
    rows = AuditEvent.select().where(AuditEvent.event_name.startswith(prefix))
    return await store.read(lambda: [(r.event_name, r.payload_json) for r in rows])


async def test_a_run_deletes_exactly_the_planned_file_and_culls_it(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory = await sc.movie(4)
        plan = await sc.plan("movie", [memory])
        token = await sc.unlock()
        run = await sc.finished((await sc.create(plan, token))["id"])
        assert run["status"] == "success" and run["deleted_bytes"] == plan["total_bytes"]
        assert sc.deleted() == planned(plan)
        assert sc.library.movie_files_of(4) == []
        (action,) = run["actions"]
        assert action["status"] == "confirmed" and action["retry_count"] == 0
        assert list(action["stages"]) == ["precheck", "delete_file", "unmonitor", "tag", "confirm"]
        culled = await store.read(lambda: MediaFile.get_by_id(action["media_file_id"]).culled_at)
        assert culled is not None
        assert memory not in await sc.ids("movie")  # gone from the list at once
        radarr = sc.library.movies[4]
        assert radarr.monitored is False and radarr.tags  # unmonitored, tagged culled
        # The token was spent; stage changes are audited without secrets.
        error = await refused(sc.create(plan, token))
        assert error.code == "delete_unlock_invalid"
        stages = [p["stage"] for name, p in await events(store, "deletion.") if "stage" in p]
        assert stages[:5] == ["precheck", "delete_file", "unmonitor", "tag", "confirm"]
        audit = str(await events(store, ""))
        assert token not in audit and "delete-secret" not in audit


async def test_side_effects_per_scope(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        forest = [e for e in sc.library.episodes_of(SERIES_FOREST) if e.episode_file_id]
        # An episode: its file, then the episode is unmonitored.
        first = await sc.plan("tv_episode", [await sc.episode(forest[0].id)])
        run = await sc.run(first)
        assert run["status"] == "success" and sc.deleted() == planned(first)
        monitor = sc.writes("sonarr", "PUT")
        assert [w["body"] for w in monitor] == [{"episodeIds": [forest[0].id], "monitored": False}]
        # The rest of the show: every file, the series unmonitored (full resource PUT) and tagged.
        show = await sc.plan("tv_show", [await sc.show(SERIES_FOREST)])
        assert len(show["files"]) == len(forest) - 1
        run = await sc.run(show)
        assert run["status"] == "success"
        assert sc.deleted() == planned(first) | planned(show)
        series = sc.library.series[SERIES_FOREST]
        assert series.monitored is False and series.tags
        puts = [w["path"] for w in sc.writes("sonarr", "PUT")]
        assert puts.count(f"/api/v3/series/{SERIES_FOREST}") == 1  # once, after the last file
        assert puts.count("/api/v3/series/editor") == 1


async def test_one_of_two_versions_then_the_other(store, tmp_path):
    """Paul's Race has two files; Will watched it."""
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        race = await sc.movie(6)
        files = sc.library.movie_files_of(6)
        versions = await store.read(
            lambda: [m.id for m in MediaFile.select().where(
                MediaFile.attachable_type == "movie", MediaFile.attachable_id == store_id(race)
            ).order_by(MediaFile.id)]
        )  # fmt: skip
        will = {"users": ["will"]}
        one = await sc.plan("movie", [race], versions={race: versions[:1]}, **will)
        run = await sc.run(one)
        assert run["status"] == "success" and len(sc.deleted()) == 1
        assert sc.writes("radarr", "PUT") == [] and sc.library.movies[6].monitored is not False
        assert len(sc.library.movie_files_of(6)) == 1
        # The remaining version is now the whole movie: unmonitored and tagged with it.
        rest = await sc.plan("movie", [race], **will)
        assert [f["media_file_id"] for f in rest["files"]] == versions[1:]
        await sc.run(rest)
        assert sc.deleted() == {("radarr", f.id) for f in files}
        assert sc.library.movies[6].monitored is False and sc.library.movies[6].tags


async def test_the_gate_refuses_and_audits_without_spending_anything(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        assert (await refused(sc.call("deletion.create", plan=plan))).code == (
            "delete_unlock_required"
        )
        error = await refused(sc.call("deletion.create", plan=plan, token="made-up"))
        assert error.code == "delete_unlock_invalid"
        token = await sc.unlock()
        await store.write(
            lambda: DeleteModeUnlock.update(
                expires_at=dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=1)
            ).execute()
        )
        assert (await refused(sc.create(plan, token))).code == "delete_unlock_expired"
        reasons = [p["reason"] for _, p in await events(store, "deletion.create_denied")]
        assert reasons == [
            "delete_unlock_required",
            "delete_unlock_invalid",
            "delete_unlock_expired",
        ]
        assert sc.deleted() == set() and await sc.runs() == []
    with deletion_scenario(store, tmp_path, delete_mode={"enabled": False}) as sc:
        error = await refused(sc.call("deletion.create", plan=plan, token=token))
        assert error.code == "delete_mode_disabled"


async def test_delete_mode_needs_a_secret(tmp_path):
    with pytest.raises(ConfigError, match=r"delete_mode\.secret: required"):
        parse_config(
            {"socket": {"path": str(tmp_path / "s.sock")}, "delete_mode": {"enabled": True}},
            env={},
            base_dir=str(tmp_path),
        )


async def test_blockers_added_after_the_plan_refuse_the_run(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, twin = await sc.movie(4), await sc.movie(5)
        plan = await sc.plan("movie", [memory])
        token = await sc.unlock()
        marker = await sc.call("keep.add", target_type="movie", target_id=store_id(memory))
        error = await refused(sc.create(plan, token))
        assert error.code == "guardrail_keep_marker" and error.details["blocked"]
        await sc.call("keep.remove", id=marker["id"])

        exclusion = await sc.call(
            "exclusions.add", name="keep movies", path_prefix="/mnt/media/movies"
        )
        assert (await refused(sc.create(plan, token))).code == "guardrail_path_excluded"
        await sc.call("exclusions.remove", id=exclusion["id"])

        unwatched = await sc.plan("movie", [twin], watched_match_mode="none")
        sc.start_playing(ZOE, sc.library.movies[5].plex_rating_key)
        await sc.sync()
        assert (await refused(sc.create(unwatched, token))).code == "guardrail_in_progress"

        # Every refusal rolled back: the same token still creates the original run.
        assert sc.deleted() == set()
        assert (await sc.finished((await sc.create(plan, token))["id"]))["status"] == "success"
        assert sc.deleted() == planned(plan)


async def test_a_plan_that_no_longer_matches_the_library_is_refused(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("tv_season", [await sc.season(SERIES_FOREST)])
        forest = [e for e in sc.library.episodes_of(SERIES_FOREST) if e.episode_file_id]
        sc.library.episode_files[forest[0].episode_file_id].size += 1  # re-encoded upstream
        await sc.sync()
        error = await refused(sc.create(plan))
        assert error.code == "deletion_target_changed"
        assert len(error.details["changes"]["changed"]) == 1
        assert sc.deleted() == set()


async def test_a_keep_marker_set_during_a_run_stops_the_remaining_actions(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        season = await sc.season(SERIES_FOREST)
        plan = await sc.plan("tv_season", [season])
        sc.fakes.faults["sonarr"].add(
            Fault(kind="latency", match="DELETE /api/v3/episodefile/*", times=1, seconds=0.5)
        )
        run = await sc.create(plan)
        await wait_for_stage(sc, run["id"], "delete_file")
        await sc.call("keep.add", target_type="season", target_id=store_id(season))
        run = await sc.finished(run["id"])
        statuses = [a["status"] for a in run["actions"]]
        assert statuses == ["confirmed"] + ["failed"] * (len(statuses) - 1)
        assert {a["error_code"] for a in run["actions"][1:]} == {"guardrail_keep_marker"}
        assert run["status"] == "partial_failure" and len(sc.deleted()) == 1


async def wait_for_stage(sc, run_id: int, stage: str) -> None:
    async with asyncio.timeout(10):
        while True:
            run = (await sc.call("deletion.get", id=run_id))["run"]
            if any(stage in a["stages"] for a in run["actions"]):
                return
            await asyncio.sleep(0.01)


async def test_a_file_changed_upstream_after_the_plan_is_never_deleted(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        (upstream,) = sc.library.movie_files_of(4)
        upstream.size += 1_000  # replaced upstream; the store has not synced it yet
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert (action["status"], action["error_code"]) == ("failed", "deletion_target_changed")
        assert run["status"] == "failed" and sc.deleted() == set()
        assert sc.library.movie_files_of(4) == [upstream]


STAGE_ENDPOINTS = {
    "precheck": "GET /api/v3/moviefile",
    "delete_file": "DELETE /api/v3/moviefile/*",
    "unmonitor": "PUT /api/v3/movie/editor",
    "confirm": "GET /api/v3/moviefile",
}


@pytest.mark.parametrize("stage", ["precheck", "delete_file", "unmonitor", "confirm"])
@pytest.mark.parametrize("kind", ["rate_limit", "status", "timeout"])
async def test_transient_failures_in_each_stage_are_retried(store, tmp_path, stage, kind):
    """Two failures in a row outlast the HTTP client's own two attempts: the action retries."""
    radarr = {"request_timeout_seconds": 1}
    with deletion_scenario(store, tmp_path, radarr=radarr) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        status = 503 if kind == "status" else 500
        fault = Fault(kind=kind, match=STAGE_ENDPOINTS[stage], times=2, seconds=1.5,
                      status=status, retry_after="0")  # fmt: skip
        if stage == "confirm":  # precheck reads the same endpoint first
            await stop_after_stage(sc, "delete_file", lambda: sc.fakes.faults["radarr"].add(fault))
        else:
            sc.fakes.faults["radarr"].add(fault)
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert (run["status"], action["status"]) == ("success", "confirmed"), action
        assert action["retry_count"] == 1
        assert sc.deleted() == planned(plan)


async def stop_after_stage(sc, stage: str, then) -> None:
    """Arrange ``then()`` to run once ``stage`` of an action has finished."""
    engine = sc.runtime.deletion
    original = engine._done

    def done(ctx, name, outcome):
        original(ctx, name, outcome)
        if name == stage:
            then()

    engine._done = done


@pytest.mark.parametrize("stage", ["precheck", "delete_file", "unmonitor"])
async def test_a_lasting_failure_fails_the_action_at_its_stage(store, tmp_path, stage):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        sc.fakes.faults["radarr"].add(Fault(kind="status", match=STAGE_ENDPOINTS[stage]))
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert action["status"] == "failed" and run["status"] == "failed"
        assert action["error_code"] == "integration_contract_mismatch"  # a 500: not retried
        assert action["retry_count"] == 0
        assert "finished_at" not in action["stages"][stage]
        # The fakes log the refused DELETE too: what counts is whether the file is gone.
        assert (sc.library.movie_files_of(4) == []) is (stage == "unmonitor")


async def test_a_failed_tag_is_a_warning(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        sc.fakes.faults["radarr"].add(Fault(kind="status", match="GET /api/v3/tag"))
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert run["status"] == "success" and action["status"] == "confirmed"
        (warning,) = action["warnings"]
        assert (warning["stage"], warning["code"]) == ("tag", "integration_contract_mismatch")


async def test_a_file_still_listed_times_out_confirmation(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        sc.library.delete_movie_file = lambda file_id: None  # answers 200, keeps listing it
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert (action["status"], action["error_code"]) == (
            "failed", "deletion_confirmation_timeout"
        )  # fmt: skip
        assert action["retry_count"] == 2  # three attempts (FAST.attempts)
        culled = await store.read(lambda: MediaFile.get_by_id(action["media_file_id"]).culled_at)
        assert culled is None


async def test_cancel_stops_before_the_next_action(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("tv_season", [await sc.season(SERIES_FOREST)])
        sc.fakes.faults["sonarr"].add(
            Fault(kind="latency", match="DELETE /api/v3/episodefile/*", times=1, seconds=0.5)
        )
        run = await sc.create(plan)
        await wait_for_stage(sc, run["id"], "delete_file")
        answer = await sc.call("deletion.cancel", id=run["id"])
        assert answer["run"]["cancel_requested"] is True
        run = await sc.finished(run["id"])
        statuses = [a["status"] for a in run["actions"]]
        assert statuses == ["confirmed"] + ["skipped"] * (len(statuses) - 1)
        assert run["status"] == "canceled" and len(sc.deleted()) == 1
        error = await refused(sc.call("deletion.cancel", id=run["id"]))
        assert error.code == "conflict"


async def test_a_file_is_never_in_two_active_runs(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        sc.fakes.faults["radarr"].add(
            Fault(kind="latency", match="DELETE /api/v3/moviefile/*", times=1, seconds=0.5)
        )
        first = await sc.create(plan)
        error = await refused(sc.create(plan))
        assert error.code == "conflict" and error.details["in_flight"]
        assert (await sc.finished(first["id"]))["status"] == "success"
        # Confirmed: the movie is no longer a candidate, so it cannot be planned again.
        error = await refused(sc.plan("movie", [await sc.movie(4)]))
        assert error.code == "validation_failed"
        assert len(sc.writes("radarr", "DELETE")) == 1


# --- crash safety: the process dies at a stage, a new engine resumes from the store ----------


def die_at(monkeypatch, stage: str) -> None:
    """The process "dies" right after ``stage``'s effect, before its end is committed."""
    original = DeletionEngine._done

    def done(self, ctx, name, outcome):
        if name == stage:
            raise asyncio.CancelledError  # nothing after this point runs
        return original(self, ctx, name, outcome)

    monkeypatch.setattr(DeletionEngine, "_done", done)


async def restart(sc, monkeypatch) -> DeletionEngine:
    monkeypatch.undo()
    engine = sc.runtime.deletion = DeletionEngine(sc.runtime, timing=FAST)
    await engine.recover()
    return engine


@pytest.mark.parametrize("stage", ["precheck", "delete_file", "unmonitor", "tag", "confirm"])
async def test_a_run_resumes_after_dying_at_each_stage(store, tmp_path, monkeypatch, stage):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        race = await sc.movie(6)  # two versions: the movie is unmonitored after the last one
        will = {"users": ["will"]}
        files = sc.library.movie_files_of(6)
        versions = [v["media_file_id"] for v in (await refused(
            sc.plan("movie", [race], **will))).details["targets"][0]["versions"]]  # fmt: skip
        plan = await sc.plan("movie", [race], versions={race: versions}, **will)
        die_at(monkeypatch, stage)
        run = await sc.create(plan)
        await sc.engine_stopped()
        assert (await sc.call("deletion.get", id=run["id"]))["run"]["status"] == "running"
        await restart(sc, monkeypatch)
        run = await sc.finished(run["id"])
        assert run["status"] == "success", run["actions"]
        assert sc.deleted() == {("radarr", f.id) for f in files}  # only the planned files
        deletes = [w["path"] for w in sc.writes("radarr", "DELETE")]
        assert len(deletes) <= len(files) + 1  # at most the one in flight sent again
        assert sc.library.movies[6].monitored is False and sc.library.movies[6].tags
        resumed = [name for name, _ in await events(store, "deletion.resumed")]
        assert resumed == ["deletion.resumed"]


async def test_a_delete_in_flight_is_never_resent_for_a_changed_file(store, tmp_path, monkeypatch):
    """The process died as it sent the DELETE, which never arrived; then the file changed."""
    from cullarrd_plugins.radarr.adapter import RadarrAdapter

    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])

        async def dies(self, arr_file_id):
            raise asyncio.CancelledError

        monkeypatch.setattr(RadarrAdapter, "delete_file", dies)
        run = await sc.create(plan)
        await sc.engine_stopped()
        (upstream,) = sc.library.movie_files_of(4)
        upstream.path = upstream.path.replace(".mkv", ".proper.mkv")  # upgraded meanwhile
        await restart(sc, monkeypatch)
        run = await sc.finished(run["id"])
        (action,) = run["actions"]
        assert (action["status"], action["error_code"]) == ("failed", "deletion_target_changed")
        assert sc.writes("radarr", "DELETE") == [] and sc.library.movie_files_of(4) == [upstream]


async def test_notifier_plugins_hear_every_finished_run(store, tmp_path):
    from cullarrd.hookspecs import hookimpl

    heard: list[dict] = []

    class Notifier:
        @hookimpl
        def cullarrd_deletion_finished(self, run):
            heard.append(run)

    with deletion_scenario(store, tmp_path) as sc:
        sc.runtime.plugins.manager.register(Notifier(), name="test-notifier")
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        token = await sc.unlock()
        run = await sc.finished((await sc.create(plan, token))["id"])
        (finished,) = heard
        assert finished["id"] == run["id"] and finished["status"] == "success"
        assert finished["actions"][0]["status"] == "confirmed"
        assert token not in str(finished) and "delete-secret" not in str(finished)


# --- between creating a run and executing it ---------------------------------------------------


async def created_but_not_started(sc, monkeypatch, plan: dict) -> dict:
    """Create the run while the engine holds off, as after a restart before ``recover``."""
    monkeypatch.setattr(sc.runtime.deletion, "start", lambda: None)
    run = await sc.create(plan)
    monkeypatch.undo()
    return run


async def test_changes_before_execution_are_caught_by_precheck(store, tmp_path, monkeypatch):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, twin = await sc.movie(4), await sc.movie(5)
        kept = await created_but_not_started(sc, monkeypatch, await sc.plan("movie", [memory]))
        await sc.call("keep.add", target_type="movie", target_id=store_id(memory))
        sc.runtime.deletion.start()
        (action,) = (await sc.finished(kept["id"]))["actions"]
        assert (action["status"], action["error_code"]) == ("failed", "guardrail_keep_marker")

        plan = await sc.plan("movie", [twin], watched_match_mode="none")
        off = await created_but_not_started(sc, monkeypatch, plan)
        sc.runtime.config = dataclasses.replace(
            sc.runtime.config,
            delete_mode=dataclasses.replace(sc.runtime.config.delete_mode, enabled=False),
        )
        sc.runtime.deletion.start()
        (action,) = (await sc.finished(off["id"]))["actions"]
        assert (action["status"], action["error_code"]) == ("failed", "delete_mode_disabled")
        assert sc.deleted() == set()


async def test_a_queued_run_is_canceled_at_once(store, tmp_path, monkeypatch):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        run = await created_but_not_started(sc, monkeypatch, plan)
        assert (await sc.call("deletion.cancel", id=run["id"]))["run"]["status"] == "canceled"
        run = (await sc.call("deletion.get", id=run["id"]))["run"]
        assert [a["status"] for a in run["actions"]] == ["skipped"]
        sc.runtime.deletion.start()
        await asyncio.sleep(0.1)
        assert sc.deleted() == set()
        # The file is free again: a new run may take it.
        assert (await sc.run(await sc.plan("movie", [await sc.movie(4)])))["status"] == "success"


async def test_a_version_arriving_after_the_plan_keeps_the_movie_monitored(
    store, tmp_path, monkeypatch
):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        run = await created_but_not_started(sc, monkeypatch, plan)
        (upstream,) = sc.library.movie_files_of(4)
        extra = dataclasses.replace(upstream, id=777, path=upstream.path + ".2160p.mkv")
        sc.library.movie_files[777] = extra
        sc.library.movies[4].file_ids.append(777)
        await sc.sync()
        sc.runtime.deletion.start()
        run = await sc.finished(run["id"])
        (action,) = run["actions"]
        assert run["status"] == "success" and sc.deleted() == planned(plan)
        assert "files this run does not delete" in action["stages"]["unmonitor"]["outcome"]
        movie = sc.library.movies[4]
        assert movie.monitored is not False and not movie.tags
        assert sc.library.movie_files_of(4) == [extra]


async def test_a_stale_tag_row_does_not_fail_a_delete(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        radarr = await store.read(lambda: Integration.get(Integration.name == "radarr"))
        await store.write(
            lambda: ArrTag.create(integration=radarr.id, name="cullarr:culled", arr_tag_id=999)
        )
        run = await sc.run(await sc.plan("movie", [await sc.movie(4)]))
        assert run["status"] == "success" and run["actions"][0]["warnings"] == []
        (row,) = await store.read(lambda: list(ArrTag.select()))
        assert row.arr_tag_id in sc.library.movies[4].tags and row.arr_tag_id != 999


async def test_a_run_created_while_the_queue_drains_is_not_forgotten(store, tmp_path, monkeypatch):
    from cullarrd.deletion import executor

    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        original = executor._next_run

        def slow_look():
            found = original()
            time.sleep(0.3)  # the run is created while this answer is on its way
            return found

        monkeypatch.setattr(executor, "_next_run", slow_look)
        sc.runtime.deletion.start()  # finds the queue empty...
        run = await sc.create(plan)  # ...while this run is created
        assert (await sc.finished(run["id"]))["status"] == "success"


async def test_a_lasting_failure_at_confirm_fails_the_action_but_not_its_stages(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        fault = Fault(kind="status", match="GET /api/v3/moviefile")
        await stop_after_stage(sc, "tag", lambda: sc.fakes.faults["radarr"].add(fault))
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert (action["status"], action["error_code"]) == (
            "failed", "integration_contract_mismatch"
        )  # fmt: skip
        assert "finished_at" in action["stages"]["delete_file"]
        assert sc.library.movie_files_of(4) == []  # gone, but not confirmed: not culled
        culled = await store.read(lambda: MediaFile.get_by_id(action["media_file_id"]).culled_at)
        assert culled is None and run["deleted_bytes"] == 0


async def test_a_failed_unmonitor_still_confirms_the_deleted_file(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        plan = await sc.plan("movie", [await sc.movie(4)])
        sc.fakes.faults["radarr"].add(Fault(kind="status", match="PUT /api/v3/movie/editor"))
        run = await sc.run(plan)
        (action,) = run["actions"]
        assert (action["status"], action["error_code"]) == (
            "failed", "integration_contract_mismatch"
        )  # fmt: skip
        assert action["stages"]["confirm"]["outcome"] == "gone"
        assert run["status"] == "failed" and run["deleted_bytes"] == plan["total_bytes"]
        culled = await store.read(lambda: MediaFile.get_by_id(action["media_file_id"]).culled_at)
        assert culled is not None
