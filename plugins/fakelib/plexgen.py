"""The Plex/Tautulli side of a generated library: sections, items, users and watch history."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cullarrd_plugins.fakelib.model import (
    HistoryRow,
    Library,
    PlexItem,
    PlexSection,
    PlexUser,
    Series,
)
from cullarrd_plugins.fakelib.names import FIRST_NAMES, TitleMaker

if TYPE_CHECKING:
    from cullarrd_plugins.fakelib.generator import SizeParams

PLEX_EXTERNAL_MOVIE_ROOT = "/data/media/other-movies"  # a Plex folder no Radarr manages
GB = 1_000_000_000
MOVIE_SECTION = 1
SHOW_SECTION = 2
WATCHED_PERCENT = 85  # Tautulli's default "watched" threshold for movies and episodes
DEVICES = (
    ("Chrome", "Chrome", "Plex Web"),
    ("Roku", "Living Room", "Plex for Roku"),
    ("tvOS", "Apple TV", "Plex for Apple TV"),
    ("Android", "Pixel 8", "Plex for Android (Mobile)"),
    ("Windows", "DESKTOP-7F3K", "Plex for Windows"),
    ("Samsung", "Samsung TV", "Plex for Samsung"),
    ("iOS", "iPhone", "Plex for iOS"),
)


def watched_status(percent: int) -> float:
    """Tautulli's ``watched_status``: 1 at the threshold, else the quarter reached."""
    if percent >= WATCHED_PERCENT:
        return 1.0
    return (min(percent, 99) // 25) * 0.25


def add_plex_side(
    library: Library,
    params: SizeParams,
    rng: random.Random,
    titles: TitleMaker,
    movies_not_in_plex: set[int],
    external_ids: list[tuple[int, str]],
) -> None:
    """Add what Plex and Tautulli see of ``library`` (its Sonarr/Radarr side must be complete).

    ``external_ids`` are (tmdb id, imdb id) pairs for the Plex movies Radarr does not manage.
    """
    items = _PlexItems(library, rng)
    library.plex_sections[MOVIE_SECTION] = PlexSection(MOVIE_SECTION, "Movies", "movie")
    library.plex_sections[SHOW_SECTION] = PlexSection(SHOW_SECTION, "TV Shows", "show")
    for movie in library.movies.values():
        if movie.file_ids and movie.id not in movies_not_in_plex:
            items.add_movie(movie.id)
    for tmdb_id, imdb_id in external_ids:
        items.add_external_movie(titles, tmdb_id, imdb_id)
    absent_series = set(
        rng.sample(sorted(library.series), round(len(library.series) * params.not_in_plex_rate))
    )
    for series in library.series.values():
        if series.id not in absent_series:
            items.add_show(series, params.not_in_plex_rate / 2)
    _add_users(library, params, rng)
    _History(library, params, rng, items).generate()


class _PlexItems:
    """Creates PlexItems with rating keys counting up from 1, in generation order."""

    def __init__(self, library: Library, rng: random.Random) -> None:
        self.library = library
        self.rng = rng
        self.next_key = 1
        self.movie_keys: list[str] = []
        self.show_episode_keys: list[list[str]] = []

    def key(self) -> str:
        self.next_key += 1
        return str(self.next_key - 1)

    def guid(self, kind: str) -> str:
        return f"plex://{kind}/{self.rng.getrandbits(96):024x}"

    def duration_ms(self, minutes: int) -> int:
        return minutes * 60_000 + self.rng.randint(-90, 90) * 1_000

    def later(self, moment: dt.datetime) -> dt.datetime:
        """When Plex picked up a file added at ``moment``: a few minutes after."""
        return moment + dt.timedelta(seconds=self.rng.randint(60, 1_800))

    def add_movie(self, movie_id: int) -> None:
        lib = self.library
        movie = lib.movies[movie_id]
        files = [lib.movie_files[file_id] for file_id in movie.file_ids]
        guids = ([f"imdb://{movie.imdb_id}"] if movie.imdb_id else []) + [f"tmdb://{movie.tmdb_id}"]
        item = PlexItem(
            rating_key=self.key(),
            media_type="movie",
            section_id=MOVIE_SECTION,
            title=movie.title,
            year=movie.year,
            guid=self.guid("movie"),
            guids=guids,
            added_at=self.later(files[0].date_added),
            duration_ms=self.duration_ms(movie.runtime_minutes),
            files=[(lib.plex_path(f.path), f.size) for f in files],
        )
        lib.plex_items[item.rating_key] = item
        movie.plex_rating_key = item.rating_key
        self.movie_keys.append(item.rating_key)

    def add_external_movie(self, titles: TitleMaker, tmdb_id: int, imdb_id: str) -> None:
        rng, lib = self.rng, self.library
        title, year = titles.title(), rng.randint(1950, lib.now.year)
        name = f"{title} ({year})"
        item = PlexItem(
            rating_key=self.key(),
            media_type="movie",
            section_id=MOVIE_SECTION,
            title=title,
            year=year,
            guid=self.guid("movie"),
            guids=[f"imdb://{imdb_id}", f"tmdb://{tmdb_id}"],
            added_at=lib.now - dt.timedelta(days=rng.randint(30, 2_000)),
            duration_ms=self.duration_ms(rng.randint(85, 150)),
            files=[(f"{PLEX_EXTERNAL_MOVIE_ROOT}/{name}/{name}.mkv", rng.randint(2, 12) * GB)],
        )
        lib.plex_items[item.rating_key] = item
        self.movie_keys.append(item.rating_key)

    def add_show(self, series: Series, episode_absent_rate: float) -> None:
        lib, rng = self.library, self.rng
        with_files = [
            e
            for e in lib.episodes_of(series.id)
            if e.episode_file_id and rng.random() >= episode_absent_rate
        ]
        if not with_files:
            return
        show = PlexItem(
            rating_key=self.key(),
            media_type="show",
            section_id=SHOW_SECTION,
            title=series.title,
            year=series.year,
            guid=self.guid("show"),
            guids=_show_guids(series),
            added_at=self.later(series.added),
            duration_ms=series.runtime_minutes * 60_000,
        )
        lib.plex_items[show.rating_key] = show
        series.plex_rating_key = show.rating_key
        keys: list[str] = []
        season: PlexItem | None = None
        for episode in with_files:
            if season is None or season.media_index != episode.season_number:
                season = self._season(show, episode.season_number)
            episode_file = lib.episode_files[episode.episode_file_id]
            item = PlexItem(
                rating_key=self.key(),
                media_type="episode",
                section_id=SHOW_SECTION,
                title=episode.title,
                year=episode.air_date.year if episode.air_date else None,
                guid=self.guid("episode"),
                guids=[f"tvdb://{episode.tvdb_id}"],
                added_at=self.later(episode_file.date_added),
                duration_ms=self.duration_ms(episode.runtime_minutes),
                parent_rating_key=season.rating_key,
                grandparent_rating_key=show.rating_key,
                parent_title=season.title,
                grandparent_title=show.title,
                media_index=episode.episode_number,
                parent_media_index=episode.season_number,
                files=[(lib.plex_path(episode_file.path), episode_file.size)],
            )
            lib.plex_items[item.rating_key] = item
            episode.plex_rating_key = item.rating_key
            keys.append(item.rating_key)
        self.show_episode_keys.append(keys)

    def _season(self, show: PlexItem, number: int) -> PlexItem:
        season = PlexItem(
            rating_key=self.key(),
            media_type="season",
            section_id=SHOW_SECTION,
            title="Specials" if number == 0 else f"Season {number}",
            year=None,
            guid=self.guid("season"),
            guids=[],
            added_at=show.added_at,
            parent_rating_key=show.rating_key,
            parent_title=show.title,
            media_index=number,
        )
        self.library.plex_items[season.rating_key] = season
        return season


def _show_guids(series: Series) -> list[str]:
    guids = [f"imdb://{series.imdb_id}"] if series.imdb_id else []
    if series.tmdb_id is not None:
        guids.append(f"tmdb://{series.tmdb_id}")
    return [*guids, f"tvdb://{series.tvdb_id}"]


def _add_users(library: Library, params: SizeParams, rng: random.Random) -> None:
    """User 0 "Local", an admin owner, ordinary users, then one inactive and one deleted user."""
    library.plex_users[0] = PlexUser(0, "Local", "Local", "", is_active=True, is_admin=True)
    ids = rng.sample(range(1_000_000, 99_999_999), params.users)
    used: set[str] = set()
    for position, user_id in enumerate(ids):
        first = rng.choice(FIRST_NAMES)
        username = first.lower()
        while username in used:
            username = f"{first.lower()}{rng.randint(1, 999)}"
        used.add(username)
        library.plex_users[user_id] = PlexUser(
            user_id=user_id,
            username=username,
            friendly_name=first if rng.random() < 0.7 else f"{first} {username[-3:].upper()}",
            email=f"{username}@example.com",
            is_active=position != params.users - 2,
            is_admin=position == 0,
            deleted=position == params.users - 1,
        )


@dataclass
class _Viewer:
    """One user's habits while history is generated."""

    devices: list[tuple[str, str, str]]
    ip_address: str
    show: int = -1
    position: int = 0
    resume_key: str | None = None
    resume_percent: int = 0
    recent: list[str] = field(default_factory=list)


class _History:
    """Watch history: users follow shows episode by episode, watch movies, resume and re-watch."""

    def __init__(
        self, library: Library, params: SizeParams, rng: random.Random, items: _PlexItems
    ) -> None:
        self.library, self.params, self.rng, self.items = library, params, rng, items
        self.durations: dict[str, int] = {}
        self.media_types: dict[str, str] = {}
        self.show_weights = _popularity(rng, len(items.show_episode_keys))
        self.movie_weights = _popularity(rng, len(items.movie_keys))

    def _stale_keys(self) -> list[str]:
        """Rating keys of items Plex no longer has (never created as PlexItems)."""
        keys = []
        for media_type, seconds in (("movie", 6_300), ("episode", 2_700)):
            key = self.items.key()
            self.durations[key], self.media_types[key] = seconds, media_type
            keys.append(key)
        return keys

    def generate(self) -> None:
        lib, rng, params = self.library, self.rng, self.params
        rows = params.history_rows
        stale = self._stale_keys()
        stale_rows = set(rng.sample(range(rows), max(2, round(rows * params.stale_history_rate))))
        users = sorted(lib.plex_users)
        weights = [0.3 if uid == 0 else rng.paretovariate(1.3) for uid in users]
        viewers = {uid: self._viewer(uid) for uid in users}
        user_of_row = rng.choices(users, weights, k=rows)
        end = int(lib.now.timestamp()) - 3_600
        begin = end - params.history_days * 86_400
        span, draw = end - begin, rng.random  # random() is several times cheaper than randrange()
        starts = sorted(begin + int(draw() * span) for _ in range(rows))
        history = lib.history
        for index in range(rows):
            user_id = user_of_row[index]
            viewer = viewers[user_id]
            if index in stale_rows:
                key, percent, resumed = rng.choice(stale), rng.randint(90, 100), False
            else:
                key, percent, resumed = self._pick(viewer)
            history.append(
                self._row(index + 1, user_id, viewer, key, percent, resumed, starts[index])
            )

    def _viewer(self, user_id: int) -> _Viewer:
        rng = self.rng
        devices = rng.sample(DEVICES, rng.randint(1, 3))
        if user_id == 0 or rng.random() < 0.6:
            ip_address = f"192.168.1.{rng.randint(2, 250)}"
        else:
            ip_address = f"203.0.113.{rng.randint(2, 250)}"
        return _Viewer(devices, ip_address)

    def _pick(self, viewer: _Viewer) -> tuple[str, int, bool]:
        """(rating key, percent complete, resumed an earlier partial play) for one play."""
        rng = self.rng
        chance = rng.random()
        if viewer.resume_key is not None and chance < 0.6:
            key = viewer.resume_key
            viewer.resume_key = None
            return key, rng.randint(90, 100), True
        if viewer.recent and chance > 0.95:
            key = rng.choice(viewer.recent)  # re-watch
        elif self.items.show_episode_keys and (not self.items.movie_keys or chance < 0.65):
            key = self._next_episode(viewer)
        else:
            key = rng.choices(self.items.movie_keys, cum_weights=self.movie_weights)[0]
        percent = _percent(rng)
        if 20 <= percent <= 80:
            viewer.resume_key, viewer.resume_percent = key, percent
        viewer.recent.append(key)
        if len(viewer.recent) > 25:
            del viewer.recent[0]
        return key, percent, False

    def _next_episode(self, viewer: _Viewer) -> str:
        rng, shows = self.rng, self.items.show_episode_keys
        if viewer.show < 0 or viewer.position >= len(shows[viewer.show]) or rng.random() < 0.08:
            viewer.show = rng.choices(range(len(shows)), cum_weights=self.show_weights)[0]
            length = len(shows[viewer.show])
            viewer.position = 0 if rng.random() < 0.6 else rng.randrange(length)
        key = shows[viewer.show][viewer.position]
        viewer.position += 1
        return key

    def _row(
        self,
        row_id: int,
        user_id: int,
        viewer: _Viewer,
        key: str,
        percent: int,
        resumed: bool,
        started: int,
    ) -> HistoryRow:
        rng = self.rng
        item = self.library.plex_items.get(key)
        if item is not None:
            duration, media_type = (item.duration_ms or 0) // 1_000, item.media_type
        else:
            duration, media_type = self.durations[key], self.media_types[key]
        # A resumed play covers only the part after the earlier session's offset.
        watched_from = viewer.resume_percent if resumed else 0
        played = duration * max(0, percent - watched_from) // 100
        played -= int(rng.random() * (played // 50 + 1))
        paused = 0 if rng.random() < 0.7 else rng.randint(10, 900)
        platform, player, product = rng.choice(viewer.devices)
        return HistoryRow(
            row_id=row_id,
            user_id=user_id,
            rating_key=key,
            media_type=media_type,
            started=started,
            stopped=started + max(0, played) + paused,
            paused_counter=paused,
            percent_complete=percent,
            watched_status=watched_status(percent),
            platform=platform,
            player=player,
            product=product,
            ip_address=viewer.ip_address,
        )


def _popularity(rng: random.Random, count: int) -> list[float]:
    """Cumulative weights with a long tail: a few items draw most of the plays."""
    total, cumulative = 0.0, []
    for _ in range(count):
        total += rng.paretovariate(1.1)
        cumulative.append(total)
    return cumulative


def _percent(rng: random.Random) -> int:
    """Most plays finish; some stop midway (in progress); a few are abandoned at once."""
    chance = rng.random()
    if chance < 0.72:
        return rng.randint(90, 100)
    if chance < 0.77:
        return rng.randint(85, 89)
    if chance < 0.92:
        return rng.randint(20, 80)
    if chance < 0.96:
        return rng.randint(5, 19)
    return rng.randint(0, 4)
