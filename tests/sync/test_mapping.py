"""Library mapping over the three fakes on loopback, after the real inventory and history phases.

Each scenario edits the generated ``tiny`` library *before* the fakes serve it (their indexes are
built at start), runs the phases a sync runs before ``library_mapping``, then mapping itself, and
reads the store. The tiny library (seed 1): movies 3 and 5 are a same-title+year pair (Plex keys
1 and 3), movie 4 is a plain one-file movie (key 2), movie 6 has two files (key 4), movie 1 is not
in Plex and movie 2 has no file; Plex key 5 is a movie Radarr does not manage; episodes 2 and 3
share one double-pilot file (keys 10 and 11); key 37 is history of an item Plex no longer has.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

from cullarrd.store.models import Episode, Integration, Movie, Series, WatchHistory
from cullarrd.sync.context import CancelToken, SyncCanceled
from cullarrd.sync.history import tautulli_history, tautulli_users
from cullarrd.sync.inventory import radarr_inventory, sonarr_inventory
from cullarrd.sync.mapping import SETTLED_KEY, library_mapping
from cullarrd.sync.mapping_decide import ItemState, decide
from cullarrd.sync.mapping_fetch import NOT_FETCHED, MetadataFetcher
from cullarrd.sync.mapping_rules import (
    AMBIGUOUS,
    UNRESOLVED,
    VERIFIED_IDS,
    VERIFIED_PATH,
    Resolution,
    parse_guids,
)
from cullarrd.types import PlexMetadata
from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import Library, PlexItem
from tests.serving import RecordingTransport
from tests.sync.helpers import PATH_MAPPINGS, FakeSet, make_context, make_runtime, served_fakes

BEFORE = (
    ("sonarr_inventory", sonarr_inventory),
    ("radarr_inventory", radarr_inventory),
    ("tautulli_users", tautulli_users),
    ("tautulli_history", tautulli_history),
)
TV_ONLY = {"path_mappings": PATH_MAPPINGS["tautulli"][:1]}  # Plex movie paths stay unmapped
PLAIN, TWIN_A, TWIN_B, TWO_FILES = 4, 3, 5, 6  # Radarr movie ids (see the module docstring)


@contextlib.contextmanager
def serving(store, tmp_path, library: Library, **per_kind: Any) -> Iterator[tuple[FakeSet, Any]]:
    """The fakes over ``library`` and a runtime whose integrations point at them."""
    extra = per_kind.pop("extra", [])
    plex_down = per_kind.pop("plex_down", False)
    with served_fakes(library, plex_down=plex_down) as fakes:
        configs = fakes.integrations(**per_kind) + [
            {**fakes.integrations()[1], **entry} for entry in extra
        ]
        yield fakes, make_runtime(store, configs, tmp_path)


async def sync(runtime, **overrides: Any):
    """The phases before mapping, then ``library_mapping``; its context (with ``metadata``)."""
    transports: list[RecordingTransport] = []

    def factory() -> RecordingTransport:
        transports.append(RecordingTransport())
        return transports[-1]

    ctx = make_context(runtime, transport_factory=factory, **overrides)
    for name, phase in BEFORE:
        ctx.progress.begin(name)
        await phase(ctx)
    sent_before = sum(len(t.sent) for t in transports)
    ctx.progress.begin("library_mapping")
    await library_mapping(ctx)
    ctx.progress.finish("library_mapping")
    sent = [s for t in transports for s in t.sent][sent_before:]
    ctx.metadata = [
        s.query["rating_key"][0] for s in sent if s.query.get("cmd") == ["get_metadata"]
    ]
    return ctx


def counts(ctx) -> dict[str, int]:
    return ctx.progress.phases["library_mapping"].counts


def written(ctx) -> int:
    return ctx.progress.phases["library_mapping"].rows_written


def movie(radarr_id: int, integration: str = "radarr") -> Movie:
    return (
        Movie.select()
        .join(Integration)
        .where((Movie.radarr_movie_id == radarr_id) & (Integration.name == integration))
        .get()
    )


def episode(sonarr_id: int) -> Episode:
    return Episode.get(Episode.sonarr_episode_id == sonarr_id)


def mapping_columns() -> dict[tuple[str, int], tuple]:
    """Every item's mapping columns (to compare before and after)."""
    found = {}
    for model, kind in ((Movie, "movie"), (Episode, "episode")):
        for row in model.select():
            found[(kind, row.id)] = (
                row.plex_rating_key,
                row.plex_guid,
                row.mapping_status_code,
                row.mapping_diagnostics_json,
            )
    return found


