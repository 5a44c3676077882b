"""Render the simulated library in Sonarr API v3 shapes (as Sonarr v3 or v4 would), for the fake.

Also applies the write bodies (``PUT series/{id}``, ``PUT series/editor``) to the model.
Shapes follow ``sonarr-openapi.json``: null fields are left out, enums are camelCase strings,
sizes are JSON integers. v3 differences: an episode file has ``language`` (one object) instead of
``languages``; ``tmdbId``, ``monitorNewItems``, ``originalLanguage``, episode ``runtime`` and the
custom-format fields are absent; a series carries ``languageProfileId``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from cullarrd_plugins.fakelib.arr_fake import compact, iso, not_empty, unknown_quality_profile
from cullarrd_plugins.fakelib.model import Episode, EpisodeFile, Library, Quality, Series

ENGLISH = {"id": 1, "name": "English"}
QUALITY_SOURCES = frozenset(
    {"unknown", "television", "televisionRaw", "web", "webRip", "dvd", "bluray", "blurayRaw"}
)
RESOLUTIONS = {480: "720x480", 576: "720x576", 720: "1280x720", 1080: "1920x1080"}
START_TIME = dt.datetime(2026, 6, 1, 11, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Flavour:
    """What differs between the Sonarr versions the fake can play."""

    version: str
    major: int
    url_base: str = ""

    @property
    def v3(self) -> bool:
        return self.major < 4


def clean_title(title: str) -> str:
    """Sonarr's ``cleanTitle``: lower-case letters and digits only."""
    return re.sub(r"[^a-z0-9]", "", title.lower())


