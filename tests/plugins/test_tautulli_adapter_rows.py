"""The Tautulli adapter on narrow row and envelope shapes the fake never sends (respx)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import respx

from cullarrd.errors import IntegrationError
from cullarrd.types import HistoryRecord
from tests.plugins.test_tautulli_adapter import KEY, all_history

BASE = "http://tautulli.test"


def history_answer(rows: list[dict[str, Any]]) -> dict[str, Any]:
    data = {"recordsTotal": len(rows), "recordsFiltered": len(rows), "draw": 1, "data": rows}
    return {"response": {"result": "success", "message": None, "data": data}}


def string_row(**overrides: Any) -> dict[str, Any]:
    """A history row with every number as a string, as older Tautulli versions may send."""
    row = {
        "row_id": "41",
        "id": "41",
        "user_id": "1002",
        "media_type": "episode",
        "rating_key": "6102",
        "parent_rating_key": "6100",
        "grandparent_rating_key": "6000",
        "media_index": "2",
        "parent_media_index": "1",
        "title": "Second",
        "grandparent_title": "Show A",
        "year": "2020",
        "guid": "plex://episode/5e1000000000000000000002",
        "started": "1706868000",
        "stopped": "1706869080",
        "play_duration": "1080",
        "duration": "1080",
        "percent_complete": "40",
        "watched_status": "0.25",
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not ...}


async def history_from(rows: list[dict[str, Any]], adapter_for) -> list[HistoryRecord]:
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/v2").respond(200, json=history_answer(rows))
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            return [r for page in await all_history(adapter) for r in page]


async def test_numbers_as_strings_are_parsed(adapter_for) -> None:
    [record] = await history_from([string_row()], adapter_for)
    assert record.history_id == 41 and record.user_id == 1002
    assert (record.season_number, record.episode_number, record.year) == (1, 2, 2020)
    assert record.rating_key == "6102" and record.grandparent_rating_key == "6000"
    assert record.started_at == dt.datetime(2024, 2, 2, 10, 0, tzinfo=dt.UTC)
    assert (record.play_duration_s, record.percent_complete, record.watched_status) == (
        1080,
        40,
        0.25,
    )


async def test_rows_before_2_12_3_fall_back_to_duration(adapter_for) -> None:
    [record] = await history_from([string_row(play_duration=..., duration=900)], adapter_for)
    assert record.play_duration_s == 900


@pytest.mark.parametrize("field", ["row_id", "user_id", "media_type"])
async def test_a_row_missing_a_required_field_is_a_mismatch_naming_it(
    field: str, adapter_for
) -> None:
    overrides = {field: ...}
    if field == "row_id":
        overrides["id"] = ...
    with pytest.raises(IntegrationError) as caught:
        await history_from([string_row(**overrides)], adapter_for)
    assert caught.value.code == "integration_contract_mismatch"
    assert caught.value.details["field"] == field
    assert field in str(caught.value)


async def test_empty_lists_are_valid_data(adapter_for) -> None:
    empty = {"response": {"result": "success", "message": None, "data": []}}
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/v2").respond(200, json=empty)
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            assert [u async for u in adapter.iter_users()] == []
            assert [lib async for lib in adapter.iter_libraries()] == []


async def test_an_auth_message_in_any_400_is_auth_failed(adapter_for) -> None:
    answer = {
        "response": {"result": "error", "message": "Parameter apikey is required", "data": {}}
    }
    with respx.mock(base_url=BASE) as mock:
        route = mock.get("/api/v2").respond(400, json=answer)
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await adapter.check_health()
    assert caught.value.code == "integration_auth_failed"
    assert route.call_count == 1


async def test_an_error_envelope_with_http_200_is_a_mismatch(adapter_for) -> None:
    """What ``/api`` (no ``v2``) answers: HTTP 200 but ``result: error``; it fails closed."""
    answer = {"response": {"result": "error", "message": "Please use the /api/v2 endpoint."}}
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/v2").respond(200, json={**answer})
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await adapter.check_health()
    assert caught.value.code == "integration_contract_mismatch"
    assert "Please use the /api/v2 endpoint." in str(caught.value)


async def test_a_non_positive_page_size_is_refused_before_any_request(adapter_for) -> None:
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        route = mock.get("/api/v2").respond(200, json=history_answer([]))
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            with pytest.raises(ValueError):
                await all_history(adapter, page_size=-1)
    assert route.call_count == 0


async def test_a_history_object_without_rows_is_a_mismatch(adapter_for) -> None:
    """A history page that is an object without ``data`` fails closed."""
    answer = {"response": {"result": "success", "message": None, "data": {"recordsTotal": 3}}}
    with respx.mock(base_url=BASE) as mock:
        mock.get("/api/v2").respond(200, json=answer)
        async with adapter_for("tautulli", BASE, KEY) as adapter:
            with pytest.raises(IntegrationError) as caught:
                await all_history(adapter)
    assert caught.value.code == "integration_contract_mismatch"
