"""Commands of the deletion gate: unlocking delete mode with the operator's password."""

from __future__ import annotations

from typing import Any

from cullarrd.deletion import gate
from cullarrd.errors import CullarrError
from cullarrd.service import Args, Caller, Service, command
from cullarrd.timeutil import isoformat, utcnow


@command("delete.unlock", mutating=True)
async def delete_unlock(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """A single-use unlock token for the operator, after the operator's password."""
    reader = Args(args, {"password"})
    password = reader.text("password", required=True)
    reader.done()
    try:
        secret = gate.delete_secret(svc.rt.config)
        operator_id = await svc.verify_operator_password(password)
        if operator_id is None:
            raise CullarrError("the operator password is wrong", code="forbidden")
    except CullarrError as exc:
        await _audit(svc, caller, "delete.unlock_denied", {"reason": exc.code})
        raise
    settings = await svc.rt.store.read(svc.rt.settings.values)
    ttl = int(settings["sensitive_action_reauthentication_window_minutes"])

    def grant() -> tuple[str, Any]:
        token, expires_at = gate.issue(secret, operator_id, ttl, utcnow())
        svc.rt.audit.record(
            "delete.unlock_granted",
            {"expires_at": isoformat(expires_at), "actor": caller.actor()},
            operator_id=operator_id,
            correlation_id=caller.correlation_id,
        )
        return token, expires_at

    token, expires_at = await svc.rt.store.write(grant)
    return {"token": token, "expires_at": isoformat(expires_at)}


async def _audit(svc: Service, caller: Caller, event: str, payload: dict[str, Any]) -> None:
    await svc.rt.store.write(
        lambda: svc.rt.audit.record(
            event,
            {**payload, "actor": caller.actor()},
            operator_id=caller.operator_id,
            correlation_id=caller.correlation_id,
        )
    )
