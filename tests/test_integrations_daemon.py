"""``integrations list|check`` end to end: daemon, cullarrctl and the three fakes, all real."""

from __future__ import annotations

import json

import pytest

from tests.conftest import free_port
from tests.harness import FAKE_KEYS, DaemonProcess, base_config


@pytest.fixture
def daemon(tmp_path, short_tmp, database_url, services):
    config = base_config(database_url, short_tmp, free_port())
    config["integrations"] = [fake.integration() for fake in services.values()]
    proc = DaemonProcess(tmp_path, config).start()
    yield proc
    proc.stop()


def check(daemon: DaemonProcess, *names: str) -> dict[str, dict]:
    result = daemon.ctl("integrations", "check", *names, "--json")
    assert result.returncode == 0, result.stderr
    return {row["name"]: row for row in json.loads(result.stdout)["integrations"]}


def test_check_applies_the_version_policy_and_lists_without_keys(daemon):
    rows = check(daemon)
    assert {n: (r["status"], r["supported_for_delete"]) for n, r in rows.items()} == {
        "radarr": ("healthy", True),
        "sonarr": ("healthy", True),
        "tautulli": ("healthy", False),  # watch role: never deletes
    }
    assert rows["tautulli"]["reported_version"].startswith("v2.")
    assert all(r["last_checked_at"] and r["last_error"] is None for r in rows.values())
    listed = daemon.ctl("integrations", "list")
    assert listed.returncode == 0 and "healthy" in listed.stdout and "BASE URL" in listed.stdout
    for key in FAKE_KEYS.values():
        assert key not in listed.stdout and key not in json.dumps(rows)


def test_an_unreachable_or_refusing_service_is_an_error_with_its_code(daemon, services):
    assert check(daemon)["radarr"]["status"] == "healthy"
    services["radarr"].stop()
    radarr = check(daemon, "radarr")["radarr"]
    assert radarr["status"] == "error" and radarr["supported_for_delete"] is False
    assert radarr["last_error"].startswith("integration_unreachable: ")
    assert radarr["reported_version"].startswith("5.")  # the last known version stays
    events = daemon.call("audit.list", {"event_name": "integration.health_changed"})["events"]
    assert {"name": "radarr", "from": "healthy", "to": "error"} in [
        {k: e["payload"][k] for k in ("name", "from", "to")} for e in events
    ]
    unknown = daemon.ctl("integrations", "check", "nope")
    assert unknown.returncode == 1 and "not_found" in unknown.stderr


def test_a_wrong_api_key_is_an_auth_failure_and_never_logged(tmp_path, short_tmp, services):
    config = base_config(f"sqlite:///{tmp_path}/c.db", short_tmp, free_port())
    wrong = "wrong-key-0000-1111-2222-3333"
    config["integrations"] = [services["sonarr"].integration(api_key=wrong)]
    proc = DaemonProcess(tmp_path, config).start()
    try:
        sonarr = check(proc)["sonarr"]
        assert sonarr["status"] == "error"
        assert sonarr["last_error"].startswith("integration_auth_failed: ")
        assert wrong not in json.dumps(sonarr)
    finally:
        proc.stop()
    assert wrong not in proc.log_text()