def title_slug(title: str) -> str:
    """Sonarr's ``titleSlug``: lower-case words joined by dashes."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render_status(flavour: Flavour) -> dict[str, Any]:
    """A ``SystemResource``."""
    return {
        "appName": "Sonarr",
        "instanceName": "Sonarr",
        "version": flavour.version,
        "buildTime": iso(START_TIME - dt.timedelta(days=30)),
        "isDebug": False,
        "isProduction": True,
        "isAdmin": False,
        "isUserInteractive": False,
        "startupPath": "/app/sonarr/bin",
        "appData": "/config",
        "osName": "ubuntu",
        "osVersion": "22.04",
        "isNetCore": True,
        "isLinux": True,
        "isOsx": False,
        "isWindows": False,
        "isDocker": True,
        "mode": "console",
        "branch": "develop" if flavour.v3 else "main",
        "authentication": "forms",
        "sqliteVersion": "3.44.2",
        "migrationVersion": 160 if flavour.v3 else 205,
        "urlBase": flavour.url_base,
        "runtimeVersion": "6.0.29",
        "runtimeName": ".NET",
        "startTime": iso(START_TIME),
        "packageUpdateMechanism": "docker",
        "databaseVersion": "3.44.2",
        "databaseType": "sqLite",
    }


def quality_model(quality: Quality) -> dict[str, Any]:
    """A ``QualityModel`` (quality plus revision)."""
    source = quality.source if quality.source in QUALITY_SOURCES else "unknown"
    return {
        "quality": {
            "id": quality.id,
            "name": quality.name,
            "source": source,
            "resolution": quality.resolution,
        },
        "revision": {"version": 1, "real": 0, "isRepack": False},
    }


def _media_info(episode_file: EpisodeFile, runtime_minutes: int) -> dict[str, Any]:
    resolution = episode_file.quality.resolution
    return {
        "audioBitrate": 640_000,
        "audioChannels": 5.1,
        "audioCodec": "EAC3",
        "audioLanguages": "eng",
        "audioStreamCount": 1,
        "videoBitDepth": 10 if resolution >= 2160 else 8,
        "videoBitrate": 0,
        "videoCodec": "x265" if resolution >= 2160 else "h264",
        "videoFps": 23.976,
        "videoDynamicRange": "HDR" if resolution >= 2160 else "",
        "videoDynamicRangeType": "HDR10" if resolution >= 2160 else "",
        "resolution": RESOLUTIONS.get(resolution, f"{resolution * 16 // 9}x{resolution}"),
        "runTime": f"{runtime_minutes}:00",
        "scanType": "Progressive",
        "subtitles": "English",
    }


def render_episode_file(
    library: Library, episode_file: EpisodeFile, flavour: Flavour
) -> dict[str, Any]:
    """An ``EpisodeFileResource``."""
    series = library.series.get(episode_file.series_id)
    runtime = series.runtime_minutes if series else 45
    doc: dict[str, Any] = {
        "id": episode_file.id,
        "seriesId": episode_file.series_id,
        "seasonNumber": episode_file.season_number,
        "relativePath": episode_file.relative_path,
        "path": episode_file.path,
        "size": episode_file.size,
        "dateAdded": iso(episode_file.date_added),
        "releaseGroup": episode_file.release_group,
        "quality": quality_model(episode_file.quality),
        "mediaInfo": _media_info(episode_file, runtime),
        "qualityCutoffNotMet": False,
    }
    if flavour.v3:
        doc["language"] = dict(ENGLISH)
    else:
        covered = len(library.episodes_of_file(episode_file.id))
        doc["languages"] = [dict(ENGLISH)]
        doc["customFormats"] = []
        doc["customFormatScore"] = 0
        doc["indexerFlags"] = 0
        doc["releaseType"] = "multiEpisode" if covered > 1 else "singleEpisode"
    return compact(doc)


def render_episode(
    library: Library,
    episode: Episode,
    flavour: Flavour,
    *,
    include_series: bool = False,
    include_file: bool = False,
) -> dict[str, Any]:
    """An ``EpisodeResource`` (the series and file only when asked for, v4)."""
    air = episode.air_date
    doc: dict[str, Any] = {
        "id": episode.id,
        "seriesId": episode.series_id,
        "tvdbId": episode.tvdb_id,
        "episodeFileId": episode.episode_file_id,
        "seasonNumber": episode.season_number,
        "episodeNumber": episode.episode_number,
        "title": episode.title,
        "airDate": air.isoformat() if air else None,
        "airDateUtc": f"{air.isoformat()}T01:00:00Z" if air else None,
        "runtime": None if flavour.v3 else episode.runtime_minutes,
        "hasFile": episode.episode_file_id != 0,
        "monitored": episode.monitored,
        "unverifiedSceneNumbering": False,
    }
    episode_file = library.episode_files.get(episode.episode_file_id)
    if include_file and episode_file is not None:
        doc["episodeFile"] = render_episode_file(library, episode_file, flavour)
    series = library.series.get(episode.series_id)
    if include_series and series is not None:
        doc["series"] = render_series(library, series, flavour, with_statistics=False)
    return compact(doc)


def render_series(
    library: Library, series: Series, flavour: Flavour, *, with_statistics: bool = True
) -> dict[str, Any]:
    """A ``SeriesResource``; ``statistics`` is absent when the series has no episodes."""
    episodes = library.episodes_of(series.id)
    stats, season_stats = (
        series_statistics(library, series, episodes) if with_statistics else (None, {})
    )
    seasons = [
        compact(
            {
                "seasonNumber": season.season_number,
                "monitored": season.monitored,
                "statistics": season_stats.get(season.season_number),
            }
        )
        for season in series.seasons
    ]
    aired = [e.air_date for e in episodes if e.air_date]
    doc: dict[str, Any] = {
        "id": series.id,
        "title": series.title,
        "alternateTitles": [],
        "sortTitle": series.sort_title,
        "status": series.status,
        "ended": series.status == "ended",
        "images": [],
        "originalLanguage": None if flavour.v3 else dict(ENGLISH),
        "seasons": seasons,
        "year": series.year,
        "path": series.path,
        "qualityProfileId": series.quality_profile_id,
        "seasonFolder": True,
        "monitored": series.monitored,
        "monitorNewItems": None if flavour.v3 else "all",
        "useSceneNumbering": False,
        "runtime": series.runtime_minutes,
        "tvdbId": series.tvdb_id,
        "tvRageId": 0,
        "tvMazeId": 0,
        "tmdbId": None if flavour.v3 else (series.tmdb_id or 0),
        "firstAired": f"{min(aired).isoformat()}T00:00:00Z" if aired else None,
        "seriesType": series.series_type,
        "cleanTitle": clean_title(series.title),
        "imdbId": series.imdb_id,
        "titleSlug": title_slug(series.title),
        "rootFolderPath": series.root_folder_path,
        "genres": [],
        "tags": list(series.tags),
        "added": iso(series.added),
        "ratings": {"votes": 0, "value": 0.0},
        "statistics": stats,
        "languageProfileId": 1 if flavour.v3 else None,
    }
    return compact(doc)


def series_statistics(
    library: Library, series: Series, episodes: list[Episode]
) -> tuple[dict[str, Any] | None, dict[int, dict[str, Any]]]:
    """Series and per-season statistics as Sonarr computes them; (None, {}) without episodes."""
    if not episodes:
        return None, {}
    today = library.now.date()
    rows: dict[int, dict[str, Any]] = {}
    for episode in episodes:
        row = rows.setdefault(episode.season_number, _empty_stats())
        has_file = episode.episode_file_id != 0
        aired = episode.air_date is not None and episode.air_date <= today
        row["episodeFileCount"] += has_file
        row["episodeCount"] += has_file or (episode.monitored and aired)
        row["totalEpisodeCount"] += has_file or aired
    groups: dict[int, set[str]] = {}
    for episode_file in library.episode_files_of(series.id):
        row = rows.setdefault(episode_file.season_number, _empty_stats())
        row["sizeOnDisk"] += episode_file.size
        if episode_file.release_group:
            groups.setdefault(episode_file.season_number, set()).add(episode_file.release_group)
    for number, row in rows.items():
        row["releaseGroups"] = sorted(groups.get(number, ()))
        row["percentOfEpisodes"] = _percent(row)
    total = _empty_stats()
    for row in rows.values():
        for key in ("episodeFileCount", "episodeCount", "totalEpisodeCount", "sizeOnDisk"):
            total[key] += row[key]
    total["seasonCount"] = sum(1 for number in rows if number > 0)
    total["releaseGroups"] = sorted(set().union(*groups.values())) if groups else []
    total["percentOfEpisodes"] = _percent(total)
    return total, rows


def _empty_stats() -> dict[str, Any]:
    return {"episodeFileCount": 0, "episodeCount": 0, "totalEpisodeCount": 0, "sizeOnDisk": 0}


def _percent(row: dict[str, Any]) -> float:
    return row["episodeFileCount"] * 100.0 / row["episodeCount"] if row["episodeCount"] else 0.0


# --- write bodies -------------------------------------------------------------------------


def series_errors(body: dict[str, Any], quality_profiles: set[int]) -> list[dict[str, Any]]:
    """The FluentValidation failures of ``PUT series/{id}``: path and quality profile."""
    errors = []
    path = body.get("path")
    if not isinstance(path, str) or not path.strip():
        errors.append(not_empty("Path", path, placeholders=True))
    profile = body.get("qualityProfileId", 0)
    if profile not in quality_profiles:
        errors.append(unknown_quality_profile(profile, placeholders=True))
    return errors


def apply_full_series(series: Series, body: dict[str, Any]) -> None:
    """``Series.ApplyChanges``: the whole resource replaces the editable fields."""
    series.path = body["path"]
    series.quality_profile_id = body["qualityProfileId"]
    series.monitored = body.get("monitored") is True
    tags = body.get("tags") or []
    series.tags = sorted({t for t in tags if isinstance(t, int)})
    if isinstance(body.get("seriesType"), str):
        series.series_type = body["seriesType"]
    if isinstance(body.get("rootFolderPath"), str):
        series.root_folder_path = body["rootFolderPath"]
    sent = {s.get("seasonNumber"): s for s in body.get("seasons") or [] if isinstance(s, dict)}
    for season in series.seasons:
        if season.season_number in sent:
            season.monitored = sent[season.season_number].get("monitored") is True


def apply_editor(found: list[Series], body: dict[str, Any]) -> None:
    """``SeriesEditorController.SaveAll``: only the fields sent are applied."""
    tags = body.get("tags")
    apply_tags = body.get("applyTags", "add")
    for series in found:
        if isinstance(body.get("monitored"), bool):
            series.monitored = body["monitored"]
        if isinstance(body.get("qualityProfileId"), int):
            series.quality_profile_id = body["qualityProfileId"]
        if isinstance(body.get("seriesType"), str):
            series.series_type = body["seriesType"]
        if isinstance(tags, list):
            current = set(series.tags)
            if apply_tags == "remove":
                current -= set(tags)
            elif apply_tags == "replace":
                current = set(tags)
            else:
                current |= set(tags)
            series.tags = sorted(current)
