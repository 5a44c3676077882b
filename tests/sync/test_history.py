"""Tautulli users and incremental history over the fake Tautulli on loopback, on every backend."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from cullarrd.store.models import Integration, Movie, PlexUser, WatchHistory, WatchStat
from cullarrd.sync.context import CancelToken, SyncCanceled
from cullarrd.sync.history import (
    MARK_KEY,
    clear_history,
    load_history_state,
    tautulli_history,
    tautulli_users,
)
from cullarrd.sync.watch_stats import recompute
from cullarrd_plugins.fakelib.faults import Fault
from cullarrd_plugins.fakelib.model import HistoryRow
from tests.serving import RecordingTransport
from tests.sync.helpers import make_context, make_runtime

PAGE = 50  # the smallest page size the config allows: the tiny library's 60 rows need 2 pages
DELETED_USER = 61337867  # tiny library: left out of get_users, but has history
INACTIVE_USER = 97363986


@pytest.fixture
def runtime(store, fakes, tmp_path):
    return make_runtime(store, fakes.integrations(tautulli={"page_size": PAGE}), tmp_path)


class CancelAfter(CancelToken):
    """A cancel token that trips on its ``checks + 1``-th check."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def check(self) -> None:
        self.left -= 1
        if self.left < 0:
            self.request()
        super().check()


async def run_phase(runtime, phase, name: str, **overrides):
    """Run one phase as the engine would; the context keeps its transports in ``sent``."""
    transports: list[RecordingTransport] = []

    def factory() -> RecordingTransport:
        transports.append(RecordingTransport())
        return transports[-1]

    cancel = overrides.pop("cancel", None)
    ctx = make_context(runtime, transport_factory=factory, **overrides)
    ctx.cancel = cancel or ctx.cancel
    ctx.transports = transports
    ctx.progress.begin(name)
    await phase(ctx)
    return ctx


def history_requests(ctx) -> list[int]:
    """The ``start`` of every get_history request the phase sent."""
    return [
        int(sent.query["start"][0])
        for transport in ctx.transports
        for sent in transport.sent
        if sent.query.get("cmd") == ["get_history"]
    ]


def fake_tautulli(fakes):
    return fakes.apps["tautulli"].state.tautulli


def add_rows(fakes, *rows: HistoryRow) -> None:
    """Rows appear upstream (Tautulli wrote them when the sessions stopped)."""
    fakes.library.history.extend(rows)
    fake_tautulli(fakes).history.rebuild()


def newest(fakes) -> HistoryRow:
    return max(fakes.library.history, key=lambda r: (r.started, r.row_id))


def play(template: HistoryRow, row_id: int, started: int, minutes: int = 20) -> HistoryRow:
    """A new session like ``template`` (same user and item) with its own id and times."""
    return dataclasses.replace(
        template, row_id=row_id, started=started, stopped=started + minutes * 60, paused_counter=0
    )


def stored_rows(store):
    return store.read(lambda: list(WatchHistory.select().order_by(WatchHistory.history_id)))


def sync_state(store, name: str = "tautulli"):
    return store.read(lambda: Integration.get(Integration.name == name).sync_state_json)


def epoch(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)


# --- users ---------------------------------------------------------------------------------


async def test_users_are_upserted_by_tautulli_id_and_unchanged_rows_are_not_rewritten(
    runtime, store, fakes
):
    ctx = await run_phase(runtime, tautulli_users, "tautulli_users")
    assert ctx.outcomes["tautulli"].completed_phases == ["tautulli_users"]
    users = await store.read(lambda: {u.tautulli_user_id: u for u in PlexUser.select()})
    listed = {u.user_id for u in fakes.library.plex_users.values() if not u.deleted}
    assert set(users) == listed and 0 in users and DELETED_USER not in users
    owner = next(u for u in fakes.library.plex_users.values() if u.is_admin and u.user_id)
    row = users[owner.user_id]
    assert (row.username, row.friendly_name) == (owner.username, owner.friendly_name)
    assert row.metadata_json["email"] == owner.email and row.metadata_json["is_admin"] is True
    assert users[INACTIVE_USER].is_hidden and not row.is_hidden

    again = await run_phase(runtime, tautulli_users, "tautulli_users")
    assert again.progress.phases["tautulli_users"].rows_written == 0
    after = await store.read(lambda: {u.tautulli_user_id: u.updated_at for u in PlexUser.select()})
    assert after == {uid: u.updated_at for uid, u in users.items()}


