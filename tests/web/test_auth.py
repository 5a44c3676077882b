"""Web security (SPEC §9) over real HTTP on loopback: signing in and out, the session cookie,
CSRF, sign-in rate limiting, the re-authentication window, idle and absolute session expiry,
the audit trail of it all, and that no answer ever carries a secret."""

from __future__ import annotations

import json
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from cullarrd.commands.auth import NO_OPERATOR
from cullarrd.errors import CullarrError
from cullarrd.store.models import AuditEvent, PathExclusion
from cullarrd.web import auth
from cullarrd.web.auth import COOKIE, LoginLimiter
from cullarrd_plugins.fakelib.faults import Fault
from tests.candidates.scenario import scenario
from tests.deletion.helpers import PASSWORD, SECRET, deletion_scenario, store_id
from tests.harness import FAKE_KEYS
from tests.web.helpers import (
    CSRF_META,
    EMAIL,
    Clock,
    WebClient,
    app_client,
    envelope,
    ok,
    record_bodies,
    with_operator,
)

WRONG = "not-the-password-31"
NEW_PASSWORD = "a-new-operator-pass-8"
MINUTE, HOUR, DAY = 60, 3600, 86400


async def post_login(
    client: WebClient,
    password: str = PASSWORD,
    *,
    email: str = EMAIL,
    next_: str = "/",
    csrf: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Submit the sign-in form as a browser would (the page's CSRF token unless given)."""
    data = {"email": email, "password": password, "csrf_token": csrf or client.csrf or ""}
    return await client.http.post("/login", data={**data, "next": next_}, headers=headers)


def cookie_of(response: httpx.Response) -> Any:
    """The session cookie a response sets (a ``Morsel``), or None."""
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        if COOKIE in jar:
            return jar[COOKIE]
    return None


def with_token(base_url: str, token: str) -> httpx.AsyncClient:
    """A client that presents exactly this session cookie (e.g. one that should be dead)."""
    return httpx.AsyncClient(base_url=base_url, cookies={COOKIE: token}, follow_redirects=False)


async def audit_rows(store, prefix: str = "") -> list[AuditEvent]:
    query = AuditEvent.select().where(AuditEvent.event_name.startswith(prefix))
    return await store.read(lambda: list(query.order_by(AuditEvent.id)))


async def no_password_in_audit(store, *passwords: str) -> None:
    text = json.dumps([row.payload_json for row in await audit_rows(store)])
    assert not [p for p in passwords if p in text]


# --- signing in ---------------------------------------------------------------------------------


async def test_signing_in_replaces_the_session_with_a_protected_cookie(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with app_client(sc.service, signed_in=False) as client:
            page = await client.http.get("/login", headers={"Accept": "text/html"})
            assert page.status_code == 200 and 'name="csrf_token"' in page.text
            assert "no-operator" not in page.text  # an operator exists: no set-up hint
            visitor = cookie_of(page)
            assert visitor["httponly"] and visitor["samesite"].lower() == "lax"
            assert not visitor["secure"] and visitor["path"] == "/"
            visitor_token = visitor.value
            client.csrf = CSRF_META.search(page.text).group(1)
            visitor_csrf = client.csrf

            # Wrong password, or the right one with another email: the form again, no session.
            for answer in (
                await post_login(client, WRONG),
                await post_login(client, PASSWORD, email="someone@example.com"),
            ):
                assert answer.status_code == 401
                assert 'id="login-error"' in answer.text and "wrong email or password" in (
                    answer.text
                )
                assert cookie_of(answer) is None
                envelope(await client.api("GET", "/status"), 401, "unauthenticated")

            # The right one: a redirect to where the visitor was going, a new protected cookie.
            answer = await post_login(client, next_="/candidates?scope=movie")
            assert answer.status_code == 303
            assert answer.headers["location"] == "/candidates?scope=movie"
            cookie = cookie_of(answer)
            assert cookie["httponly"] and cookie["samesite"].lower() == "lax"
            assert not cookie["secure"]  # served over plain http here
            assert cookie["path"] == "/" and int(cookie["max-age"]) > 0
            assert cookie.value != visitor_token
            ok(await client.api("GET", "/status"))  # the client now holds the new cookie

            # The visitor's session ended at sign-in: its cookie and token are worth nothing.
            async with with_token(client.base_url, visitor_token) as old:
                envelope(await old.get("/api/v1/status"), 401, "unauthenticated")
                refused = await old.post(
                    "/login",
                    data={"email": EMAIL, "password": PASSWORD, "csrf_token": visitor_csrf},
                )
                envelope(refused, 403, "csrf_invalid")
                assert cookie_of(refused) is None
                fresh = await old.get("/login")  # an unknown cookie gets a new visitor session
                assert cookie_of(fresh).value not in (visitor_token, cookie.value)

            # Signed in, the sign-in page sends the operator on, but only within this site.
            await client.page_csrf("/")
            for target in ("//evil.example", "https://evil.example/x", "/\\evil.example",
                           "javascript:alert(1)", "", "evil.example"):  # fmt: skip
                answer = await client.http.get("/login", params={"next": target})
                assert answer.status_code == 303 and answer.headers["location"] == "/", target
            for target in ("/\t/evil.example", "/%2F%2Fevil.example", "/runs?x=//evil.example"):
                location = (await client.http.get("/login", params={"next": target})).headers[
                    "location"
                ]
                parts = urlsplit(location)
                assert not parts.scheme and not parts.netloc, (target, location)
                assert location.startswith("/") and not location.startswith(("//", "/\\"))
            answer = await client.http.get("/login", params={"next": "/runs"})
            assert answer.headers["location"] == "/runs"

            # Every attempt is audited from the web with the client's address, never a password.
            failed = await audit_rows(store, "auth.login_failed")
            assert [row.payload_json for row in failed] == [
                {"reason": "bad_credentials", "actor": {"channel": "web", "remote": "127.0.0.1"}}
            ] * 2
            assert {row.operator_id for row in failed} == {None}
            (succeeded,) = await audit_rows(store, "auth.login_succeeded")
            assert succeeded.operator_id is not None and succeeded.correlation_id
            assert succeeded.payload_json["actor"] == {"channel": "web", "remote": "127.0.0.1"}

            # A new password, set through the control socket, ends the web sessions.
            await sc.call("operator.set_password", email=EMAIL, password=NEW_PASSWORD)
            envelope(await client.api("GET", "/status"), 401, "unauthenticated")
            await client.page_csrf("/login")
            assert (await post_login(client, PASSWORD)).status_code == 401
            assert (await post_login(client, NEW_PASSWORD)).status_code == 303
            ok(await client.api("GET", "/status"))
            await no_password_in_audit(store, PASSWORD, WRONG, NEW_PASSWORD)


async def test_a_sign_in_behind_https_sets_a_secure_cookie_and_goes_home(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with app_client(sc.service, signed_in=False) as client:
            https = {"X-Forwarded-Proto": "https"}
            page = await client.http.get("/login", headers={"Accept": "text/html", **https})
            visitor = cookie_of(page)
            assert visitor["secure"] and visitor["httponly"]
            csrf = CSRF_META.search(page.text).group(1)
            # A browser on https sends the cookie back; this http client must be told to.
            async with with_token(client.base_url, visitor.value) as browser:
                form = {"email": EMAIL, "password": PASSWORD, "csrf_token": csrf}
                answer = await browser.post(
                    "/login", data={**form, "next": "//evil.example"}, headers=https
                )
                assert answer.status_code == 303 and answer.headers["location"] == "/"
                cookie = cookie_of(answer)
                assert cookie["secure"] and cookie["httponly"]
                assert cookie["samesite"].lower() == "lax"
            async with with_token(client.base_url, cookie.value) as signed:
                ok(await signed.get("/api/v1/status"))


async def test_a_fresh_install_is_told_how_to_create_the_operator(store, tmp_path):
    with scenario(store, tmp_path) as sc:  # no operator yet
        async with app_client(sc.service, signed_in=False) as client:
            page = await client.http.get("/login", headers={"Accept": "text/html"})
            assert page.status_code == 200
            assert 'id="no-operator"' in page.text
            assert "cullarrctl operator set-password" in page.text
            await client.page_csrf("/login")
            answer = await post_login(client)
            assert answer.status_code == 401 and cookie_of(answer) is None
            assert "cullarrctl operator set-password" in answer.text
            assert NO_OPERATOR.split(":")[0] in answer.text
            (failed,) = await audit_rows(store, "auth.login_failed")
            assert failed.payload_json["reason"] == "no_operator"

            with_operator(sc)
            page = await client.http.get("/login", headers={"Accept": "text/html"})
            assert "no-operator" not in page.text
            assert (await post_login(client)).status_code == 303


# --- CSRF and signing out -----------------------------------------------------------------------


async def test_every_change_needs_the_sessions_csrf_token(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with app_client(sc.service) as client:
            exclusion = {"name": "Kids", "path_prefix": "/mnt/media/kids"}
            async with app_client(sc.service, signed_in=False) as other:
                visitor_token = await other.page_csrf("/login")  # a real token, another session

            api = "/api/v1/path-exclusions"
            for headers in ({}, {"X-CSRF-Token": "forged"}, {"X-CSRF-Token": visitor_token}):
                answer = await client.http.post(api, json=exclusion, headers=headers)
                envelope(answer, 403, "csrf_invalid")
            # Nor is the token taken from the body, and every method that changes needs it.
            answer = await client.http.post(api, json={**exclusion, "csrf_token": client.csrf})
            envelope(answer, 403, "csrf_invalid")
            for method, path in (("PATCH", "/api/v1/settings"), ("DELETE", "/api/v1/saved-views/1"),
                                 ("POST", "/api/v1/sync-runs"), ("PATCH", f"{api}/1")):  # fmt: skip
                answer = await client.http.request(method, path, json={})
                envelope(answer, 403, "csrf_invalid")
            assert await store.read(lambda: PathExclusion.select().count()) == 0
            assert ok(await client.api("GET", "/sync-runs"))["runs"] == []  # reads need none
            ok(await client.api("POST", "/path-exclusions", exclusion), 201)  # with the token

            # The sign-in form is protected too: a posted password without the token does nothing.
            async with app_client(sc.service, signed_in=False) as visitor:
                await visitor.page_csrf("/login")
                form = {"email": EMAIL, "password": PASSWORD, "next": "/"}
                answer = await visitor.http.post("/login", data=form)
                envelope(answer, 403, "csrf_invalid")
                assert cookie_of(answer) is None
                page = await visitor.http.post(
                    "/login", data={**form, "csrf_token": "forged"}, headers={"Accept": "text/html"}
                )
                assert page.status_code == 403 and "text/html" in page.headers["content-type"]
                assert page.headers["x-correlation-id"] in page.text
                envelope(await visitor.api("GET", "/status"), 401, "unauthenticated")
            assert await audit_rows(store, "auth.login_failed") == []  # no password was checked

            # Signing out needs the token too; then the session is gone for good.
            token = client.http.cookies[COOKIE]
            refused = await client.http.post("/logout", data={})
            envelope(refused, 403, "csrf_invalid")
            ok(await client.api("GET", "/status"))
            answer = await client.http.post("/logout", data={"csrf_token": client.csrf})
            assert answer.status_code == 303 and answer.headers["location"] == "/login"
            cleared = cookie_of(answer)
            assert cleared.value == "" or int(cleared["max-age"] or 1) <= 0
            envelope(await client.api("GET", "/status"), 401, "unauthenticated")
            async with with_token(client.base_url, token) as old:
                envelope(await old.get("/api/v1/status"), 401, "unauthenticated")
                page = await old.get("/", headers={"Accept": "text/html"})
                assert page.status_code == 303 and page.headers["location"].startswith("/login")


# --- rate limiting ------------------------------------------------------------------------------


async def test_wrong_passwords_lock_out_the_guesser_not_the_operator(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with app_client(sc.service) as operator:
            clock = Clock()
            operator.web.limiter.clock = clock
            guesser = WebClient(operator.base_url)
            try:
                # Five wrong sign-ins from one client: the sixth is refused, right or not.
                await guesser.page_csrf("/login")
                for _ in range(5):
                    assert (await post_login(guesser, WRONG)).status_code == 401
                locked = await post_login(guesser, PASSWORD)
                assert locked.status_code == 429 and cookie_of(locked) is None
                assert 'id="login-error"' in locked.text and "try again in" in locked.text
                assert len(await audit_rows(store, "auth.login_failed")) == 5  # never checked

                # The signed-in operator's password checks are counted for the session, so a
                # stranger's guesses cannot lock them out; their own wrong guesses do.
                ok(await operator.api("POST", "/security/re-auth", {"password": PASSWORD}))
                for _ in range(3):  # refusals that are not about the password do not count
                    unlock = await operator.api("POST", "/delete-mode/unlock")
                    assert "password" in fields_of(unlock)
                for _ in range(5):
                    wrong = await operator.api("POST", "/security/re-auth", {"password": WRONG})
                    envelope(wrong, 403, "forbidden")
                for path in ("/security/re-auth", "/delete-mode/unlock"):
                    answer = await operator.api("POST", path, {"password": PASSWORD})
                    error = envelope(answer, 429, "rate_limited")
                    assert 290 <= error["details"]["retry_after_s"] <= 301
                    assert f"{error['details']['retry_after_s']} s" in error["message"]
                assert len(await audit_rows(store, "auth.reauth_failed")) == 5
                assert await audit_rows(store, "delete.unlock_granted") == []
                ok(await operator.api("GET", "/status"))  # the session itself still works

                clock.advance(301)  # the window has passed
                assert (await post_login(guesser, PASSWORD)).status_code == 303
                ok(await operator.api("POST", "/delete-mode/unlock", {"password": PASSWORD}))
            finally:
                await guesser.aclose()


def fields_of(response: httpx.Response) -> dict[str, list[str]]:
    return envelope(response, 422, "validation_failed")["details"]["fields"]


class FrozenClock:
    """Time that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def test_the_login_limiter_counts_failures_per_key_within_a_window():
    clock = FrozenClock()
    limiter = LoginLimiter(per_key=3, overall=5, window_s=60, clock=clock)
    for _ in range(3):
        limiter.check("a")
        limiter.failed("a")
    with pytest.raises(CullarrError) as caught:
        limiter.check("a")
    assert caught.value.code == "rate_limited" and caught.value.http_status == 429
    assert caught.value.details["retry_after_s"] == 61
    limiter.check("b")  # another client is not affected

    clock.advance(30)
    with pytest.raises(CullarrError) as caught:
        limiter.check("a")
    assert caught.value.details["retry_after_s"] == 31
    clock.advance(31)  # the oldest failures have left the window
    limiter.check("a")

    # A success forgets the key's failures; a forgiven attempt does not count.
    for _ in range(2):
        limiter.failed("c")
    limiter.succeeded("c")
    for _ in range(3):
        limiter.failed("c")
    limiter.forgive("c")
    limiter.check("c")

    # Too many failed sign-ins from everyone together lock every client out, but not the keys
    # kept apart (a signed-in session's re-auth and unlock), which count on their own.
    limiter = LoginLimiter(per_key=3, overall=4, window_s=60, clock=clock)
    for key in ("p", "q", "r", "s"):
        limiter.failed(key)
    with pytest.raises(CullarrError):
        limiter.check("t")
    limiter.check("session:x", shared=False)
    for _ in range(3):
        limiter.failed("session:x", shared=False)
    with pytest.raises(CullarrError):
        limiter.check("session:x", shared=False)
    limiter.check("session:y", shared=False)
    clock.advance(61)
    limiter.check("t")
    limiter.check("session:x", shared=False)


# --- re-authentication, expiry ------------------------------------------------------------------


async def test_sensitive_actions_need_a_recent_password(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        async with app_client(sc.service) as client:
            clock = Clock()
            client.web.sessions.clock = clock
            memory, race = await sc.movie(4), await sc.movie(6)
            marker = ok(
                await client.api(
                    "POST", "/keep-markers", {"target_type": "movie", "target_id": store_id(memory)}
                ),
                201,
            )

            clock.advance(16 * MINUTE)  # past the default 15 minute window
            refused = await client.api("DELETE", f"/keep-markers/{marker['id']}")
            error = envelope(refused, 403, "forbidden")
            assert error["details"] == {"reauth_required": True} and "15" in error["message"]
            assert [m["id"] for m in ok(await client.api("GET", "/keep-markers"))["items"]] == [
                marker["id"]
            ]
            for method, path, body in (
                ("PATCH", "/settings", {"values": {"sync_interval_minutes": 60}}),
                ("PATCH", "/path-exclusions/1", {"enabled": False}),
                ("DELETE", "/path-exclusions/1", None),
                ("POST", "/integrations/3/reset-history", None),
                ("POST", "/deletion-runs", {"plan": {}, "token": "x"}),
            ):
                answer = await client.api(method, path, body)
                assert envelope(answer, 403, "forbidden")["details"]["reauth_required"] is True
            # Everyday actions go on without a password.
            other = {"target_type": "movie", "target_id": store_id(race)}
            second = ok(await client.api("POST", "/keep-markers", other), 201)

            wrong = await client.api("POST", "/security/re-auth", {"password": WRONG})
            assert envelope(wrong, 403, "forbidden")["details"] == {}
            envelope(await client.api("DELETE", f"/keep-markers/{marker['id']}"), 403, "forbidden")
            answer = ok(await client.api("POST", "/security/re-auth", {"password": PASSWORD}))
            assert answer["operator_id"]
            ok(await client.api("DELETE", f"/keep-markers/{marker['id']}"))

            # An unlock proves the password too.
            clock.advance(16 * MINUTE)
            envelope(await client.api("DELETE", f"/keep-markers/{second['id']}"), 403, "forbidden")
            ok(await client.api("POST", "/delete-mode/unlock", {"password": PASSWORD}))
            ok(await client.api("DELETE", f"/keep-markers/{second['id']}"))

            # The window is a setting.
            window = {"sensitive_action_reauthentication_window_minutes": 60}
            ok(await client.api("PATCH", "/settings", {"values": window}))
            clock.advance(30 * MINUTE)
            ok(await client.api("PATCH", "/settings", {"values": {"sync_interval_minutes": 45}}))

            # A session unused for 12 hours ends; pages send the operator to sign in.
            clock.advance(12 * HOUR + 1)
            envelope(await client.api("GET", "/status"), 401, "unauthenticated")
            page = await client.http.get("/", headers={"Accept": "text/html"})
            assert page.status_code == 303 and page.headers["location"] == "/login?next=%2F"

            # And none lives longer than 7 days, however busy.
            assert (await client.sign_in()).status_code == 303
            for _ in range(15):  # 15 x 11 h = 6 d 21 h
                clock.advance(11 * HOUR)
                ok(await client.api("GET", "/status"))
            clock.advance(4 * HOUR)
            envelope(await client.api("GET", "/status"), 401, "unauthenticated")

            # Both answers are audited from the web, with the client's address.
            (failed,) = await audit_rows(store, "auth.reauth_failed")
            (renewed,) = await audit_rows(store, "auth.reauthenticated")
            operator_id = answer["operator_id"]
            actor = {"channel": "web", "operator_id": operator_id, "remote": "127.0.0.1"}
            assert (failed.payload_json, failed.operator_id) == ({"actor": actor}, operator_id)
            assert (renewed.payload_json, renewed.operator_id) == ({"actor": actor}, operator_id)
            granted = await audit_rows(store, "delete.unlock_granted")
            assert granted[0].payload_json["actor"]["channel"] == "web"
            await no_password_in_audit(store, PASSWORD, WRONG)


# --- no secrets ---------------------------------------------------------------------------------


async def test_no_answer_carries_a_key_or_the_delete_secret(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        async with app_client(sc.service) as client:
            bodies = record_bodies(client)
            for path in (
                "/health", "/status", "/settings", "/integrations", "/users", "/sync-runs",
                "/sync-runs/1", "/keep-markers", "/path-exclusions", "/saved-views",
                "/deletion-runs", "/audit-events?limit=1000",
                *(f"/candidates?scope={s}&include_blocked=true"
                  for s in ("movie", "tv_episode", "tv_season", "tv_show")),
            ):  # fmt: skip
                ok(await client.api("GET", path))
            for integration in ok(await client.api("GET", "/integrations"))["integrations"]:
                ok(await client.api("POST", f"/integrations/{integration['id']}/check"))
            plan = {"scope": "movie", "target_ids": [await sc.movie(4)]}
            plan = ok(await client.api("POST", "/deletion-runs/plan", plan))
            unlocked = ok(await client.api("POST", "/delete-mode/unlock", {"password": PASSWORD}))
            body = {"plan": plan, "token": unlocked["token"]}
            run = ok(await client.api("POST", "/deletion-runs", body), 201)["run"]
            await sc.finished(run["id"])
            ok(await client.api("GET", f"/deletion-runs/{run['id']}"))
            # An upstream failure as the integration list shows it.
            sc.fakes.faults["radarr"].add(Fault("status", "*", status=500))
            radarr = {i["name"]: i["id"] for i in ok(await client.api("GET", "/integrations"))[
                "integrations"]}["radarr"]  # fmt: skip
            checked = ok(await client.api("POST", f"/integrations/{radarr}/check"))
            assert checked["integrations"][0]["status"] == "error"
            for page in ("/", "/login"):
                await client.http.get(page, headers={"Accept": "text/html"})
            await client.http.get("/metrics")
            await client.http.get("/no-such-page", headers={"Accept": "text/html"})
            assert len(bodies) > 25
            secrets = (*FAKE_KEYS.values(), SECRET, PASSWORD)
            leaks = [
                (secret, body[:200]) for body in bodies for secret in secrets if secret in body
            ]
            assert leaks == []
            await no_password_in_audit(store, *secrets)


def test_a_csrf_token_must_be_the_sessions_own():
    session = auth.Session(csrf="token-1", created=0.0, last_seen=0.0)
    auth.check_csrf(session, "token-1")
    for presented in (None, "", "token-2", "token-1 "):
        with pytest.raises(CullarrError) as caught:
            auth.check_csrf(session, presented)
        assert caught.value.code == "csrf_invalid" and caught.value.http_status == 403
    with pytest.raises(CullarrError):
        auth.check_csrf(None, "token-1")
