"""A fake Tautulli (API v2) that answers like a real v2.17.2, fed by a generated library.

Envelope ``{"response": {"result", "message", "data"}}``; HTTP 400 for every error (the real
apikey and command messages), 500 with "Check the logs for errors" when a command breaks;
GET query parameters and POST form fields both work. Plex-backed commands (``get_metadata``,
``get_libraries``, an uncached ``get_library_media_info``) answer as with no Plex when
``plex_down`` is set or a ``plex_down`` fault matches the command. Every call passes through
fault injection keyed by its command name; write commands go into the ``WriteLog``.
``grouping`` changes nothing (every generated row already is one session) and
``include_activity`` adds nothing (there are no live sessions). Not simulated: ``out_type=xml``,
JSONP ``callback``, ``docs``/``docs_md`` and the commands a cleanup daemon never sends (they
answer a 400 naming the fake).
"""

from __future__ import annotations

import itertools
import json
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cullarrd_plugins.fakelib.faults import (
    Fault,
    Faults,
    WriteLog,
    fake_app,
    respond_with_fault,
)
from cullarrd_plugins.fakelib.model import Library
from cullarrd_plugins.tautulli.fake_commands import ARNOLD_QUOTES, COMMANDS
from cullarrd_plugins.tautulli.fake_history import HistoryIndex, history_answer
from cullarrd_plugins.tautulli.fake_library import SERVER_ID, PlexSide
from cullarrd_plugins.tautulli.fake_rows import split_values
from cullarrd_plugins.tautulli.fake_users import UserDirectory

CONTENT_TYPE = "application/json;charset=UTF-8"
KEY_LENGTH = 32
WRITE_COMMANDS = frozenset({"delete_history", "delete_media_info_cache"})


@dataclass(frozen=True)
class Reply:
    """A command's answer when it carries a message besides its data."""

    data: Any
    message: str | None = None


class CommandFailed(Exception):
    """A command that answers ``result: error`` (HTTP 400) with ``message``."""

    def __init__(self, message: str | None) -> None:
        super().__init__(message or "")
        self.message = message


def envelope(result: str, message: str | None, data: Any, status: int) -> Response:
    """Tautulli's JSON envelope with its content type."""
    body = {"response": {"result": result, "message": message, "data": data}}
    return Response(json.dumps(body), status_code=status, headers={"Content-Type": CONTENT_TYPE})