def attributions() -> dict[int, tuple[str | None, int | None]]:
    return {r.history_id: (r.watchable_type, r.watchable_id) for r in WatchHistory.select()}


def memos() -> dict[str, Any]:
    state = Integration.get(name="tautulli").sync_state_json
    return {key: value for key, value in state.items() if key.startswith("mapping_")}


def plex_movie(library: Library, radarr_id: int) -> PlexItem:
    return library.plex_items[library.movies[radarr_id].plex_rating_key]


def add_history(library: Library, rating_key: str, media_type: str = "movie") -> None:
    """One more finished play of ``rating_key`` (before the fakes start)."""
    last = library.history[-1]
    library.history.append(
        dataclasses.replace(
            last,
            row_id=last.row_id + 1,
            rating_key=rating_key,
            media_type=media_type,
            started=last.started + 10,
            stopped=last.started + 4000,
        )
    )


# --- every status -------------------------------------------------------------------------


def test_the_tiny_library_is_what_these_scenarios_assume():
    library = generate("tiny")
    movies = library.movies
    assert (movies[TWIN_A].title, movies[TWIN_A].year) == (
        movies[TWIN_B].title,
        movies[TWIN_B].year,
    )
    assert [movies[i].plex_rating_key for i in (TWIN_A, PLAIN, TWIN_B, TWO_FILES)] == list("1234")
    assert len(movies[PLAIN].file_ids) == 1 and len(movies[TWO_FILES].file_ids) == 2
    assert movies[1].plex_rating_key is None and not movies[2].file_ids
    assert "other-movies" in library.plex_items["5"].files[0][0]
    pilot = [library.episodes[i] for i in (2, 3)]
    assert pilot[0].episode_file_id == pilot[1].episode_file_id
    assert [e.plex_rating_key for e in pilot] == ["10", "11"]
    keys = {row.rating_key for row in library.history}
    assert "37" in keys and "37" not in library.plex_items and "12" in keys and "8" in keys
    assert (
        library.episodes[1].plex_rating_key == "8" and library.episodes[4].plex_rating_key == "12"
    )


async def test_paths_map_items_and_history_is_attributed(store, tmp_path):
    library = generate("tiny")
    with serving(store, tmp_path, library) as (_, runtime):
        ctx = await sync(runtime)
    for radarr_id in (TWIN_A, PLAIN, TWIN_B, TWO_FILES):
        row, item = movie(radarr_id), plex_movie(library, radarr_id)
        assert (row.mapping_status_code, row.plex_rating_key) == (VERIFIED_PATH, item.rating_key)
        assert row.plex_guid == item.guid
        diagnostics = row.mapping_diagnostics_json
        assert diagnostics["step"] == "path" and diagnostics["reason"] is None
        assert diagnostics["steps"]["path"]["candidates"] == [f"movie:{row.id}"]
        assert diagnostics["steps"]["external_ids"]["candidates"] == [f"movie:{row.id}"]
    for radarr_id in (1, 2):  # not in Plex / no file: nothing matches them
        row = movie(radarr_id)
        assert (row.mapping_status_code, row.plex_rating_key) == (UNRESOLVED, None)
    # The double pilot: one file, two Plex episodes, told apart by their numbers.
    for sonarr_id, key in ((2, "10"), (3, "11")):
        row = episode(sonarr_id)
        assert (row.mapping_status_code, row.plex_rating_key) == (VERIFIED_PATH, key)
        assert row.mapping_diagnostics_json["steps"]["path"]["narrowed_by_numbers"] == [
            f"episode:{row.id}"
        ]
    assert Series.get(Series.sonarr_series_id == 1).plex_rating_key == "6"
    rows = list(WatchHistory.select())
    expected = set()
    for row in rows:
        owner = Movie.get_or_none(Movie.plex_rating_key == row.rating_key)
        owner = owner or Episode.get_or_none(Episode.plex_rating_key == row.rating_key)
        if owner is None:  # the stale key: Plex no longer has that item
            assert row.rating_key == "37" and row.watchable_id is None
            continue
        assert (row.watchable_type, row.watchable_id) == (row.media_type, owner.id)
        expected.add((row.media_type, owner.id))
    assert ctx.touched_watchables == expected
    assert counts(ctx)["history_attributed"] == len(rows) - 2
    assert counts(ctx)["metadata_unknown"] == 1


