"""The JSON API (SPEC §10.2) over real HTTP on loopback, in front of a deletion scenario (the
library's story is in ``tests/candidates/scenario.py``): every endpoint's answers and refusals
as a client sees them, the error envelope and correlation ids (§10.1), security headers (§9),
and that the API refuses bad input exactly like the control socket does."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from cullarrd.errors import CullarrError
from cullarrd.store.models import AuditEvent, KeepMarker, SyncRun
from cullarrd.web.api import ENDPOINTS
from cullarrd_plugins.fakelib.faults import Fault
from tests.candidates.scenario import scenario
from tests.deletion.helpers import (
    PASSWORD,
    SECRET,
    DeletionScenario,
    deletion_scenario,
    planned,
    refused,
    store_id,
)
from tests.harness import FAKE_KEYS
from tests.web.helpers import WebClient, app_client, envelope, ok, record_bodies, with_operator

pytestmark = pytest.mark.asyncio

SECRETS = (*FAKE_KEYS.values(), SECRET, PASSWORD)
# SPEC §10.2, as (method, path) with ids filled in; /users serves the candidates page's filter.
SPEC_ENDPOINTS = [
    ("GET", "/status"), ("GET", "/settings"), ("PATCH", "/settings"), ("GET", "/integrations"),
    ("POST", "/integrations/1/check"), ("POST", "/integrations/1/reset-history"),
    ("GET", "/sync-runs"), ("POST", "/sync-runs"), ("GET", "/sync-runs/1"),
    ("POST", "/sync-runs/1/cancel"), ("GET", "/users"), ("GET", "/candidates"),
    ("GET", "/keep-markers"), ("POST", "/keep-markers"), ("DELETE", "/keep-markers/1"),
    ("GET", "/path-exclusions"), ("POST", "/path-exclusions"), ("PATCH", "/path-exclusions/1"),
    ("DELETE", "/path-exclusions/1"), ("GET", "/saved-views"), ("POST", "/saved-views"),
    ("PATCH", "/saved-views/1"), ("DELETE", "/saved-views/1"), ("POST", "/security/re-auth"),
    ("POST", "/delete-mode/unlock"), ("POST", "/deletion-runs/plan"), ("POST", "/deletion-runs"),
    ("GET", "/deletion-runs"), ("GET", "/deletion-runs/1"), ("POST", "/deletion-runs/1/cancel"),
    ("GET", "/audit-events"),
]  # fmt: skip


# --- helpers ------------------------------------------------------------------------------------


def fields(response: httpx.Response, code: str = "validation_failed") -> dict[str, list[str]]:
    """``details.fields`` of a 422 answer."""
    return envelope(response, 422, code)["details"]["fields"]


async def socket_error(sc: DeletionScenario, command: str, **args: Any) -> CullarrError:
    """How the control socket's dispatch refuses the same arguments."""
    return await refused(sc.call(command, **args))


def same_as_socket(response: httpx.Response, error: CullarrError) -> None:
    """The HTTP refusal names the same code and fields as the socket's."""
    answer = envelope(response, error.http_status, error.code)
    assert answer["details"].get("fields") == error.details.get("fields")
    assert answer["message"] == error.message


@contextlib.asynccontextmanager
async def signed_in(service: Any) -> AsyncIterator[WebClient]:
    """A signed-in client; afterwards, no answer it received carried a key, the delete secret or
    the operator's password."""
    async with app_client(service) as client:
        bodies = record_bodies(client)
        yield client
    leaked = {secret for secret in SECRETS for body in bodies if secret in body}
    assert not leaked, f"{len(leaked)} secret(s) appeared in a response"


async def sync_idle(sc: DeletionScenario, timeout: float = 60) -> None:
    engine = sc.runtime.sync
    async with asyncio.timeout(timeout):
        while engine._task is not None and not engine._task.done():
            await asyncio.sleep(0.02)


async def finished_run(client: WebClient, run_id: int, timeout: float = 30) -> dict[str, Any]:
    """A deletion run once it has ended, polled like the page does."""
    async with asyncio.timeout(timeout):
        while True:
            run = ok(await client.api("GET", f"/deletion-runs/{run_id}"))["run"]
            if run["status"] not in ("queued", "running"):
                return run
            await asyncio.sleep(0.05)


