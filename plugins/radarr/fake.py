"""A contract-true fake Radarr (API v3 as Radarr v4 or v5 answers it) over a simulated library.

It reproduces ENDPOINTS.md §4: 401 with an empty body for a missing or wrong key (the query
``apikey`` wins over ``X-Api-Key``), null fields left out, POST → 201, PUT → 202, DELETE → 200
with an empty body, 400/404/409/500 bodies as Radarr writes them, route matching that ignores case
and a trailing slash. Writes mutate the ``Library`` (a deleted file is really gone). Every request
passes fault injection (key ``"METHOD /api/v3/..."``) and every non-GET lands in the write log.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cullarrd_plugins.fakelib import arr_fake
from cullarrd_plugins.fakelib.arr_fake import (
    NO_SUCH_COMMAND,
    CommandQueue,
    FakeError,
    location,
    message,
    not_empty,
    tag_list,
    tag_resource,
    unknown_quality_profile,
    valid_id,
)
from cullarrd_plugins.fakelib.faults import (
    Faults,
    WriteLog,
    decode_body,
    endpoint_key,
    fake_app,
    respond_with_fault,
    route_path,
)
from cullarrd_plugins.fakelib.model import Library, Movie
from cullarrd_plugins.radarr import fake_resources as res
from cullarrd_plugins.radarr.fake_wire import (
    Call,
    int_list,
    json_response,
    not_converted,
    parse_call,
    presented_key,
)

DEFAULT_VERSION = "5.28.0.10274"
QUALITY_PROFILES = frozenset(range(1, 7))  # Radarr's default profiles
AVAILABILITY = frozenset({"tba", "announced", "inCinemas", "released", "deleted"})
APPLY_TAGS = ("add", "remove", "replace")
COMMANDS = {
    "rescanmovie": ("RescanMovie", "Rescan Movie"),
    "refreshmovie": ("RefreshMovie", "Refresh Movie"),
}
UNKNOWN_COMMAND = {
    "message": NO_SUCH_COMMAND,
    "description": f"System.InvalidOperationException: {NO_SUCH_COMMAND}",
}

Handler = Callable[["FakeRadarr", "Call"], Awaitable[Response]]


@dataclass
class FakeRadarr:
    """The fake's state around the library: version, key, commands, failure knobs."""

    library: Library
    api_key: str
    version: str
    faults: Faults
    writes: WriteLog
    seen: list[str] = field(default_factory=list)  # "METHOD /path" of every request received
    missing_root_folders: set[str] = field(default_factory=set)  # deletes there answer 409
    commands: CommandQueue = field(init=False)

    def __post_init__(self) -> None:
        self.commands = CommandQueue(  # Radarr's clock is the library's "now"
            COMMANDS,
            _command_params,
            clock=lambda: self.library.now,
            finish=lambda command: self.library.now,
            unknown=UNKNOWN_COMMAND,
        )

    @property
    def v4(self) -> bool:
        """Whether this fake answers in Radarr v4 shapes."""
        return self.version.split(".", 1)[0] == "4"

    def movie(self, movie_id: int) -> Movie:
        """The movie with ``movie_id``, or a 404 answer."""
        movie = self.library.movies.get(movie_id)
        if movie is None:
            raise message(404, f"Movie with ID {movie_id} does not exist")
        return movie

    def render(self, movie: Movie) -> dict[str, Any]:
        """The movie's ``MovieResource``."""
        return res.movie_resource(self.library, movie, self.v4)


# --- handlers --------------------------------------------------------------------------------


async def system_status(fake: FakeRadarr, call: Call) -> Response:
    """GET system/status (``urlBase`` is the mount point)."""
    url_base = call.request.scope.get("root_path", "")
    return json_response(res.system_status(fake.version, url_base, fake.v4))


async def list_movies(fake: FakeRadarr, call: Call) -> Response:
    """GET movie: every movie, not paged (optional ``tmdbId`` filter)."""
    tmdb_ids = set(call.ints("tmdbId"))
    movies = fake.library.movies.values()
    if tmdb_ids:
        movies = [m for m in movies if m.tmdb_id in tmdb_ids]
    return json_response([fake.render(m) for m in movies])


async def get_movie(fake: FakeRadarr, call: Call) -> Response:
    """GET movie/{id}."""
    return json_response(fake.render(fake.movie(valid_id(call.route_id()))))


def _full_resource_failures(body: dict[str, Any]) -> list[dict[str, Any]]:
    path, profile = body.get("path"), body.get("qualityprofileid")
    failures = []
    if not isinstance(path, str) or not path.strip():
        failures.append(not_empty("Path", path, placeholders=False))
    if not isinstance(profile, int) or profile not in QUALITY_PROFILES:
        failures.append(unknown_quality_profile(profile, placeholders=False))
    return failures


