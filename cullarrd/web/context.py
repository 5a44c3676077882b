"""What every web handler shares: the service, the sessions, the limiter and the base path."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request

from cullarrd.errors import CullarrError
from cullarrd.service import Caller, Service
from cullarrd.web import auth


class IdConvertor(Convertor[int]):
    """A store id in a path: ASCII digits that fit the column (longer is a 404, not a 500)."""

    regex = "[0-9]{1,19}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


register_url_convertor("id", IdConvertor())


# Wrong passwords that count against the sign-in limiter (other refusals are not guesses).
PASSWORD_REFUSALS = frozenset({"unauthenticated", "forbidden"})


class WebContext:
    def __init__(self, service: Service, base_path: str = "") -> None:
        self.service = service
        self.base_path = base_path.rstrip("/")
        self.sessions = auth.Sessions()
        self.limiter = auth.LoginLimiter()

    def session(self, request: Request) -> auth.Session | None:
        return self.sessions.get(request.cookies.get(auth.COOKIE))

    def signed_in(self, session: auth.Session | None) -> bool:
        """A session of the operator, from before no password change."""
        return (
            session is not None
            and session.operator_id is not None
            and session.credentials_epoch == self.service.credentials_epoch
        )

    def require_operator(self, session: auth.Session | None) -> auth.Session:
        if not self.signed_in(session):
            raise CullarrError("sign in first", code="unauthenticated")
        return session

    def caller(
        self, request: Request, session: auth.Session | None, *, reauthenticated: bool = False
    ) -> Caller:
        """``reauthenticated`` only where the handler has just checked the window."""
        return Caller(
            correlation_id=correlation_id(request),
            channel="web",
            operator_id=session.operator_id if session else None,
            reauthenticated=reauthenticated,
            remote=auth.client_address(request),
        )

    async def window_minutes(self) -> int:
        values = await self.service.rt.store.read(self.service.rt.settings.values)
        return int(values["sensitive_action_reauthentication_window_minutes"])

    async def require_reauth(self, session: auth.Session | None) -> None:
        session = self.require_operator(session)
        auth.require_reauth(session, await self.window_minutes(), self.sessions.clock())

    async def password_checked(
        self,
        request: Request,
        session: auth.Session | None,
        command: str,
        args: dict[str, Any],
        caller: Caller,
    ) -> Any:
        """Run a command that checks the operator's password, rate limited; a right password
        also counts as re-authentication for the session.

        Sign-in is limited per client address and overall; re-auth and unlock (signed in) per
        session, so strangers' guesses cannot lock the operator out of them.
        """
        signed_in = self.signed_in(session)
        key = f"session:{session.csrf}" if signed_in else auth.client_address(request)
        shared = not signed_in
        self.limiter.check(key, shared=shared)
        self.limiter.failed(key, shared=shared)
        try:
            result = await self.service.dispatch(command, args, caller)
        except CullarrError as exc:
            if exc.code not in PASSWORD_REFUSALS:
                self.limiter.forgive(key, shared=shared)
            raise
        self.limiter.succeeded(key)
        if signed_in:
            self.sessions.reauthenticated(session)
        return result


def correlation_id(request: Request) -> str:
    return getattr(request.state, "correlation_id", None) or uuid.uuid4().hex
