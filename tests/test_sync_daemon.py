"""Sync through the real daemon, cullarrctl and the three services as subprocesses."""

from __future__ import annotations

import json
import signal
import time

import httpx

from tests.conftest import free_port
from tests.harness import DaemonProcess, base_config
from tests.sync.helpers import PATH_MAPPINGS


def config_for(database_url, short_tmp, services) -> dict:
    config = base_config(database_url, short_tmp, free_port())
    config["integrations"] = [
        fake.integration(path_mappings=PATH_MAPPINGS[kind]) for kind, fake in services.items()
    ]
    return config


def wait_for_run(
    daemon: DaemonProcess, run_id: int, timeout: float = 60, command: str = "runs.get"
) -> dict:
    """The run (a sync run, or what ``command`` reads, e.g. ``deletion.get``) once it ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = daemon.call(command, {"id": run_id})["run"]
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still active after {timeout}s")


def test_cli_sync_wait_runs_and_lists(tmp_path, short_tmp, database_url, services):
    daemon = DaemonProcess(tmp_path, config_for(database_url, short_tmp, services)).start()
    try:
        result = daemon.ctl("sync", "--wait")
        assert result.returncode == 0, result.stderr
        assert "sync run 1: success" in result.stdout
        assert "%" in result.stderr  # progress lines (no TTY: one per update)
        listed = daemon.ctl("runs", "--json")
        assert [r["status"] for r in json.loads(listed.stdout)["runs"]] == ["success"]
        shown = daemon.ctl("run", "1")
        assert "library_mapping" in shown.stdout and "tautulli" in shown.stdout
        assert daemon.ctl("run", "99").returncode == 1
        again = daemon.ctl("sync", "--json")
        assert json.loads(again.stdout)["code"] == "sync_started"
        assert wait_for_run(daemon, 2)["status"] == "success"
    finally:
        daemon.stop()


def test_sigkill_mid_sync_then_restart_recovers(tmp_path, short_tmp, database_url, services):
    slow = {"faults": [{"kind": "latency", "match": "GET /api/v3/episode", "seconds": 0.4}]}
    httpx.post(services["sonarr"].base_url + "/__fake__/faults", json=slow).raise_for_status()
    config = config_for(database_url, short_tmp, services)
    daemon = DaemonProcess(tmp_path, config).start()
    daemon.call("sync.trigger")
    deadline = time.monotonic() + 30
    while daemon.call("runs.get", {"id": 1})["run"]["phase"] != "sonarr_inventory":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    daemon.signal(signal.SIGKILL)
    daemon.wait_exit(timeout=10)
    daemon.stop()
    httpx.delete(services["sonarr"].base_url + "/__fake__/faults").raise_for_status()
    restarted = DaemonProcess(tmp_path, config).start()
    try:
        lost = restarted.call("runs.get", {"id": 1})["run"]
        assert (lost["status"], lost["error_code"]) == ("failed", "worker_lost")
        replacement = wait_for_run(restarted, 2)
        assert (replacement["trigger"], replacement["status"]) == ("startup_recovery", "success")
        # The store is consistent: a further sync of the unchanged library changes nothing.
        restarted.call("sync.trigger")
        third = wait_for_run(restarted, 3)
        assert third["status"] == "success"
        inventory = third["progress"]["phases"]["sonarr_inventory"]
        assert inventory["rows_written"] == 0
    finally:
        restarted.stop()
