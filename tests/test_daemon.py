"""The daemon as a real subprocess: start, health, stop, reload, sd_notify, sockets, secrets."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from cullarrd.store.db import open_database
from cullarrd.store.migrate import code_version, migrate
from tests.conftest import free_port
from tests.harness import API_KEY, DELETE_SECRET, DaemonProcess, base_config, clean_env


@pytest.fixture
def daemon(tmp_path, short_tmp, database_url):
    proc = DaemonProcess(tmp_path, base_config(database_url, short_tmp, free_port()))
    yield proc
    proc.stop()


def test_health_is_public_with_correlation_id(daemon):
    daemon.start()
    response = httpx.get(daemon.base_url + "/api/v1/health", headers={"X-Request-Id": "req-42"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["db"] is True
    assert body["version"] and body["uptime_s"] >= 0
    assert response.headers["x-correlation-id"] == "req-42"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    missing = httpx.get(daemon.base_url + "/api/v1/nope")
    assert missing.status_code == 404
    error = missing.json()["error"]
    assert error["code"] == "not_found"
    assert error["correlation_id"] == missing.headers["x-correlation-id"]


def test_sigterm_stops_cleanly_within_five_seconds(daemon):
    daemon.start()
    assert os.path.exists(daemon.socket_path)
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert not os.path.exists(daemon.socket_path)
    assert "daemon.stopped" in daemon.log_text()


def test_sigint_stops_cleanly(daemon):
    daemon.start()
    daemon.signal(signal.SIGINT)
    assert daemon.wait_exit(timeout=5) == 0


def test_sighup_with_broken_config_keeps_serving_the_old_one(daemon):
    daemon.start()
    good = dict(daemon.config)
    daemon.write_config("web: {listen: 'not a host port'}\nbogus: 1\n")
    daemon.signal(signal.SIGHUP)
    _wait_for_log(daemon, "config.reload_failed")
    assert daemon.proc.poll() is None
    assert daemon.call("status")["integrations"][0]["name"] == "sonarr-main"
    assert httpx.get(daemon.base_url + "/api/v1/health").status_code == 200
    # A valid config is then taken: the integration list is reconciled by name.
    good["integrations"] = [
        *good["integrations"],
        {"kind": "radarr", "name": "radarr-4k", "base_url": "http://127.0.0.1:7878",
         "api_key": "radarr-key-0000"},
    ]  # fmt: skip
    daemon.write_config(good)
    daemon.signal(signal.SIGHUP)
    _wait_for_log(daemon, "config.reloaded")
    names = [i["name"] for i in daemon.call("status")["integrations"]]
    assert names == ["radarr-4k", "sonarr-main"]
    daemon.signal(signal.SIGTERM)
    assert daemon.wait_exit(timeout=5) == 0


def test_ctl_reload_reports_an_invalid_config_and_keeps_running(daemon):
    daemon.start()
    cfg = dict(daemon.config)
    cfg["integrations"] = [{**cfg["integrations"][0], "base_url": "ftp://x"}]
    daemon.write_config(cfg)
    result = daemon.ctl("reload", "--json")
    assert result.returncode == 1
    assert '"config_invalid"' in result.stdout
    assert "integrations[0].base_url" in result.stdout
    assert daemon.ctl("status").returncode == 0
    removed = {**daemon.config, "integrations": []}
    daemon.write_config(removed)
    assert daemon.ctl("reload").returncode == 0
    (integration,) = daemon.call("status")["integrations"]
    assert integration["status"] == "removed"  # kept, never shown or deleted through


def test_sd_notify_ready_watchdog_reloading_stopping(tmp_path, short_tmp, database_url):
    notify_path = os.path.join(short_tmp, "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(notify_path)
    receiver.settimeout(10)
    env = clean_env(NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="400000")
    proc = DaemonProcess(tmp_path, base_config(database_url, short_tmp, free_port()), env=env)
    try:
        proc.start()
        messages = _receive_until(receiver, "READY=1")
        messages += _receive_until(receiver, "WATCHDOG=1")
        proc.signal(signal.SIGHUP)
        messages += _receive_until(receiver, "RELOADING=1")
        proc.signal(signal.SIGTERM)
        messages += _receive_until(receiver, "STOPPING=1")
        assert proc.wait_exit(5) == 0
    finally:
        proc.stop()
        receiver.close()
    reloading = next(m for m in messages if m.startswith("RELOADING=1"))
    assert "MONOTONIC_USEC=" in reloading


def test_stale_socket_is_replaced_and_live_one_refuses_a_second_daemon(
    tmp_path, short_tmp, database_url
):
    config = base_config(database_url, short_tmp, free_port())
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(config["socket"]["path"])
    stale.close()  # the file stays behind, nobody listens: stale
    first = DaemonProcess(tmp_path, config).start()
    second_dir = tmp_path / "second"
    second_dir.mkdir()
    second = DaemonProcess(second_dir, {**config, "web": {"listen": f"127.0.0.1:{free_port()}"}})
    try:
        assert first.call("status")["pid"] == first.proc.pid
        second.start(wait=False)
        assert second.wait_exit(timeout=15) == 1
        assert "already listening" in second.log_text()
        assert first.call("status")["pid"] == first.proc.pid  # the first one is untouched
    finally:
        second.stop()
        first.stop()


def test_invalid_config_at_start_exits_2_with_key_paths(tmp_path, short_tmp):
    proc = DaemonProcess(tmp_path, {"web": {"listen": "nope"}, "database": {"urll": "x"}})
    proc.start(wait=False)
    assert proc.wait_exit(timeout=10) == 2
    log = proc.log_text()
    assert "web.listen:" in log and "database: unknown key 'urll'" in log


def test_store_newer_than_code_refuses_to_start(tmp_path, short_tmp, database_url):
    db = open_database(database_url)
    migrate(db)
    p = db.param
    db.execute_sql(
        f"INSERT INTO schema_version (version, name, applied_at) VALUES ({p}, {p}, {p})",
        (code_version() + 1, "future", "2030-01-01 00:00:00"),
    )
    db.close()
    proc = DaemonProcess(tmp_path, base_config(database_url, short_tmp, free_port()))
    proc.start(wait=False)
    try:
        assert proc.wait_exit(timeout=15) == 1
        assert "newer cullarrd" in proc.log_text()
    finally:
        proc.stop()


def test_operator_password_and_commands_are_audited_with_the_peer_uid(daemon):
    daemon.start()
    result = daemon.ctl("operator", "set-password", "--email", "Op@Example.org",
                        stdin="correct horse battery\n")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "correct horse" not in result.stdout + result.stderr
    events = daemon.call("audit.list", {"limit": 10})["events"]
    names = [e["event_name"] for e in events]
    assert "operator.created" in names and "control.command" in names
    command = next(e for e in events if e["event_name"] == "control.command")
    assert command["payload"] == {
        "cmd": "operator.set_password", "ok": True,
        "actor": {"channel": "socket", "peer_uid": os.getuid()},
    }  # fmt: skip
    created = next(e for e in events if e["event_name"] == "operator.created")
    assert created["payload"]["email"] == "op@example.org"
    # A read writes nothing to the audit trail.
    daemon.call("status")
    daemon.call("settings.get")
    assert daemon.call("audit.list", {"limit": 10})["events"] == events


def test_settings_through_the_socket(daemon):
    daemon.start()
    assert (
        daemon.ctl("settings", "set", "sync_interval_minutes=45", "sync_enabled=false").returncode
        == 0
    )
    got = daemon.call("settings.get", {"key": "sync_interval_minutes"})
    assert got["settings"] == {"sync_interval_minutes": {"value": 45, "source": "db"}}
    bad = daemon.ctl("settings", "set", "sync_interval_minutes=0", "watched_mode=x", "--json")
    assert bad.returncode == 1
    assert "sync_interval_minutes" in bad.stdout and "watched_mode" in bad.stdout
    immutable = daemon.ctl("settings", "set", "delete_mode_enabled=false")
    assert immutable.returncode == 1 and "settings_immutable" in immutable.stderr


def test_no_secret_reaches_logs_store_audit_or_answers(daemon, database_url):
    daemon.start()
    outputs = [
        daemon.ctl("status", "--json").stdout,
        daemon.ctl("settings", "get", "--json").stdout,
        daemon.ctl("audit", "--json").stdout,
        httpx.get(daemon.base_url + "/api/v1/health").text,
    ]
    # An invalid reload puts the config file's problems through the logs and the audit trail.
    broken = {**daemon.config, "integrations": [{**daemon.config["integrations"][0],
                                                  "base_url": f"http://{API_KEY}@h/"}]}  # fmt: skip
    daemon.write_config(broken)
    outputs.append(daemon.ctl("reload", "--json").stdout)
    outputs.append(daemon.ctl("audit", "--json").stdout)
    daemon.stop()
    outputs.append(daemon.log_text())
    if database_url.startswith("sqlite:///"):
        db_file = database_url[len("sqlite:///") :]
        outputs.extend(
            Path(path).read_bytes().decode("latin-1")
            for path in (db_file, db_file + "-wal")
            if os.path.exists(path)
        )
    else:
        db = open_database(database_url)
        for table in db.get_tables():
            outputs.append(repr(db.execute_sql(f'SELECT * FROM "{table}"').fetchall()))
        db.close()
    for text in outputs:
        assert API_KEY not in text
        assert DELETE_SECRET not in text


def _wait_for_log(daemon: DaemonProcess, event: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(e.get("event") == event for e in daemon.log_events()):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {event} in log: {daemon.log_text()}")


def _receive_until(receiver: socket.socket, wanted: str) -> list[str]:
    seen = []
    while True:
        message = receiver.recv(4096).decode()
        seen.append(message)
        if message.startswith(wanted) or f"\n{wanted}" in message:
            return seen


def test_unsafe_retention_through_the_cli_needs_confirm_and_the_password(daemon):
    daemon.start()
    password = "operator password 1\n"
    assert (
        daemon.ctl("operator", "set-password", "--email", "a@b.org", stdin=password).returncode == 0
    )
    assert daemon.ctl("settings", "set", "retention_audit_events_days=30").returncode == 0
    refused = daemon.ctl("settings", "set", "retention_audit_events_days=0")
    assert refused.returncode == 1 and "retention_setting_unsafe" in refused.stderr
    wrong = daemon.ctl("settings", "set", "retention_audit_events_days=0", "--confirm",
                       stdin="not the password\n")  # fmt: skip
    assert wrong.returncode == 1 and "retention_setting_unsafe" in wrong.stderr
    done = daemon.ctl("settings", "set", "retention_audit_events_days=0", "--confirm",
                      stdin=password)  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = daemon.call("settings.get", {"key": "retention_audit_events_days"})
    assert got["settings"]["retention_audit_events_days"] == {"value": 0, "source": "db"}


def _install_dist(site: Path, name: str, entry_points: str, module: str, source: str) -> None:
    """A minimal installed distribution, found by importlib.metadata through PYTHONPATH."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[cullarrd.plugins]\n{entry_points}\n")