# --- the public surface, the envelope, headers ------------------------------------------------


async def test_only_health_and_metrics_answer_without_a_session(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with app_client(sc.service, signed_in=False) as anonymous:
            health = await anonymous.api("GET", "/health")
            body = ok(health)
            assert body["status"] == "ok" and body["db"] is True and body["version"]
            assert body["last_sync"] is None  # nothing synced yet
            await sc.sync()
            body = ok(await anonymous.api("GET", "/health"))
            assert {"status", "version", "db", "last_sync"} <= set(body)
            assert body["last_sync"]["status"] == "success" and body["last_sync"]["finished_at"]

            for path in ("/metrics", "/api/v1/metrics"):  # public by default
                metrics = await anonymous.http.get(path)
                assert metrics.status_code == 200
                assert metrics.headers["content-type"].startswith("text/plain")
                assert 'cullarrd_integration_up{integration="sonarr",kind="sonarr"} 1.0' in (
                    metrics.text
                )
                assert not any(secret in metrics.text for secret in SECRETS)

            # Everything else needs a signed-in session: no cookie, or a visitor's session.
            table = {(ep.method, re.sub(r"\{id:\w+\}", "1", ep.path)) for ep in ENDPOINTS}
            assert table - {("GET", "/health")} == set(SPEC_ENDPOINTS)  # the SPEC's list, all
            for method, path in SPEC_ENDPOINTS:
                answer = await anonymous.api(method, path, json={})
                envelope(answer, 401, "unauthenticated")
            await anonymous.page_csrf("/login")  # now an anonymous session with a CSRF token
            for method, path in SPEC_ENDPOINTS:
                answer = await anonymous.api(method, path, json={})
                envelope(answer, 401, "unauthenticated")
            # Nothing was done on the way (the triggers, unlocks and markers were all refused).
            assert await store.read(lambda: SyncRun.select().count()) == 1
            assert await store.read(lambda: KeepMarker.select().count()) == 0


async def test_metrics_can_be_kept_for_the_signed_in_operator(store, tmp_path):
    with scenario(store, tmp_path, config={"web": {"metrics_public": False}}) as sc:
        with_operator(sc)
        async with app_client(sc.service, signed_in=False) as anonymous:
            for path in ("/metrics", "/api/v1/metrics"):
                envelope(await anonymous.http.get(path), 401, "unauthenticated")
            ok(await anonymous.api("GET", "/health"))  # liveness stays public
            await anonymous.sign_in()
            metrics = await anonymous.http.get("/metrics")
            assert metrics.status_code == 200 and "cullarrd_" in metrics.text


async def test_every_answer_carries_a_correlation_id_and_the_security_headers(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with signed_in(sc.service) as client:
            answers = {
                "2xx": await client.api("GET", "/status"),
                "201": await client.api(
                    "POST",
                    "/path-exclusions",
                    {"name": "Kids", "path_prefix": "/mnt/kids"},
                    headers={"X-Request-Id": "trace-42.a:b"},
                ),
                "4xx": await client.api("GET", "/sync-runs/999999"),
                "unknown path": await client.api("GET", "/no-such-thing"),
                "wrong method": await client.api("PUT", "/status"),
                "page": await client.http.get("/", headers={"Accept": "text/html"}),
                "public": await client.http.get("/api/v1/health"),
            }
            cids = set()
            for name, answer in answers.items():
                cid = answer.headers.get("x-correlation-id")
                assert cid, name
                cids.add(cid)
                csp = answer.headers["content-security-policy"]
                directives = {}
                for directive in filter(None, (d.strip() for d in csp.split(";"))):
                    name_, _, value = directive.partition(" ")
                    directives[name_] = value
                assert directives["frame-ancestors"] == "'none'", name
                assert "'unsafe-inline'" not in directives["script-src"], name
                assert "'unsafe-inline'" not in directives.get("default-src", ""), name
                assert answer.headers["x-content-type-options"] == "nosniff", name
                assert answer.headers["referrer-policy"] == "no-referrer", name
            assert len(cids) == len(answers)  # a fresh id per request

            # An incoming X-Request-Id is the request's correlation id, down to the audit row.
            assert answers["201"].status_code == 201
            assert answers["201"].headers["x-correlation-id"] == "trace-42.a:b"
            row = await store.read(
                lambda: AuditEvent.get(AuditEvent.event_name == "path_exclusion.added")
            )
            assert row.correlation_id == "trace-42.a:b"
            error = envelope(
                await client.api("GET", "/sync-runs/999999", headers={"X-Request-Id": "r-7"}),
                404,
                "not_found",
            )
            assert error["correlation_id"] == "r-7"
            # One that is not a plain token is replaced, not echoed.
            odd = await client.api("GET", "/status", headers={"X-Request-Id": "a b<script>"})
            assert odd.headers["x-correlation-id"] != "a b<script>"
            assert len(odd.headers["x-correlation-id"]) == 32

            envelope(answers["4xx"], 404, "not_found")
            envelope(answers["unknown path"], 404, "not_found")
            envelope(answers["wrong method"], 405, "method_not_allowed")
            assert "GET" in answers["wrong method"].headers["allow"]
            assert answers["page"].status_code == 200


async def test_a_wrong_method_names_every_allowed_one(store, tmp_path):
    with scenario(store, tmp_path) as sc:
        async with app_client(sc.service, signed_in=False) as client:
            for method, path in (("PUT", "/api/v1/keep-markers"), ("PUT", "/login")):
                answer = await client.http.request(method, path)
                assert answer.status_code == 405
                allowed = set(answer.headers["allow"].replace(" ", "").split(","))
                assert allowed >= {"GET", "POST"}, path


# --- status, settings, integrations, audit ------------------------------------------------------


async def test_status_settings_and_the_audit_trail(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with signed_in(sc.service) as client:
            status = ok(await client.api("GET", "/status"))
            assert status["delete_mode"] == {"enabled": True, "secret_present": True}
            assert status["active_sync_run"] is None and status["last_sync_run"] is None
            assert {i["name"] for i in status["integrations"]} == {"sonarr", "radarr", "tautulli"}

            settings = ok(await client.api("GET", "/settings"))["settings"]
            assert settings["sync_interval_minutes"] == {"value": 30, "source": "default"}
            assert settings["delete_mode_enabled"] == {"value": True, "source": "config"}
            one = ok(await client.api("GET", "/settings?key=watched_mode"))["settings"]
            assert one == {"watched_mode": {"value": "play_count", "source": "default"}}
            assert "key" in fields(await client.api("GET", "/settings?key=nope"))

            changed = ok(
                await client.api(
                    "PATCH",
                    "/settings",
                    {
                        "values": {
                            "sync_interval_minutes": 60,
                            "watched_mode": "percent",
                            "sync_enabled": False,
                        }
                    },
                )
            )
            assert changed["changed"] == ["sync_enabled", "sync_interval_minutes", "watched_mode"]
            settings = ok(await client.api("GET", "/settings"))["settings"]
            assert settings["sync_interval_minutes"] == {"value": 60, "source": "db"}
            assert settings["sync_enabled"] == {"value": False, "source": "db"}  # false is a value

            # Every bad key at once, nothing written; same answer as the socket.
            bad = {"sync_interval_minutes": 0, "watched_mode": "sometimes", "no_such_key": 1}
            answer = await client.api("PATCH", "/settings", {"values": bad})
            assert set(fields(answer)) == set(bad)
            same_as_socket(answer, await socket_error(sc, "settings.set", values=bad))
            assert "values" in fields(await client.api("PATCH", "/settings", {"values": {}}))
            settings = ok(await client.api("GET", "/settings"))["settings"]
            assert settings["sync_interval_minutes"]["value"] == 60

            answer = await client.api(
                "PATCH",
                "/settings",
                {
                    "values": {
                        "delete_mode_enabled": False,
                        "sync_interval_minutes": 5,
                    }
                },
            )
            error = envelope(answer, 422, "settings_immutable")
            assert list(error["details"]["fields"]) == ["delete_mode_enabled"]
            same_as_socket(
                answer,
                await socket_error(
                    sc,
                    "settings.set",
                    values={"delete_mode_enabled": False, "sync_interval_minutes": 5},
                ),
            )
            assert (
                ok(await client.api("GET", "/settings"))["settings"]["sync_interval_minutes"][
                    "value"
                ]
                == 60
            )

            # Turning audit retention to "keep forever" from a limit needs a confirmation; the
            # session signed in moments ago counts as re-authenticated.
            retention = "retention_audit_events_days"
            ok(await client.api("PATCH", "/settings", {"values": {retention: 30}}))
            answer = await client.api("PATCH", "/settings", {"values": {retention: 0}})
            assert retention in fields(answer, "retention_setting_unsafe")
            answer = await client.api(
                "PATCH", "/settings", {"values": {retention: 0}, "confirm": True}
            )
            assert ok(answer)["changed"] == [retention]
            assert ok(answer)["settings"][retention] == {"value": 0, "source": "db"}

            # The audit trail, newest first, paged with before_id.
            first = ok(await client.api("GET", "/audit-events?limit=3"))["events"]
            assert len(first) == 3
            ids = [e["id"] for e in first]
            assert ids == sorted(ids, reverse=True)
            second = ok(await client.api("GET", f"/audit-events?limit=3&before_id={ids[-1]}"))
            assert second["events"] and all(e["id"] < ids[-1] for e in second["events"])
            logins = ok(await client.api("GET", "/audit-events?event_name=auth.login_succeeded"))
            (login,) = logins["events"]
            assert login["payload"]["actor"] == {"channel": "web", "remote": "127.0.0.1"}
            updated = ok(await client.api("GET", "/audit-events?event_name=settings.updated"))
            assert updated["events"][0]["payload"]["changes"][retention] == {"old": 30, "new": 0}
            assert updated["events"][0]["payload"]["actor"]["channel"] == "web"
            answer = await client.api("GET", "/audit-events?limit=abc&since=yesterday")
            assert set(fields(answer)) == {"limit", "since"}
            same_as_socket(
                answer, await socket_error(sc, "audit.list", limit="abc", since="yesterday")
            )


async def test_integrations_are_listed_and_checked_by_id(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with signed_in(sc.service) as client:
            listed = ok(await client.api("GET", "/integrations"))["integrations"]
            by_name = {i["name"]: i for i in listed}
            assert set(by_name) == {"sonarr", "radarr", "tautulli"}
            assert {i["status"] for i in listed} == {"unknown"}  # never checked yet
            checked = ok(await client.api("POST", f"/integrations/{by_name['radarr']['id']}/check"))
            (radarr,) = checked["integrations"]
            assert radarr["name"] == "radarr" and radarr["status"] == "healthy"
            assert radarr["reported_version"] and radarr["last_checked_at"]
            listed = ok(await client.api("GET", "/integrations"))["integrations"]
            assert {i["name"]: i["status"] for i in listed}["radarr"] == "healthy"
            assert {i["name"]: i["status"] for i in listed}["sonarr"] == "unknown"

            # A broken upstream is reported on the row, not as a failed request.
            sc.fakes.faults["sonarr"].add(Fault("auth", "*"))
            checked = ok(await client.api("POST", f"/integrations/{by_name['sonarr']['id']}/check"))
            assert checked["integrations"][0]["status"] == "error"
            assert checked["integrations"][0]["last_error"]

            envelope(await client.api("POST", "/integrations/999/check"), 404, "not_found")
            envelope(await client.api("POST", "/integrations/999/reset-history"), 404, "not_found")
            # Only a Tautulli integration has a history to rebuild.
            sonarr = by_name["sonarr"]["id"]
            error = envelope(
                await client.api("POST", f"/integrations/{sonarr}/reset-history"), 409, "conflict"
            )
            assert "tautulli" in error["message"]
            assert await store.read(lambda: SyncRun.select().count()) == 0
            health = ok(
                await client.api("GET", "/audit-events?event_name=integration.health_changed")
            )
            assert {e["payload"]["name"] for e in health["events"]} == {"radarr", "sonarr"}


# --- sync runs ----------------------------------------------------------------------------------


async def test_sync_runs_start_queue_refuse_cancel_and_page(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        # Sonarr answers its series list slowly once, so the first run stays active a while.
        sc.fakes.faults["sonarr"].add(Fault("latency", "GET /api/v3/series", seconds=1.5, times=1))
        async with signed_in(sc.service) as client:
            started = ok(await client.api("POST", "/sync-runs"), 202)
            assert started["code"] == "sync_started"
            run_id = started["run"]["id"]
            queued = ok(await client.api("POST", "/sync-runs", {}), 202)
            assert queued["code"] == "sync_queued_next"
            assert queued["run"]["id"] == run_id and queued["run"]["queued_next"] is True
            error = envelope(await client.api("POST", "/sync-runs"), 409, "sync_already_running")
            assert error["details"]["run_id"] == run_id

            # Rebuilding Tautulli's history is requested; its sync finds one already queued.
            ids = {
                i["name"]: i["id"]
                for i in ok(await client.api("GET", "/integrations"))["integrations"]
            }
            reset = ok(
                await client.api("POST", f"/integrations/{ids['tautulli']}/reset-history"), 202
            )
            assert reset["integration"] == "tautulli" and reset["rebuild"] == "requested"
            assert reset["sync"] == {"code": "sync_already_running", "run": None}

            status = ok(await client.api("GET", "/status"))
            assert status["active_sync_run"]["id"] == run_id
            run = ok(await client.api("GET", f"/sync-runs/{run_id}"))["run"]
            assert run["status"] in ("queued", "running") and run["trigger"] == "manual"

            # Cancel names the active run: an unknown one is not found.
            answer = await client.api("POST", f"/sync-runs/{run_id + 100}/cancel")
            envelope(answer, 404, "not_found")
            canceled = ok(await client.api("POST", f"/sync-runs/{run_id}/cancel"))["run"]
            assert canceled["cancel_requested"] is True and canceled["queued_next"] is False
            await sync_idle(sc)
            run = ok(await client.api("GET", f"/sync-runs/{run_id}"))["run"]
            assert run["status"] == "canceled" and run["finished_at"]
            envelope(await client.api("POST", f"/sync-runs/{run_id}/cancel"), 404, "not_found")

            # Following a run is the socket's business; over HTTP the client polls.
            assert "wait" in fields(await client.api("POST", "/sync-runs", {"wait": True}))
            assert "wait" in fields(await client.api("POST", "/sync-runs", {"wait": False}))
            assert await store.read(lambda: SyncRun.select().count()) == 1

            sc.fakes.faults["sonarr"].add(
                Fault("latency", "GET /api/v3/series", seconds=0.5, times=1)
            )
            second = ok(await client.api("POST", "/sync-runs"), 202)["run"]["id"]
            # Canceling the earlier run while this one is active is a conflict.
            answer = await client.api("POST", f"/sync-runs/{run_id}/cancel")
            assert envelope(answer, 409, "conflict")["details"]["active_run_id"] == second
            await sync_idle(sc)
            assert ok(await client.api("GET", f"/sync-runs/{second}"))["run"]["status"] == (
                "success"
            )
            runs = ok(await client.api("GET", "/sync-runs"))["runs"]
            assert [r["id"] for r in runs] == [second, run_id]
            page = ok(await client.api("GET", "/sync-runs?limit=1"))["runs"]
            assert [r["id"] for r in page] == [second]
            page = ok(await client.api("GET", f"/sync-runs?limit=1&before_id={second}"))["runs"]
            assert [r["id"] for r in page] == [run_id]
            answer = await client.api("GET", "/sync-runs?limit=abc&before_id=0")
            assert set(fields(answer)) == {"limit", "before_id"}
            same_as_socket(answer, await socket_error(sc, "runs.list", limit="abc", before_id=0))
            envelope(await client.api("GET", "/sync-runs/999999"), 404, "not_found")
            # Numbers that only look like numbers are refused like any other bad value.
            for value in ("--1", "%C2%B2", "1e3", "99999999999999999999"):
                assert list(fields(await client.api("GET", f"/sync-runs?limit={value}"))) == [
                    "limit"
                ], value
            envelope(await client.api("GET", f"/sync-runs/{'9' * 30}"), 404, "not_found")


# --- candidates, users, keep markers, path exclusions, saved views ------------------------------


async def test_candidates_users_and_what_guards_them(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, race = await sc.movie(4), await sc.movie(6)
        async with signed_in(sc.service) as client:
            users = ok(await client.api("GET", "/users"))["items"]
            assert {u["username"]: u["hidden"] for u in users} == {
                "Local": False,
                "will": False,
                "zoe": False,
                "victor": True,
            }
            ids = {u["username"]: u["id"] for u in users}

            async def candidates(query: str) -> dict[str, Any]:
                return ok(await client.api("GET", f"/candidates?{query}"))

            # The Memory of the Mountain is the one movie every default user watched.
            page = await candidates("scope=movie")
            assert [i["candidate_id"] for i in page["items"]] == [memory]
            assert page["items"][0]["watched_summary"]["watched_users"] == ["Local", "Will", "Zoe"]
            # Will also watched Paul's Race; users by name, comma-separated or repeated.
            will = await candidates("scope=movie&users=will")
            assert {i["candidate_id"] for i in will["items"]} == {memory, race}
            assert will["filters"]["plex_user_ids"] == [ids["will"]]
            comma = await candidates("scope=movie&users=will,Zoe")
            repeated = await candidates("scope=movie&users=will&users=zoe")
            assert comma["filters"]["plex_user_ids"] == sorted([ids["will"], ids["zoe"]])
            assert repeated["filters"] == comma["filters"]
            assert [i["candidate_id"] for i in comma["items"]] == [memory]
            assert [i["candidate_id"] for i in repeated["items"]] == [memory]
            one = await candidates("scope=movie&users=will&limit=1")
            assert len(one["items"]) == 1 and one["page"]["next_cursor"]
            cursor = one["page"]["next_cursor"]
            rest = await candidates(f"scope=movie&users=will&limit=1&cursor={cursor}")
            assert {one["items"][0]["candidate_id"], rest["items"][0]["candidate_id"]} == {
                memory,
                race,
            }

            # Bad filters, each named; the socket says the same.
            answer = await client.api("GET", "/candidates?scope=films&limit=abc")
            assert set(fields(answer)) == {"scope", "limit"}
            same_as_socket(
                answer, await socket_error(sc, "candidates.query", scope="films", limit="abc")
            )
            answer = await client.api("GET", "/candidates?scope=movie&limit=0&include_blocked=x")
            assert set(fields(answer)) == {"limit", "include_blocked"}
            answer = await client.api("GET", "/candidates?scope=movie&users=nobody")
            assert set(fields(answer)) == {"users"}
            same_as_socket(
                answer, await socket_error(sc, "candidates.query", scope="movie", users=["nobody"])
            )

            # A keep marker blocks the movie: gone from the list, shown with include_blocked.
            marker = ok(
                await client.api(
                    "POST",
                    "/keep-markers",
                    {
                        "target_type": "movie",
                        "target_id": store_id(memory),
                        "note": "a favourite",
                    },
                ),
                201,
            )
            assert marker["candidate_id"] == memory and marker["note"] == "a favourite"
            assert marker["title"].startswith("The Memory of the Mountain")
            assert (await candidates("scope=movie"))["items"] == []
            shown = await candidates("scope=movie&include_blocked=true")
            (row,) = shown["items"]
            assert row["candidate_id"] == memory and row["blocker_flags"] == ["keep_marked"]
            assert row["eligible"] is False
            assert ok(await client.api("GET", "/keep-markers"))["items"] == [marker]

            duplicate = await client.api(
                "POST", "/keep-markers", {"target_type": "movie", "target_id": store_id(memory)}
            )
            assert envelope(duplicate, 409, "conflict")["details"]["existing_id"] == marker["id"]
            bad = {"target_type": "film", "target_id": -1, "colour": "red"}
            answer = await client.api("POST", "/keep-markers", bad)
            assert set(fields(answer)) == {"target_type", "target_id", "colour"}
            same_as_socket(answer, await socket_error(sc, "keep.add", **bad))
            answer = await client.api(
                "POST", "/keep-markers", {"target_type": "movie", "target_id": 999_999}
            )
            assert "target_id" in fields(answer)

            removed = ok(await client.api("DELETE", f"/keep-markers/{marker['id']}"))
            assert removed == {"removed": marker["id"]}
            envelope(await client.api("DELETE", f"/keep-markers/{marker['id']}"), 404, "not_found")
            assert ok(await client.api("GET", "/keep-markers"))["items"] == []
            assert [i["candidate_id"] for i in (await candidates("scope=movie"))["items"]] == [
                memory
            ]

            # A path exclusion blocks every file under its prefix.
            local = "/mnt/media/movies"
            new = {"name": "Movies", "path_prefix": local + "/"}
            exclusion = ok(await client.api("POST", "/path-exclusions", new), 201)
            assert exclusion["enabled"] is True and exclusion["path_prefix"] == local
            shown = await candidates("scope=movie&include_blocked=1")
            assert shown["items"][0]["blocker_flags"] == ["path_excluded"]
            assert ok(await client.api("GET", "/path-exclusions"))["items"] == [exclusion]
            answer = await client.api("POST", "/path-exclusions", new)
            assert envelope(answer, 409, "conflict")["details"]["fields"] == {
                "path_prefix": [answer.json()["error"]["message"]]
            }
            answer = await client.api("POST", "/path-exclusions", {"path_prefix": "movies/kids"})
            assert set(fields(answer)) == {"name", "path_prefix"}
            same_as_socket(
                answer, await socket_error(sc, "exclusions.add", path_prefix="movies/kids")
            )

            switched = ok(
                await client.api("PATCH", f"/path-exclusions/{exclusion['id']}", {"enabled": False})
            )
            assert switched["enabled"] is False and switched["name"] == "Movies"
            assert [i["candidate_id"] for i in (await candidates("scope=movie"))["items"]] == [
                memory
            ]
            answer = await client.api(
                "PATCH", f"/path-exclusions/{exclusion['id']}", {"path_prefix": "relative"}
            )
            assert set(fields(answer)) == {"path_prefix"}
            envelope(
                await client.api("PATCH", "/path-exclusions/999999", {"enabled": True}),
                404,
                "not_found",
            )
            ok(await client.api("DELETE", f"/path-exclusions/{exclusion['id']}"))
            envelope(
                await client.api("DELETE", f"/path-exclusions/{exclusion['id']}"), 404, "not_found"
            )
            assert ok(await client.api("GET", "/path-exclusions"))["items"] == []

            # A saved view stores a query; the list applies it by id.
            view = ok(
                await client.api(
                    "POST",
                    "/saved-views",
                    {
                        "name": "Will's movies",
                        "scope": "movie",
                        "filters": {"plex_user_ids": [ids["will"]], "sort": "title"},
                    },
                ),
                201,
            )
            assert view["filters"] == {"plex_user_ids": [ids["will"]], "sort": "title"}
            applied = await candidates(f"scope=movie&saved_view_id={view['id']}")
            assert applied["filters"]["plex_user_ids"] == [ids["will"]]
            assert applied["filters"]["saved_view_id"] == view["id"]
            assert applied["filters"]["sort"] == "title"
            assert {i["candidate_id"] for i in applied["items"]} == {race, memory}
            answer = await client.api(
                "POST", "/saved-views", {"name": "Will's movies", "scope": "tv_show"}
            )
            assert "name" in envelope(answer, 409, "conflict")["details"]["fields"]
            answer = await client.api(
                "POST",
                "/saved-views",
                {
                    "name": "Odd",
                    "scope": "films",
                    "filters": {"sort": "size", "colour": 1},
                },
            )
            assert set(fields(answer)) == {"scope", "filters.sort", "filters.colour"}

            renamed = ok(await client.api("PATCH", f"/saved-views/{view['id']}", {"name": "Will"}))
            assert renamed["name"] == "Will" and renamed["filters"] == view["filters"]
            assert [v["name"] for v in ok(await client.api("GET", "/saved-views"))["items"]] == [
                "Will"
            ]
            envelope(
                await client.api("PATCH", "/saved-views/999999", {"name": "X"}), 404, "not_found"
            )
            ok(await client.api("DELETE", f"/saved-views/{view['id']}"))
            envelope(await client.api("DELETE", f"/saved-views/{view['id']}"), 404, "not_found")
            answer = await client.api("GET", f"/candidates?scope=movie&saved_view_id={view['id']}")
            assert "saved_view_id" in fields(answer)


async def test_bodies_that_are_not_json_objects_are_refused(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        async with signed_in(sc.service) as client:
            json_type = {"Content-Type": "application/json"}
            deep = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
            long_number = b'{"name": ' + b"9" * 5000 + b"}"
            for raw in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"null", deep,
                        long_number):  # fmt: skip
                answer = await client.api(
                    "POST", "/path-exclusions", content=raw, headers=json_type
                )
                assert list(fields(answer)) == ["body"], raw
            huge = b'{"name": "' + b"x" * (1 << 20) + b'"}'
            answer = await client.api("POST", "/path-exclusions", content=huge, headers=json_type)
            assert list(fields(answer)) == ["body"]
            answer = await client.api("PATCH", "/settings", content=b"[]", headers=json_type)
            assert list(fields(answer)) == ["body"]
            # Unknown arguments are named like every other problem.
            answer = await client.api(
                "POST", "/path-exclusions", {"name": "A", "path_prefix": "/a", "colour": "red"}
            )
            assert fields(answer) == {"colour": ["unknown argument"]}
            assert ok(await client.api("GET", "/path-exclusions"))["items"] == []


# --- deletion -----------------------------------------------------------------------------------


async def test_plan_unlock_run_and_follow_a_deletion(store, tmp_path):
    with deletion_scenario(store, tmp_path) as sc:
        await sc.sync()
        memory, race = await sc.movie(4), await sc.movie(6)
        async with signed_in(sc.service) as client:
            plan = ok(
                await client.api(
                    "POST", "/deletion-runs/plan", {"scope": "movie", "target_ids": [memory]}
                )
            )
            (entry,) = plan["files"]
            assert entry["path"] == sc.library.movie_files_of(4)[0].path
            assert plan["blocked"] == [] and plan["total_bytes"] == entry["size_bytes"]
            bad = {"scope": "films", "target_ids": "x", "extra": 1}
            answer = await client.api("POST", "/deletion-runs/plan", bad)
            assert set(fields(answer)) == {"scope", "target_ids", "extra"}
            same_as_socket(answer, await socket_error(sc, "deletion.plan", **bad))
            # Paul's Race has two versions: a plan must say which.
            answer = await client.api(
                "POST",
                "/deletion-runs/plan",
                {
                    "scope": "movie",
                    "target_ids": [race],
                    "users": ["will"],
                },
            )
            error = envelope(answer, 422, "multi_version_selection_required")
            assert len(error["details"]["targets"][0]["versions"]) == 2

            wrong = await client.api("POST", "/delete-mode/unlock", {"password": "not-it-9"})
            envelope(wrong, 403, "forbidden")
            assert "password" in fields(await client.api("POST", "/delete-mode/unlock", {}))
            unlocked = ok(await client.api("POST", "/delete-mode/unlock", {"password": PASSWORD}))
            token = unlocked["token"]
            assert token and unlocked["expires_at"]

            answer = await client.api(
                "POST", "/deletion-runs", {"plan": plan, "token": token, "wait": True}
            )
            assert "wait" in fields(answer)
            assert sc.deleted() == set()
            created = ok(
                await client.api("POST", "/deletion-runs", {"plan": plan, "token": token}), 201
            )["run"]
            run = await finished_run(client, created["id"])
            assert run["status"] == "success" and run["deleted_bytes"] == plan["total_bytes"]
            (action,) = run["actions"]
            assert action["status"] == "confirmed"
            assert sc.deleted() == planned(plan)  # exactly the planned file, nothing else

            # The token was spent; a finished run cannot be canceled; unknown runs are 404.
            again = await client.api("POST", "/deletion-runs", {"plan": plan, "token": token})
            envelope(again, 403, "delete_unlock_invalid")
            assert sc.deleted() == planned(plan)
            error = envelope(
                await client.api("POST", f"/deletion-runs/{created['id']}/cancel"), 409, "conflict"
            )
            assert "success" in error["message"]
            envelope(await client.api("POST", "/deletion-runs/999999/cancel"), 404, "not_found")
            envelope(await client.api("GET", "/deletion-runs/999999"), 404, "not_found")

            runs = ok(await client.api("GET", "/deletion-runs"))["runs"]
            assert [r["id"] for r in runs] == [created["id"]]
            assert runs[0]["status"] == "success"
            assert (
                ok(await client.api("GET", f"/deletion-runs?before_id={created['id']}"))["runs"]
                == []
            )
            assert "limit" in fields(await client.api("GET", "/deletion-runs?limit=abc"))

            # The refusals are in the audit trail, from the web.
            events = ok(await client.api("GET", "/audit-events?limit=200"))["events"]
            names = [e["event_name"] for e in events]
            assert {
                "delete.unlock_denied",
                "delete.unlock_granted",
                "deletion.created",
                "deletion.create_denied",
            } <= set(names)
            denied = next(e for e in events if e["event_name"] == "delete.unlock_denied")
            assert denied["payload"]["actor"]["channel"] == "web"
            assert token not in str(events)
