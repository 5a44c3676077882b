"""The deletion gate (SPEC §7.1): delete mode, the secret, single-use unlock tokens bound to the
operator, stored only as HMAC digests, expiring, every refusal audited with its reason."""

from __future__ import annotations

import datetime as dt

import pytest

from cullarrd import operators
from cullarrd.audit import AuditRecorder
from cullarrd.config import parse_config
from cullarrd.daemon import config_settings
from cullarrd.deletion import gate
from cullarrd.errors import CullarrError
from cullarrd.plugins import load_plugins
from cullarrd.service import Caller, Runtime, Service
from cullarrd.settings import Settings
from cullarrd.store.models import AuditEvent, DeleteModeUnlock, Operator
from cullarrd.timeutil import parse_iso, utcnow

SECRET = "delete-secret-0c4b2f9e"
PASSWORD = "operator-pass-1"
CALLER = Caller(correlation_id="cid-unlock", channel="socket", peer_uid=1000)


def service_for(store, tmp_path, delete_mode: dict) -> Service:
    config = parse_config(
        {"socket": {"path": str(tmp_path / "s.sock")}, "delete_mode": delete_mode},
        env={},
        base_dir=str(tmp_path),
    )
    audit = AuditRecorder(config.secret_values())

    async def no_reload(caller):
        raise AssertionError("not used")

    runtime = Runtime(
        config=config, store=store, settings=Settings(lambda: config_settings(config), audit),
        audit=audit, plugins=load_plugins(), reload=no_reload,
    )  # fmt: skip
    return Service(runtime)


@pytest.fixture
def service(store, tmp_path) -> Service:
    svc = service_for(store, tmp_path, {"enabled": True, "secret": SECRET})
    digest = operators.hash_password(PASSWORD)
    with store.db.atomic():
        operators.set_password("op@example.com", digest, svc.rt.audit)
    return svc


async def unlock(service: Service, password: str = PASSWORD) -> dict:
    return await service.dispatch("delete.unlock", {"password": password}, CALLER)


async def refusal(coro) -> CullarrError:
    with pytest.raises(CullarrError) as caught:
        await coro
    return caught.value


async def events(store, name: str) -> list[dict]:
    rows = AuditEvent.select().where(AuditEvent.event_name == name).order_by(AuditEvent.id)
    return await store.read(lambda: [r.payload_json for r in rows])


async def test_an_unlock_is_stored_only_as_a_digest_and_expires_with_the_window(service, store):
    before = utcnow()
    answer = await unlock(service)
    token = answer["token"]
    assert len(token) >= 43  # 32 random bytes, URL-safe
    (row,) = await store.read(lambda: list(DeleteModeUnlock.select()))
    assert row.token_digest == gate.digest(SECRET, token) and token not in row.token_digest
    window = dt.timedelta(minutes=15)  # sensitive_action_reauthentication_window_minutes
    expires = parse_iso(answer["expires_at"])
    assert before + window <= expires <= utcnow() + window
    (granted,) = await events(store, "delete.unlock_granted")
    assert token not in str(granted) and granted["expires_at"] == answer["expires_at"]
    audit_text = await store.read(lambda: str([e.payload_json for e in AuditEvent.select()]))
    assert token not in audit_text and SECRET not in audit_text and PASSWORD not in audit_text


async def test_a_token_is_spent_once_by_its_operator_before_it_expires(service, store):
    token = (await unlock(service))["token"]
    operator = await store.read(lambda: Operator.select().get())
    now = utcnow()

    def spend(value, operator_id=operator.id, at=now):
        return store.write(lambda: gate.consume(SECRET, value, operator_id, at))

    assert (await refusal(spend(None))).code == "delete_unlock_required"
    assert (await refusal(spend("made-up"))).code == "delete_unlock_invalid"
    assert (await refusal(spend(token, operator.id + 1))).code == "delete_unlock_invalid"
    late = now + dt.timedelta(minutes=16)
    assert (await refusal(spend(token, at=late))).code == "delete_unlock_expired"
    row = await spend(token)
    assert row.operator_id == operator.id
    assert (await refusal(spend(token))).code == "delete_unlock_invalid"  # single use
    with pytest.raises(CullarrError) as other_secret:
        await store.write(lambda: gate.consume("another-secret", token, operator.id, now))
    assert other_secret.value.code == "delete_unlock_invalid"


async def test_refusals_are_audited_with_their_reason(service, store, tmp_path):
    assert (await refusal(unlock(service, "wrong"))).code == "forbidden"
    assert (await refusal(service.dispatch("delete.unlock", {}, CALLER))).code == (
        "validation_failed"
    )
    off = service_for(store, tmp_path, {"enabled": False})
    assert (await refusal(unlock(off))).code == "delete_mode_disabled"
    reasons = [e["reason"] for e in await events(store, "delete.unlock_denied")]
    assert reasons == ["forbidden", "delete_mode_disabled"]
    assert await store.read(lambda: DeleteModeUnlock.select().count()) == 0


def test_cullarrctl_unlock_reads_the_password_from_stdin_and_prints_the_token(monkeypatch, capsys):
    import io

    from cullarrd import ctl

    sent = {}

    class FakeClient:
        def __init__(self, path, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def call(self, cmd, args=None, on_event=None):
            sent.update(cmd=cmd, args=args)
            return {"token": "tok-123", "expires_at": "2026-11-21T15:00:00Z"}

    monkeypatch.setattr(ctl, "ControlClient", FakeClient)
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-from-stdin\n"))
    assert ctl.main(["--socket", "/tmp/x.sock", "unlock"]) == 0
    assert sent == {"cmd": "delete.unlock", "args": {"password": "pw-from-stdin"}}
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "tok-123" and "2026-11-21T15:00:00Z" in out
