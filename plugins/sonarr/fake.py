"""A contract-true fake Sonarr (API v3, playing Sonarr v3 or v4) over a simulated ``Library``.

It answers like the real server (``../shared/contracts/ENDPOINTS.md`` §1, §2, §4): 401 with an
empty body on a bad key, null fields left out, POST 201 / PUT 202 / DELETE 200 with an empty
body, ``{"message"}`` objects for 404/409/500, FluentValidation arrays for 400 on ``PUT
series/{id}``, 500 when an id list names an unknown id (``BasicRepository.Get(ids)``), tags
lower-cased and deduplicated. Writes mutate the library: a deleted file is gone and its episodes
get ``episodeFileId`` 0. Every API request passes fault injection (key ``"METHOD /path"``, the
path below any mount prefix) and every non-GET request is recorded in the write log.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cullarrd_plugins.fakelib.arr_fake import (
    CommandQueue,
    FakeError,
    create_tag,
    location,
    message,
    query_values,
    tag_list,
    tag_resource,
    valid_id,
)
from cullarrd_plugins.fakelib.faults import (
    Faults,
    WriteLog,
    endpoint_key,
    fake_app,
    record_request,
    respond_with_fault,
)
from cullarrd_plugins.fakelib.model import Library, Series
from cullarrd_plugins.sonarr.fake_commands import COMMANDS, RUN_TIME, command_params, render_command
from cullarrd_plugins.sonarr.fake_render import (
    Flavour,
    apply_editor,
    apply_full_series,
    render_episode,
    render_episode_file,
    render_series,
    render_status,
    series_errors,
)

DEFAULT_VERSION = "4.0.19.2979"
QUALITY_PROFILES = frozenset(range(1, 7))  # Sonarr's default profiles
Handler = Callable[[Request], Awaitable[Response]]


def not_found(model: str, ident: int) -> FakeError:
    """``ModelNotFoundException`` as Sonarr words it."""
    return message(404, f"{model} with ID {ident} does not exist")


def id_list_mismatch(asked: int, found: int) -> FakeError:
    """``BasicRepository.Get(ids)`` when an id is unknown: an ``ApplicationException`` → 500."""
    return message(500, f"Expected query to return {asked} rows but returned {found}")


class FakeSonarr:
    """The state and handlers of one fake Sonarr."""

    def __init__(
        self, library: Library, api_key: str, faults: Faults, writes: WriteLog, version: str
    ) -> None:
        self.library = library
        self.api_key = api_key
        self.faults = faults
        self.writes = writes
        self.version = version
        self.major = int(version.split(".", 1)[0])
        self.commands = CommandQueue(
            COMMANDS,
            functools.partial(command_params, self.major),
            clock=lambda: dt.datetime.now(dt.UTC),
            finish=lambda command: command.queued + RUN_TIME,
        )
        self.missing_root_folders: set[str] = set()  # DELETE of a file there answers 409
        used = {series.quality_profile_id for series in library.series.values()}
        self.quality_profiles = set(QUALITY_PROFILES) | used

    # --- plumbing -----------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The API routes, each wrapped in auth, fault injection and the write log."""
        table: list[tuple[str, str, Handler]] = [
            ("/api/v3/system/status", "GET", self.system_status),
            ("/api/v3/series", "GET", self.series_list),
            ("/api/v3/series/editor", "PUT", self.series_editor),
            ("/api/v3/series/{id:int}", "GET", self.series_get),
            ("/api/v3/series/{id:int}", "PUT", self.series_put),
            ("/api/v3/episode", "GET", self.episode_list),
            ("/api/v3/episode/monitor", "PUT", self.episode_monitor),
            ("/api/v3/episodefile", "GET", self.episodefile_list),
            ("/api/v3/episodefile/{id:int}", "GET", self.episodefile_get),
            ("/api/v3/episodefile/{id:int}", "DELETE", self.episodefile_delete),
            ("/api/v3/tag", "GET", self.tag_list),
            ("/api/v3/tag", "POST", self.tag_create),
            ("/api/v3/command", "GET", self.command_list),
            ("/api/v3/command", "POST", self.command_create),
            ("/api/v3/command/{id:int}", "GET", self.command_get),
        ]
        routes = [Route(path, self._guarded(h), methods=[m]) for path, m, h in table]
        # Anything else under /api is still authenticated, faulted and logged, then 404.
        every = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        routes.append(Route("/api/{rest:path}", self._guarded(self.unknown_route), methods=every))
        return routes

    def _guarded(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            if request.method != "GET":
                await record_request(self.writes, request)

            async def normal() -> Response:
                if not self._authorized(request):
                    return Response(status_code=401)
                try:
                    return await handler(request)
                except FakeError as error:
                    return JSONResponse(error.body, status_code=error.status)

            fault = self.faults.take(endpoint_key(request))
            response = await respond_with_fault(fault, normal)
            response.headers["X-Application-Version"] = self.version
            return response

        return endpoint

    def _authorized(self, request: Request) -> bool:
        """The first key found decides: v4 query ``apikey`` first, v3 header ``X-Api-Key`` first."""
        query = next(iter(query_values(request, "apikey")), "")
        header = request.headers.get("x-api-key", "")
        authorization = request.headers.get("authorization", "")
        if self.major < 4:
            candidates = [header, query, authorization]
        else:
            candidates = [query, header, authorization.removeprefix("Bearer ").strip()]
        given = next((c for c in candidates if c), "")
        return bool(given) and hmac.compare_digest(given.encode(), self.api_key.encode())

    def flavour(self, request: Request) -> Flavour:
        return Flavour(self.version, self.major, url_base=request.scope.get("root_path", ""))

    # --- reads --------------------------------------------------------------------------

    async def system_status(self, request: Request) -> Response:
        return JSONResponse(render_status(self.flavour(request)))

    async def series_list(self, request: Request) -> Response:
        tvdb_id = query_int(request, "tvdbId")
        found = [s for s in self.library.series.values() if tvdb_id in (None, s.tvdb_id)]
        flavour = self.flavour(request)
        return JSONResponse([render_series(self.library, s, flavour) for s in found])

    async def series_get(self, request: Request) -> Response:
        series = self._series(request.path_params["id"])
        return JSONResponse(render_series(self.library, series, self.flavour(request)))

    async def episode_list(self, request: Request) -> Response:
        lib, flavour = self.library, self.flavour(request)
        series_id = query_int(request, "seriesId")
        episode_ids = self.query_ids(request, "episodeIds")
        file_id = query_int(request, "episodeFileId")
        if series_id is not None:
            season = query_int(request, "seasonNumber")
            found = [e for e in lib.episodes_of(series_id) if season in (None, e.season_number)]
        elif episode_ids:
            found = [lib.episodes[i] for i in dict.fromkeys(episode_ids) if i in lib.episodes]
            if len(found) != len(set(episode_ids)):
                raise id_list_mismatch(len(set(episode_ids)), len(found))
        elif file_id is not None:
            found = lib.episodes_of_file(file_id)
        else:
            raise message(400, "seriesId or episodeIds must be provided")
        with_series = not flavour.v3 and query_bool(request, "includeSeries")
        with_file = not flavour.v3 and query_bool(request, "includeEpisodeFile")
        return JSONResponse(
            [
                render_episode(lib, e, flavour, include_series=with_series, include_file=with_file)
                for e in found
            ]
        )

    async def episodefile_list(self, request: Request) -> Response:
        lib, flavour = self.library, self.flavour(request)
        series_id = query_int(request, "seriesId")
        file_ids = self.query_ids(request, "episodeFileIds")
        if series_id is not None:
            self._series(series_id)
            found = lib.episode_files_of(series_id)
        elif file_ids:
            wanted = list(dict.fromkeys(file_ids))
            found = [lib.episode_files[i] for i in wanted if i in lib.episode_files]
            if len(found) != len(wanted):
                raise id_list_mismatch(len(wanted), len(found))
        else:
            raise message(400, "seriesId or episodeFileIds must be provided")
        return JSONResponse([render_episode_file(lib, f, flavour) for f in found])

    async def episodefile_get(self, request: Request) -> Response:
        file_id = request.path_params["id"]
        episode_file = self.library.episode_files.get(file_id)
        if episode_file is None:
            raise not_found("EpisodeFile", file_id)
        return JSONResponse(render_episode_file(self.library, episode_file, self.flavour(request)))

    async def tag_list(self, request: Request) -> Response:
        return JSONResponse(tag_list(self.library.sonarr_tags))

    async def command_list(self, request: Request) -> Response:
        return JSONResponse([render_command(c) for c in self.commands.all()])

    async def command_get(self, request: Request) -> Response:
        command = self.commands.poll(request.path_params["id"])
        if command is None:
            raise not_found("CommandModel", request.path_params["id"])
        return JSONResponse(render_command(command))

    async def unknown_route(self, request: Request) -> Response:
        return Response(status_code=404)

    # --- writes -------------------------------------------------------------------------

    async def episodefile_delete(self, request: Request) -> Response:
        file_id = valid_id(request.path_params["id"])
        episode_file = self.library.episode_files.get(file_id)
        if episode_file is None:
            raise message(404, "Episode file not found")
        series = self._series(episode_file.series_id)
        if series.root_folder_path in self.missing_root_folders:
            text = f"Series' root folder ({series.root_folder_path}) doesn't exist."
            raise message(409, text)
        self.library.delete_episode_file(file_id)
        return Response(status_code=200)

    async def episode_monitor(self, request: Request) -> Response:
        body = await json_object(request)
        ids = id_field(body, "episodeIds")
        monitored = body.get("monitored", False)
        if not isinstance(monitored, bool):
            raise message(400, "The JSON value could not be converted to System.Boolean.")
        lib = self.library
        if len(ids) == 1 and ids[0] not in lib.episodes:
            raise not_found("Episode", ids[0])
        for episode_id in ids:  # Sonarr updates what exists, then fails reading the rest back
            if episode_id in lib.episodes:
                lib.episodes[episode_id].monitored = monitored
        found = [lib.episodes[i] for i in dict.fromkeys(ids) if i in lib.episodes]
        if len(found) != len(set(ids)):
            raise id_list_mismatch(len(set(ids)), len(found))
        flavour = self.flavour(request)
        return JSONResponse([render_episode(lib, e, flavour) for e in found], status_code=202)

    async def series_put(self, request: Request) -> Response:
        body = await json_object(request)
        body_id = body.get("id", 0)
        if not isinstance(body_id, int) or isinstance(body_id, bool):
            raise message(400, "The JSON value could not be converted to System.Int32.")
        series_id = valid_id(body_id or request.path_params["id"])
        series = self._series(series_id)
        errors = series_errors(body, self.quality_profiles)
        if errors:
            return JSONResponse(errors, status_code=400)
        apply_full_series(series, body)
        return JSONResponse(
            render_series(self.library, series, self.flavour(request)), status_code=202
        )

    async def series_editor(self, request: Request) -> Response:
        body = await json_object(request)
        ids = id_field(body, "seriesIds")
        found = [self.library.series[i] for i in ids if i in self.library.series]
        if len(found) != len(ids):
            raise id_list_mismatch(len(ids), len(found))
        apply_editor(found, body)
        flavour = self.flavour(request)
        rendered = [render_series(self.library, s, flavour, with_statistics=False) for s in found]
        return JSONResponse(rendered, status_code=202)

    async def tag_create(self, request: Request) -> Response:
        label = (await json_object(request)).get("label")
        tag = create_tag(self.library.sonarr_tags, label, placeholders=True, trim=True)
        headers = location(request, f"tag/{tag.id}")
        return JSONResponse(tag_resource(tag), status_code=201, headers=headers)

    async def command_create(self, request: Request) -> Response:
        command, _ = self.commands.push(await json_object(request))
        headers = location(request, f"command/{command.id}")  # also for an equal queued one
        return JSONResponse(render_command(command), status_code=201, headers=headers)

    # --- helpers ------------------------------------------------------------------------

    def _series(self, series_id: int) -> Series:
        series = self.library.series.get(series_id)
        if series is None:
            raise not_found("Series", series_id)
        return series

    def query_ids(self, request: Request, name: str) -> list[int]:
        """A list parameter: v4 repeats the key (``[FromQuery] List<int>``), v3 splits commas."""
        values = query_values(request, name)
        if self.major < 4:  # Nancy joins a repeated key with commas before the split
            values = [part for value in values for part in value.split(",") if part]
        try:
            return [int(value) for value in values]
        except ValueError:
            raise message(400, f"The value '{','.join(values)}' is not valid for {name}.") from None


def create_app(
    library: Library,
    *,
    api_key: str,
    faults: Faults | None = None,
    writes: WriteLog | None = None,
    version: str = DEFAULT_VERSION,
) -> Starlette:
    """The fake's ASGI app; ``app.state.fake`` is the ``FakeSonarr`` behind it."""
    faults = faults if faults is not None else Faults()
    writes = writes if writes is not None else WriteLog()
    fake = FakeSonarr(library, api_key, faults, writes, version)
    return fake_app(fake, fake.routes())


async def json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or the 400 Sonarr gives for anything else."""
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise message(400, "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise message(400, "The JSON value could not be converted to the resource.")
    return body


def id_field(body: dict[str, Any], name: str) -> list[int]:
    """A required list of integer ids in a request body (JSON numbers only)."""
    ids = body.get(name)
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) for i in ids
    ):
        raise message(400, f"{name} must be a list of integers")
    return ids


def query_int(request: Request, name: str) -> int | None:
    """An optional integer query parameter (the key matched ignoring case)."""
    value = next(iter(query_values(request, name)), "")
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise message(400, f"The value '{value}' is not valid for {name}.") from None


def query_bool(request: Request, name: str) -> bool:
    """An optional boolean query parameter (default false)."""
    return next(iter(query_values(request, name)), "").lower() == "true"
