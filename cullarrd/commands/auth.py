"""Commands that check the operator's password for the web page: sign-in and re-authentication.

They only verify and audit; sessions, cookies and rate limiting belong to the web layer
(``cullarrd.web.auth``). Every attempt is audited, success or not, never with the password.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from cullarrd import operators
from cullarrd.errors import CullarrError
from cullarrd.service import Args, Caller, Service, command

NO_OPERATOR = "no operator exists yet: create one with `cullarrctl operator set-password`"


@functools.cache
def _dummy_digest() -> str:
    """Checked when no operator exists, so that answer takes as long as a wrong password."""
    return operators.hash_password("not-a-password-of-anyone")


@command("auth.login")
async def login(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """The operator, when ``email`` and ``password`` are theirs; ``unauthenticated`` otherwise."""
    reader = Args(args, {"email", "password"})
    email = reader.text("email", required=True)
    password = reader.text("password", required=True)
    reader.done()
    operator = await svc.rt.store.read(operators.current_operator)

    def check() -> bool:
        digest = operator.password_digest if operator is not None else _dummy_digest()
        return operators.verify_password(digest, str(password))

    ok = await asyncio.to_thread(check)
    if operator is None:
        await svc.audit(caller, "auth.login_failed", {"reason": "no_operator"})
        raise CullarrError(NO_OPERATOR, code="unauthenticated", details={"operator": False})
    if not ok or str(email).strip().lower() != operator.email:
        await svc.audit(caller, "auth.login_failed", {"reason": "bad_credentials"})
        raise CullarrError("wrong email or password", code="unauthenticated")
    await svc.audit(caller, "auth.login_succeeded", {}, operator_id=operator.id)
    return {"operator": {"id": operator.id, "email": operator.email}}


@command("auth.reauth")
async def reauth(svc: Service, caller: Caller, args: dict[str, Any]) -> dict[str, Any]:
    """Confirm the operator's password again before a sensitive action."""
    reader = Args(args, {"password"})
    password = reader.text("password", required=True)
    reader.done()
    operator_id = await svc.verify_operator_password(password)
    if operator_id is None:
        await svc.audit(caller, "auth.reauth_failed", {})
        raise CullarrError("the password is wrong", code="forbidden")
    await svc.audit(caller, "auth.reauthenticated", {}, operator_id=operator_id)
    return {"operator_id": operator_id}
