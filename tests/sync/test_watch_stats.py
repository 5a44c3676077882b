"""Watch stats derived from stored history: the math of SPEC §5.7, idempotence, touched-only.

History rows are written straight into the store and attributed to their watchable here; in
production the tautulli_history phase stores them and library_mapping attributes them.
"""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from cullarrd.store.models import (
    Episode,
    Integration,
    Movie,
    PlexUser,
    Season,
    Series,
    WatchHistory,
    WatchStat,
)
from cullarrd.sync import watch_stats as watch_stats_module
from cullarrd.sync.context import CancelToken, SyncCanceled
from cullarrd.sync.history import clear_history
from cullarrd.sync.watch_stats import attributed_watchables, recompute, watch_stats
from tests.sync.helpers import make_context, make_runtime

T0 = dt.datetime(2026, 5, 1, 20, 0)
HOUR = dt.timedelta(hours=1)
PLAY_COUNT = {"watched_mode": "play_count"}


class World:
    """Three users, three movies (length known, unknown, known) and one episode."""

    def __init__(self) -> None:
        self.tautulli = self._integration("tautulli")
        radarr, sonarr = self._integration("radarr"), self._integration("sonarr")
        self.alice, self.bob, self.carol = (
            PlexUser.create(tautulli_user_id=uid, friendly_name=name, is_hidden=hidden).id
            for uid, name, hidden in ((1001, "alice", False), (1002, "bob", False), (1003, "c", 1))
        )
        self.users = {self.alice: 1001, self.bob: 1002, self.carol: 1003}
        self.known, self.unknown, self.other = (
            Movie.create(integration=radarr, radarr_movie_id=n, title=f"m{n}", duration_ms=ms).id
            for n, ms in ((1, 7_200_000), (2, None), (3, 6_000_000))
        )
        series = Series.create(integration=sonarr, sonarr_series_id=1, title="show")
        season = Season.create(series=series, season_number=1)
        self.episode = Episode.create(
            integration=sonarr,
            season=season,
            sonarr_episode_id=1,
            season_number=1,
            episode_number=1,
            duration_ms=1_800_000,
        ).id
        self._ids = itertools.count(1)

    @staticmethod
    def _integration(kind: str) -> Integration:
        return Integration.create(
            kind=kind, name=kind, base_url="http://127.0.0.1:9", settings_json={}
        )

    def play(self, user: int, watchable: tuple[str, int], percent: int, **fields) -> None:
        """One attributed history row (``user`` is a plex_users id)."""
        started = fields.pop("started", T0)
        WatchHistory.create(
            integration=self.tautulli,
            history_id=next(self._ids),
            tautulli_user_id=self.users.get(user, user),
            media_type=watchable[0],
            started_at=started,
            stopped_at=fields.pop("stopped", started + HOUR),
            play_duration_s=fields.pop("played_s", 3_000),
            percent_complete=percent,
            watched_status=fields.pop("watched", 1 if percent >= 90 else 0),
            watchable_type=fields.pop("watchable_type", watchable[0]),
            watchable_id=fields.pop("watchable_id", watchable[1]),
            **fields,
        )

    def movie(self, movie_id: int) -> tuple[str, int]:
        return ("movie", movie_id)


@pytest.fixture
def runtime(store, tmp_path):
    return make_runtime(store, [], tmp_path)


@pytest.fixture
async def world(runtime, store) -> World:
    return await store.write(World)


def stats() -> dict[tuple[int, str, int], dict]:
    return {
        (s.plex_user_id, s.watchable_type, s.watchable_id): {
            "play_count": s.play_count,
            "last_watched_at": s.last_watched_at,
            "max_view_offset_ms": s.max_view_offset_ms,
            "max_percent_complete": s.max_percent_complete,
            "in_progress": s.in_progress,
        }
        for s in WatchStat.select()
    }


def full_rows() -> list[tuple]:
    return list(WatchStat.select().order_by(WatchStat.id).tuples())