async def put_movie(fake: FakeRadarr, call: Call) -> Response:
    """PUT movie/{id}: the body replaces the movie, so it must be the full resource."""
    body = call.object_body()
    movie_id = call.route_id() if call.route_id() is not None else body.get("id", 0)
    movie = fake.movie(valid_id(movie_id))
    failures = _full_resource_failures(body)
    if failures:
        raise FakeError(400, failures)
    # The body replaces the resource: a field left out takes its default (monitored=false).
    monitored = body.get("monitored", False)
    if not isinstance(monitored, bool):
        raise FakeError(400, not_converted("monitored"))
    movie.monitored = monitored
    movie.tags = sorted(set(int_list(body.get("tags") or [], "tags")))
    movie.quality_profile_id = body["qualityprofileid"]
    movie.path = body["path"]
    if body.get("minimumavailability") in AVAILABILITY:
        movie.minimum_availability = body["minimumavailability"]
    return json_response(fake.render(movie), 202)


def _apply_tags(movie: Movie, tags: list[int], how: str) -> None:
    if how == "add":
        movie.tags = sorted(set(movie.tags) | set(tags))
    elif how == "remove":
        movie.tags = sorted(set(movie.tags) - set(tags))
    else:
        movie.tags = sorted(set(tags))


async def movie_editor(fake: FakeRadarr, call: Call) -> Response:
    """PUT movie/editor: change many movies; 202 with the updated movies."""
    body = call.object_body()
    ids = int_list(body.get("movieids"), "movieIds")
    how = body.get("applytags", "add")
    how = APPLY_TAGS[how] if isinstance(how, int) and 0 <= how < 3 else str(how).lower()
    if how not in APPLY_TAGS:
        raise FakeError(400, not_converted("applyTags"))
    monitored = body.get("monitored")
    if monitored is not None and not isinstance(monitored, bool):
        raise FakeError(400, not_converted("monitored"))
    tags = None if body.get("tags") is None else int_list(body["tags"], "tags")
    movies = [fake.library.movies[i] for i in ids if i in fake.library.movies]
    for movie in movies:
        if monitored is not None:
            movie.monitored = monitored
        if tags is not None:
            _apply_tags(movie, tags, how)
        if isinstance(body.get("qualityprofileid"), int):
            movie.quality_profile_id = body["qualityprofileid"]
        if body.get("minimumavailability") in AVAILABILITY:
            movie.minimum_availability = body["minimumavailability"]
    return json_response([fake.render(m) for m in movies], 202)


async def list_movie_files(fake: FakeRadarr, call: Call) -> Response:
    """GET moviefile by ``movieId`` (v5: repeatable) or ``movieFileIds``; 400 without either."""
    movie_ids, file_ids = call.ints("movieId"), call.ints("movieFileIds")
    if fake.v4:
        movie_ids = movie_ids[:1]  # v4 binds one int: the first value
    if not movie_ids and not file_ids:
        raise message(400, "movieId or movieFileIds must be provided")
    lib = fake.library
    if movie_ids:
        files = [f for movie_id in movie_ids for f in lib.movie_files_of(movie_id)]
    else:
        files = [lib.movie_files[i] for i in file_ids if i in lib.movie_files]
    return json_response([res.movie_file_resource(f, fake.v4) for f in files])


async def get_movie_file(fake: FakeRadarr, call: Call) -> Response:
    """GET moviefile/{id}."""
    movie_file = fake.library.movie_files.get(valid_id(call.route_id()))
    if movie_file is None:
        raise message(404, "Movie file not found")
    return json_response(res.movie_file_resource(movie_file, fake.v4))


async def delete_movie_file(fake: FakeRadarr, call: Call) -> Response:
    """DELETE moviefile/{id}: 200 empty, 404 unknown, 409 when the root folder is missing."""
    file_id = valid_id(call.route_id())
    movie_file = fake.library.movie_files.get(file_id)
    if movie_file is None:
        raise message(404, "Movie file not found")
    movie = fake.library.movies.get(movie_file.movie_id)
    root = movie.root_folder_path if movie else ""
    if root in fake.missing_root_folders:
        raise message(409, f"Movie's root folder ({root}) doesn't exist.")
    fake.library.delete_movie_file(file_id)  # the next file, if any, becomes the primary
    return Response(status_code=200)


async def delete_movie_files_bulk(fake: FakeRadarr, call: Call) -> Response:
    """DELETE moviefile/bulk: 200 ``{}``; 400 for an empty list."""
    ids = int_list(call.object_body().get("moviefileids") or [], "movieFileIds")
    if not ids:
        raise message(400, "movieFileIds must be provided")
    for file_id in ids:
        fake.library.delete_movie_file(file_id)
    return json_response({})