async def test_rerun_without_changes_writes_nothing(store, tmp_path):
    with serving(store, tmp_path, generate("tiny")) as (_, runtime):
        await sync(runtime)
        before = (mapping_columns(), attributions(), memos())
        stamps = {row.id: row.updated_at for row in Movie.select()}
        again = await sync(runtime)
    assert written(again) == 0 and again.touched_watchables == set()
    assert (mapping_columns(), attributions(), memos()) == before
    assert {row.id: row.updated_at for row in Movie.select()} == stamps
    # Only the key Plex no longer knows is asked again; settled keys (the unmanaged movie) are not.
    assert again.metadata == ["37"]


async def test_external_ids_map_when_plex_paths_are_not_mapped(store, tmp_path):
    with serving(store, tmp_path, generate("tiny"), tautulli=TV_ONLY) as (_, runtime):
        await sync(runtime)
    row = movie(PLAIN)
    assert row.mapping_status_code == VERIFIED_IDS
    steps = row.mapping_diagnostics_json["steps"]
    assert steps["path"]["candidates"] == []
    assert steps["path"]["canonical_paths"][0].startswith("/data/media/movies/")
    assert row.mapping_diagnostics_json["step"] == "external_ids"
    assert {movie(i).mapping_status_code for i in (TWIN_A, TWIN_B, TWO_FILES)} == {VERIFIED_IDS}


async def test_tv_structure_maps_an_episode_whose_file_plex_does_not_share(store, tmp_path):
    library = generate("tiny")
    special = library.plex_items["8"]  # series 1, S00E01, watched
    special.files, special.guids = [("/data/media/tv/elsewhere/special.mkv", 1)], []
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    row = episode(1)
    assert (row.mapping_status_code, row.plex_rating_key) == ("verified_tv_structure", "8")
    seen = row.mapping_diagnostics_json["steps"]["tv_structure"]
    assert (seen["season"], seen["episode"], seen["candidates"]) == (0, 1, [f"episode:{row.id}"])
    assert (
        WatchHistory.select().where(WatchHistory.rating_key == "8").first().watchable_id == row.id
    )


async def test_title_and_year_map_provisionally_only_when_unique(store, tmp_path):
    library = generate("tiny")
    for radarr_id in (PLAIN, TWIN_A):  # Plex copies under an unknown folder, without ids
        item = plex_movie(library, radarr_id)
        item.files, item.guids = [(f"/data/media/movies/x/{item.rating_key}.mkv", 1)], []
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    row = movie(PLAIN)
    assert (row.mapping_status_code, row.plex_rating_key) == ("provisional_title_year", "2")
    assert row.mapping_diagnostics_json["step"] == "title_year"
    # The twin's title and year fit two movies: no winner, so nothing is guessed.
    assert movie(TWIN_A).mapping_status_code == UNRESOLVED
    assert movie(TWIN_B).mapping_status_code == VERIFIED_PATH
    unattributed = WatchHistory.select().where(WatchHistory.rating_key == "1")
    assert {r.watchable_id for r in unattributed} == {None}


async def test_external_source_not_managed(store, tmp_path):
    library = generate("tiny")
    item = plex_movie(library, PLAIN)  # Plex plays its own copy, outside the managed roots
    item.files = [("/data/media/other-movies/The Memory of the Mountain (1991)/m.mkv", 1)]
    add_history(library, item.rating_key)
    add_history(library, "5")  # the movie Radarr does not manage at all
    with serving(store, tmp_path, library) as (_, runtime):
        ctx = await sync(runtime, settings={"managed_path_roots": ["/mnt/media"]})
    row = movie(PLAIN)
    assert (row.mapping_status_code, row.plex_rating_key) == ("external_source_not_managed", "2")
    assert row.mapping_diagnostics_json["steps"]["path"]["external"] is True
    assert ("movie", row.id) in ctx.touched_watchables
    rows = {r.rating_key: r.watchable_id for r in WatchHistory.select()}
    assert rows["2"] == row.id and rows["5"] is None
    memo = Integration.get(name="tautulli").sync_state_json[SETTLED_KEY]
    assert "5" in memo["keys"]


# --- conflicts ----------------------------------------------------------------------------


def reason(row) -> str:
    assert row.mapping_status_code == AMBIGUOUS
    return row.mapping_diagnostics_json["reason"]


