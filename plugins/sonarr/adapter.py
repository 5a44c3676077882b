"""The Sonarr inventory adapter: reads series, episodes and files, and writes only when asked.

Every answer is parsed defensively (``cullarrd_plugins.arr_common``): a missing required field,
a wrong type or a document of the wrong shape is an ``integration_contract_mismatch`` naming the
field, never a traceback. Sonarr v3 and v4 differ in how list query parameters are written
(``1,2,3`` vs a repeated key); the major version comes from ``system/status`` and is remembered
for the life of this adapter (one run).
"""

from __future__ import annotations

import json
import operator
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from cullarrd.errors import IntegrationError
from cullarrd.types import (
    EpisodeRecord,
    HealthRecord,
    MediaFileRecord,
    SeasonRecord,
    SeriesRecord,
    TagRecord,
)
from cullarrd_plugins.arr_common import (
    MISMATCH,
    ArrAdapter,
    as_object,
    as_object_list,
    int_list,
    mismatch,
    opt_bool,
    opt_datetime,
    opt_dict,
    opt_int,
    opt_str,
    quality_name,
    req_int,
    req_str,
    upstream_message,
    version_major,
)

APP_NAME = "Sonarr"
ID_BATCH = 100  # episode file ids per GET, keeping the URL short


class SonarrAdapter(ArrAdapter):
    """One Sonarr integration for one run (inventory role)."""

    MIN_READ_VERSION = "3.0"
    MIN_DELETE_VERSION = "4.0"
    TAG_MISMATCH = "created tag has label {got!r}, asked for {wanted!r}"

    def __init__(self, integration: Any, http: Any, settings: Any) -> None:
        super().__init__(integration, http, settings)
        self.name = integration.name
        self.major: int | None = None  # learned from system/status

    # --- health -------------------------------------------------------------------------

    async def check_health(self) -> HealthRecord:
        """Ask ``system/status``; the app must call itself Sonarr and report a version."""
        doc, where = await self._system_status()
        app_name = req_str(doc, "appName", where)
        if app_name != APP_NAME:
            raise mismatch(where, f"appName is {app_name!r}, expected {APP_NAME!r}")
        version = req_str(doc, "version", where)
        major = version_major(version)
        if major is None:
            raise mismatch(where, f"field 'version' is not a version number ({version!r:.60})")
        self.major = major
        details = {
            "instance_name": opt_str(doc, "instanceName", where),
            "url_base": opt_str(doc, "urlBase", where),
            "branch": opt_str(doc, "branch", where),
        }
        return self._health(app_name, version, {k: v for k, v in details.items() if v is not None})

    # --- reads --------------------------------------------------------------------------

    async def iter_series(self) -> AsyncIterator[SeriesRecord]:
        """Every series (``GET series`` is not paged); the whole answer parses or none of it."""
        where = self._where("GET api/v3/series")
        docs = as_object_list(await self.http.get_json("api/v3/series"), where)
        for record in [parse_series(doc, self._item(where, doc, i)) for i, doc in enumerate(docs)]:
            yield record

    async def iter_episodes(self, series_arr_id: int) -> AsyncIterator[EpisodeRecord]:
        """The episodes of one series; ``episode_file_id`` is None when Sonarr says 0."""
        path = "api/v3/episode"
        for record in await self._of_series(path, series_arr_id, parse_episode, "series_arr_id"):
            yield record

    async def iter_episode_files(self, series_arr_id: int) -> AsyncIterator[MediaFileRecord]:
        """The episode files of one series."""
        for record in await self.list_files(series_arr_id):
            yield record

    async def list_files(self, parent_arr_id: int) -> list[MediaFileRecord]:
        """Every episode file of one series, read live (used to confirm a delete)."""
        path = "api/v3/episodefile"
        return await self._of_series(path, parent_arr_id, parse_episode_file, "owner_arr_id")

    async def get_files(self, arr_file_ids: Sequence[int]) -> list[MediaFileRecord]:
        """Re-read episode files by id, live; ids Sonarr no longer knows are simply absent."""
        ids = [self._positive_id(i, "episode file id") for i in dict.fromkeys(arr_file_ids)]
        major = await self._major()
        found: list[MediaFileRecord] = []
        for start in range(0, len(ids), ID_BATCH):
            found += await self._get_batch(ids[start : start + ID_BATCH], major)
        return found

    async def _get_batch(self, batch: list[int], major: int) -> list[MediaFileRecord]:
        params = {"episodeFileIds": list_param(batch, major)}
        where = self._where("GET api/v3/episodefile?episodeFileIds=...")
        try:
            data = await self.http.get_json("api/v3/episodefile", params)
        except IntegrationError as exc:
            # Sonarr answers 500 ("Expected query to return N rows") when one id is gone.
            if exc.status != 500:
                raise
            return [r for r in [await self._get_one(i) for i in batch] if r is not None]
        docs = as_object_list(data, where)
        records = [parse_episode_file(d, self._item(where, d, i)) for i, d in enumerate(docs)]
        stray = sorted({r.arr_file_id for r in records} - set(batch))
        if stray:
            raise mismatch(where, f"answer holds episode files not asked for: {stray[:5]}")
        return records

    async def _get_one(self, file_id: int) -> MediaFileRecord | None:
        path = f"api/v3/episodefile/{file_id}"
        answer = await self.http.request("GET", path, ok_statuses=(404,))
        if answer.status == 404:
            self._check_not_found(answer, f"GET {path}")
            return None
        where = self._where(f"GET {path}")
        record = parse_episode_file(as_object(answer.data, where), where)
        if record.arr_file_id != file_id:
            raise mismatch(where, f"got episode file {record.arr_file_id}")
        return record

    # --- writes -------------------------------------------------------------------------

    async def delete_file(self, arr_file_id: int) -> bool:
        """Delete one episode file: True when deleted now, False when Sonarr had it no more."""
        file_id = self._positive_id(arr_file_id, "episode file id")
        return await self._delete(file_id, f"api/v3/episodefile/{file_id}")

    async def unmonitor(self, target: str, arr_ids: Iterable[int]) -> None:
        """Unmonitor episodes (one monitor call) or series (GET, change, PUT the full resource)."""
        ids = [self._positive_id(i, f"{target} id") for i in dict.fromkeys(arr_ids)]
        if not ids:
            return
        if target == "episode":
            body = {"episodeIds": ids, "monitored": False}
            answer = await self.http.request("PUT", "api/v3/episode/monitor", json_body=body)
            where = self._where("PUT api/v3/episode/monitor")
            _confirm(answer.data, where, lambda doc: opt_bool(doc, "monitored", where) is False)
        elif target == "series":
            for series_id in ids:
                await self._unmonitor_series(series_id)
        else:
            raise ValueError(f"cannot unmonitor {target!r} in Sonarr (episode or series)")

    async def add_tag(self, target: str, arr_ids: Iterable[int], label: str) -> TagRecord:
        """Find or create the tag ``label`` and add it to the series ``arr_ids``."""
        if target != "series":
            raise ValueError(f"cannot tag {target!r} in Sonarr (only series)")
        ids = [self._positive_id(i, "series id") for i in dict.fromkeys(arr_ids)]
        tag = await self.find_or_create_tag(label)
        if ids:
            body = {"seriesIds": ids, "tags": [tag.arr_tag_id], "applyTags": "add"}
            answer = await self.http.request("PUT", "api/v3/series/editor", json_body=body)
            where = self._where("PUT api/v3/series/editor")
            _confirm(answer.data, where, lambda doc: tag.arr_tag_id in int_list(doc, "tags", where))
        return tag

    async def find_or_create_tag(self, label: str) -> TagRecord:
        """The tag with this label (compared case-insensitively), created when missing."""
        wanted = label.strip().lower() if isinstance(label, str) else ""
        if not wanted:
            raise ValueError("a tag label must be a non-empty string")
        return await self._tag_labelled(wanted)

    # --- helpers ------------------------------------------------------------------------

    async def _of_series(self, path: str, series_id: int, parse: Any, owner: str) -> list[Any]:
        """What ``path`` lists for one series; an item whose ``owner`` is another is a mismatch."""
        params = {"seriesId": self._positive_id(series_id, "series id")}
        where = self._where(f"GET {path}?seriesId={series_id}")
        docs = as_object_list(await self.http.get_json(path, params), where)
        records = [parse(doc, self._item(where, doc, i)) for i, doc in enumerate(docs)]
        _same_owner(records, series_id, where, operator.attrgetter(owner))
        return records

    async def _unmonitor_series(self, series_id: int) -> None:
        path = f"api/v3/series/{series_id}"
        where = self._where(f"GET {path}")
        doc = as_object(await self.http.get_json(path), where)
        if req_int(doc, "id", where) != series_id:
            raise mismatch(where, f"asked for series {series_id}, got series {doc['id']}")
        req_str(doc, "path", where)  # a PUT without the path would fail or wipe it
        doc["monitored"] = False
        answer = await self.http.request("PUT", path, params={"moveFiles": "false"}, json_body=doc)
        where = self._where(f"PUT {path}")
        _confirm(answer.data, where, lambda doc: opt_bool(doc, "monitored", where) is False)

    async def _major(self) -> int:
        if self.major is None:
            await self.check_health()
        assert self.major is not None
        return self.major

    def _bad_id(self, value: Any, what: str) -> Exception:
        return ValueError(f"{what} must be a positive integer, got {value!r}")

    def _foreign_not_found(self, answer: Any, what: str) -> IntegrationError:
        return self._refused(answer, f"{what}: 404 without Sonarr's not-found body")

    def _delete_refused(self, answer: Any, file_id: int, path: str) -> IntegrationError:
        message = upstream_message(answer.data)
        return self._refused(answer, f"DELETE {path}: Sonarr refused the delete: {message}")

    def _refused(self, answer: Any, what: str) -> IntegrationError:
        body = None if answer.data is None else json.dumps(answer.data)
        return IntegrationError(
            f"{self.name}: {what}",
            code=MISMATCH,
            status=answer.status,
            body=body,
            details={"integration": self.name},
        )