async def test_a_user_no_longer_listed_is_hidden_never_deleted(runtime, store, fakes):
    await run_phase(runtime, tautulli_users, "tautulli_users")
    await run_phase(runtime, tautulli_history, "tautulli_history")
    leaving = next(
        u for u in fake_tautulli(fakes).users.users if u.user_id and u.is_active and not u.deleted
    )
    leaving.deleted = True  # deleted in Plex: Tautulli's get_users leaves the user out
    await run_phase(runtime, tautulli_users, "tautulli_users")
    row = await store.read(lambda: PlexUser.get(PlexUser.tautulli_user_id == leaving.user_id))
    assert row.is_hidden and row.friendly_name == leaving.friendly_name
    plays = await store.read(
        lambda: WatchHistory.select().where(WatchHistory.tautulli_user_id == leaving.user_id)
    )
    assert len(plays) == sum(r.user_id == leaving.user_id for r in fakes.library.history) > 0

    leaving.deleted = False  # back again: visible again
    await run_phase(runtime, tautulli_users, "tautulli_users")
    row = await store.read(lambda: PlexUser.get(PlexUser.tautulli_user_id == leaving.user_id))
    assert not row.is_hidden


async def test_an_empty_user_list_is_valid_data(runtime, store, fakes):
    await run_phase(runtime, tautulli_users, "tautulli_users")
    fake_tautulli(fakes).users.users.clear()
    ctx = await run_phase(runtime, tautulli_users, "tautulli_users")
    assert ctx.outcomes["tautulli"].failed_phase is None
    hidden = await store.read(lambda: [u.is_hidden for u in PlexUser.select()])
    assert hidden and all(hidden)  # nobody is listed any more: all hidden, none deleted


async def test_a_failing_user_list_fails_the_integration_and_changes_nothing(runtime, store, fakes):
    await run_phase(runtime, tautulli_users, "tautulli_users")
    before = await store.read(lambda: [(u.id, u.is_hidden) for u in PlexUser.select()])
    fakes.faults["tautulli"].add(Fault("status", "get_users", status=500))
    ctx = await run_phase(runtime, tautulli_users, "tautulli_users")
    outcome = ctx.outcomes["tautulli"]
    assert outcome.failed_phase == "tautulli_users"
    assert outcome.error["code"] == "integration_contract_mismatch"
    assert await store.read(lambda: [(u.id, u.is_hidden) for u in PlexUser.select()]) == before


# --- history: first fetch and re-syncs -----------------------------------------------------


async def test_the_first_fetch_stores_every_movie_and_episode_row(runtime, store, fakes):
    music = dataclasses.replace(
        newest(fakes), row_id=61, rating_key="90001", media_type="track", started=1_000
    )
    add_rows(fakes, music)  # only movies and episodes are kept
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert ctx.outcomes["tautulli"].completed_phases == ["tautulli_history"]
    assert history_requests(ctx) == [0, 50]

    stored = {row.history_id: row for row in await stored_rows(store)}
    upstream = {r.row_id: r for r in fakes.library.history if r.media_type != "track"}
    assert set(stored) == set(upstream) and len(stored) == 60
    for row_id, up in upstream.items():
        row = stored[row_id]
        assert (row.tautulli_user_id, row.media_type, row.rating_key) == (
            up.user_id,
            up.media_type,
            up.rating_key,
        )
        assert (row.started_at, row.stopped_at) == (epoch(up.started), epoch(up.stopped))
        assert row.play_duration_s == up.play_duration
        assert row.percent_complete == up.percent_complete
        assert row.watched_status == (1 if up.watched_status >= 1 else 0)
        assert row.duration_ms is None and row.watchable_type is row.watchable_id is None
    assert any(0 < r.watched_status < 1 for r in upstream.values())  # partial plays → 0
    assert (await sync_state(store))[MARK_KEY] == 60
    progress = ctx.progress.phases["tautulli_history"]
    assert progress.counts["history_rows_inserted"] == 60 and progress.counts["history_pages"] == 2

    ghost = await store.read(lambda: PlexUser.get(PlexUser.tautulli_user_id == DELETED_USER))
    assert ghost.is_hidden and ghost.friendly_name == f"deleted user {DELETED_USER}"


async def test_an_unchanged_resync_asks_one_page_and_writes_nothing(runtime, store, fakes):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    before = [(r.id, r.updated_at) for r in await stored_rows(store)]
    state_before = await sync_state(store)

    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert history_requests(ctx) == [0]
    assert ctx.progress.phases["tautulli_history"].rows_written == 0
    assert [(r.id, r.updated_at) for r in await stored_rows(store)] == before
    assert await sync_state(store) == state_before


