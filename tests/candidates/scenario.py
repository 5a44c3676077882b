"""Candidate scenarios built the way a user's data arrives: a library served by the three fakes,
a real sync through the engine, then commands through the one command layer.

``base_library()`` is the tiny generated library with its watch history replaced by a known
story (who watched what, how far), so every expected row can be read off this file:

Movies (Radarr id → Plex key): 4 "The Memory of the Mountain" (P2) watched by Local, Will and
Zoe; 6 "Paul's Race" (P4, two versions) watched by Will; 3 "Gambit of Camelot" (P1) 40 % into it
by Zoe (in progress); 5, its same-title twin (P3), watched by Victor only (a hidden user);
1 "Maya's School" is not in Plex; 2 has no file.
TV: "The Story of the Forest" (series 2, episodes 13-17) watched entirely by Local, Will and
Zoe; "Sofia's Circle" (series 3, episodes 18-25) too, except episode 25 which only Will
watched; "Oakland Wolf" (series 1): only episode 2 (which shares its file with episode 3)
watched, by Will; episode 12 has no file.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cullarrd.service import Caller, Runtime, Service
from cullarrd.store.models import Episode, Movie, Season, Series, SyncRun
from cullarrd.sync.engine import SyncEngine
from cullarrd_plugins.fakelib.generator import generate
from cullarrd_plugins.fakelib.model import HistoryRow, Library
from tests.sync.helpers import FakeSet, make_runtime, served_fakes

LOCAL, WILL, ZOE, VICTOR = 0, 17629681, 60366424, 97363986  # Tautulli user ids
DEFAULT_USERS = ("Local", "Will", "Zoe")  # the non-hidden ones
SERIES_FOREST, SERIES_SOFIA, SERIES_OAKLAND = 2, 3, 1  # Sonarr series ids


def play(
    library: Library,
    user: int,
    rating_key: str,
    *,
    percent: int = 100,
    watched: bool | None = None,
    days_ago: int = 10,
) -> None:
    """One play session of ``rating_key`` by ``user``, ``percent`` of the way in."""
    item = library.plex_items[rating_key]
    row_id = max((h.row_id for h in library.history), default=0) + 1
    stopped = int((library.now - dt.timedelta(days=days_ago)).timestamp()) + row_id
    length = (item.duration_ms or 3_600_000) // 1000
    started = stopped - max(60, length * percent // 100)
    library.history.append(
        HistoryRow(
            row_id=row_id,
            user_id=user,
            rating_key=rating_key,
            media_type=item.media_type,
            started=started,
            stopped=stopped,
            paused_counter=0,
            percent_complete=percent,
            watched_status=1.0 if (watched if watched is not None else percent >= 85) else 0.5,
        )
    )


def episode_keys(library: Library, series_id: int) -> list[str]:
    return [
        e.plex_rating_key for e in library.episodes_of(series_id) if e.plex_rating_key is not None
    ]


def base_library() -> Library:
    library = generate("tiny")
    library.history = []
    movie_key = {m.id: m.plex_rating_key for m in library.movies.values()}
    for user in (LOCAL, WILL, ZOE):
        play(library, user, movie_key[4], percent=95)
    play(library, WILL, movie_key[6])
    play(library, ZOE, movie_key[3], percent=40, days_ago=2)
    play(library, VICTOR, movie_key[5])
    for user in (LOCAL, WILL, ZOE):
        for key in episode_keys(library, SERIES_FOREST):
            play(library, user, key, days_ago=30)
        for key in episode_keys(library, SERIES_SOFIA)[:-1]:
            play(library, user, key, days_ago=20)
    play(library, WILL, episode_keys(library, SERIES_SOFIA)[-1], days_ago=5)
    play(library, WILL, library.episodes[2].plex_rating_key, days_ago=50)
    library.reindex()
    return library


@dataclass
class Scenario:
    """The fakes, a runtime over the test's store, and the command layer in front of it."""

    library: Library
    fakes: FakeSet
    runtime: Runtime
    service: Service

    async def sync(self, expect: str = "success") -> SyncRun:
        engine = self.runtime.sync
        await engine.trigger("manual")
        async with asyncio.timeout(60):
            while engine._task is not None and not engine._task.done():
                await asyncio.sleep(0.02)
        run = await self.runtime.store.read(
            lambda: SyncRun.select().order_by(SyncRun.id.desc()).get()
        )
        assert run.status == expect, (run.status, run.error_code, run.error_message)
        return run

    async def call(self, command: str, /, **args: Any) -> Any:
        caller = Caller(correlation_id="test", channel="socket", peer_uid=0)
        return await self.service.dispatch(command, args, caller)

    async def query(self, scope: str, **args: Any) -> dict[str, Any]:
        return await self.call("candidates.query", scope=scope, **args)

    async def ids(self, scope: str, **args: Any) -> list[str]:
        """Candidate ids of every page, in order."""
        found, cursor = [], None
        while True:
            extra = {"cursor": cursor} if cursor else {}
            page = await self.query(scope, **{"limit": 200, **args, **extra})
            found += [item["candidate_id"] for item in page["items"]]
            cursor = page["page"]["next_cursor"]
            if cursor is None:
                return found

    async def user_id(self, name: str) -> int:
        users = (await self.call("users.list"))["items"]
        return next(u["id"] for u in users if name in (u["username"], u["friendly_name"]))

    # Store ids of upstream items, to name candidates.
    async def movie(self, radarr_id: int) -> str:
        row = await self.runtime.store.read(lambda: Movie.get(Movie.radarr_movie_id == radarr_id))
        return f"movie:{row.id}"

    async def episode(self, sonarr_id: int) -> str:
        row = await self.runtime.store.read(
            lambda: Episode.get(Episode.sonarr_episode_id == sonarr_id)
        )
        return f"episode:{row.id}"

    async def season(self, series_id: int, number: int = 1) -> str:
        row = await self.runtime.store.read(
            lambda: (
                Season.select()
                .join(Series)
                .where(Series.sonarr_series_id == series_id, Season.season_number == number)
                .get()
            )
        )
        return f"season:{row.id}"

    async def show(self, series_id: int) -> str:
        row = await self.runtime.store.read(
            lambda: Series.get(Series.sonarr_series_id == series_id)
        )
        return f"show:{row.id}"


@contextlib.contextmanager
def scenario(
    store, tmp_path, library: Library | None = None, *, plex_down: bool = False, **per_kind: Any
) -> Iterator[Scenario]:
    """Serve ``library`` (default ``base_library()``) and compose a runtime over ``store``."""
    library = library or base_library()
    extra = per_kind.pop("extra", [])
    config = per_kind.pop("config", None)
    with served_fakes(library, plex_down=plex_down) as fakes:
        configs = fakes.integrations(**per_kind)
        configs += [{**fakes.integrations()[1], **entry} for entry in extra]
        runtime = make_runtime(store, configs, tmp_path, config)
        runtime.sync = SyncEngine(runtime)
        yield Scenario(library, fakes, runtime, Service(runtime))
