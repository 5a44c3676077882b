"""Radarr's API v3 shapes (v4 or v5) of the simulated library, as the fake serves them.

Shapes follow ``radarr-openapi.json`` (v5) and ``radarr-openapi-v4.json``: null fields are left
out, enums are camelCase strings, sizes are JSON integers. Fields whose v4 document types them as
objects (``SystemResource.runtimeVersion``/``databaseVersion``, ``CommandResource.duration``)
are left out in v4 mode rather than sent in a shape the document refuses.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from cullarrd_plugins.fakelib.arr_fake import Command, compact, iso
from cullarrd_plugins.fakelib.model import Library, Movie, MovieFile, Quality

ENGLISH = {"id": 1, "name": "English"}
QUALITY_SOURCES = frozenset(
    {
        "unknown",
        "cam",
        "telesync",
        "telecine",
        "workprint",
        "dvd",
        "tv",
        "webdl",
        "webrip",
        "bluray",
    }
)
# The generator's sources are Sonarr's words; Radarr spells them differently.
SOURCE_ALIASES = {"television": "tv", "televisionraw": "tv", "web": "webdl", "blurayraw": "bluray"}
START_TIME = dt.datetime(2026, 6, 1, 11, 0, tzinfo=dt.UTC)


def quality_source(quality: Quality) -> str:
    """Radarr's ``QualitySource`` for a quality (the WEBRip names are ``webrip``)."""
    if quality.name.lower().startswith("webrip"):
        return "webrip"
    source = SOURCE_ALIASES.get(quality.source.lower(), quality.source)
    return source if source in QUALITY_SOURCES else "unknown"


def quality_model(quality: Quality) -> dict[str, Any]:
    """A ``QualityModel`` (quality plus revision)."""
    modifier = "remux" if "remux" in quality.name.lower() else "none"
    return {
        "quality": {
            "id": quality.id,
            "name": quality.name,
            "source": quality_source(quality),
            "resolution": quality.resolution,
            "modifier": modifier,
        },
        "revision": {"version": 1, "real": 0, "isRepack": False},
    }


def _media_info(movie_file: MovieFile, v4: bool) -> dict[str, Any]:
    resolution = movie_file.quality.resolution
    width = {2160: 3840, 1080: 1920, 720: 1280}.get(resolution, 720)
    info: dict[str, Any] = {
        "audioBitrate": 640_000,
        "audioChannels": 5.1,
        "audioCodec": "EAC3",
        "audioLanguages": "eng",
        "audioStreamCount": 1,
        "videoBitDepth": 10 if resolution >= 2160 else 8,
        "videoBitrate": 0,
        "videoCodec": "x265" if resolution >= 2160 else "x264",
        "videoFps": 23.976,
        "videoDynamicRangeType": "HDR10" if resolution >= 2160 else "",
        "resolution": f"{width}x{resolution}",
        "runTime": "2:00:00",
        "scanType": "Progressive",
        "subtitles": "English",
    }
    if not v4:
        info["videoDynamicRange"] = "HDR" if resolution >= 2160 else ""
    return info


def movie_file_resource(movie_file: MovieFile, v4: bool) -> dict[str, Any]:
    """A ``MovieFileResource``."""
    return compact(
        {
            "id": movie_file.id,
            "movieId": movie_file.movie_id,
            "relativePath": movie_file.relative_path,
            "path": movie_file.path,
            "size": movie_file.size,
            "dateAdded": iso(movie_file.date_added),
            "releaseGroup": movie_file.release_group,
            "edition": movie_file.edition,
            "languages": [ENGLISH],
            "quality": quality_model(movie_file.quality),
            "customFormats": [],
            "customFormatScore": 0,
            "indexerFlags": 0,
            "mediaInfo": _media_info(movie_file, v4),
            "qualityCutoffNotMet": False,
        }
    )


def _clean_title(title: str) -> str:
    return re.sub(r"[^a-z0-9]", "", title.lower())


def _slug(title: str, tmdb_id: int) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") + f"-{tmdb_id}"


