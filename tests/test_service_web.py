"""The command layer and the web skeleton in-process, over a real store."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import httpx
import pytest

from cullarrd.audit import AuditRecorder
from cullarrd.config import parse_config
from cullarrd.daemon import config_settings
from cullarrd.errors import CullarrError, ValidationFailed
from cullarrd.plugins import ENTRY_POINT_GROUP, load_plugins
from cullarrd.service import COMMANDS, Caller, Command, Runtime, Service
from cullarrd.settings import Settings
from cullarrd.web.app import create_app


@pytest.fixture
def service(store, database_url, tmp_path):
    config = parse_config(
        {"database": {"url": database_url}, "socket": {"path": str(tmp_path / "s.sock")}},
        env={},
        base_dir=str(tmp_path),
    )
    broken = EntryPoint(name="broken", value="tests.fixtures.nope:x", group=ENTRY_POINT_GROUP)
    plugins = load_plugins([*entry_points(group=ENTRY_POINT_GROUP), broken])
    audit = AuditRecorder()

    async def no_reload(caller):
        raise AssertionError("not used here")

    runtime = Runtime(
        config=config,
        store=store,
        settings=Settings(lambda: config_settings(config), audit),
        audit=audit,
        plugins=plugins,
        reload=no_reload,
    )
    return Service(runtime)


def caller(channel: str = "socket") -> Caller:
    return Caller(correlation_id="cid-test", channel=channel, peer_uid=1000)


async def test_health_is_degraded_when_a_plugin_failed(service):
    health = await service.dispatch("health", {}, caller())
    assert health["status"] == "degraded" and health["db"] is True
    assert health["plugins_failed"][0]["name"] == "broken"
    status = await service.dispatch("status", {}, caller())
    assert {p["name"]: p["ok"] for p in status["plugins"]} == {
        "broken": False, "radarr": True, "sonarr": True, "tautulli": True,
    }  # fmt: skip
    assert status["db"]["schema_version"] >= 2


async def test_every_bad_argument_is_reported_at_once(service):
    with pytest.raises(ValidationFailed) as caught:
        await service.dispatch("audit.list", {"limit": 0, "since": "yesterday", "x": 1}, caller())
    assert set(caught.value.fields) == {"limit", "since", "x"}


async def test_unknown_command_and_web_only_restrictions(service):
    with pytest.raises(CullarrError) as unknown:
        await service.dispatch("nope.nothing", {}, caller())
    assert unknown.value.code == "unknown_command"
    with pytest.raises(CullarrError) as forbidden:
        args = {"email": "a@b.c", "password": "long enough password"}
        await service.dispatch("operator.set_password", args, caller("web"))
    assert forbidden.value.code == "forbidden"


async def test_weak_operator_password_is_refused_with_field_errors(service):
    with pytest.raises(ValidationFailed) as caught:
        await service.dispatch(
            "operator.set_password", {"email": "nope", "password": "short"}, caller()
        )
    assert set(caught.value.fields) == {"email", "password"}


async def test_unsafe_retention_needs_the_operator_password(service):
    args = {"email": "op@example.org", "password": "a long operator password"}
    await service.dispatch("operator.set_password", args, caller())
    await service.dispatch(
        "settings.set", {"values": {"retention_audit_events_days": 30}}, caller()
    )
    zero = {"values": {"retention_audit_events_days": 0}, "confirm": True}
    for attempt in ({**zero, "confirm": False, "password": args["password"]},
                    {**zero, "password": "wrong password!!"}, zero):  # fmt: skip
        with pytest.raises(CullarrError) as caught:
            await service.dispatch("settings.set", attempt, caller())
        assert caught.value.code == "retention_setting_unsafe"
    done = await service.dispatch("settings.set", {**zero, "password": args["password"]}, caller())
    assert done["changed"] == ["retention_audit_events_days"]


@pytest.fixture
def client(service):
    transport = httpx.ASGITransport(app=create_app(service))
    return httpx.AsyncClient(transport=transport, base_url="http://cullarr.test")


async def test_web_health_and_error_envelope(client, service, monkeypatch):
    response = await client.get("/api/v1/health", headers={"X-Request-Id": "bad id with spaces"})
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    cid = response.headers["x-correlation-id"]
    assert len(cid) == 32 and " " not in cid

    async def explode(svc, who, args):
        raise RuntimeError("kaboom with internals")

    monkeypatch.setitem(COMMANDS, "health", Command("health", explode, False))
    crashed = await client.get("/api/v1/health", headers={"X-Request-Id": "trace-7"})
    assert crashed.status_code == 500
    assert crashed.headers["x-correlation-id"] == "trace-7"
    assert crashed.json() == {
        "error": {"code": "internal_error", "message": "internal error",
                  "correlation_id": "trace-7", "details": {}}
    }  # fmt: skip
    assert "kaboom" not in crashed.text


async def test_web_base_path_mounts_the_api(service):
    app = create_app(service, base_path="/cullarr")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cullarr.test"
    ) as c:
        assert (await c.get("/cullarr/api/v1/health")).status_code == 200
        assert (await c.get("/api/v1/health")).status_code == 404