async def test_play_count_mode_counts_watched_rows_and_flags_in_progress(world, store):
    known, episode = world.movie(world.known), ("episode", world.episode)

    def plays() -> None:
        world.play(world.alice, known, 100, started=T0)
        world.play(world.alice, known, 95, started=T0 + 24 * HOUR)
        world.play(world.alice, known, 30, started=T0 + 48 * HOUR, stopped=T0 + 49 * HOUR)
        world.play(world.bob, known, 40)
        world.play(world.alice, episode, 50, started=T0 + 5 * HOUR, stopped=None)
        world.play(9999, known, 100)  # a user plex_users does not know: no stats row

    await store.write(plays)
    written = await store.write(lambda: recompute({known, episode}, PLAY_COUNT))
    found = await store.read(stats)
    assert written == len(found) == 3
    assert found[(world.alice, *known)] == {
        "play_count": 2,
        "last_watched_at": T0 + 49 * HOUR,  # the latest stop, not the latest watched play
        "max_view_offset_ms": 7_200_000,
        "max_percent_complete": 100,
        "in_progress": False,  # watched
    }
    assert found[(world.bob, *known)] == {
        "play_count": 0,
        "last_watched_at": T0 + HOUR,
        "max_view_offset_ms": 2_880_000,  # 40 % of 2 h
        "max_percent_complete": 40,
        "in_progress": True,
    }
    assert found[(world.alice, *episode)] == {
        "play_count": 0,
        "last_watched_at": T0 + 5 * HOUR,  # never stopped: its start
        "max_view_offset_ms": 900_000,
        "max_percent_complete": 50,
        "in_progress": True,
    }


@pytest.mark.parametrize(
    ("settings", "in_progress"),
    [
        ({"watched_mode": "play_count"}, True),
        ({"watched_mode": "percent", "watched_percent_threshold": 90}, False),
        ({"watched_mode": "percent", "watched_percent_threshold": 95}, True),
    ],
)
async def test_the_current_watched_mode_decides_in_progress(world, store, settings, in_progress):
    other = world.movie(world.other)
    # Tautulli's own threshold (95 % here) said "not watched": watched_status stays 0.
    await store.write(lambda: world.play(world.bob, other, 92, watched=0))
    await store.write(lambda: recompute({other}, settings))
    row = (await store.read(stats))[(world.bob, *other)]
    assert row["play_count"] == 0 and row["max_percent_complete"] == 92
    assert row["in_progress"] is in_progress


async def test_an_unknown_length_uses_the_seconds_played_as_a_lower_bound(world, store):
    unknown = world.movie(world.unknown)

    def plays() -> None:
        world.play(world.alice, unknown, 50, played_s=30)
        world.play(world.bob, unknown, 10, played_s=120)
        world.play(world.carol, unknown, 50, played_s=30, duration_ms=1_000_000)

    await store.write(plays)
    await store.write(lambda: recompute([unknown], {"in_progress_min_offset_ms": 60_000}))
    found = await store.read(stats)
    assert found[(world.alice, *unknown)]["max_view_offset_ms"] == 30_000
    assert found[(world.alice, *unknown)]["in_progress"] is False  # below the minimum offset
    assert found[(world.bob, *unknown)]["max_view_offset_ms"] == 120_000
    assert found[(world.bob, *unknown)]["in_progress"] is True
    # The row's own length (from Plex) applies when the item has none; hidden users count too.
    assert found[(world.carol, *unknown)]["max_view_offset_ms"] == 500_000


async def test_recomputing_twice_gives_identical_rows(world, store):
    watchables = {world.movie(world.known), world.movie(world.unknown), ("episode", world.episode)}

    def plays() -> None:
        for user in (world.alice, world.bob):
            for kind, watchable_id in watchables:
                world.play(user, (kind, watchable_id), 97)
                world.play(user, (kind, watchable_id), 35)

    await store.write(plays)
    assert await store.write(lambda: recompute(watchables)) == 6
    first = await store.read(full_rows)
    assert await store.write(lambda: recompute(watchables)) == 0  # nothing rewritten
    assert await store.read(full_rows) == first
    assert {row["play_count"] for row in (await store.read(stats)).values()} == {1}