def movie_resource(library: Library, movie: Movie, v4: bool) -> dict[str, Any]:
    """A ``MovieResource``; the primary file is embedded as ``movieFile`` when there is one."""
    files = library.movie_files_of(movie.id)
    primary = files[0] if files else None
    doc: dict[str, Any] = {
        "id": movie.id,
        "title": movie.title,
        "originalTitle": movie.original_title,
        "originalLanguage": ENGLISH,
        "alternateTitles": [],
        "secondaryYearSourceId": 0,
        "sortTitle": movie.sort_title,
        "sizeOnDisk": primary.size if primary else 0,
        "status": movie.status,
        "overview": "",
        "images": [],
        "website": "",
        "year": movie.year,
        "studio": "",
        "path": movie.path,
        "qualityProfileId": movie.quality_profile_id,
        "hasFile": primary is not None,
        "monitored": movie.monitored,
        "minimumAvailability": movie.minimum_availability,
        "isAvailable": movie.status == "released",
        "folderName": movie.path,
        "runtime": movie.runtime_minutes,
        "cleanTitle": _clean_title(movie.title),
        "imdbId": movie.imdb_id,
        "tmdbId": movie.tmdb_id,
        "titleSlug": _slug(movie.title, movie.tmdb_id),
        "rootFolderPath": movie.root_folder_path,
        "genres": [],
        "tags": list(movie.tags),
        "added": iso(movie.added),
        "ratings": {"tmdb": {"votes": 0, "value": 0.0, "type": "user"}},
        "movieFile": movie_file_resource(primary, v4) if primary else None,
        "popularity": 0.0,
    }
    if not v4:
        groups = sorted({f.release_group for f in files if f.release_group})
        doc["movieFileId"] = primary.id if primary else 0
        doc["keywords"] = []
        doc["statistics"] = {
            "movieFileCount": len(files),
            "sizeOnDisk": sum(f.size for f in files),
            "releaseGroups": groups,
        }
    return compact(doc)


def system_status(version: str, url_base: str, v4: bool) -> dict[str, Any]:
    """A ``SystemResource`` for a Radarr in Docker on Linux."""
    doc: dict[str, Any] = {
        "appName": "Radarr",
        "instanceName": "Radarr",
        "version": version,
        "buildTime": "2025-09-01T00:00:00Z",
        "isDebug": False,
        "isProduction": True,
        "isAdmin": False,
        "isUserInteractive": False,
        "startupPath": "/app/radarr/bin",
        "appData": "/config",
        "osName": "ubuntu",
        "osVersion": "22.04",
        "isNetCore": True,
        "isLinux": True,
        "isOsx": False,
        "isWindows": False,
        "isDocker": True,
        "mode": "console",
        "branch": "master",
        "databaseType": "sqLite",
        "authentication": "forms",
        "migrationVersion": 238 if not v4 else 214,
        "urlBase": url_base,
        "runtimeName": ".NET",
        "startTime": iso(START_TIME),
        "packageUpdateMechanism": "docker",
    }
    if not v4:
        doc["databaseVersion"] = "3.46.1"
        doc["runtimeVersion"] = "8.0.12"
    return doc


def command_resource(command: Command, v4: bool) -> dict[str, Any]:
    """A ``CommandResource``; ``body`` carries the command's fields at the top level."""
    done = command.status == "completed"
    body = {
        **command.params,
        "sendUpdatesToClient": True,
        "updateScheduledTask": True,
        "requiresDiskAccess": False,
        "isExclusive": False,
        "isTypeExclusive": False,
        "isLongRunning": False,
        "name": command.name,
        "trigger": "manual",
        "suppressMessages": False,
    }
    doc: dict[str, Any] = {
        "id": command.id,
        "name": command.name,
        "commandName": command.label,
        "message": "Completed" if done else None,
        "body": body,
        "priority": "normal",
        "status": command.status,
        "result": "successful" if done else "unknown",
        "queued": iso(command.queued),
        "started": iso(command.queued) if done else None,
        "ended": iso(command.ended) if command.ended else None,
        "trigger": "manual",
        "stateChangeTime": iso(command.ended or command.queued),
        "sendUpdatesToClient": True,
        "updateScheduledTask": True,
    }
    if done and not v4:  # v4's document types duration as a TimeSpan object
        doc["duration"] = "00:00:00.0100000"
    return compact(doc)
