"""Web sessions: the session cookie, CSRF tokens, sign-in rate limiting, the re-auth window.

Sessions live in the daemon's memory, keyed by a digest of the cookie value: a restart signs
everyone out, and nothing that could act as the operator is written to the store. Every visitor
gets a session (with its CSRF token) on the first page, so the sign-in form is CSRF-protected
too; signing in replaces that session with a new id (no fixation). Passwords are checked by the
``auth.*`` commands, which audit every attempt.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from cullarrd.errors import CullarrError

COOKIE = "cullarr_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
IDLE_S = 12 * 3600  # a signed-in session unused this long ends
ABSOLUTE_S = 7 * 24 * 3600  # and none lives longer than this
MAX_SESSIONS = 10_000  # anonymous visitors cannot grow memory without bound
MAX_LIMITED_KEYS = 10_000  # nor can the limiter's memory of failed attempts


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Session:
    csrf: str
    created: float
    last_seen: float
    operator_id: int | None = None
    authenticated_at: float | None = None  # sign-in or the last re-authentication
    credentials_epoch: int = 0  # the service's epoch at sign-in

    def reauthenticated_within(self, window_s: float, now: float) -> bool:
        return self.authenticated_at is not None and now - self.authenticated_at <= window_s


class Sessions:
    """The live sessions of this process (monotonic clock, injectable for tests)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._by_digest: collections.OrderedDict[str, Session] = collections.OrderedDict()

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        key = _digest(token)
        session = self._by_digest.get(key)
        if session is None:
            return None
        now = self.clock()
        if now - session.last_seen > IDLE_S or now - session.created > ABSOLUTE_S:
            del self._by_digest[key]
            return None
        session.last_seen = now
        self._by_digest.move_to_end(key)
        return session

    def new(self, operator_id: int | None = None) -> tuple[str, Session]:
        now = self.clock()
        token = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), created=now, last_seen=now)
        if operator_id is not None:
            session.operator_id, session.authenticated_at = operator_id, now
        self._by_digest[_digest(token)] = session
        while len(self._by_digest) > MAX_SESSIONS:
            # The least recently used *anonymous* session goes: visitors must not be able to
            # push the operator's session out.
            oldest = next((k for k, s in self._by_digest.items() if s.operator_id is None), None)
            if oldest is None:
                break
            del self._by_digest[oldest]
        return token, session

    def drop(self, token: str | None) -> None:
        if token:
            self._by_digest.pop(_digest(token), None)

    def sign_in(
        self, old_token: str | None, operator_id: int, credentials_epoch: int
    ) -> tuple[str, Session]:
        """A new session for the operator; the visitor's anonymous one ends."""
        self.drop(old_token)
        token, session = self.new(operator_id)
        session.credentials_epoch = credentials_epoch
        return token, session

    def reauthenticated(self, session: Session) -> None:
        session.authenticated_at = self.clock()


class LoginLimiter:
    """Password attempts: at most ``per_key`` failures per key (a client address for sign-in, a
    session for re-auth and unlock) and ``overall`` failed sign-ins in all, per window.

    An attempt counts as failed from the moment it starts, so parallel guesses cannot outrun
    the count; it is forgiven when the refusal was not about the password, and a right password
    clears its key.
    """

    def __init__(
        self,
        per_key: int = 5,
        overall: int = 50,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key, self.overall, self.window_s, self.clock = per_key, overall, window_s, clock
        self._failures: dict[str, collections.deque[float]] = {}
        self._all: collections.deque[float] = collections.deque()

    def _trim(self, times: collections.deque[float], now: float) -> None:
        while times and now - times[0] > self.window_s:
            times.popleft()

    def check(self, key: str, *, shared: bool = True) -> None:
        """Refuse (``rate_limited``) while the key, or if ``shared`` everyone, failed too often."""
        now = self.clock()
        mine = self._failures.get(key, collections.deque())
        self._trim(mine, now)
        self._trim(self._all, now)
        full = [mine] if len(mine) >= self.per_key else []
        if shared and len(self._all) >= self.overall:
            full.append(self._all)
        if full:
            retry_after = max(1, int(max(self.window_s - (now - t[0]) for t in full)) + 1)
            raise CullarrError(
                f"too many wrong passwords; try again in {retry_after} s",
                code="rate_limited",
                details={"retry_after_s": retry_after},
            )

    def failed(self, key: str, *, shared: bool = True) -> None:
        now = self.clock()
        self._failures.setdefault(key, collections.deque()).append(now)
        if shared:
            self._all.append(now)
        if len(self._failures) > MAX_LIMITED_KEYS:  # forget the oldest keys first
            self._failures.pop(next(iter(self._failures)))

    def forgive(self, key: str, *, shared: bool = True) -> None:
        """Take back the newest failure of ``key`` (the attempt was refused for another reason)."""
        mine = self._failures.get(key)
        if mine:
            mine.pop()
        if not mine:  # a key with nothing against it is not kept (nor counted towards the cap)
            self._failures.pop(key, None)
        if shared and self._all:
            self._all.pop()

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def is_https(request: Request) -> bool:
    # A proxy's claim is only ever used to *add* the Secure flag, never to relax anything.
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto") == "https"


def set_cookie(response: Response, request: Request, token: str, base_path: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=ABSOLUTE_S,
        path=base_path or "/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_cookie(response: Response, request: Request, base_path: str) -> None:
    response.delete_cookie(
        COOKIE, path=base_path or "/", httponly=True, samesite="lax", secure=is_https(request)
    )


def check_csrf(session: Session | None, presented: str | None) -> None:
    """A mutating request must present its session's CSRF token (header or form field)."""
    if (
        session is None
        or not presented
        or not hmac.compare_digest(presented.encode(), session.csrf.encode())
    ):
        raise CullarrError(
            "missing or wrong CSRF token; reload the page and try again", code="csrf_invalid"
        )


def require_reauth(session: Session, window_minutes: int, now: float) -> None:
    """Sensitive actions need a sign-in or re-authentication within the window."""
    if not session.reauthenticated_within(window_minutes * 60, now):
        raise CullarrError(
            f"confirm your password to do this (required every {window_minutes} minutes)",
            code="forbidden",
            details={"reauth_required": True},
        )