class FakeTautulli:
    """The fake's state (library, indexes, faults, writes) and its command handlers."""

    def __init__(
        self,
        library: Library,
        *,
        api_key: str,
        faults: Faults | None,
        writes: WriteLog | None,
        version: str,
        plex_down: bool,
    ) -> None:
        self.library = library
        self.api_key = api_key
        self.faults = faults if faults is not None else Faults()
        self.writes = writes if writes is not None else WriteLog()
        self.version = version
        self.plex_down = plex_down
        self.history = HistoryIndex(library)
        self.plex = PlexSide(library, self.history)
        self.users = UserDirectory(library, self.history)
        self._quotes = itertools.cycle(ARNOLD_QUOTES)
        self.handlers: dict[str, Callable[[dict[str, str], bool], Any]] = {
            "get_tautulli_info": lambda p, down: self.tautulli_info(),
            "status": lambda p, down: self.status(p),
            "arnold": lambda p, down: next(self._quotes),
            "get_server_info": lambda p, down: self.server_info(),
            "get_users": lambda p, down: self.users.get_users(),
            "get_user_names": lambda p, down: self.users.user_names(),
            "get_user": lambda p, down: self.users.get_user(
                p.get("user_id"), (p.get("include_last_seen") or "").lower() in ("true", "1")
            ),
            "get_users_table": lambda p, down: self.users.users_table(p),
            "get_history": lambda p, down: history_answer(self.history, p),
            "get_metadata": lambda p, down: {} if down else self.plex.metadata(p.get("rating_key")),
            "get_libraries": lambda p, down: [] if down else self.plex.libraries(),
            "get_library_names": lambda p, down: self.plex.library_names(),
            "get_libraries_table": lambda p, down: self.plex.libraries_table(p),
            "get_library": lambda p, down: self.plex.library_row(p.get("section_id")),
            "get_library_media_info": self.plex.media_info,
            "get_item_watch_time_stats": lambda p, down: self.users.watch_time_stats(p),
            "get_item_user_stats": lambda p, down: self.users.user_stats(p),
            "delete_history": lambda p, down: self.delete_history(p),
            "delete_media_info_cache": lambda p, down: self.delete_media_info_cache(p),
        }

    # --- the request path --------------------------------------------------------------------

    async def api_v2(self, request: Request) -> Response:
        """``/api/v2``: faults first (keyed by command), then auth, then the command."""
        params = dict(request.query_params)
        if request.method == "POST":
            # Form fields decoded by hand: Starlette's form parser needs python-multipart.
            body = (await request.body()).decode("utf-8", "replace")
            params.update(parse_qsl(body, keep_blank_values=True))
        cmd = params.get("cmd", "")
        fault = self.faults.take(cmd)
        plex_down = self.plex_down or (fault is not None and fault.kind == "plex_down")

        async def normal() -> Response:
            return self.answer(request.method, params, plex_down)

        overrides = {"auth": self._auth_fault, "plex_down": lambda f: normal()}
        if fault is not None and fault.kind == "status" and fault.status == 500:
            overrides["status"] = lambda f: envelope("error", "Check the logs for errors", {}, 500)
        return await respond_with_fault(fault, normal, overrides=overrides)

    def _auth_fault(self, fault: Fault) -> Response:
        return envelope("error", "Invalid apikey", {}, 400)

    def refusal(self, params: Mapping[str, str]) -> str | None:
        """Tautulli's ``_api_validate`` checks, in its order; None when the call may run."""
        cmd = params.get("cmd")
        if len(self.api_key) != KEY_LENGTH:
            return "API key not generated correctly"
        if "apikey" not in params:
            return "Parameter apikey is required"
        if params["apikey"] != self.api_key:
            return "Invalid apikey"
        if cmd is None:
            return "Parameter cmd is required. Possible commands are: " + ", ".join(COMMANDS)
        if cmd not in COMMANDS:
            return f"Unknown command: {cmd}. Possible commands are: " + ", ".join(COMMANDS)
        return None

    def answer(self, method: str, params: dict[str, str], plex_down: bool) -> Response:
        """Run one authenticated command and wrap its result in the envelope."""
        refused = self.refusal(params)
        if refused:
            return envelope("error", refused, {}, 400)
        cmd = params["cmd"]
        handler = self.handlers.get(cmd)
        if handler is None:
            return envelope("error", f"The fake Tautulli does not simulate {cmd}", {}, 400)
        if cmd in WRITE_COMMANDS:
            recorded = {k: v for k, v in params.items() if k != "apikey"}
            self.writes.record(method, "/api/v2", recorded, None)
        arguments = {k: v for k, v in params.items() if k not in ("apikey", "cmd")}
        try:
            result = handler(arguments, plex_down)
        except CommandFailed as exc:
            return envelope("error", exc.message, {}, 400)
        except (ValueError, TypeError, KeyError):  # what would be a traceback in Tautulli
            return envelope("error", "Check the logs for errors", {}, 500)
        if result is None:
            return envelope("error", None, {}, 400)
        reply = result if isinstance(result, Reply) else Reply(result)
        return envelope("success", reply.message, reply.data, 200)

    # --- small commands ----------------------------------------------------------------------

    def tautulli_info(self) -> dict[str, Any]:
        """``get_tautulli_info`` of a source install on this machine."""
        return {
            "tautulli_install_type": "source",
            "tautulli_version": self.version,
            "tautulli_branch": "master",
            "tautulli_commit": None,
            "tautulli_platform": platform.system() or "Linux",
            "tautulli_platform_release": platform.release(),
            "tautulli_platform_version": platform.version(),
            "tautulli_platform_linux_distro": "",
            "tautulli_platform_device_name": platform.node(),
            "tautulli_python_version": platform.python_version(),
        }

    def status(self, params: Mapping[str, str]) -> Reply:
        """``status``: "Ok", or the database check with ``check=database``."""
        if params.get("check") == "database":
            return Reply({"integrity_check": "ok"}, "Database ok")
        return Reply({}, "Ok")

    def server_info(self) -> dict[str, Any]:
        """``get_server_info``: the configured Plex server, from Tautulli's config."""
        return {
            "pms_name": "Fake Plex",
            "pms_version": "1.41.0.8992",
            "pms_platform": "Linux",
            "pms_ip": "127.0.0.1",
            "pms_port": 32400,
            "pms_ssl": 0,
            "pms_url": "http://127.0.0.1:32400",
            "pms_url_manual": 0,
            "pms_identifier": SERVER_ID,
            "pms_plexpass": 0,
        }

    def delete_history(self, params: Mapping[str, str]) -> Reply | None:
        """``delete_history&row_ids=1,2``: the rows really go (indexes are rebuilt)."""
        row_ids = [int(v) for v in split_values(params.get("row_ids"))]
        if not row_ids:
            return None
        self.history.delete(row_ids)
        return Reply({}, "Deleted history.")

    def delete_media_info_cache(self, params: Mapping[str, str]) -> Reply | None:
        """``delete_media_info_cache&section_id=N``: the next media-info call asks Plex."""
        if not self.plex.drop_cache(params.get("section_id")):
            return None
        return Reply({}, "Deleted media info cache.")


async def _legacy_api(request: Request) -> Response:
    return envelope("error", "Please use the /api/v2 endpoint.", {}, 200)


def create_app(
    library: Library,
    *,
    api_key: str,
    faults: Faults | None = None,
    writes: WriteLog | None = None,
    version: str = "v2.17.2",
    plex_down: bool = False,
) -> Starlette:
    """The fake Tautulli as a Starlette app (``app.state.tautulli`` is its ``FakeTautulli``)."""
    fake = FakeTautulli(
        library,
        api_key=api_key,
        faults=faults,
        writes=writes,
        version=version,
        plex_down=plex_down,
    )
    routes = [
        Route("/api/v2", fake.api_v2, methods=["GET", "POST"]),
        Route("/api/v2/", fake.api_v2, methods=["GET", "POST"]),
        Route("/api", _legacy_api, methods=["GET", "POST"]),
        Route("/api/", _legacy_api, methods=["GET", "POST"]),
    ]
    return fake_app(fake, routes, alias="tautulli")