async def test_two_files_on_one_path_are_multiple_path_candidates(store, tmp_path):
    library = generate("tiny")
    library.movie_files[library.movies[TWIN_B].file_ids[0]].path = library.movie_files[
        library.movies[PLAIN].file_ids[0]
    ].path
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    a, b = movie(PLAIN), movie(TWIN_B)
    assert reason(a) == reason(b) == "multiple_path_candidates"
    assert a.mapping_diagnostics_json["candidates"] == sorted([f"movie:{a.id}", f"movie:{b.id}"])


async def test_one_tmdb_id_in_two_radarrs_is_multiple_external_id_candidates(store, tmp_path):
    second = {"name": "radarr-4k", "path_mappings": [{"from": "/movies", "to": "/mnt/4k"}]}
    with serving(store, tmp_path, generate("tiny"), tautulli=TV_ONLY, extra=[second]) as (
        _,
        runtime,
    ):
        await sync(runtime)
    for integration in ("radarr", "radarr-4k"):
        assert reason(movie(PLAIN, integration)) == "multiple_external_id_candidates"


async def test_a_plex_movie_on_an_episode_file_is_a_type_mismatch(store, tmp_path):
    library = generate("tiny")
    plex_movie(library, PLAIN).files = list(library.plex_items["12"].files)
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    row = episode(4)  # Plex key 12
    assert reason(row) == "type_mismatch"
    assert row.plex_rating_key == "12"  # it keeps its own key; history is not attributed
    rows = WatchHistory.select().where(WatchHistory.rating_key == "12")
    assert {r.watchable_id for r in rows} == {None}
    assert movie(PLAIN).mapping_status_code == UNRESOLVED


async def test_path_and_ids_pointing_apart_are_strong_signal_disagreement(store, tmp_path):
    library = generate("tiny")
    plex_movie(library, PLAIN).guids = list(plex_movie(library, TWO_FILES).guids)
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    a, b = movie(PLAIN), movie(TWO_FILES)
    assert reason(a) == reason(b) == "strong_signal_disagreement"
    assert a.mapping_diagnostics_json["conflict_step"] == "path"
    assert (a.plex_rating_key, b.plex_rating_key) == ("2", "4")


async def test_a_second_key_with_weaker_evidence_is_a_rating_key_conflict(store, tmp_path):
    library = generate("tiny")
    add_history(library, "2")
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    row = movie(PLAIN)
    assert row.mapping_status_code == VERIFIED_PATH
    history = WatchHistory.get(WatchHistory.rating_key == "2")
    assert history.watchable_id == row.id
    original = plex_movie(library, PLAIN)
    library.plex_items["900"] = dataclasses.replace(  # a second Plex item, same ids, other file
        original, rating_key="900", files=[("/data/media/other-movies/copy.mkv", 1)]
    )
    with serving(store, tmp_path, library) as (_, runtime):
        ctx = await sync(runtime)
    row = movie(PLAIN)
    assert reason(row) == "plex_rating_key_conflict"
    assert row.plex_rating_key == "2"
    diagnostics = row.mapping_diagnostics_json
    assert diagnostics["rating_keys"] == ["2", "900"]
    assert {(c["rating_key"], c["step"]) for c in diagnostics["claims"]} == {
        ("2", "path"),
        ("900", "external_ids"),
    }
    assert WatchHistory.get_by_id(history.id).watchable_id is None  # detached, fail closed
    assert ("movie", row.id) in ctx.touched_watchables
    assert counts(ctx)["history_detached"] == 1


async def test_a_conflict_ends_only_on_fresh_evidence_for_every_key(store, tmp_path):
    library = generate("tiny")
    original = plex_movie(library, TWO_FILES).guids
    plex_movie(library, PLAIN).guids = list(original)
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    assert reason(movie(TWO_FILES)) == "strong_signal_disagreement"
    plex_movie(library, PLAIN).guids = [f"tmdb://{library.movies[PLAIN].tmdb_id}"]
    with serving(store, tmp_path, library) as (fakes, runtime):
        expire_settled_keys()
        fakes.faults["tautulli"].add(Fault(kind="plex_down", match="get_metadata"))
        before = mapping_columns()
        down = await sync(runtime)
        assert mapping_columns() == before  # unknown answers change nothing
        assert counts(down)["metadata_unknown"] > 0
        fakes.faults["tautulli"].clear()
        await sync(runtime)
    assert movie(PLAIN).mapping_status_code == VERIFIED_PATH
    assert movie(TWO_FILES).mapping_status_code == VERIFIED_PATH


def expire_settled_keys() -> None:
    row = Integration.get(name="tautulli")
    state = dict(row.sync_state_json)
    state[SETTLED_KEY] = {**state[SETTLED_KEY], "at": "2000-01-01T00:00:00Z"}
    Integration.update(sync_state_json=state).where(Integration.id == row.id).execute()