async def test_the_phase_recomputes_only_touched_watchables(world, store, runtime):
    known, other = world.movie(world.known), world.movie(world.other)

    def plays() -> None:
        for watchable in (known, other):
            world.play(world.alice, watchable, 100)
            world.play(world.bob, watchable, 100)

    await store.write(plays)
    await store.write(lambda: recompute({known, other}))
    old = dt.datetime(2020, 1, 1)
    await store.write(lambda: WatchStat.update(updated_at=old).execute())
    await store.write(lambda: world.play(world.alice, known, 100, started=T0 + 30 * HOUR))
    await store.write(lambda: world.play(world.alice, other, 100, started=T0 + 30 * HOUR))

    ctx = make_context(runtime, touched_watchables={known})
    ctx.progress.begin("watch_stats")
    await watch_stats(ctx)
    assert ctx.progress.phases["watch_stats"].rows_written == 1
    rows = await store.read(lambda: {(s.plex_user_id, s.watchable_id): s for s in WatchStat})
    assert rows[(world.alice, world.known)].play_count == 2
    assert rows[(world.alice, world.known)].updated_at > old
    assert rows[(world.bob, world.known)].updated_at == old  # touched but unchanged
    assert rows[(world.alice, world.other)].play_count == 1  # not touched: not recomputed
    assert rows[(world.alice, world.other)].updated_at == old


async def test_stats_without_history_left_are_removed(world, store):
    known = world.movie(world.known)
    await store.write(lambda: world.play(world.alice, known, 100))
    await store.write(lambda: recompute({known}))
    assert await store.read(stats)
    touched = await store.write(lambda: clear_history(world.tautulli.id))
    assert touched == {known}
    assert await store.write(lambda: recompute(touched)) == 1
    assert await store.read(stats) == {}


async def test_the_phase_works_in_chunks_and_stops_between_them(world, store, runtime, monkeypatch):
    monkeypatch.setattr(watch_stats_module, "CHUNK", 1)
    touched = {world.movie(world.known), world.movie(world.other), ("episode", world.episode)}

    def plays() -> None:
        for watchable in touched:
            world.play(world.alice, watchable, 100)

    await store.write(plays)

    class CancelAfterOne(CancelToken):
        checks = 0

        def check(self) -> None:
            self.checks += 1
            if self.checks > 1:
                self.request()
            super().check()

    ctx = make_context(runtime, touched_watchables=touched)
    ctx.cancel = CancelAfterOne()
    ctx.progress.begin("watch_stats")
    with pytest.raises(SyncCanceled):
        await watch_stats(ctx)
    assert len(await store.read(stats)) == 1  # one chunk done, then the cancel took effect
    entry = ctx.progress.phases["watch_stats"]
    assert (entry.total_units, entry.processed_units) == (3, 1)


async def test_a_changed_watched_mode_applies_once_everything_attributed_is_recomputed(
    world, store
):
    other, unknown = world.movie(world.other), world.movie(world.unknown)

    def plays() -> None:
        world.play(world.bob, other, 92, watched=0)
        world.play(world.bob, unknown, 50, played_s=600)
        world.play(world.alice, other, 92, watchable_type=None, watchable_id=None)

    await store.write(plays)
    assert await store.read(attributed_watchables) == {other, unknown}
    await store.write(lambda: recompute(attributed_watchables(), PLAY_COUNT))
    assert (await store.read(stats))[(world.bob, *other)]["in_progress"] is True
    percent = {"watched_mode": "percent", "watched_percent_threshold": 90}
    assert await store.write(lambda: recompute(attributed_watchables(), percent)) == 1
    found = await store.read(stats)
    assert found[(world.bob, *other)]["in_progress"] is False
    assert found[(world.bob, *unknown)]["in_progress"] is True  # 50 % < 90 %: still going
    assert (world.alice, *other) not in found  # unattributed history has no stats yet