def list_param(ids: Sequence[int], major: int) -> list[int] | str:
    """A list query parameter: v4 repeats the key (httpx does that for a list), v3 wants commas."""
    return ",".join(str(i) for i in ids) if major < 4 else list(ids)


def parse_series(doc: dict[str, Any], where: str) -> SeriesRecord:
    """One ``SeriesResource``; ``statistics`` may be absent (then the counts are None)."""
    stats = opt_dict(doc, "statistics", where) or {}
    return SeriesRecord(
        arr_id=req_int(doc, "id", where),
        title=req_str(doc, "title", where),
        sort_title=opt_str(doc, "sortTitle", where),
        year=_nonzero(opt_int(doc, "year", where)),
        tvdb_id=_nonzero(opt_int(doc, "tvdbId", where)),
        tmdb_id=_nonzero(opt_int(doc, "tmdbId", where)),
        imdb_id=opt_str(doc, "imdbId", where) or None,
        path=opt_str(doc, "path", where),
        monitored=opt_bool(doc, "monitored", where),
        added_at=opt_datetime(doc, "added", where),
        tags=int_list(doc, "tags", where),
        seasons=tuple(_parse_seasons(doc, where)),
        episode_file_count=opt_int(stats, "episodeFileCount", f"{where} statistics"),
        size_on_disk=opt_int(stats, "sizeOnDisk", f"{where} statistics"),
        runtime_minutes=_nonzero(opt_int(doc, "runtime", where)),
    )


