"""The fake Tautulli answers every recorded request like the real v2.17.2 did.

For each file in ``../shared/contracts/tautulli-golden/`` the same request (same query, our key)
goes to the fake: the HTTP status, the envelope and its ``result`` must match, error messages
must match word for word, and ``data`` must have the same key sets and JSON types, recursively.
Values may differ. A key's allowed types are those the real server sent for it in any golden
answer of the same command (a movie row has ``parent_rating_key: null``, an episode row a number),
so the fake may show a page with different rows than the recording did.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.tautulli.fake import FakeTautulli
from tests.conftest import served_fake
from tests.contract.openapi import CONTRACTS

GOLDEN = CONTRACTS / "tautulli-golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.json"))
KEY = "c0ffeec0ffeec0ffeec0ffeec0ffee00"

Shape = Any  # frozenset of scalar type names | dict of shapes | [item shape] | []


def shape(value: Any) -> Shape:
    """The JSON type structure of ``value``: objects keep their keys, arrays merge their items."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [merge(*(shape(item) for item in value))] if value else []
    if value is None:
        return frozenset({"null"})
    if isinstance(value, bool):
        return frozenset({"boolean"})
    if isinstance(value, int | float):
        return frozenset({"number"})  # JSON has one number type (watched_status: 1 or 0.25)
    if isinstance(value, str):
        return frozenset({"string"})
    raise TypeError(f"not JSON: {value!r}")


def merge(*shapes: Shape) -> Shape:
    """One shape that admits every one of ``shapes`` (the union of their types per key)."""
    merged = shapes[0]
    for other in shapes[1:]:
        merged = _merge_two(merged, other)
    return merged


def _merge_two(a: Shape, b: Shape) -> Shape:
    if isinstance(a, frozenset) and isinstance(b, frozenset):
        return a | b
    if isinstance(a, dict) and isinstance(b, dict):
        keys = list(dict.fromkeys([*a, *b]))
        return {
            k: _merge_two(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in keys
        }
    if isinstance(a, list) and isinstance(b, list):
        return [merge(*a, *b)] if a or b else []
    return frozenset({_kind(a), _kind(b)})


def _kind(s: Shape) -> str:
    return "object" if isinstance(s, dict) else "array" if isinstance(s, list) else "|".join(s)


def mismatches(fake: Shape, golden: Shape, path: str = "data") -> list[str]:
    """Where ``fake`` does not fit ``golden``: key sets must be equal, types a subset."""
    if isinstance(golden, dict):
        if not isinstance(fake, dict):
            return [f"{path}: {_kind(fake)} instead of an object"]
        problems = []
        if set(fake) != set(golden):
            missing, extra = sorted(set(golden) - set(fake)), sorted(set(fake) - set(golden))
            problems.append(f"{path}: keys differ, missing {missing}, extra {extra}")
        for key in set(fake) & set(golden):
            problems += mismatches(fake[key], golden[key], f"{path}.{key}")
        return problems
    if isinstance(golden, list):
        if not isinstance(fake, list):
            return [f"{path}: {_kind(fake)} instead of an array"]
        if not golden or not fake:  # an empty recording says nothing about its items
            return []
        return mismatches(fake[0], golden[0], f"{path}[]")
    if not isinstance(fake, frozenset) or not fake <= golden:
        return [f"{path}: {_kind(fake)} where the real one sent {_kind(golden)}"]
    return []


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def golden_data_shapes() -> dict[str, Shape]:
    """Per command, the merged shape of ``data`` over its successful recordings."""
    by_command: dict[str, list[Shape]] = {}
    for path in GOLDEN_FILES:
        recording = load(path)
        if recording["http_status"] == 200 and "cmd" in recording["request"]["query"]:
            cmd = recording["request"]["query"]["cmd"]
            by_command.setdefault(cmd, []).append(shape(recording["body"]["response"]["data"]))
    return {cmd: merge(*shapes) for cmd, shapes in by_command.items()}


# Row fields whose recordings happen to show one type only because every recorded row was a
# movie; they are the same columns as get_history's, where episode rows carry numbers.
WIDER_ROW_FIELDS: dict[str, dict[str, frozenset[str]]] = {
    "get_users_table": {
        "media_index": frozenset({"number"}),
        "parent_media_index": frozenset({"number"}),
    },
}


def widened(cmd: str, data: Shape) -> Shape:
    """``data`` with the documented extra types of ``WIDER_ROW_FIELDS`` admitted."""
    extra = WIDER_ROW_FIELDS.get(cmd)
    if not extra or not isinstance(data, dict) or not data.get("data"):
        return data
    row = dict(data["data"][0])
    for field, types in extra.items():
        row[field] = row[field] | types
    return {**data, "data": [row]}


# --- the fake under test -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def library() -> Library:
    return generate("tiny")


@pytest.fixture(scope="module")
def fakes(library: Library) -> Iterator[dict[str, str]]:
    """A fake with Plex reachable and one with Plex down, on the same library."""
    with (
        served_fake("tautulli", api_key=KEY, library=library) as up,
        served_fake("tautulli", api_key=KEY, library=library, plex_down=True) as down,
    ):
        yield {"up": up.url, "down": down.url}


def substitutes(library: Library) -> dict[str, dict[str, str]]:
    """Ids of the recorded database mapped to ids of the fake's library with the same role."""
    watched = [r for r in library.history if r.rating_key in library.plex_items]
    movie = next(r.rating_key for r in watched if r.media_type == "movie")
    episode = next(r for r in watched if r.media_type == "episode")
    show = library.plex_items[episode.rating_key].grandparent_rating_key
    users = [u.user_id for u in library.plex_users.values() if u.user_id and not u.deleted]
    viewers = [uid for uid in users if any(r.user_id == uid for r in library.history)]
    return {
        "rating_key": {"5001": movie, "6000": show},
        "grandparent_rating_key": {"6000": show},
        "user_id": {"1001": str(users[0]), "1002": str(viewers[-1])},
    }


def fake_request(recording: dict[str, Any], library: Library) -> dict[str, str]:
    query = dict(recording["request"]["query"])
    if query.get("apikey") == "<APIKEY>":
        query["apikey"] = KEY
    for field, mapping in substitutes(library).items():
        if field in query:
            query[field] = mapping.get(query[field], query[field])
    return query


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=[p.stem for p in GOLDEN_FILES])
def test_fake_answers_like_the_recording(
    path: Path, fakes: dict[str, str], library: Library
) -> None:
    recording = load(path)
    query = fake_request(recording, library)
    base = fakes["down" if "no_plex" in path.stem or "no_cache" in path.stem else "up"]
    url = base + recording["request"]["path"]
    if query.get("cmd") == "get_library_media_info" and base == fakes["up"]:
        httpx.get(url, params=query)  # the recording was made with the cache file in place
    answer = httpx.get(url, params=query, timeout=10)
    golden = recording["body"]["response"]
    got = answer.json()
    assert answer.status_code == recording["http_status"]
    assert set(got) == {"response"}
    assert set(got["response"]) == set(golden)
    assert got["response"]["result"] == golden["result"]
    if golden["result"] == "error" or golden["message"] is not None:
        assert got["response"]["message"] == golden["message"]
    # Success data is held to every recording of the command; an error's data to its own.
    if answer.status_code == 200:
        expected = widened(query["cmd"], golden_data_shapes()[query["cmd"]])
    else:
        expected = shape(golden["data"])
    assert mismatches(shape(got["response"]["data"]), expected) == []