# --- Plex down, budget, failures ----------------------------------------------------------


async def test_plex_down_maps_nothing_and_calls_it_unknown(store, tmp_path):
    with serving(store, tmp_path, generate("tiny"), plex_down=True) as (_, runtime):
        ctx = await sync(runtime)
    assert {columns[2] for columns in mapping_columns().values()} == {UNRESOLVED}
    assert set(attributions().values()) == {(None, None)}
    assert counts(ctx)["metadata_unknown"] == counts(ctx)["metadata_calls"] > 0
    assert written(ctx) == 0 and ctx.touched_watchables == set()


async def test_plex_down_after_a_sync_leaves_every_mapping_as_it_was(store, tmp_path):
    library = generate("tiny")
    with serving(store, tmp_path, library) as (fakes, runtime):
        await sync(runtime)
        before = (mapping_columns(), attributions())
        library.movies[PLAIN].title = "Renamed Upstream"  # the inventory changes: keys re-asked
        fakes.faults["tautulli"].add(Fault(kind="plex_down", match="get_metadata"))
        ctx = await sync(runtime)
    assert (mapping_columns(), attributions()) == before
    assert counts(ctx)["metadata_unknown"] >= 2


async def test_budget_bounds_calls_and_the_rest_waits_for_the_next_run(store, tmp_path):
    settings = {"mapping_metadata_budget": 3}
    with serving(store, tmp_path, generate("tiny")) as (_, runtime):
        first = await sync(runtime, settings=settings)
        assert len(first.metadata) == counts(first)["metadata_calls"] == 3
        assert counts(first)["mapping_pending"] > 0
        mapped = [len(mapped_items())]
        for _ in range(12):
            ctx = await sync(runtime, settings=settings)
            assert len(ctx.metadata) <= 3
            mapped.append(len(mapped_items()))
            if counts(ctx)["mapping_pending"] == 0:
                break
    assert 0 < mapped[0] <= 3 and mapped[1] > mapped[0]
    assert counts(ctx)["mapping_pending"] == 0
    assert {movie(i).mapping_status_code for i in (TWIN_A, PLAIN, TWIN_B, TWO_FILES)} == {
        VERIFIED_PATH
    }
    open_rows = WatchHistory.select().where(WatchHistory.watchable_id.is_null())
    assert {r.rating_key for r in open_rows} == {"37"}


def mapped_items() -> list[tuple[str, int]]:
    return [k for k, v in mapping_columns().items() if v[2] != UNRESOLVED]


async def test_a_tautulli_failure_fails_the_integration_and_writes_nothing(store, tmp_path):
    library = generate("tiny")
    with serving(store, tmp_path, library) as (fakes, runtime):
        await sync(runtime)
        before = (mapping_columns(), attributions())
        library.movies[PLAIN].title = "Renamed Upstream"
        fakes.faults["tautulli"].add(Fault(kind="status", match="get_metadata", status=500))
        ctx = await sync(runtime)
    outcome = ctx.outcomes["tautulli"]
    assert outcome.failed_phase == "library_mapping"
    assert outcome.error["code"].startswith("integration_")
    assert (mapping_columns(), attributions()) == before


class CancelOnceFetched(CancelToken):
    """Trips at the first safe point after a ``get_metadata`` request went out."""

    def __init__(self, transports: list[RecordingTransport]) -> None:
        super().__init__()
        self.transports = transports

    def check(self) -> None:
        sent = (s for t in self.transports for s in t.sent)
        if any(s.query.get("cmd") == ["get_metadata"] for s in sent):
            self.request()
        super().check()


async def test_cancel_after_fetching_writes_nothing(store, tmp_path):
    with serving(store, tmp_path, generate("tiny")) as (_, runtime):
        transports: list[RecordingTransport] = []

        def factory() -> RecordingTransport:
            transports.append(RecordingTransport())
            return transports[-1]

        ctx = make_context(runtime, transport_factory=factory)
        for name, phase in BEFORE:
            ctx.progress.begin(name)
            await phase(ctx)
        ctx.cancel = CancelOnceFetched(transports)
        ctx.progress.begin("library_mapping")
        with pytest.raises(SyncCanceled):
            await library_mapping(ctx)
    assert {columns[2] for columns in mapping_columns().values()} == {UNRESOLVED}
    assert set(attributions().values()) == {(None, None)}


