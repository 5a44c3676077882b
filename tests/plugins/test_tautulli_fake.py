"""The fake Tautulli over real loopback HTTP: envelope, auth, paging, filters, Plex down, faults."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cullarrd_plugins.fakelib.faults import Fault, Faults, WriteLog
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.tautulli.fake import create_app
from cullarrd_plugins.tautulli.fake_commands import COMMANDS
from cullarrd_plugins.tautulli.fake_rows import human_duration
from tests.conftest import served_fake
from tests.serving import serve

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def base(library: Library, faults: Faults, writes: WriteLog) -> Iterator[str]:
    options = {"library": library, "faults": faults, "writes": writes}
    with served_fake("tautulli", api_key=KEY, **options) as fake:
        yield fake.url


def call(base: str, cmd: str | None = None, *, key: str | None = KEY, **params: Any):
    """GET /api/v2 with ``cmd`` and ``params``; returns the httpx response."""
    query = {k: str(v) for k, v in params.items()}
    if cmd is not None:
        query["cmd"] = cmd
    if key is not None:
        query["apikey"] = key
    return httpx.get(f"{base}/api/v2", params=query, timeout=10)


def data_of(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()["response"]
    assert body["result"] == "success"
    return body["data"]


def history_page(base: str, **params: Any) -> dict[str, Any]:
    return data_of(call(base, "get_history", **params))


# --- envelope and auth -------------------------------------------------------------------------


def test_success_envelope_and_content_type(base: str) -> None:
    response = call(base, "get_tautulli_info")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=UTF-8"
    body = response.json()
    assert set(body) == {"response"}
    assert set(body["response"]) == {"result", "message", "data"}
    assert body["response"]["message"] is None
    assert body["response"]["data"]["tautulli_version"] == "v2.17.2"


@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "Parameter apikey is required"), ("wrong", "Invalid apikey"), ("", "Invalid apikey")],
)
def test_auth_errors_are_400_with_the_real_messages(base: str, key: str | None, message: str):
    response = call(base, "get_users", key=key)
    assert response.status_code == 400
    assert response.json() == {"response": {"result": "error", "message": message, "data": {}}}


def test_header_auth_does_not_exist(base: str) -> None:
    response = httpx.get(f"{base}/api/v2", params={"cmd": "get_users"}, headers={"X-Api-Key": KEY})
    assert response.status_code == 400
    assert response.json()["response"]["message"] == "Parameter apikey is required"


def test_a_server_key_that_is_not_32_characters_breaks_every_call(library: Library) -> None:
    with served_fake("tautulli", api_key="short", library=library) as fake:
        response = call(fake.url, "get_users", key="short")
    assert response.status_code == 400
    assert response.json()["response"]["message"] == "API key not generated correctly"


def test_missing_and_unknown_commands(base: str) -> None:
    missing = call(base)
    assert missing.status_code == 400
    assert missing.json()["response"]["message"] == (
        "Parameter cmd is required. Possible commands are: " + ", ".join(COMMANDS)
    )
    unknown = call(base, "nope")
    assert unknown.status_code == 400
    message = unknown.json()["response"]["message"]
    assert message.startswith(
        "Unknown command: nope. Possible commands are: add_newsletter_config,"
    )
    assert "get_history" in message


def test_api_without_v2_answers_200_with_an_error(base: str) -> None:
    response = httpx.get(f"{base}/api", params={"apikey": KEY, "cmd": "get_users"})
    assert response.status_code == 200
    assert response.json()["response"] == {
        "result": "error",
        "message": "Please use the /api/v2 endpoint.",
        "data": {},
    }


def test_post_form_works_like_get(base: str) -> None:
    response = httpx.post(f"{base}/api/v2", data={"apikey": KEY, "cmd": "get_library_names"})
    assert data_of(response) == data_of(call(base, "get_library_names"))


def test_status_and_arnold(base: str) -> None:
    status = call(base, "status").json()["response"]
    assert status == {"result": "success", "message": "Ok", "data": {}}
    checked = call(base, "status", check="database").json()["response"]
    assert checked["message"] == "Database ok"
    assert checked["data"] == {"integrity_check": "ok"}
    assert isinstance(data_of(call(base, "arnold")), str)


def test_command_without_its_required_parameter_is_400_with_null_message(base: str) -> None:
    response = call(base, "get_item_watch_time_stats")
    assert response.status_code == 400
    assert response.json() == {"response": {"result": "error", "message": None, "data": {}}}


def test_a_broken_parameter_is_a_500_like_a_traceback(base: str) -> None:
    response = call(base, "get_history", start="abc")
    assert response.status_code == 500
    assert response.json()["response"]["message"] == "Check the logs for errors"


# --- users -------------------------------------------------------------------------------------


def test_users_leave_out_deleted_users_and_include_local(base: str, library: Library) -> None:
    users = data_of(call(base, "get_users"))
    ids = [u["user_id"] for u in users]
    assert ids[0] == 0 and users[0]["username"] == "Local"
    expected = {u.user_id for u in library.plex_users.values() if not u.deleted}
    assert set(ids) == expected
    assert any(u.deleted for u in library.plex_users.values())
    assert all(isinstance(u["user_id"], int) for u in users)
    assert all(isinstance(s, str) for u in users for s in u["shared_libraries"])


def test_get_user_of_an_unknown_id_is_the_default_local_record(base: str) -> None:
    user = data_of(call(base, "get_user", user_id=424242))
    assert (user["user_id"], user["row_id"], user["username"]) == (0, 0, "Local")


# --- history paging, order, filters ------------------------------------------------------------


def test_history_defaults_newest_first_with_datatables_counts(base: str, library: Library) -> None:
    data = history_page(base)
    assert data["recordsTotal"] == data["recordsFiltered"] == len(library.history)
    assert data["draw"] == 1
    assert len(data["data"]) == 25
    dates = [row["date"] for row in data["data"]]
    assert dates == sorted(dates, reverse=True)
    assert data["data"][0]["row_id"] == max(r.row_id for r in library.history)


def test_history_pages_cover_every_row_once(base: str, library: Library) -> None:
    seen: list[int] = []
    start = 0
    while True:
        data = history_page(base, start=start, length=7, order_column="date", order_dir="desc")
        if not data["data"]:
            break
        seen += [row["row_id"] for row in data["data"]]
        start += 7
    assert sorted(seen) == sorted(r.row_id for r in library.history)
    assert len(seen) == len(set(seen))


def test_length_minus_one_drops_the_last_row(base: str, library: Library) -> None:
    data = history_page(base, length=-1)
    assert len(data["data"]) == len(library.history) - 1
    assert data["recordsFiltered"] == len(library.history)


def test_start_past_the_end_keeps_the_counts(base: str, library: Library) -> None:
    data = history_page(base, start=10_000, length=10)
    assert data["data"] == []
    assert data["recordsFiltered"] == data["recordsTotal"] == len(library.history)
    assert data["filter_duration"] == "0"


def test_order_dir_and_order_column(base: str) -> None:
    ascending = history_page(base, order_dir="asc", length=1000)["data"]
    assert [r["date"] for r in ascending] == sorted(r["date"] for r in ascending)
    by_duration = history_page(base, order_column="duration", order_dir="desc", length=1000)
    durations = [r["play_duration"] for r in by_duration["data"]]
    assert durations == sorted(durations, reverse=True)


def test_history_filters(base: str, library: Library) -> None:
    first = library.history[0]
    user_rows = [r for r in library.history if r.user_id == first.user_id]
    data = history_page(base, user_id=first.user_id, length=1000)
    assert data["recordsFiltered"] == len(user_rows)
    assert data["recordsTotal"] == len(library.history)
    assert {r["user_id"] for r in data["data"]} == {first.user_id}

    key_rows = [r for r in library.history if r.rating_key == first.rating_key]
    data = history_page(base, rating_key=first.rating_key, length=1000)
    assert sorted(r["row_id"] for r in data["data"]) == sorted(r.row_id for r in key_rows)

    movies = history_page(base, media_type="movie", length=1000)["data"]
    assert movies and {r["media_type"] for r in movies} == {"movie"}
    assert history_page(base, media_type="all")["recordsFiltered"] == len(library.history)


def test_history_show_and_season_filters(base: str, library: Library) -> None:
    episode = next(
        r
        for r in library.history
        if r.media_type == "episode" and r.rating_key in library.plex_items
    )
    item = library.plex_items[episode.rating_key]
    show_rows = history_page(base, grandparent_rating_key=item.grandparent_rating_key, length=999)
    season_rows = history_page(base, parent_rating_key=item.parent_rating_key, length=999)
    assert episode.row_id in {r["row_id"] for r in show_rows["data"]}
    assert {r["grandparent_rating_key"] for r in show_rows["data"]} == {
        int(item.grandparent_rating_key)
    }
    assert season_rows["recordsFiltered"] <= show_rows["recordsFiltered"]


def test_history_after_and_before_are_inclusive_days(base: str, library: Library) -> None:
    row = library.history[len(library.history) // 2]
    day = time.strftime("%Y-%m-%d", time.gmtime(row.started))
    same_day = [
        r for r in library.history if time.strftime("%Y-%m-%d", time.gmtime(r.started)) == day
    ]
    data = history_page(base, after=day, before=day, length=1000)
    assert sorted(r["row_id"] for r in data["data"]) == sorted(r.row_id for r in same_day)


def test_history_rows_carry_ints_and_the_observed_key_set(base: str) -> None:
    row = history_page(base, length=1)["data"][0]
    assert isinstance(row["row_id"], int) and isinstance(row["rating_key"], int)
    assert row["id"] == row["row_id"] == row["reference_id"]
    assert row["play_duration"] == row["duration"]
    assert {"percent_complete", "watched_status", "group_ids", "session_key", "guid"} <= set(row)
    assert "section_id" not in row


def test_durations_are_human_strings(base: str, library: Library) -> None:
    data = history_page(base, length=2)
    page_seconds = sum(r["play_duration"] for r in data["data"])
    assert data["filter_duration"] == human_duration(page_seconds)
    assert data["total_duration"] == human_duration(sum(r.play_duration for r in library.history))
    assert human_duration(20_100) == "5 hrs 35 mins"
    assert human_duration(3_720) == "1 hr 2 mins"
    assert human_duration(0) == "0"


# --- faults and writes -------------------------------------------------------------------------


def test_faults_by_command(base: str, faults: Faults) -> None:
    faults.add(Fault("status", "get_users", times=1))
    broken = call(base, "get_users")
    assert broken.status_code == 500
    assert broken.json()["response"]["message"] == "Check the logs for errors"
    assert call(base, "get_users").status_code == 200
    faults.add(Fault("rate_limit", "get_history", times=1, retry_after="7"))
    limited = call(base, "get_history")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    faults.add(Fault("status", "get_history", times=1, status=503))
    assert call(base, "get_history").status_code == 503
    faults.add(Fault("auth", "*", times=1))
    refused = call(base, "arnold")
    assert refused.status_code == 400
    assert refused.json()["response"]["message"] == "Invalid apikey"


def test_malformed_and_wrong_shape_faults(base: str, faults: Faults) -> None:
    faults.add(Fault("malformed_json", "get_users", times=1))
    with pytest.raises(ValueError):
        call(base, "get_users").json()
    faults.add(Fault("wrong_shape", "get_users", times=1))
    assert call(base, "get_users").json() == []


def test_latency_fault_delays_the_answer(base: str, faults: Faults) -> None:
    faults.add(Fault("latency", "arnold", times=1, seconds=0.3))
    began = time.monotonic()
    assert call(base, "arnold").status_code == 200
    assert time.monotonic() - began >= 0.3


def test_control_routes_steer_faults_and_show_writes(base: str, library: Library) -> None:
    added = httpx.post(f"{base}/__fake__/faults", json={"kind": "status", "match": "get_users"})
    assert added.status_code == 200
    assert call(base, "get_users").status_code == 500
    httpx.delete(f"{base}/__fake__/faults")
    assert call(base, "get_users").status_code == 200
    victim = library.history[-1].row_id
    assert call(base, "delete_history", row_ids=victim).status_code == 200
    writes = httpx.get(f"{base}/__fake__/writes").json()["writes"]
    assert writes[-1]["query"] == {"cmd": "delete_history", "row_ids": str(victim)}
    assert KEY not in str(writes)
    assert victim not in {r["row_id"] for r in history_page(base, length=1000)["data"]}


def test_delete_history_without_ids_is_an_error(base: str) -> None:
    assert call(base, "delete_history").status_code == 400


# --- size --------------------------------------------------------------------------------------


def _big_library(rows: int) -> Library:
    """The tiny library with ``rows`` history rows cloned from its own (one per minute)."""
    library = generate("tiny")
    template = list(library.history)
    start = template[0].started - rows * 60
    library.history = [
        dataclasses.replace(
            template[i % len(template)],
            row_id=i + 1,
            started=start + i * 60,
            stopped=start + i * 60 + 50,
        )
        for i in range(rows)
    ]
    return library


def test_fast_on_400000_history_rows() -> None:
    library = _big_library(400_000)
    began = time.monotonic()
    app = create_app(library, api_key=KEY)
    assert time.monotonic() - began < 10
    user_id = library.history[0].user_id
    with serve(app) as url:
        for params in (
            {"start": 0, "length": 1000},
            {"start": 350_000, "length": 1000},
            {"start": 0, "length": 1000, "user_id": user_id},
            {"start": 0, "length": 1000, "after": "2026-01-01"},
        ):
            began = time.monotonic()
            data = history_page(url, **params)
            assert time.monotonic() - began < 1.5, params
            assert len(data["data"]) == 1000