def _parse_seasons(doc: dict[str, Any], where: str) -> list[SeasonRecord]:
    raw = doc.get("seasons")
    if raw is None:
        return []
    seasons = []
    for i, item in enumerate(as_object_list(raw, f"{where} seasons")):
        at = f"{where} seasons[{i}]"
        stats = opt_dict(item, "statistics", at) or {}
        seasons.append(
            SeasonRecord(
                season_number=req_int(item, "seasonNumber", at),
                monitored=opt_bool(item, "monitored", at),
                episode_file_count=opt_int(stats, "episodeFileCount", f"{at} statistics"),
                size_on_disk=opt_int(stats, "sizeOnDisk", f"{at} statistics"),
            )
        )
    return seasons


def parse_episode(doc: dict[str, Any], where: str) -> EpisodeRecord:
    """One ``EpisodeResource``; a missing ``episodeFileId`` is a mismatch, not "no file"."""
    return EpisodeRecord(
        arr_id=req_int(doc, "id", where),
        series_arr_id=req_int(doc, "seriesId", where),
        season_number=req_int(doc, "seasonNumber", where),
        episode_number=req_int(doc, "episodeNumber", where),
        title=opt_str(doc, "title", where),
        air_date=opt_str(doc, "airDate", where),
        monitored=opt_bool(doc, "monitored", where),
        episode_file_id=_nonzero(req_int(doc, "episodeFileId", where)),
        tvdb_id=_nonzero(opt_int(doc, "tvdbId", where)),
        runtime_minutes=_nonzero(opt_int(doc, "runtime", where)),
    )


def parse_episode_file(doc: dict[str, Any], where: str) -> MediaFileRecord:
    """One ``EpisodeFileResource`` (``size`` in bytes, quality from ``quality.quality.name``)."""
    size = req_int(doc, "size", where)
    if size < 0:
        raise mismatch(where, f"field 'size' is negative ({size})")
    return MediaFileRecord(
        arr_file_id=req_int(doc, "id", where),
        owner_arr_id=req_int(doc, "seriesId", where),
        path=req_str(doc, "path", where),
        size_bytes=size,
        quality=quality_name(doc, where),
        relative_path=opt_str(doc, "relativePath", where),
        season_number=opt_int(doc, "seasonNumber", where),
        date_added=opt_datetime(doc, "dateAdded", where),
    )


def _confirm(data: Any, where: str, took: Any) -> None:
    """A write's answer (a resource or an array of them) must show the change; none is fine."""
    if data is None:  # the document declares no body for the editor and monitor calls
        return
    docs = [data] if isinstance(data, dict) else as_object_list(data, where)
    if not all(took(doc) for doc in docs):
        raise mismatch(where, "the answer does not show the change that was asked for")


def _same_owner(records: Sequence[Any], owner: int, where: str, key: Any) -> None:
    """A filtered answer must only hold items of the series asked for."""
    for record in records:
        if key(record) != owner:
            raise mismatch(where, f"answer holds an item of series {key(record)}, not {owner}")


def _nonzero(value: int | None) -> int | None:
    """Sonarr writes 0 for an unknown id, year or runtime."""
    return value or None
