"""A deletion run survives SIGKILL of the daemon: the real daemon, its socket, and the three fakes
as subprocesses; the daemon is killed while a stage's request is in flight and restarted."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.harness import DaemonProcess
from tests.test_sync_daemon import config_for, wait_for_run

PASSWORD = "operator-pass-3"
# A stage and the request it makes that the fake holds back while the daemon is killed.
IN_FLIGHT = {
    "delete_file": "DELETE /api/v3/moviefile/*",
    "unmonitor": "PUT /api/v3/movie/editor",
    "tag": "GET /api/v3/tag",
}


def stage_reached(daemon: DaemonProcess, run_id: int, stage: str) -> bool:
    run = daemon.call("deletion.get", {"id": run_id})["run"]
    return any(stage in a["stages"] for a in run["actions"])


@pytest.mark.parametrize("stage", sorted(IN_FLIGHT))
def test_sigkill_mid_stage_then_restart_finishes_the_run(
    tmp_path, short_tmp, database_url, services, stage
):
    radarr = services["radarr"].base_url
    config = config_for(database_url, short_tmp, services)
    daemon = DaemonProcess(tmp_path, config).start()
    try:
        daemon.call("operator.set_password", {"email": "op@example.org", "password": PASSWORD})
        assert wait_for_run(daemon, daemon.call("sync.trigger")["run"]["id"])["status"] == "success"
        rows = daemon.call("candidates.query", {"scope": "movie", "watched_match_mode": "none"})
        movie = next(r for r in rows["items"] if len(r["media_file_ids"]) == 1)
        plan = daemon.call(
            "deletion.plan",
            {"scope": "movie", "target_ids": [movie["candidate_id"]], "watched_match_mode": "none"},
        )
        (planned,) = plan["files"]
        token = daemon.call("delete.unlock", {"password": PASSWORD})["token"]
        slow = {"kind": "latency", "match": IN_FLIGHT[stage], "seconds": 3, "times": 1}
        httpx.post(f"{radarr}/__fake__/faults", json={"faults": [slow]}).raise_for_status()
        run_id = daemon.call("deletion.create", {"plan": plan, "token": token})["run"]["id"]
        deadline = time.monotonic() + 20
        while not stage_reached(daemon, run_id, stage):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)  # the request is in flight
        daemon.signal(signal.SIGKILL)
        daemon.wait_exit(timeout=10)
    finally:
        daemon.stop()
    httpx.delete(f"{radarr}/__fake__/faults").raise_for_status()
    restarted = DaemonProcess(tmp_path, config).start()
    try:
        run = wait_for_run(restarted, run_id, 30, command="deletion.get")
        (action,) = run["actions"]
        assert (run["status"], action["status"]) == ("success", "confirmed"), action
        writes = httpx.get(f"{radarr}/__fake__/writes").json()["writes"]
        deletes = {w["path"] for w in writes if w["method"] == "DELETE"}
        assert deletes == {f"/api/v3/moviefile/{planned['arr_file_id']}"}
        movie_id = plan["files"][0]["parent"]["arr_id"]
        left = httpx.get(
            f"{radarr}/api/v3/moviefile",
            params={"movieId": movie_id},
            headers={"X-Api-Key": services["radarr"].api_key},
        ).json()
        assert planned["arr_file_id"] not in {f["id"] for f in left}
        events = restarted.call("audit.list", {"event_name": "deletion.resumed"})
        assert events
    finally:
        restarted.stop()