async def list_tags(fake: FakeRadarr, call: Call) -> Response:
    """GET tag, sorted by label."""
    return json_response(tag_list(fake.library.radarr_tags))


async def create_tag(fake: FakeRadarr, call: Call) -> Response:
    """POST tag: 201; an existing label (any case) returns the existing tag."""
    label = call.object_body().get("label")
    tag = arr_fake.create_tag(fake.library.radarr_tags, label, placeholders=False, trim=False)
    return json_response(tag_resource(tag), 201, location(call.request, f"tag/{tag.id}"))


def _command_params(name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The command's own fields from a lower-cased body (RescanMovie: movieId; Refresh: ids)."""
    if name == "RescanMovie":
        movie_id = body.get("movieid")
        if movie_id is not None and (not isinstance(movie_id, int) or isinstance(movie_id, bool)):
            raise FakeError(400, not_converted("movieId"))
        return {} if movie_id is None else {"movieId": movie_id}
    movie_ids = int_list(body.get("movieids") or [], "movieIds")
    return {"movieIds": movie_ids, "isNewMovie": bool(body.get("isnewmovie", False))}


async def create_command(fake: FakeRadarr, call: Call) -> Response:
    """POST command: 201 queued; an equal queued command is returned again; 500 if unknown."""
    command, created = fake.commands.push(call.object_body())
    headers = location(call.request, f"command/{command.id}") if created else None
    return json_response(res.command_resource(command, fake.v4), 201, headers)


async def get_command(fake: FakeRadarr, call: Call) -> Response:
    """GET command/{id}: a queued command completes when polled."""
    command = fake.commands.poll(valid_id(call.route_id()))
    if command is None:
        raise message(404, "Not Found")
    return json_response(res.command_resource(command, fake.v4))


ROUTES: list[tuple[str, re.Pattern[str], Handler]] = [
    (method, re.compile(f"^/api/v3/{pattern}$"), handler)
    for method, pattern, handler in (
        ("GET", "system/status", system_status),
        ("GET", "movie", list_movies),
        ("PUT", "movie/editor", movie_editor),
        ("GET", r"movie/(?P<id>-?\d+)", get_movie),
        ("PUT", r"movie(?:/(?P<id>-?\d+))?", put_movie),
        ("GET", "moviefile", list_movie_files),
        ("DELETE", "moviefile/bulk", delete_movie_files_bulk),
        ("GET", r"moviefile/(?P<id>-?\d+)", get_movie_file),
        ("DELETE", r"moviefile/(?P<id>-?\d+)", delete_movie_file),
        ("GET", "tag", list_tags),
        ("POST", "tag", create_tag),
        ("POST", "command", create_command),
        ("GET", r"command/(?P<id>-?\d+)", get_command),
    )
]


# --- plumbing --------------------------------------------------------------------------------


async def _answer(fake: FakeRadarr, request: Request, path: str) -> Response:
    """Authenticate, route and run the handler; errors become Radarr's error answers."""
    if presented_key(request) != fake.api_key:
        return Response(status_code=401)
    lowered = path.lower()
    matched = [(m, p.match(lowered), h) for m, p, h in ROUTES]
    matched = [(m, found, h) for m, found, h in matched if found]
    if not matched:
        return json_response({"message": "NotFound"}, 404)
    for method, found, handler in matched:
        if method == request.method:
            try:
                call = await parse_call(request, path, found.groupdict())
                return await handler(fake, call)
            except FakeError as error:
                return json_response(error.body, error.status)
    return Response(status_code=405)


async def _endpoint(request: Request) -> Response:
    fake: FakeRadarr = request.app.state.radarr
    path = route_path(request).rstrip("/") or "/"
    key = endpoint_key(request)
    fake.seen.append(key)
    if request.method != "GET":
        raw = await request.body()  # a blank body is no body, as the handlers read it
        query = {k: request.query_params.getlist(k) for k in request.query_params}
        fake.writes.record(request.method, path, query, decode_body(raw) if raw.strip() else None)

    async def normal() -> Response:
        """The answer without a fault (only that one carries the version header)."""
        response = await _answer(fake, request, path)
        response.headers["X-Application-Version"] = fake.version
        return response

    return await respond_with_fault(fake.faults.take(key), normal)


def create_app(
    library: Library,
    *,
    api_key: str,
    faults: Faults | None = None,
    writes: WriteLog | None = None,
    version: str = DEFAULT_VERSION,
) -> Starlette:
    """A fake Radarr serving ``library``; ``app.state.radarr`` exposes its state to tests."""
    faults = faults if faults is not None else Faults()
    writes = writes if writes is not None else WriteLog()
    fake = FakeRadarr(library, api_key, version, faults, writes)
    route = Route("/{path:path}", _endpoint, methods=["GET", "POST", "PUT", "DELETE"])
    return fake_app(fake, [route], alias="radarr")