def _items(data: Any) -> Any:
    """The list a recording's ``data`` holds (itself, or a table's ``data``)."""
    return data.get("data") if isinstance(data, dict) else data


WITH_ITEMS = [
    p
    for p in GOLDEN_FILES
    if isinstance(_items(load(p)["body"]["response"]["data"]), list)
    and _items(load(p)["body"]["response"]["data"])
]


@pytest.mark.parametrize("path", WITH_ITEMS, ids=[p.stem for p in WITH_ITEMS])
def test_recordings_with_items_get_answers_with_items(
    path: Path, fakes: dict[str, str], library: Library
) -> None:
    """Guards the shape comparison against vacuous passes on empty lists."""
    recording = load(path)
    query = fake_request(recording, library)
    got = httpx.get(fakes["up"] + recording["request"]["path"], params=query).json()
    items = _items(got["response"]["data"])
    assert isinstance(items, list) and items, "the fake answered no items"


def test_every_command_of_the_recordings_is_simulated() -> None:
    recorded = {load(p)["request"]["query"].get("cmd") for p in GOLDEN_FILES} - {None, "nope"}
    handlers = FakeTautulli(
        generate("tiny"), api_key=KEY, faults=None, writes=None, version="v2.17.2", plex_down=False
    ).handlers
    assert recorded <= set(handlers)


def test_shape_helper() -> None:
    rows = [{"a": 1, "b": None}, {"a": 0.25, "b": "x"}]
    assert shape(rows) == [{"a": frozenset({"number"}), "b": frozenset({"null", "string"})}]
    assert mismatches(shape([{"a": 2, "b": "y"}]), shape(rows)) == []
    assert mismatches(shape([{"a": "2", "b": "y"}]), shape(rows)) == [
        "data[].a: string where the real one sent number"
    ]
    assert mismatches(shape({"a": 1}), shape({"a": 1, "c": 2})) == [
        "data: keys differ, missing ['c'], extra []"
    ]