async def test_new_rows_are_fetched_without_rereading_older_pages(runtime, store, fakes):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    top = newest(fakes)
    add_rows(fakes, *(play(top, 60 + k, top.started + 600 * k) for k in range(1, 76)))

    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    # 75 new rows, then row 60 (inside the 24 h window), then row 59, which had stopped before
    # the window: the adapter stops on page 2 of 3.
    assert history_requests(ctx) == [0, 50]
    assert ctx.progress.phases["tautulli_history"].counts["history_rows_inserted"] == 75
    assert len(await stored_rows(store)) == 135
    assert (await sync_state(store))[MARK_KEY] == 135


async def test_a_late_row_inside_the_overlap_window_is_caught(runtime, store, fakes):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    top = newest(fakes)
    start = top.started + 3_600
    add_rows(fakes, *(play(top, 60 + k, start + 600 * k, minutes=5) for k in range(1, 81)))
    await run_phase(runtime, tautulli_history, "tautulli_history")
    assert (await sync_state(store))[MARK_KEY] == 140

    # A long session that started 2 h after row 60 stops only now: the highest id of all,
    # but it sorts behind ~70 newer rows, on the second page.
    late = play(top, 141, top.started + 7_200, minutes=600)
    add_rows(fakes, late)
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert history_requests(ctx) == [0, 50]  # a stop at the mark (140) would end after page 1
    stored = {row.history_id: row for row in await stored_rows(store)}
    assert 141 in stored and stored[141].started_at == epoch(late.started)
    assert ctx.progress.phases["tautulli_history"].counts["history_rows_inserted"] == 1
    assert (await sync_state(store))[MARK_KEY] == 141


async def test_replayed_and_overlapping_rows_change_nothing(runtime, store, fakes):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    before = {r.history_id: (r.percent_complete, r.updated_at) for r in await stored_rows(store)}
    # Tautulli re-serves row 60 (inside the window) with other details: it stays as stored.
    top = newest(fakes)
    fakes.library.history[fakes.library.history.index(top)] = dataclasses.replace(
        top, percent_complete=12, watched_status=0.0, rating_key="1"
    )
    fake_tautulli(fakes).history.rebuild()
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert ctx.progress.phases["tautulli_history"].counts["history_rows_fetched"] >= 1
    assert ctx.progress.phases["tautulli_history"].rows_written == 0
    after = {r.history_id: (r.percent_complete, r.updated_at) for r in await stored_rows(store)}
    assert after == before


async def test_a_history_reset_upstream_fails_closed_and_a_rebuild_restores_exact_counts(
    runtime, store, fakes
):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    before = [(r.history_id, r.started_at) for r in await stored_rows(store)]
    top = newest(fakes)
    movie_rows = [r for r in fakes.library.history if r.media_type == "movie"]
    # Tautulli's database is replaced by a new one: ids start again at 1, for other plays.
    fakes.library.history.clear()
    add_rows(
        fakes,
        *(play(movie_rows[k % len(movie_rows)], k, top.started + 3_600 * k) for k in range(1, 11)),
    )

    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    outcome = ctx.outcomes["tautulli"]
    assert outcome.failed_phase == "tautulli_history"
    assert outcome.error["code"] == "integration_history_reset"
    assert [(r.history_id, r.started_at) for r in await stored_rows(store)] == before
    assert (await sync_state(store))[MARK_KEY] == 60  # nothing moved

    # `integrations reset-history`: clear, then the next sync refetches everything.
    integration_id = await store.read(lambda: Integration.get(Integration.name == "tautulli").id)
    assert await store.write(lambda: clear_history(integration_id)) == set()  # none attributed
    assert MARK_KEY not in await sync_state(store)
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert ctx.outcomes["tautulli"].failed_phase is None
    rows = await stored_rows(store)
    assert [(r.history_id, r.started_at) for r in rows] == [
        (r.row_id, epoch(r.started)) for r in sorted(fakes.library.history, key=lambda r: r.row_id)
    ]

    touched = await store.write(lambda: attribute_movies(runtime))
    await store.write(lambda: recompute(touched))
    expected: dict[tuple[int, str], int] = {}
    for r in fakes.library.history:
        expected.setdefault((r.user_id, r.rating_key), 0)
        expected[(r.user_id, r.rating_key)] += 1 if r.watched_status >= 1 else 0
    assert await store.read(play_counts) == expected

    # Rebuilding again from the same upstream gives identical counts (nothing is added up).
    cleared = await store.write(lambda: clear_history(integration_id))
    assert cleared == touched
    await store.write(lambda: recompute(cleared))
    assert await store.read(play_counts) == {}
    await run_phase(runtime, tautulli_history, "tautulli_history")
    touched = await store.write(lambda: attribute_movies(runtime))
    await store.write(lambda: recompute(touched))
    assert await store.read(play_counts) == expected


