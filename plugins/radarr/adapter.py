"""The Radarr adapter: reads movies and movie files, deletes files, unmonitors and tags movies.

It speaks Radarr's API v3 as Radarr v4 and v5 answer it (``radarr-openapi-v4.json`` and
``radarr-openapi.json``), only through ``IntegrationHttp``. Every answer is parsed defensively
(``cullarrd_plugins.arr_common``): a missing required field, a wrong type or a document of the
wrong shape raises ``IntegrationError(code="integration_contract_mismatch")`` naming the field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from cullarrd.errors import IntegrationError, ValidationFailed
from cullarrd.types import HealthRecord, MediaFileRecord, MovieRecord, TagRecord
from cullarrd_plugins.arr_common import (
    MISMATCH,
    ArrAdapter,
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

APP_NAME = "Radarr"
ID_BATCH = 100  # movie file ids per GET, keeping the URL short
TARGETS = ("movie",)


class RadarrAdapter(ArrAdapter):
    """An inventory adapter for one Radarr integration (built per run; holds no state across)."""

    MIN_READ_VERSION = "4.0"
    MIN_DELETE_VERSION = "5.0"
    # Radarr answers an existing label with the existing tag, so a retry cannot duplicate it.
    TAG_POST_IDEMPOTENT = True

    def __init__(self, integration: Any, http: Any, settings: Any) -> None:
        super().__init__(integration, http, settings)
        self.major_version: int | None = None  # learned by check_health

    # --- health ----------------------------------------------------------------------------

    async def check_health(self) -> HealthRecord:
        """Read ``system/status``; the core applies the version policy to the result."""
        status, where = await self._system_status()
        app_name = opt_str(status, "appName", where)
        if app_name != APP_NAME:
            raise mismatch(where, f"appName is {app_name!r}, not {APP_NAME!r} (wrong base URL?)")
        version = req_str(status, "version", where)
        self.major_version = version_major(version)
        details = {
            key: value
            for key, value in (
                ("instance_name", opt_str(status, "instanceName", where)),
                ("url_base", opt_str(status, "urlBase", where)),
            )
            if value
        }
        return self._health(app_name, version, details)

    # --- reads -----------------------------------------------------------------------------

    async def iter_movies(self) -> AsyncIterator[MovieRecord]:
        """Every movie (``GET movie`` is not paged), its primary file embedded when present."""
        where = self._where("GET api/v3/movie")
        movies = as_object_list(await self.http.get_json("api/v3/movie"), where)
        for doc in movies:
            yield self._movie(doc, where)

    async def iter_movie_files(self, movie_arr_id: int) -> AsyncIterator[MediaFileRecord]:
        """Every file (every version) of one movie."""
        for record in await self.list_files(movie_arr_id):
            yield record

    async def list_files(self, parent_arr_id: int) -> list[MediaFileRecord]:
        """All files of a movie right now (used to confirm a delete)."""
        movie_id = self._positive_id(parent_arr_id, "movie id")
        where = self._where(f"GET api/v3/moviefile?movieId={movie_id}")
        # One movieId as a single value: v4 binds one int, v5 a list; both accept this.
        data = await self.http.get_json("api/v3/moviefile", {"movieId": movie_id})
        files = [self._file(doc, where) for doc in as_object_list(data, where)]
        strays = sorted({f.owner_arr_id for f in files} - {movie_id})
        if strays:  # a filter the server ignored must never attribute files to this movie
            raise mismatch(where, f"answered files of other movies {strays}")
        return files

    async def get_files(self, arr_file_ids: Sequence[int]) -> list[MediaFileRecord]:
        """Re-read files by id, live (before deleting); ids that no longer exist are left out."""
        wanted = [self._positive_id(i, "movie file id") for i in arr_file_ids]
        found: list[MediaFileRecord] = []
        for start in range(0, len(wanted), ID_BATCH):
            batch = wanted[start : start + ID_BATCH]
            where = self._where("GET api/v3/moviefile?movieFileIds=…")
            data = await self.http.get_json("api/v3/moviefile", {"movieFileIds": batch})
            files = [self._file(doc, where) for doc in as_object_list(data, where)]
            extra = sorted({f.arr_file_id for f in files} - set(batch))
            if extra:
                raise mismatch(where, f"answered files that were not asked for {extra}")
            found.extend(files)
        return found

    # --- writes ----------------------------------------------------------------------------

    async def delete_file(self, arr_file_id: int) -> bool:
        """Delete one movie file: True when deleted now, False when it was already gone (404)."""
        file_id = self._positive_id(arr_file_id, "movie file id")
        if self.major_version is not None and self.major_version < 5:
            raise IntegrationError(
                self._where(
                    f"Radarr {self.major_version} is below {self.MIN_DELETE_VERSION} "
                    "required for deleting"
                ),
                code="unsupported_integration_version",
            )
        return await self._delete(file_id, f"api/v3/moviefile/{file_id}")

    async def unmonitor(self, target: str, arr_ids: Sequence[int]) -> None:
        """Unmonitor movies through the movie editor (one request for all of them)."""
        ids = self._editor_ids(target, arr_ids)
        if ids:
            await self._edit({"movieIds": ids, "monitored": False})

    async def add_tag(self, target: str, arr_ids: Sequence[int], label: str) -> TagRecord:
        """Find or create the tag ``label`` (lower-cased) and add it to the movies."""
        ids = self._editor_ids(target, arr_ids)
        tag = await self._find_or_create_tag(label)
        if ids:
            await self._edit({"movieIds": ids, "tags": [tag.arr_tag_id], "applyTags": "add"})
        return tag

    # --- helpers ---------------------------------------------------------------------------

    def _editor_ids(self, target: str, arr_ids: Sequence[int]) -> list[int]:
        if target not in TARGETS:
            raise ValidationFailed({"target": [f"Radarr can only change {', '.join(TARGETS)}"]})
        return sorted({self._positive_id(i, "movie id") for i in arr_ids})

    async def _edit(self, body: dict[str, Any]) -> None:
        where = self._where("PUT api/v3/movie/editor")
        answer = await self.http.request("PUT", "api/v3/movie/editor", json_body=body)
        if answer.data is None:  # any 2xx is success; an empty body leaves nothing to check
            return
        # Radarr answers the updated movies: check the change really landed.
        for doc in as_object_list(answer.data, where):
            movie_id = req_int(doc, "id", where)
            if movie_id not in body["movieIds"]:
                continue
            if "monitored" in body and opt_bool(doc, "monitored", where) is not False:
                raise mismatch(where, f"movie {movie_id} is still monitored")
            missing = set(body.get("tags", ())) - set(int_list(doc, "tags", where))
            if missing:
                raise mismatch(where, f"movie {movie_id} did not get tags {sorted(missing)}")

    async def _find_or_create_tag(self, label: str) -> TagRecord:
        wanted = label.strip().lower() if isinstance(label, str) else ""
        if not wanted:
            raise ValidationFailed({"label": ["a tag label must not be empty"]})
        return await self._tag_labelled(wanted)

    def _tag_where(self, where: str, doc: dict[str, Any], index: int) -> str:
        return where  # Radarr's tag errors name the list, not the item

    def _bad_id(self, value: Any, what: str) -> Exception:
        """Ids <= 0 mean "none" in Radarr and are refused."""
        return ValidationFailed({what: [f"{value!r} is not a valid Radarr id"]})

    def _foreign_not_found(self, answer: Any, what: str) -> IntegrationError:
        # Only Radarr's own "not found" body means "already gone"; a bare 404 (a proxy,
        # a wrong URL base) says nothing about the file.
        where = self._where(what)
        return mismatch(where, "answered 404 without Radarr's error body (wrong base URL?)")

    def _delete_refused(self, answer: Any, file_id: int, path: str) -> IntegrationError:
        message = upstream_message(answer.data)
        return IntegrationError(
            self._where(f"Radarr refused to delete movie file {file_id}: {message}"),
            code=MISMATCH,
            status=409,
            details={"upstream_message": message},
        )

    def _movie(self, doc: dict[str, Any], where: str) -> MovieRecord:
        movie_id = req_int(doc, "id", where)
        where = f"{where}: movie {movie_id}"
        embedded = opt_dict(doc, "movieFile", where)
        file = self._file(embedded, f"{where}: movieFile", movie_id) if embedded else None
        has_file = opt_bool(doc, "hasFile", where)  # nullable in v5
        statistics = opt_dict(doc, "statistics", where)  # v5+ only
        file_count = None
        if statistics is not None and (self.major_version or 5) >= 5:
            file_count = opt_int(statistics, "movieFileCount", f"{where}: statistics")
        year = opt_int(doc, "year", where)
        return MovieRecord(
            arr_id=movie_id,
            title=req_str(doc, "title", where),
            sort_title=opt_str(doc, "sortTitle", where),
            year=year or None,  # Radarr writes 0 for an unknown year
            tmdb_id=opt_int(doc, "tmdbId", where) or None,
            imdb_id=opt_str(doc, "imdbId", where) or None,
            path=opt_str(doc, "path", where),
            monitored=opt_bool(doc, "monitored", where),
            added_at=opt_datetime(doc, "added", where),
            tags=int_list(doc, "tags", where),
            has_file=has_file if has_file is not None else file is not None,
            size_on_disk=opt_int(doc, "sizeOnDisk", where),
            file=file,
            movie_file_count=file_count,
            runtime_minutes=opt_int(doc, "runtime", where) or None,
        )

    def _file(self, doc: dict[str, Any], where: str, owner: int | None = None) -> MediaFileRecord:
        file_id = req_int(doc, "id", where)
        where = f"{where}: movie file {file_id}"
        if owner is None:
            movie_id = req_int(doc, "movieId", where)
        else:  # embedded in a movie: the owner is that movie, and must not say otherwise
            movie_id = opt_int(doc, "movieId", where) or owner
            if movie_id != owner:
                raise mismatch(where, f"is embedded in movie {owner} but names movie {movie_id}")
        size = req_int(doc, "size", where)
        if size < 0:
            raise mismatch(where, f"field 'size' is negative ({size})")
        return MediaFileRecord(
            arr_file_id=file_id,
            owner_arr_id=movie_id,
            path=req_str(doc, "path", where),
            size_bytes=size,
            quality=quality_name(doc, where),
            relative_path=opt_str(doc, "relativePath", where),
            date_added=opt_datetime(doc, "dateAdded", where),
        )
