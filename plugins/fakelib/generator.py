"""Deterministic generator of a simulated library (Sonarr/Radarr side in arrgen, Plex in plexgen).

Knobs: ``SIZES`` holds one ``SizeParams`` per library size (counts, and the rates of the edge
cases the sync has to cope with). Everything is drawn from one ``random.Random(seed)`` in a fixed
order, and times are derived from ``now`` (default ``DEFAULT_NOW``), so the same size and seed
always give an identical library, and the Sonarr, Radarr and Tautulli fakes started with the same
seed describe the same home server.

Edge cases built in at every size: specials (season 0), episodes without a file, multi-episode
files, movies without a file and with two versions, a movie pair with the same title and year,
arr items Plex does not have, Plex movies Radarr does not manage (under
``PLEX_EXTERNAL_MOVIE_ROOT``), history of deleted Plex items, an inactive and a deleted user.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from cullarrd_plugins.fakelib.arrgen import ArrBuilder
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.fakelib.names import TitleMaker
from cullarrd_plugins.fakelib.plexgen import PLEX_EXTERNAL_MOVIE_ROOT, add_plex_side

__all__ = ["DEFAULT_NOW", "PLEX_EXTERNAL_MOVIE_ROOT", "SIZES", "SizeParams", "generate"]

DEFAULT_NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
ARR_TV_ROOT = "/tv"
ARR_MOVIE_ROOT = "/movies"
PLEX_TV_ROOT = "/data/media/tv"
PLEX_MOVIE_ROOT = "/data/media/movies"


@dataclass(frozen=True)
class SizeParams:
    """How big one library size is and how often each edge case occurs."""

    series: int
    episodes_per_series: float  # mean, specials included
    movies: int
    users: int  # named Plex users besides user 0 "Local"
    history_rows: int
    history_days: int  # history spreads over this many days before ``now``
    external_plex_movies: int  # Plex movies Radarr does not manage
    episode_no_file_rate: float = 0.05
    multi_episode_file_rate: float = 0.01  # of files: one file shared by two consecutive episodes
    movie_no_file_rate: float = 0.03
    movie_two_files_rate: float = 0.05
    not_in_plex_rate: float = 0.02  # of series and of movies with files; half that for episodes
    specials_rate: float = 0.3  # of series with a season 0
    series_imdb_missing_rate: float = 0.15
    series_tmdb_missing_rate: float = 0.1
    movie_imdb_missing_rate: float = 0.05
    tagged_rate: float = 0.2
    stale_history_rate: float = 0.002  # rows about items Plex no longer has (at least 2)


SIZES: dict[str, SizeParams] = {
    "tiny": SizeParams(
        series=3,
        episodes_per_series=8.5,
        movies=6,
        users=4,
        history_rows=60,
        history_days=120,
        external_plex_movies=1,
    ),
    "medium": SizeParams(
        series=40,
        episodes_per_series=37.5,
        movies=300,
        users=8,
        history_rows=10_000,
        history_days=730,
        external_plex_movies=5,
    ),
    "benchmark": SizeParams(
        series=1_500,
        episodes_per_series=70.0,  # 105,000 episodes, ~100,000 with files
        movies=15_000,
        users=25,
        history_rows=400_000,
        history_days=1_825,
        external_plex_movies=50,
    ),
}


def generate(size: str = "tiny", seed: int = 1, now: dt.datetime | None = None) -> Library:
    """Build the library of ``size`` for ``seed``: identical for identical arguments."""
    if size not in SIZES:
        raise ValueError(f"unknown library size {size!r}; choose one of {', '.join(SIZES)}")
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    params = SIZES[size]
    rng = random.Random(seed)
    library = Library(
        seed=seed,
        now=now or DEFAULT_NOW,
        arr_tv_root=ARR_TV_ROOT,
        arr_movie_root=ARR_MOVIE_ROOT,
        plex_tv_root=PLEX_TV_ROOT,
        plex_movie_root=PLEX_MOVIE_ROOT,
        qualities=[],
    )
    titles = TitleMaker(rng)
    builder = ArrBuilder(library, params, rng, titles)
    builder.add_tags()
    builder.add_series()
    builder.add_movies()
    library.reindex()  # the Plex side walks episodes by series
    externals = [builder.external_ids() for _ in range(params.external_plex_movies)]
    add_plex_side(library, params, rng, titles, builder.movies_not_in_plex, externals)
    library.reindex()
    return library
