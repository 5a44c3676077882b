"""The Sonarr and Radarr side of a generated library: series, episodes, files, movies, tags."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from typing import TYPE_CHECKING

from cullarrd_plugins.fakelib.model import (
    Episode,
    EpisodeFile,
    Library,
    Movie,
    MovieFile,
    Quality,
    SeasonInfo,
    Series,
    Tag,
)
from cullarrd_plugins.fakelib.names import EDITIONS, RELEASE_GROUPS, TitleMaker, sort_title

if TYPE_CHECKING:
    from cullarrd_plugins.fakelib.generator import SizeParams

MB = 1_000_000
GB = 1_000_000_000
DAY = 86_400

# Sonarr/Radarr quality ids; the ranges are file sizes for a 45-minute episode / a 2-hour movie.
QUALITIES = (
    Quality(1, "SDTV", "television", 480),
    Quality(4, "HDTV-720p", "television", 720),
    Quality(9, "HDTV-1080p", "television", 1080),
    Quality(5, "WEBDL-720p", "web", 720),
    Quality(3, "WEBDL-1080p", "web", 1080),
    Quality(18, "WEBDL-2160p", "web", 2160),
    Quality(6, "Bluray-720p", "bluray", 720),
    Quality(7, "Bluray-1080p", "bluray", 1080),
    Quality(19, "Bluray-2160p", "bluray", 2160),
)
EPISODE_SIZE_MB = {480: (200, 450), 720: (400, 1_100), 1080: (800, 2_400), 2160: (2_000, 3_800)}
MOVIE_SIZE_GB = {
    ("television", 1080): (2, 6),
    ("web", 720): (1, 3),
    ("web", 1080): (3, 9),
    ("web", 2160): (10, 25),
    ("bluray", 720): (2, 5),
    ("bluray", 1080): (6, 16),
    ("bluray", 2160): (20, 50),
}
TV_QUALITIES = (
    ("SDTV", 3),
    ("HDTV-720p", 12),
    ("HDTV-1080p", 10),
    ("WEBDL-720p", 15),
    ("WEBDL-1080p", 40),
    ("WEBDL-2160p", 8),
    ("Bluray-1080p", 12),
)
MOVIE_QUALITIES = (
    ("HDTV-1080p", 4),
    ("WEBDL-720p", 6),
    ("WEBDL-1080p", 28),
    ("WEBDL-2160p", 10),
    ("Bluray-720p", 7),
    ("Bluray-1080p", 35),
    ("Bluray-2160p", 10),
)
TWO_VERSIONS = (("Bluray-1080p", "Bluray-2160p"), ("WEBDL-1080p", "WEBDL-2160p"))
SONARR_TAGS = ("anime", "kids", "4k", "keep", "shared")
RADARR_TAGS = ("4k", "kids", "favorites", "requested")
QUALITY_PROFILES = (1, 4, 4, 4, 6, 5)


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _utc(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


class ArrBuilder:
    """Fills the Sonarr and Radarr side of one library, drawing from the shared ``rng``."""

    def __init__(
        self, library: Library, params: SizeParams, rng: random.Random, titles: TitleMaker
    ) -> None:
        self.library = library
        self.params = params
        self.rng = rng
        self.titles = titles
        self.now_epoch = _epoch(library.now)
        # Each library owns its Quality objects, so one fake's changes never reach another's.
        library.qualities = [dataclasses.replace(quality) for quality in QUALITIES]
        self.quality = {quality.name: quality for quality in library.qualities}
        self.next_tvdb_episode = 1_000_000
        self.movies_not_in_plex: set[int] = set()
        # External ids are drawn without replacement so they are unique by construction.
        count = params.series + params.movies + params.external_plex_movies
        self.imdb_numbers = iter(rng.sample(range(100_000, 9_999_999), count))
        self.tmdb_movie_ids = iter(rng.sample(range(10, 1_300_000), count))

    def _weighted(self, table: tuple[tuple[str, int], ...]) -> Quality:
        names = [name for name, _ in table]
        weights = [weight for _, weight in table]
        return self.quality[self.rng.choices(names, weights)[0]]

    def add_tags(self) -> None:
        for number, label in enumerate(SONARR_TAGS, start=1):
            self.library.sonarr_tags[number] = Tag(number, label)
        for number, label in enumerate(RADARR_TAGS, start=1):
            self.library.radarr_tags[number] = Tag(number, label)

    def _tags(self, pool: dict[int, Tag]) -> list[int]:
        if self.rng.random() >= self.params.tagged_rate:
            return []
        return sorted(self.rng.sample(sorted(pool), self.rng.randint(1, 2)))

    def _added(self, not_before: int) -> int:
        """An epoch between ``not_before`` (or 2015) and a month before now."""
        low = max(not_before, _epoch(dt.datetime(2015, 1, 1, tzinfo=dt.UTC)))
        high = self.now_epoch - 30 * DAY
        return self.rng.randint(min(low, high), high)

    def external_ids(self) -> tuple[int, str]:
        """Fresh (tmdb id, imdb id) for a movie only Plex knows."""
        return next(self.tmdb_movie_ids), f"tt{next(self.imdb_numbers):07d}"

    def imdb_id(self, missing_rate: float) -> str | None:
        number = next(self.imdb_numbers)
        return None if self.rng.random() < missing_rate else f"tt{number:07d}"

    # --- Sonarr ---------------------------------------------------------------------------

    def add_series(self) -> None:
        params, rng = self.params, self.rng
        total = params.series * params.episodes_per_series
        weights = [rng.uniform(0.3, 1.7) for _ in range(params.series)]
        weight_sum = sum(weights) or 1.0
        tvdb_ids = rng.sample(range(70_000, 450_000), params.series)
        tmdb_ids = rng.sample(range(1_000, 300_000), params.series)
        for index in range(params.series):
            count = max(2, round(total * weights[index] / weight_sum))
            self._one_series(index, count, tvdb_ids[index], tmdb_ids[index])

    def _season_sizes(self, index: int, count: int) -> list[tuple[int, int]]:
        """(season number, episode count) pairs; series 0 always has one special."""
        rng = self.rng
        specials = 0
        if index == 0:
            specials = 1
        elif rng.random() < self.params.specials_rate:
            specials = rng.randint(1, 3)
        specials = min(specials, count - 1)
        regular = count - specials
        seasons = max(1, round(regular / rng.choice((6, 8, 10, 10, 12, 13, 13, 22, 24))))
        base, extra = divmod(regular, seasons)
        sizes = [(number, base + (1 if number <= extra else 0)) for number in range(1, seasons + 1)]
        return ([(0, specials)] if specials else []) + sizes

    def _one_series(self, index: int, count: int, tvdb_id: int, tmdb_id: int) -> None:
        lib, rng, params = self.library, self.rng, self.params
        series_id = index + 1
        seasons = self._season_sizes(index, count)
        regular_seasons = sum(1 for number, _ in seasons if number)
        last_year = lib.now.year - regular_seasons - 1
        year = rng.randint(last_year - 25, last_year)
        first_aired = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        title = self.titles.title()
        series_type = rng.choices(("standard", "anime", "daily"), (85, 10, 5))[0]
        runtime = 24 if series_type == "anime" else rng.choice((22, 25, 30, 42, 45, 50, 60))
        added = self._added(_epoch(dt.datetime.combine(first_aired, dt.time(), dt.UTC)))
        path = f"{lib.arr_tv_root}/{title} ({year})"
        infos = []
        for number, _ in seasons:
            older = 0 < number < regular_seasons
            monitored = number != 0 and not (older and rng.random() < 0.15)
            infos.append(SeasonInfo(number, monitored))
        series = Series(
            id=series_id,
            title=title,
            sort_title=sort_title(title),
            year=year,
            tvdb_id=tvdb_id,
            tmdb_id=None if rng.random() < params.series_tmdb_missing_rate else tmdb_id,
            imdb_id=self.imdb_id(params.series_imdb_missing_rate),
            path=path,
            root_folder_path=lib.arr_tv_root,
            monitored=rng.random() < 0.9,
            added=_utc(added),
            quality_profile_id=rng.choice(QUALITY_PROFILES),
            status=rng.choices(("continuing", "ended"), (45, 55))[0],
            series_type=series_type,
            runtime_minutes=runtime,
            seasons=infos,
            tags=self._tags(lib.sonarr_tags),
        )
        lib.series[series_id] = series
        preferred = self._weighted(TV_QUALITIES)
        for info, (number, size) in zip(infos, seasons, strict=True):
            last_season = number == regular_seasons
            edges = index == 0
            self._season(series, info, size, first_aired, added, preferred, edges, last_season)

    def _season(
        self,
        series: Series,
        info: SeasonInfo,
        size: int,
        first_aired: dt.date,
        added: int,
        preferred: Quality,
        force_edges: bool,
        last_season: bool,
    ) -> None:
        lib, rng, params = self.library, self.rng, self.params
        number = info.season_number
        episodes: list[Episode] = []
        for episode_number in range(1, size + 1):
            if number == 0:
                air_date = (
                    None if rng.random() < 0.2 else first_aired + dt.timedelta(rng.randint(0, 900))
                )
            else:
                air_date = first_aired + dt.timedelta((number - 1) * 365 + (episode_number - 1) * 7)
            self.next_tvdb_episode += rng.randint(1, 9)
            episode = Episode(
                id=len(lib.episodes) + 1,
                series_id=series.id,
                tvdb_id=self.next_tvdb_episode,
                season_number=number,
                episode_number=episode_number,
                title=self.titles.episode_title(number, episode_number),
                air_date=air_date,
                monitored=info.monitored if rng.random() >= 0.03 else not info.monitored,
                episode_file_id=0,
                runtime_minutes=series.runtime_minutes,
            )
            lib.episodes[episode.id] = episode
            episodes.append(episode)
        # Series 0 always has a double pilot (one file, E01-E02) and a missing last episode.
        pair_at = 0 if force_edges and number == 1 and len(episodes) >= 2 else -1
        missing_at = len(episodes) - 1 if force_edges and last_season and len(episodes) > 2 else -1
        position = 0
        while position < len(episodes):
            if position == missing_at or (
                position != pair_at and rng.random() < params.episode_no_file_rate
            ):
                position += 1
                continue
            covered = [episodes[position]]
            can_pair = position + 1 < len(episodes) and position + 1 != missing_at
            if position == pair_at or (can_pair and rng.random() < params.multi_episode_file_rate):
                covered.append(episodes[position + 1])
            quality = preferred if rng.random() < 0.85 else self._weighted(TV_QUALITIES)
            self._episode_file(series, covered, quality, added)
            position += len(covered)

    def _episode_file(
        self, series: Series, covered: list[Episode], quality: Quality, added: int
    ) -> None:
        lib, rng = self.library, self.rng
        first, last = covered[0], covered[-1]
        season = first.season_number
        code = f"S{season:02d}E{first.episode_number:02d}"
        if last is not first:
            code += f"-E{last.episode_number:02d}"
        relative = f"Season {season:02d}/{series.title} - {code} - {first.title} {quality.name}.mkv"
        low, high = EPISODE_SIZE_MB[quality.resolution]
        scale = series.runtime_minutes / 45 * len(covered)
        size = int(rng.uniform(low, high) * scale * MB)
        size = min(max(size, 200 * MB), 4_000 * MB)
        aired = (
            _epoch(dt.datetime.combine(first.air_date, dt.time(), dt.UTC)) if first.air_date else 0
        )
        date_added = min(max(added, aired) + rng.randint(3_600, 21 * DAY), self.now_epoch - 3_600)
        file_id = len(lib.episode_files) + 1
        lib.episode_files[file_id] = EpisodeFile(
            id=file_id,
            series_id=series.id,
            season_number=season,
            relative_path=relative,
            path=f"{series.path}/{relative}",
            size=size,
            quality=quality,
            date_added=_utc(date_added),
            release_group=rng.choice(RELEASE_GROUPS) if rng.random() < 0.8 else None,
        )
        for episode in covered:
            episode.episode_file_id = file_id

    # --- Radarr ---------------------------------------------------------------------------

    def add_movies(self) -> None:
        params, rng = self.params, self.rng
        count = params.movies
        order = list(range(count))
        rng.shuffle(order)
        no_file_count = max(1, round(count * params.movie_no_file_rate))
        two_count = max(1, round(count * params.movie_two_files_rate))
        absent_count = max(1, round(count * params.not_in_plex_rate))
        cut1, cut2 = no_file_count, no_file_count + two_count
        cut3 = cut2 + absent_count
        no_file, two_files = set(order[:cut1]), set(order[cut1:cut2])
        not_in_plex = set(order[cut2:cut3])
        twin_a, twin_b = order[cut3], order[cut3 + 1]  # same title and year, both in Plex
        names = [(self.titles.title(), rng.randint(1950, self.library.now.year)) for _ in order]
        names[twin_b] = names[twin_a]
        for index in range(count):
            title, year = names[index]
            folder = f"{title} ({year})"
            tmdb_id = next(self.tmdb_movie_ids)
            if index == twin_b:
                folder += f" [tmdbid-{tmdb_id}]"  # Radarr cannot share a folder between two movies
            files = 0 if index in no_file else 2 if index in two_files else 1
            movie = self._movie(index + 1, title, year, folder, tmdb_id, files)
            if index in not_in_plex:
                self.movies_not_in_plex.add(movie.id)

    def _movie(
        self, movie_id: int, title: str, year: int, folder: str, tmdb_id: int, files: int
    ) -> Movie:
        lib, rng, params = self.library, self.rng, self.params
        added = self._added(_epoch(dt.datetime(year, 1, 1, tzinfo=dt.UTC)))
        status = "released" if files else rng.choice(("released", "announced", "inCinemas"))
        availability = rng.choices(("released", "announced", "inCinemas"), (80, 10, 10))[0]
        movie = Movie(
            id=movie_id,
            title=title,
            sort_title=sort_title(title),
            original_title=title,
            year=year,
            tmdb_id=tmdb_id,
            imdb_id=self.imdb_id(params.movie_imdb_missing_rate),
            path=f"{lib.arr_movie_root}/{folder}",
            root_folder_path=lib.arr_movie_root,
            monitored=rng.random() < 0.85,
            added=_utc(added),
            quality_profile_id=rng.choice(QUALITY_PROFILES),
            status=status,
            minimum_availability=availability,
            runtime_minutes=rng.randint(80, 175),
            tags=self._tags(lib.radarr_tags),
        )
        lib.movies[movie_id] = movie
        if files == 1:
            self._movie_file(movie, self._weighted(MOVIE_QUALITIES), None, added)
        elif files == 2:
            primary, extra = rng.choice(TWO_VERSIONS)
            edition = rng.choice(EDITIONS) if rng.random() < 0.3 else None
            self._movie_file(movie, self.quality[primary], None, added)
            self._movie_file(movie, self.quality[extra], edition, added)
        return movie

    def _movie_file(self, movie: Movie, quality: Quality, edition: str | None, added: int) -> None:
        lib, rng = self.library, self.rng
        name = f"{movie.title} ({movie.year})"
        if edition:
            name += f" {{edition-{edition}}}"
        relative = f"{name} {quality.name}.mkv"
        low, high = MOVIE_SIZE_GB[(quality.source, quality.resolution)]
        size = int(rng.uniform(low, high) * (0.6 + 0.4 * movie.runtime_minutes / 120) * GB)
        file_id = len(lib.movie_files) + 1
        lib.movie_files[file_id] = MovieFile(
            id=file_id,
            movie_id=movie.id,
            relative_path=relative,
            path=f"{movie.path}/{relative}",
            size=min(max(size, GB), 60 * GB),
            quality=quality,
            date_added=_utc(min(added + rng.randint(600, 10 * DAY), self.now_epoch - 3_600)),
            edition=edition,
            release_group=rng.choice(RELEASE_GROUPS) if rng.random() < 0.8 else None,
        )
        movie.file_ids.append(file_id)