# --- the rules on their own ---------------------------------------------------------------


def test_guids_of_new_and_legacy_agents_parse():
    ids = parse_guids(
        [
            "imdb://tt0111161",
            "tmdb://278",
            "com.plexapp.agents.themoviedb://550?lang=en",
            "com.plexapp.agents.imdb://tt0137523?lang=en",
            "plex://movie/5d7768",
            "tvdb://x",
        ]
    )
    assert (ids.tmdb, ids.imdb, ids.tvdb) == ((278, 550), ("tt0111161", "tt0137523"), ())


def claim(key: str, step: str, *, status: str = VERIFIED_PATH, ref=("movie", 1)) -> Resolution:
    return Resolution(key, "movie", f"plex://{key}", status, (ref,), step, None, {"k": key})


@pytest.mark.parametrize(
    ("status", "fresh", "claims", "expected"),
    [
        # Mapped by path to key 1; key 1 unknown now; a new path claim on key 2 replaces it.
        (VERIFIED_PATH, {"2": True}, [("2", "path")], (VERIFIED_PATH, "2")),
        # ... but only id evidence on key 2: a second key for the item is a conflict.
        (VERIFIED_PATH, {"2": True}, [("2", "external_ids")], (AMBIGUOUS, "1")),
        # Key 1 looked at again and now points elsewhere: released.
        (VERIFIED_PATH, {"1": True}, [], (UNRESOLVED, None)),
        # Key 1 unknown and nothing new: exactly as it was.
        (VERIFIED_PATH, {"1": None}, [], None),
        # A conflict with key 1 unknown never ends, whatever key 2 says.
        (AMBIGUOUS, {"2": True}, [("2", "path")], None),
    ],
)
def test_decide_rules(status, fresh, claims, expected):
    item = ItemState(("movie", 1), "1", "plex://1", status, {"rating_keys": ["1"]})
    made = [claim(key, step) for key, step in claims]
    answers = {k: (claim(k, "path", ref=("movie", 9)) if v else None) for k, v in fresh.items()}
    answers.update({c.rating_key: c for c in made})
    change = decide(item, made, answers)
    assert (change and (change.status, change.rating_key)) == expected


class StubPlex:
    """An adapter whose ``get_metadata`` knows only ``known`` keys (None for every other)."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.asked: list[str] = []

    async def get_metadata(self, rating_key: str):
        self.asked.append(rating_key)
        if rating_key not in self.known:
            return None
        return PlexMetadata(
            rating_key,
            "movie",
            "t",
            2000,
            1,
            None,
            None,
            None,
            None,
            None,
            None,
            (),
            (),
            (),
            None,
            (),
        )


async def test_fetcher_stops_when_plex_does_not_know_a_key_it_knew_before():
    plex = StubPlex(known=set())
    fetcher = MetadataFetcher(plex, budget=5000, workers=4, probe_keys=["held"])
    keys = [str(n) for n in range(1000)]
    first = await fetcher.get_many(keys[:200])
    assert set(first.values()) == {None}
    assert fetcher.plex_unreachable and fetcher.remaining == 0
    assert plex.asked[-1] == "held" and fetcher.calls == 201
    rest = await fetcher.get_many(keys[200:400])
    assert set(rest.values()) == {NOT_FETCHED} and fetcher.calls == 201


async def test_fetcher_goes_on_when_only_some_keys_are_gone_and_keeps_to_its_budget():
    plex = StubPlex(known={"held", "7"})
    fetcher = MetadataFetcher(plex, budget=250, workers=4, probe_keys=["held"])
    await fetcher.get_many([f"gone{n}" for n in range(200)])
    assert not fetcher.plex_unreachable and fetcher.remaining == 49
    again = await fetcher.get_many(["gone1", "7", *(f"x{n}" for n in range(100))])
    assert again["gone1"] is None and again["7"].rating_key == "7"  # cached; then asked
    assert fetcher.calls == 250 and list(again.values()).count(NOT_FETCHED) == 52


async def test_title_and_year_never_pick_a_movie_whose_ids_say_otherwise(store, tmp_path):
    library = generate("tiny")
    item = plex_movie(library, PLAIN)  # same title and year, but Plex knows it as another film
    item.files, item.guids = [("/data/media/movies/x/other.mkv", 1)], ["tmdb://424242"]
    with serving(store, tmp_path, library) as (_, runtime):
        await sync(runtime)
    row = movie(PLAIN)
    assert (row.mapping_status_code, row.plex_rating_key) == (UNRESOLVED, None)