EMBY_PLUGIN = """
from cullarrd.hookspecs import hookimpl

@hookimpl
def cullarrd_integration_kinds():
    return [{"kind": "emby", "role": "watch"}]
"""


def test_third_party_plugins_through_entry_points(tmp_path, short_tmp, database_url):
    site = tmp_path / "site"
    site.mkdir()
    _install_dist(site, "cullarrd_emby", "emby = cullarrd_emby", "cullarrd_emby", EMBY_PLUGIN)
    _install_dist(site, "cullarrd_broken", "broken = cullarrd_broken", "cullarrd_broken",
                  "raise ImportError('needs a library that is not installed')\n")  # fmt: skip
    config = base_config(database_url, short_tmp, free_port())
    config["integrations"].append(
        {"kind": "emby", "name": "emby", "base_url": "http://127.0.0.1:8096", "api_key": "e-key-1"}
    )
    env = clean_env(PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    proc = DaemonProcess(tmp_path, config, env=env)
    try:
        proc.start()  # degraded is still alive: health answers 200
        status = proc.call("status")
        plugins = {p["name"]: p for p in status["plugins"]}
        assert plugins["emby"]["ok"] is True and plugins["emby"]["kinds"] == ["emby"]
        assert plugins["broken"]["ok"] is False and "needs a library" in plugins["broken"]["error"]
        assert {"sonarr", "radarr", "tautulli"} <= {n for n, p in plugins.items() if p["ok"]}
        assert "emby" in [i["name"] for i in status["integrations"]]
        health = httpx.get(proc.base_url + "/api/v1/health").json()
        assert health["status"] == "degraded"
        assert [p["name"] for p in health["plugins_failed"]] == ["broken"]
        assert "plugin.load_failed" in proc.log_text()
    finally:
        proc.stop()