async def test_a_full_replay_never_grows_play_counts(runtime, store, fakes):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    touched = await store.write(lambda: attribute_movies(runtime))
    await store.write(lambda: recompute(touched))
    counts = await store.read(play_counts)
    assert counts and max(counts.values()) >= 1

    def forget_mark() -> None:  # the next fetch replays every row Tautulli has
        Integration.update(sync_state_json={}).where(Integration.name == "tautulli").execute()

    await store.write(forget_mark)
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert history_requests(ctx) == [0, 50]
    assert ctx.progress.phases["tautulli_history"].counts["history_rows_inserted"] == 0
    assert await store.write(lambda: recompute(touched)) == 0
    assert await store.read(play_counts) == counts


def attribute_movies(runtime) -> set[tuple[str, int]]:
    """Link movie rows to Movie rows by rating key (library_mapping does this in production)."""
    radarr = Integration.get(Integration.name == "radarr")
    touched = set()
    keys = {r.rating_key for r in WatchHistory.select().where(WatchHistory.media_type == "movie")}
    for key in sorted(keys):
        movie, _ = Movie.get_or_create(
            integration=radarr, radarr_movie_id=int(key), defaults={"title": f"movie {key}"}
        )
        WatchHistory.update(watchable_type="movie", watchable_id=movie.id).where(
            (WatchHistory.rating_key == key) & (WatchHistory.media_type == "movie")
        ).execute()
        touched.add(("movie", movie.id))
    return touched


def play_counts() -> dict[tuple[int, str], int]:
    query = (
        WatchStat.select(PlexUser.tautulli_user_id, Movie.radarr_movie_id, WatchStat.play_count)
        .join(PlexUser)
        .switch(WatchStat)
        .join(Movie, on=(WatchStat.watchable_id == Movie.id))
        .where(WatchStat.watchable_type == "movie")
        .tuples()
    )
    return {(user, str(movie)): count for user, movie, count in query}


# --- history: failures and cancel ----------------------------------------------------------


async def test_a_failure_on_the_first_fetch_leaves_no_mark_and_the_next_fetch_is_full(
    runtime, store, fakes
):
    faults = fakes.faults["tautulli"]
    faults.add(Fault("latency", "get_history", times=1))  # page 1 answers normally
    faults.add(Fault("status", "get_history", status=500, times=3))
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    outcome = ctx.outcomes["tautulli"]
    assert outcome.failed_phase == "tautulli_history" and outcome.completed_phases == []
    assert outcome.error["code"] == "integration_contract_mismatch"
    assert len(await stored_rows(store)) == PAGE  # harmless: replays are ignored
    assert MARK_KEY not in await sync_state(store)

    faults.clear()
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert history_requests(ctx) == [0, 50]  # no mark yet: everything again
    assert len(await stored_rows(store)) == 60
    assert (await sync_state(store))[MARK_KEY] == 60


async def test_a_rate_limit_storm_mid_paging_keeps_the_mark_and_the_gap_is_filled_later(
    runtime, store, fakes
):
    await run_phase(runtime, tautulli_history, "tautulli_history")
    state_before = await sync_state(store)
    top = newest(fakes)
    add_rows(fakes, *(play(top, 60 + k, top.started + 600 * k) for k in range(1, 76)))
    faults = fakes.faults["tautulli"]
    faults.add(Fault("latency", "get_history", times=1))
    faults.add(Fault("rate_limit", "get_history", retry_after="0"))  # every later page: 429
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert ctx.outcomes["tautulli"].error["code"] == "rate_limited"
    assert await sync_state(store) == state_before  # the newest 50 are stored, the mark is not
    assert len(await stored_rows(store)) == 110

    faults.clear()
    ctx = await run_phase(runtime, tautulli_history, "tautulli_history")
    assert ctx.outcomes["tautulli"].failed_phase is None
    assert history_requests(ctx) == [0, 50]  # from the same point as the failed fetch
    assert [r.history_id for r in await stored_rows(store)] == list(range(1, 136))
    assert (await sync_state(store))[MARK_KEY] == 135


async def test_cancel_stops_between_pages_without_moving_the_mark(runtime, store, fakes):
    with pytest.raises(SyncCanceled):
        await run_phase(runtime, tautulli_history, "tautulli_history", cancel=CancelAfter(1))
    assert len(await stored_rows(store)) == PAGE
    assert MARK_KEY not in await sync_state(store)
    state = await store.read(lambda: load_history_state("tautulli"))
    assert state.since_id is None  # the next run starts from scratch again
