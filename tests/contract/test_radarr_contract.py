"""Every request the Radarr adapter sends, and every fake answer to it, matches Radarr's OpenAPI.

The v5 fake is checked against ``radarr-openapi.json`` and the v4 fake against
``radarr-openapi-v4.json``. The documents declare no body for ``PUT /movie/editor``, while the
real server answers 202 with the updated movies (ENDPOINTS.md §1); each of those is checked as a
``MovieResource`` instead.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import served_fake
from tests.contract.exchanges import ExchangeRecorder
from tests.contract.openapi import OpenApiContract

KEY = "contract-radarr-key"
CASES = [("5.28.0.10274", "radarr-openapi.json"), ("4.7.5.7809", "radarr-openapi-v4.json")]


async def _exercise(adapter: Any, library: Any, *, check_health: bool) -> None:
    """Run every adapter operation once (health is skipped so v4 still sends a DELETE)."""
    if check_health:
        await adapter.check_health()
    movies = [m async for m in adapter.iter_movies()]
    for movie in movies:
        [f async for f in adapter.iter_movie_files(movie.arr_id)]
    two = next(m for m in library.movies.values() if len(m.file_ids) == 2)
    await adapter.get_files(two.file_ids)
    await adapter.unmonitor("movie", [movies[0].arr_id, movies[1].arr_id])
    await adapter.add_tag("movie", [movies[0].arr_id], "Cullarr-Contract")
    await adapter.add_tag("movie", [movies[1].arr_id], "cullarr-contract")
    primary = two.file_ids[0]
    assert await adapter.delete_file(primary) is True
    assert await adapter.delete_file(primary) is False
    await adapter.list_files(two.id)


@pytest.mark.parametrize(("version", "document"), CASES, ids=["v5", "v4"])
async def test_adapter_traffic_matches_the_spec(version: str, document: str, adapter_for) -> None:
    contract = OpenApiContract(document)
    recorder = ExchangeRecorder()
    with served_fake("radarr", api_key=KEY, version=version) as fake:
        async with adapter_for("radarr", fake.url, KEY, transport=recorder) as adapter:
            await _exercise(adapter, fake.library, check_health=version.startswith("5"))
    assert recorder.exchanges, "the adapter sent nothing"
    operations = set()
    for exchange in recorder.exchanges:
        method, path = exchange.method, exchange.path
        contract.validate_request(method, path, exchange.query, exchange.body)
        operations.add(f"{method} {contract.operation(method, path)[0]}")
        if exchange.status == 404:  # the repeated delete: Radarr's error body, no schema
            assert method == "DELETE" and set(exchange.answer) == {"message"}
            continue
        assert 200 <= exchange.status < 300, exchange
        if (method, path) == ("PUT", "/api/v3/movie/editor"):
            for movie in exchange.answer:
                contract.validate_response("GET", f"/api/v3/movie/{movie['id']}", movie)
        else:
            contract.validate_response(method, path, exchange.answer)
    assert operations >= {
        "GET /api/v3/movie",
        "GET /api/v3/moviefile",
        "PUT /api/v3/movie/editor",
        "GET /api/v3/tag",
        "POST /api/v3/tag",
        "DELETE /api/v3/moviefile/{id}",
    }


def test_sonarrs_exclusion_field_is_not_radarrs() -> None:
    """Radarr's editor field is ``addImportExclusion``; Sonarr's name is refused."""
    contract = OpenApiContract("radarr-openapi.json")
    contract.validate_request(
        "PUT", "/api/v3/movie/editor", {}, {"movieIds": [1], "addImportExclusion": True}
    )
    with pytest.raises(AssertionError):
        contract.validate_request(
            "PUT", "/api/v3/movie/editor", {}, {"movieIds": [1], "addImportListExclusion": True}
        )
